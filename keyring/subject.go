package keyring

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"strconv"
	"strings"
)

// subjectAttrs maps the RFC 4514 §3 short names (plus the usual extras) to OIDs.
var subjectAttrs = map[string]asn1.ObjectIdentifier{
	"CN":           {2, 5, 4, 3},
	"SURNAME":      {2, 5, 4, 4},
	"SN":           {2, 5, 4, 4},
	"SERIALNUMBER": {2, 5, 4, 5},
	"C":            {2, 5, 4, 6},
	"L":            {2, 5, 4, 7},
	"ST":           {2, 5, 4, 8},
	"STREET":       {2, 5, 4, 9},
	"O":            {2, 5, 4, 10},
	"OU":           {2, 5, 4, 11},
	"TITLE":        {2, 5, 4, 12},
	"POSTALCODE":   {2, 5, 4, 17},
	"GIVENNAME":    {2, 5, 4, 42},
	"GN":           {2, 5, 4, 42},
	"E":            {1, 2, 840, 113549, 1, 9, 1},
	"EMAIL":        {1, 2, 840, 113549, 1, 9, 1},
	"EMAILADDRESS": {1, 2, 840, 113549, 1, 9, 1},
	"UID":          {0, 9, 2342, 19200300, 100, 1, 1},
	"DC":           {0, 9, 2342, 19200300, 100, 1, 25},
}

// ParseSubject parses a distinguished name written the RFC 4514 way, "CN=Иванов Иван,O=Acme,C=RU":
// comma-separated type=value pairs, types by short name or dotted OID (e.g. the Russian INN
// 1.2.643.3.131.1.1), values UTF-8 with "\," "\+" "\\" "\"" and "\XX" escapes. Multi-valued RDNs
// ("+") are not supported. Go writes the name in its usual order (C, ST, L, O, OU, CN, …, extras).
func ParseSubject(s string) (pkix.Name, error) {
	var name pkix.Name
	if strings.TrimSpace(s) == "" {
		return name, fmt.Errorf("%w: empty subject; write it like CN=Ivan Ivanov,O=Acme,C=RU", ErrInvalidConfig)
	}
	parts, err := splitDN(s)
	if err != nil {
		return name, err
	}
	for _, p := range parts {
		typ, val, ok := strings.Cut(p, "=")
		typ = strings.TrimSpace(typ)
		if !ok || typ == "" {
			return name, fmt.Errorf("%w: subject part %q is not TYPE=value", ErrInvalidConfig, p)
		}
		val, err := unescapeDN(strings.TrimSpace(val))
		if err != nil {
			return name, fmt.Errorf("%w: subject part %q: %v", ErrInvalidConfig, p, err)
		}
		if val == "" {
			return name, fmt.Errorf("%w: subject attribute %s has an empty value", ErrInvalidConfig, typ)
		}
		switch strings.ToUpper(typ) {
		case "CN":
			name.CommonName = val
		case "SERIALNUMBER":
			name.SerialNumber = val
		case "C":
			if len(val) != 2 {
				return name, fmt.Errorf("%w: country C=%q must be a two-letter ISO 3166 code", ErrInvalidConfig, val)
			}
			name.Country = append(name.Country, strings.ToUpper(val))
		case "L":
			name.Locality = append(name.Locality, val)
		case "ST":
			name.Province = append(name.Province, val)
		case "STREET":
			name.StreetAddress = append(name.StreetAddress, val)
		case "O":
			name.Organization = append(name.Organization, val)
		case "OU":
			name.OrganizationalUnit = append(name.OrganizationalUnit, val)
		case "POSTALCODE":
			name.PostalCode = append(name.PostalCode, val)
		default:
			oid, ok := subjectAttrs[strings.ToUpper(typ)]
			if !ok {
				oid, ok = parseOID(typ)
			}
			if !ok {
				return name, fmt.Errorf("%w: unknown subject attribute %q; use CN, O, OU, C, L, ST, STREET, E, SERIALNUMBER or a dotted OID", ErrInvalidConfig, typ)
			}
			var v any = val
			if oid.Equal(subjectAttrs["E"]) || oid.Equal(subjectAttrs["DC"]) {
				v = asn1RawIA5(val)
			}
			name.ExtraNames = append(name.ExtraNames, pkix.AttributeTypeAndValue{Type: oid, Value: v})
		}
	}
	if name.CommonName == "" {
		return name, fmt.Errorf("%w: subject %q has no CN; a signing certificate needs the signer's name", ErrInvalidConfig, s)
	}
	return name, nil
}

// asn1RawIA5 encodes emailAddress and domainComponent as IA5String (RFC 5280 appendix A).
func asn1RawIA5(s string) asn1.RawValue {
	return asn1.RawValue{Tag: asn1.TagIA5String, Class: asn1.ClassUniversal, Bytes: []byte(s)}
}

func splitDN(s string) ([]string, error) {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\':
			if i+1 >= len(s) {
				return nil, fmt.Errorf("%w: subject ends with a lone backslash", ErrInvalidConfig)
			}
			cur.WriteByte(c)
			cur.WriteByte(s[i+1])
			i++
		case ',', ';':
			parts = append(parts, cur.String())
			cur.Reset()
		case '+':
			return nil, fmt.Errorf("%w: multi-valued RDN (+) in subject is not supported; escape it as \\+", ErrInvalidConfig)
		default:
			cur.WriteByte(c)
		}
	}
	return append(parts, cur.String()), nil
}

func unescapeDN(s string) (string, error) {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		i++
		if i+1 < len(s) && isHex(s[i]) && isHex(s[i+1]) {
			h, _ := unhex(s[i])
			l, _ := unhex(s[i+1])
			b.WriteByte(h<<4 | l)
			i++
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String(), nil
}

func isHex(c byte) bool { _, ok := unhex(c); return ok }

func parseOID(s string) (asn1.ObjectIdentifier, bool) {
	fields := strings.Split(s, ".")
	if len(fields) < 2 {
		return nil, false
	}
	oid := make(asn1.ObjectIdentifier, len(fields))
	for i, f := range fields {
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 {
			return nil, false
		}
		oid[i] = n
	}
	return oid, true
}
