package keyring

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestParseURI(t *testing.T) {
	slot := func(n int) *int { return &n }
	tests := []struct {
		in     string
		want   URI
		canon  string // String(); "" means same as in
		errSub string
	}{
		{in: "pkcs11:token=acme;object=mary-2026;id=%01", want: URI{Token: "acme", Object: "mary-2026", ID: []byte{1}}},
		{in: "pkcs11:object=mary;token=acme", want: URI{Token: "acme", Object: "mary"}, canon: "pkcs11:token=acme;object=mary"},
		{in: "PKCS11:token=acme;id=%0a%FF", want: URI{Token: "acme", ID: []byte{0x0a, 0xff}}, canon: "pkcs11:token=acme;id=%0A%FF"},
		{in: "pkcs11:token=My%20Token;object=%D0%98%D0%B2%D0%B0%D0%BD%D0%BE%D0%B2",
			want: URI{Token: "My Token", Object: "Иванов"}},
		{in: "pkcs11:token=a%3Bb;object=x%2Fy", want: URI{Token: "a;b", Object: "x/y"}},
		{in: "pkcs11:serial=8b723c82d6f0b28e;id=%a1%b2", want: URI{Serial: "8b723c82d6f0b28e", ID: []byte{0xa1, 0xb2}},
			canon: "pkcs11:serial=8b723c82d6f0b28e;id=%A1%B2"},
		{in: "pkcs11:slot-id=3;object=invoices", want: URI{Slot: slot(3), Object: "invoices"}},
		{in: "pkcs11:token=acme;object=k?pin-source=file:/etc/signet/acme.pin",
			want: URI{Token: "acme", Object: "k", PinSource: "file:/etc/signet/acme.pin"}},
		{in: "pkcs11:token=acme;object=k?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=/etc/signet/acme.pin",
			want: URI{Token: "acme", Object: "k", PinSource: "/etc/signet/acme.pin", ModulePath: "/usr/lib/softhsm/libsofthsm2.so"}},
		{in: "pkcs11:token=acme;type=private;manufacturer=SoftHSM%20project;x-vendor=1;object=k?module-name=softhsm2",
			want: URI{Token: "acme", Object: "k"}, canon: "pkcs11:token=acme;object=k"},
		{in: "pkcs11:", want: URI{}},
		{in: "pkcs11:object=a=b", want: URI{Object: "a=b"}},
		// errors
		{in: "pkcs12:token=acme", errSub: "does not start"},
		{in: "token=acme", errSub: "does not start"},
		{in: "pkcs11:token=acme;token=other", errSub: "appears twice"},
		{in: "pkcs11:token", errSub: "not name=value"},
		{in: "pkcs11:token=a%2", errSub: "truncated"},
		{in: "pkcs11:token=a%zz", errSub: "bad %-escape"},
		{in: "pkcs11:token=a b", errSub: "must be %-escaped"},
		{in: "pkcs11:colour=blue", errSub: "unknown path attribute"},
		{in: "pkcs11:slot-id=x", errSub: "slot-id"},
		{in: "pkcs11:token=a?colour=blue", errSub: "unknown query attribute"},
		// A PIN in the URI, in every spelling, gets the one answer (pin.go, rule 1).
		{in: "pkcs11:token=a?pin-source=file:/x&pin-value=1234", errSub: "pin-source=file:/path/to/pin"},
		{in: "pkcs11:token=a;object=k?pin-value=1234", errSub: "--pin-file"},
		{in: "pkcs11:token=a?pin-value=12%zz34", errSub: "(pin-value) is not accepted"},
		{in: "pkcs11:token=a?PIN-VALUE=1234", errSub: "(pin-value) is not accepted"},
		{in: "pkcs11:token=a?pin-value1234", errSub: "(pin-value) is not accepted"},
		{in: "pkcs11:token=a;pin-value=1234", errSub: "(pin-value) is not accepted"},
		{in: "pkcs11:token=a?module-path=/x.so&pin-value=1234", errSub: "pin_file or pin_env"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseURI(tt.in)
			if tt.errSub != "" {
				if err == nil {
					t.Fatalf("ParseURI(%q) = %+v, want error containing %q", tt.in, got, tt.errSub)
				}
				if !errors.Is(err, ErrInvalidURI) || !strings.Contains(err.Error(), tt.errSub) {
					t.Fatalf("ParseURI(%q) error = %v, want ErrInvalidURI containing %q", tt.in, err, tt.errSub)
				}
				if strings.Contains(err.Error(), "pin-value") != errors.Is(err, ErrPINInURI) {
					t.Fatalf("a pin-value error must be ErrPINInURI, and only it: %v", err)
				}
				if strings.Contains(err.Error(), "1234") {
					t.Fatalf("error leaks the PIN: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseURI(%q): %v", tt.in, err)
			}
			if got.Token != tt.want.Token || got.Serial != tt.want.Serial || got.Object != tt.want.Object ||
				!bytes.Equal(got.ID, tt.want.ID) || got.ModulePath != tt.want.ModulePath ||
				got.PinSource != tt.want.PinSource ||
				(got.Slot == nil) != (tt.want.Slot == nil) || (got.Slot != nil && *got.Slot != *tt.want.Slot) {
				t.Fatalf("ParseURI(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			canon := tt.canon
			if canon == "" {
				canon = tt.in
			}
			if s := got.String(); s != canon {
				t.Fatalf("String() = %q, want %q", s, canon)
			}
			// The canonical form parses back to the same URI (minus the PIN).
			again, err := ParseURI(got.String())
			if err != nil || again.String() != got.String() {
				t.Fatalf("round trip of %q: %v, %q", got.String(), err, again.String())
			}
		})
	}
}

func TestURIStringNeverHasPIN(t *testing.T) {
	for _, in := range []string{"pkcs11 token=a?pin-value=s3cret", "pkcs11:token=a?pin-value=s3cret", "pkcs11:token=a?pin-value=s3cret&pin-value=s3cret"} {
		_, err := ParseURI(in)
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Fatalf("ParseURI(%q): error %v leaks the PIN", in, err)
		}
	}
}
