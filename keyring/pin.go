package keyring

import (
	"fmt"
	"strings"
)

// Signet's one rule for PINs, the same for every command, the admin API, the control panel and jobs:
//
//  1. A PKCS#11 URI never carries a PIN. RFC 7512 §2.3 defines pin-value, but a URI is typed on
//     command lines (shell history, `ps`), pasted into forms, stored in job messages and logged;
//     Signet refuses it everywhere, with one error (errPINValue) that says what to use instead.
//  2. A running server (serve, worker, the admin API, the control panel) opens its tokens with the
//     PIN of its configuration (tokens[].pin_file or pin_env) and nothing else. A module-path or
//     pin-source in a URI it is handed is ignored: a request never makes the server load a library
//     or read a file.
//  3. A command line (`signet admin cert|ca`, `signet sign`) may name the PIN file itself, with
//     pin-source=file:/path in the token's URI or with --pin-file FILE (RFC 7512 §2.3: pin-source
//     "specifies where the application can find the PIN"; Signet reads only files). Together with
//     module-path this opens a token that no configuration names; without module-path it replaces
//     the configured token's PIN source (CommandLineTokens).

// errPINValue is the answer to a pin-value anywhere. It wraps ErrInvalidURI and ErrPINInURI and never
// holds the PIN.
func errPINValue() error {
	return fmt.Errorf("%w: %w, because URIs end up in shell history, process lists and logs; "+
		"write the PIN to a file only you can read and name it with ?pin-source=file:/path/to/pin in the URI "+
		"or --pin-file /path/to/pin on the command line, or set the token's pin_file or pin_env in the configuration",
		ErrInvalidURI, ErrPINInURI)
}

// PINFile returns the file a pin-source names: file:/path, file:///path or a plain path. Any other
// scheme is refused; Signet reads a PIN only from a file.
func PINFile(source string) (string, error) {
	switch {
	case strings.HasPrefix(source, "file://"):
		rest := strings.TrimPrefix(source, "file://")
		if !strings.HasPrefix(rest, "/") {
			return "", fmt.Errorf("%w: pin-source %q names a host; write file:/path/to/pin", ErrInvalidURI, source)
		}
		return rest, nil
	case strings.HasPrefix(source, "file:") && len(source) > len("file:"):
		return strings.TrimPrefix(source, "file:"), nil
	case source == "" || source == "file:":
		return "", fmt.Errorf("%w: pin-source is empty; write pin-source=file:/path/to/pin", ErrInvalidURI)
	}
	if i := strings.IndexByte(source, ':'); i > 0 && !strings.ContainsAny(source[:i], "/.") {
		return "", fmt.Errorf("%w: pin-source %q: Signet reads a PIN only from a file; write pin-source=file:/path/to/pin", ErrInvalidURI, source)
	}
	return source, nil
}

