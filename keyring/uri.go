package keyring

import (
	"fmt"
	"strconv"
	"strings"
)

// URI is a parsed RFC 7512 PKCS#11 URI naming a key (and its certificate) on a token:
//
//	pkcs11:token=acme;object=mary-2026;id=%01
//	pkcs11:serial=8b723c82d6f0b28e;id=%a1%b2?pin-source=file:/etc/signet/acme.pin
//	pkcs11:slot-id=3;object=invoices?module-path=/usr/lib/softhsm/libsofthsm2.so
//
// Path attributes used: token, serial, slot-id, object, id. Query attributes used: pin-source and
// module-path (on the command line only: pin.go); pin-value is refused (pin.go says why). The other
// attributes RFC 7512 defines (manufacturer, model, type, library-*, slot-description,
// slot-manufacturer, module-name) and vendor attributes ("x-…") are accepted and ignored, as §2.3
// asks of a consumer that does not use them.
type URI struct {
	Token, Serial, Object string
	ID                    []byte
	Slot                  *int
	ModulePath            string
	PinSource             string
}

const uriScheme = "pkcs11:"

// ignoredPathAttrs and ignoredQueryAttrs are the RFC 7512 attributes Signet accepts but does not use.
var (
	ignoredPathAttrs = map[string]bool{
		"manufacturer": true, "model": true, "type": true, "library-manufacturer": true,
		"library-description": true, "library-version": true, "slot-description": true,
		"slot-manufacturer": true,
	}
	ignoredQueryAttrs = map[string]bool{"module-name": true}
)

// ParseURI parses an RFC 7512 PKCS#11 URI. Values are percent-decoded (§2.3: any byte may be
// written as %XX; a label such as "Иванов" arrives as UTF-8 escapes). A repeated attribute, an
// unknown non-vendor attribute, a pin-value (errPINValue: Signet's rule, pin.go), or a malformed
// escape is an error wrapping ErrInvalidURI. The error never contains the pin-value.
func ParseURI(s string) (URI, error) {
	var u URI
	if len(s) < len(uriScheme) || !strings.EqualFold(s[:len(uriScheme)], uriScheme) {
		return u, fmt.Errorf("%w: %q does not start with %q", ErrInvalidURI, redactURI(s), uriScheme)
	}
	rest := s[len(uriScheme):]
	path, query, hasQuery := strings.Cut(rest, "?")
	seen := map[string]bool{}
	if path != "" {
		for _, attr := range strings.Split(path, ";") {
			if strings.HasPrefix(strings.ToLower(attr), "pin-value") {
				return URI{}, errPINValue() // in the wrong place, but a PIN all the same
			}
			name, raw, ok := strings.Cut(attr, "=")
			if !ok || name == "" {
				return URI{}, fmt.Errorf("%w: path attribute %q is not name=value", ErrInvalidURI, attr)
			}
			if seen[name] {
				return URI{}, fmt.Errorf("%w: attribute %q appears twice", ErrInvalidURI, name)
			}
			seen[name] = true
			val, err := pctDecode(raw, pathSafe)
			if err != nil {
				return URI{}, fmt.Errorf("%w: attribute %q: %v", ErrInvalidURI, name, err)
			}
			switch {
			case name == "token":
				u.Token = string(val)
			case name == "serial":
				u.Serial = string(val)
			case name == "object":
				u.Object = string(val)
			case name == "id":
				u.ID = val
			case name == "slot-id":
				n, err := strconv.Atoi(string(val))
				if err != nil || n < 0 {
					return URI{}, fmt.Errorf("%w: slot-id %q is not a decimal number", ErrInvalidURI, val)
				}
				u.Slot = &n
			case ignoredPathAttrs[name] || strings.HasPrefix(name, "x-"):
			default:
				return URI{}, fmt.Errorf("%w: unknown path attribute %q", ErrInvalidURI, name)
			}
		}
	}
	if hasQuery && query != "" {
		for _, attr := range strings.Split(query, "&") {
			if strings.HasPrefix(strings.ToLower(attr), "pin-value") {
				return URI{}, errPINValue()
			}
			name, raw, ok := strings.Cut(attr, "=")
			if !ok || name == "" {
				return URI{}, fmt.Errorf("%w: query attribute %q is not name=value", ErrInvalidURI, attr)
			}
			if seen["?"+name] {
				return URI{}, fmt.Errorf("%w: attribute %q appears twice", ErrInvalidURI, name)
			}
			seen["?"+name] = true
			val, err := pctDecode(raw, querySafe)
			if err != nil {
				return URI{}, fmt.Errorf("%w: attribute %q: %v", ErrInvalidURI, name, err)
			}
			switch {
			case name == "pin-source":
				u.PinSource = string(val)
			case name == "module-path":
				u.ModulePath = string(val)
			case ignoredQueryAttrs[name] || strings.HasPrefix(name, "x-"):
			default:
				return URI{}, fmt.Errorf("%w: unknown query attribute %q", ErrInvalidURI, name)
			}
		}
	}
	return u, nil
}

