package keyring

import (
	"errors"
	"strings"
	"testing"
)

func TestPINFile(t *testing.T) {
	for _, tt := range []struct{ in, want, errSub string }{
		{in: "file:/etc/signet/acme.pin", want: "/etc/signet/acme.pin"},
		{in: "file:///etc/signet/acme.pin", want: "/etc/signet/acme.pin"},
		{in: "/etc/signet/acme.pin", want: "/etc/signet/acme.pin"},
		{in: "acme.pin", want: "acme.pin"},
		{in: "./dir:with:colons/pin", want: "./dir:with:colons/pin"},
		{in: "file://host/etc/pin", errSub: "names a host"},
		{in: "env:SIGNET_PIN", errSub: "only from a file"},
		{in: "https://example.com/pin", errSub: "only from a file"},
		{in: "", errSub: "empty"},
		{in: "file:", errSub: "empty"},
	} {
		got, err := PINFile(tt.in)
		if tt.errSub != "" {
			if !errors.Is(err, ErrInvalidURI) || !strings.Contains(err.Error(), tt.errSub) {
				t.Errorf("PINFile(%q) = %q, %v; want an error containing %q", tt.in, got, err, tt.errSub)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("PINFile(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// The command line's rule (pin.go, rule 3), one row per form a PIN can take.
func TestCommandLineTokens(t *testing.T) {
	const mod = "/usr/lib/softhsm/libsofthsm2.so"
	acmeEnv := TokenConfig{Name: "acme", Module: mod, Label: "acme", PinEnv: "ACME_PIN"}
	usbFile := TokenConfig{Name: "usb", Module: "/usr/lib/libeToken.so", Serial: "8b72", PinFile: "/etc/usb.pin"}
	tests := []struct {
		name       string
		configured []TokenConfig
		uris       []string
		pinFile    string
		want       []TokenConfig
		err        error
		errSub     string
	}{
		{name: "no URI, no config: the demo token (nothing to open here)", uris: []string{"", "acme"}},
		{name: "configured token, URI without PIN: the configuration decides",
			configured: []TokenConfig{acmeEnv}, uris: []string{"pkcs11:token=acme;object=k"}, want: []TokenConfig{acmeEnv}},
		{name: "module-path and pin-source=file: open a token without configuration",
			uris: []string{"pkcs11:token=acme?module-path=" + mod + "&pin-source=file:/run/acme.pin"},
			want: []TokenConfig{{Name: "acme", Module: mod, Label: "acme", PinFile: "/run/acme.pin"}}},
		{name: "module-path and a plain pin-source path",
			uris: []string{"pkcs11:serial=8b72;object=k?module-path=" + mod + "&pin-source=/run/acme.pin"},
			want: []TokenConfig{{Name: "8b72", Module: mod, Serial: "8b72", PinFile: "/run/acme.pin"}}},
		{name: "module-path and --pin-file",
			uris: []string{"pkcs11:slot-id=3;object=k?module-path=" + mod}, pinFile: "/run/acme.pin",
			want: []TokenConfig{{Name: "slot-3", Module: mod, Slot: func() *int { n := 3; return &n }(), PinFile: "/run/acme.pin"}}},
		{name: "module-path without any PIN: says what to add",
			uris: []string{"pkcs11:token=acme?module-path=" + mod}, err: ErrInvalidConfig, errSub: "add ?pin-source=file:/path/to/pin"},
		{name: "pin-value is refused with the one answer",
			uris: []string{"pkcs11:token=acme?module-path=" + mod + "&pin-value=4711"}, err: ErrPINInURI, errSub: "--pin-file"},
		{name: "pin-source replaces a configured token's pin_env",
			configured: []TokenConfig{acmeEnv, usbFile}, uris: []string{"pkcs11:token=acme;object=ca?pin-source=file:/run/acme.pin"},
			want: []TokenConfig{{Name: "acme", Module: mod, Label: "acme", PinFile: "/run/acme.pin"}, usbFile}},
		{name: "--pin-file for the configured token a URI names by serial",
			configured: []TokenConfig{acmeEnv, usbFile}, uris: []string{"pkcs11:serial=8b72;object=k"}, pinFile: "/run/other.pin",
			want: []TokenConfig{acmeEnv, {Name: "usb", Module: "/usr/lib/libeToken.so", Serial: "8b72", PinFile: "/run/other.pin"}}},
		{name: "--pin-file and no URI: the one configured token",
			configured: []TokenConfig{acmeEnv}, uris: []string{"acme"}, pinFile: "/run/acme.pin",
			want: []TokenConfig{{Name: "acme", Module: mod, Label: "acme", PinFile: "/run/acme.pin"}}},
		{name: "--pin-file and no URI with two tokens configured: which?",
			configured: []TokenConfig{acmeEnv, usbFile}, pinFile: "/run/acme.pin", err: ErrInvalidConfig, errSub: "name it with --token"},
		{name: "a PIN for a token neither the URI nor the configuration can open",
			uris: []string{"pkcs11:token=acme;object=ca?pin-source=file:/run/acme.pin"}, err: ErrUnknownToken, errSub: "add ?module-path="},
		{name: "pin-source and --pin-file disagree",
			uris: []string{"pkcs11:token=acme?module-path=" + mod + "&pin-source=file:/run/a.pin"}, pinFile: "/run/b.pin",
			err: ErrInvalidConfig, errSub: "give the PIN file once"},
		{name: "pin-source and --pin-file agree",
			uris: []string{"pkcs11:token=acme?module-path=" + mod + "&pin-source=file:/run/a.pin"}, pinFile: "/run/a.pin",
			want: []TokenConfig{{Name: "acme", Module: mod, Label: "acme", PinFile: "/run/a.pin"}}},
		{name: "CA and employee on one token, both URIs carrying it",
			uris: []string{"pkcs11:token=acme;object=ca?module-path=" + mod + "&pin-source=file:/run/a.pin", "pkcs11:token=acme?module-path=" + mod + "&pin-source=file:/run/a.pin"},
			want: []TokenConfig{{Name: "acme", Module: mod, Label: "acme", PinFile: "/run/a.pin"}}},
		{name: "CA and employee on two tokens opened from the command line",
			uris: []string{"pkcs11:token=ca;object=ca?module-path=" + mod + "&pin-source=file:/run/ca.pin", "pkcs11:token=staff?module-path=" + mod + "&pin-source=file:/run/staff.pin"},
			want: []TokenConfig{{Name: "ca", Module: mod, Label: "ca", PinFile: "/run/ca.pin"}, {Name: "staff", Module: mod, Label: "staff", PinFile: "/run/staff.pin"}}},
		{name: "one token, two PIN files",
			uris: []string{"pkcs11:token=acme;object=ca?module-path=" + mod + "&pin-source=file:/run/a.pin", "pkcs11:token=acme?module-path=" + mod + "&pin-source=file:/run/b.pin"},
			err:  ErrInvalidConfig, errSub: "two PIN files"},
		{name: "a module-path URI replaces the configured token of the same name",
			configured: []TokenConfig{acmeEnv}, uris: []string{"pkcs11:token=acme?module-path=/opt/other.so&pin-source=file:/run/a.pin"},
			want: []TokenConfig{{Name: "acme", Module: "/opt/other.so", Label: "acme", PinFile: "/run/a.pin"}}},
		{name: "a key URI without its token but with module-path",
			uris: []string{"pkcs11:object=k?module-path=" + mod + "&pin-source=file:/run/a.pin"}, err: ErrInvalidURI, errSub: "add token="},
		{name: "a key URI without its token, pin-source, one configured token",
			configured: []TokenConfig{acmeEnv}, uris: []string{"pkcs11:object=k?pin-source=file:/run/a.pin"},
			want: []TokenConfig{{Name: "acme", Module: mod, Label: "acme", PinFile: "/run/a.pin"}}},
		{name: "pin-source with a scheme other than file",
			uris: []string{"pkcs11:token=acme?module-path=" + mod + "&pin-source=env:ACME"}, err: ErrInvalidURI, errSub: "only from a file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CommandLineTokens(tt.configured, tt.uris, tt.pinFile)
			if tt.err != nil {
				if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.errSub) {
					t.Fatalf("error %v, want %v containing %q", err, tt.err, tt.errSub)
				}
				if strings.Contains(err.Error(), "4711") {
					t.Fatalf("the error shows the PIN: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d tokens %+v, want %+v", len(got), got, tt.want)
			}
			for i := range got {
				g, w := got[i], tt.want[i]
				if g.Name != w.Name || g.Module != w.Module || g.Label != w.Label || g.Serial != w.Serial ||
					(g.Slot == nil) != (w.Slot == nil) || g.Slot != nil && *g.Slot != *w.Slot || g.PinFile != w.PinFile || g.PinEnv != w.PinEnv {
					t.Fatalf("token %d = %+v, want %+v", i, g, w)
				}
			}
			if len(tt.configured) > 0 && tt.configured[0].PinEnv != "ACME_PIN" {
				t.Fatal("the configuration passed in was changed")
			}
		})
	}
}