// CommandLineTokens applies rule 3 to the tokens a command line opens. configured are the
// configuration's tokens (maybe none: then the demo token is used, unless a URI opens one); uris are
// the URIs the command was given (--token, --key, --ca; empty strings and plain token names are
// skipped); pinFile is --pin-file. It returns the tokens to open:
//
//   - a URI with module-path is a token of its own, named by its token=, serial= or slot-id=, whose
//     PIN is in pin-source or --pin-file (one of them; neither is an error saying what to add);
//   - a URI without module-path names a configured token; a pin-source or --pin-file replaces that
//     token's pin_file/pin_env, and is an error when no configured token matches;
//   - --pin-file given while no URI names a token applies to the one configured token.
//
// The errors name files and URIs (which carry no PIN), never a PIN.
func CommandLineTokens(configured []TokenConfig, uris []string, pinFile string) ([]TokenConfig, error) {
	out := append([]TokenConfig(nil), configured...)
	setBy := map[string]string{} // token name → the PIN file the command line gave it
	give := func(i int, pin string) error {
		name := out[i].Name
		if prev, ok := setBy[name]; ok && prev != pin {
			return fmt.Errorf("%w: token %q is given two PIN files (%s and %s); give one", ErrInvalidConfig, name, prev, pin)
		}
		setBy[name] = pin
		out[i].PinFile, out[i].PinEnv = pin, ""
		return nil
	}
	loose, named := pinFile, false
	for _, s := range uris {
		if !strings.HasPrefix(strings.ToLower(s), uriScheme) {
			continue
		}
		u, err := ParseURI(s)
		if err != nil {
			return nil, err
		}
		pin := pinFile
		if u.PinSource != "" {
			f, err := PINFile(u.PinSource)
			if err != nil {
				return nil, err
			}
			if pinFile != "" && pinFile != f {
				return nil, fmt.Errorf("%w: %s has pin-source %s and --pin-file is %s; give the PIN file once", ErrInvalidConfig, u, f, pinFile)
			}
			pin = f
		}
		if u.Token == "" && u.Serial == "" && u.Slot == nil {
			// A key URI without its token (pkcs11:object=k) relies on exactly one token.
			if u.ModulePath != "" {
				return nil, fmt.Errorf("%w: %s names a module but no token; add token=LABEL (or serial=)", ErrInvalidURI, u)
			}
			if pin != "" {
				loose = pin
			}
			continue
		}
		named = true
		if u.ModulePath != "" {
			t := TokenConfig{Module: u.ModulePath}
			switch {
			case u.Token != "":
				t.Name, t.Label = u.Token, u.Token
			case u.Serial != "":
				t.Name, t.Serial = u.Serial, u.Serial
			default:
				t.Name, t.Slot = fmt.Sprintf("slot-%d", *u.Slot), u.Slot
			}
			if pin == "" {
				return nil, fmt.Errorf("%w: token %q (module %s) has no PIN: add ?pin-source=file:/path/to/pin to its URI "+
					"or give --pin-file /path/to/pin (a file only you can read; a PIN is never accepted in a URI)", ErrInvalidConfig, t.Name, u.ModulePath)
			}
			i := indexNamed(out, t.Name)
			switch {
			case i < 0:
				out = append(out, t)
				i = len(out) - 1
			case setBy[t.Name] != "" && out[i].Module != t.Module:
				return nil, fmt.Errorf("%w: token %q is given two modules (%s and %s); give one", ErrInvalidConfig, t.Name, out[i].Module, t.Module)
			default:
				pinOf := setBy[t.Name]
				out[i] = t // the command line's URI replaces the configured token of the same name
				if pinOf != "" {
					out[i].PinFile = pinOf
				}
			}
			if err := give(i, pin); err != nil {
				return nil, err
			}
			continue
		}
		if pin == "" {
			continue // the configuration decides (or, with none, the demo token)
		}
		i := matchConfigured(out, u)
		if i < 0 {
			return nil, fmt.Errorf("%w: %s names no module-path and no configured token matches it; "+
				"add ?module-path=/path/to/pkcs11-module.so to the URI or configure the token (tokens[] in the configuration)", ErrUnknownToken, u)
		}
		if err := give(i, pin); err != nil {
			return nil, err
		}
	}
	if loose != "" && !named {
		if len(out) != 1 {
			return nil, fmt.Errorf("%w: a PIN file needs to know its token: name it with --token, --key or --ca (a pkcs11: URI with token=); %d tokens are configured", ErrInvalidConfig, len(out))
		}
		out[0].PinFile, out[0].PinEnv = loose, ""
	}
	return out, nil
}

func indexNamed(ts []TokenConfig, name string) int {
	for i, t := range ts {
		if t.Name == name || t.Name == "" && (t.Label == name || t.Serial == name) {
			return i
		}
	}
	return -1
}

// matchConfigured finds the configured token a URI names, as tokenFor does once the tokens are open
// (by name or label, serial, slot).
func matchConfigured(ts []TokenConfig, u URI) int {
	for i, t := range ts {
		switch {
		case u.Token != "" && u.Token != t.Name && u.Token != t.Label:
		case u.Serial != "" && u.Serial != t.Serial:
		case u.Slot != nil && (t.Slot == nil || *t.Slot != *u.Slot):
		default:
			return i
		}
	}
	return -1
}