// String returns the canonical form: path attributes in the order token, serial, slot-id, object,
// id, then module-path and pin-source. A URI never holds a PIN, so the result is safe to log.
// The id is written entirely as %XX escapes (RFC 7512 §2.3 recommends it for binary values).
func (u URI) String() string {
	var path []string
	if u.Token != "" {
		path = append(path, "token="+pctEncode([]byte(u.Token), pathSafe))
	}
	if u.Serial != "" {
		path = append(path, "serial="+pctEncode([]byte(u.Serial), pathSafe))
	}
	if u.Slot != nil {
		path = append(path, "slot-id="+strconv.Itoa(*u.Slot))
	}
	if u.Object != "" {
		path = append(path, "object="+pctEncode([]byte(u.Object), pathSafe))
	}
	if len(u.ID) > 0 {
		path = append(path, "id="+pctEncode(u.ID, ""))
	}
	var query []string
	if u.ModulePath != "" {
		query = append(query, "module-path="+pctEncode([]byte(u.ModulePath), querySafe))
	}
	if u.PinSource != "" {
		query = append(query, "pin-source="+pctEncode([]byte(u.PinSource), querySafe))
	}
	s := uriScheme + strings.Join(path, ";")
	if len(query) > 0 {
		s += "?" + strings.Join(query, "&")
	}
	return s
}

// Characters RFC 7512 lets appear unescaped besides the unreserved ones: pk11-path-res-avail in
// the path, pk11-query-res-avail in the query.
const (
	resAvail  = ":[]@!$'()*+,="
	pathSafe  = resAvail + "&"
	querySafe = resAvail + "/?|"
)

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func pctDecode(s, safe string) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if i+2 >= len(s) {
				return nil, fmt.Errorf("truncated %%-escape at byte %d", i)
			}
			h, okH := unhex(s[i+1])
			l, okL := unhex(s[i+2])
			if !okH || !okL {
				return nil, fmt.Errorf("bad %%-escape %q at byte %d", s[i:i+3], i)
			}
			out = append(out, h<<4|l)
			i += 2
		case isUnreserved(c) || strings.IndexByte(safe, c) >= 0:
			out = append(out, c)
		default:
			return nil, fmt.Errorf("character %q at byte %d must be %%-escaped", c, i)
		}
	}
	return out, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// pctEncode escapes every byte that is neither unreserved nor in safe; with safe empty every byte is
// escaped.
func pctEncode(b []byte, safe string) string {
	const hexdigits = "0123456789ABCDEF"
	var sb strings.Builder
	for _, c := range b {
		if safe != "" && (isUnreserved(c) || strings.IndexByte(safe, c) >= 0) {
			sb.WriteByte(c)
			continue
		}
		sb.WriteByte('%')
		sb.WriteByte(hexdigits[c>>4])
		sb.WriteByte(hexdigits[c&15])
	}
	return sb.String()
}

// redactURI cuts a possible pin-value out of a string that failed to parse, for error messages.
func redactURI(s string) string {
	if i := strings.Index(strings.ToLower(s), "pin-value="); i >= 0 {
		end := strings.IndexAny(s[i:], "&;#")
		if end < 0 {
			return s[:i] + "pin-value=…"
		}
		return s[:i] + "pin-value=…" + s[i+end:]
	}
	return s
}
