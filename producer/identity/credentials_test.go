package identity

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/signet-b24/signet/internal/testsupport/testenv"
)

func TestSameCredential(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		{"pkcs11:token=acme;object=mary-2026", "pkcs11:token=acme;object=mary-2026;id=%01", true},
		{"pkcs11:token=acme;id=%01", "pkcs11:object=mary-2026;token=acme;id=%01", true},
		{"pkcs11:token=acme;object=mary-2026", "pkcs11:token=acme;object=ivan-2026", false},
		{"pkcs11:token=acme;object=mary;id=%01", "pkcs11:token=acme;object=mary;id=%02", false},
		{"pkcs11:token=acme;object=mary", "pkcs11:token=other;object=mary", false},
		{"pkcs11:token=acme;object=mary", "pkcs11:token=acme;id=%01", false}, // nothing in common to compare
		{"pkcs11:token=acme", "pkcs11:token=acme", false},                    // a token is not a key
		{"https://x/y", "https://x/y", false},
		{"pkcs11:token=%D0%90;object=a", "pkcs11:token=А;object=a", true},
	}
	for _, c := range cases {
		if got := SameCredential(c.a, c.b); got != c.want {
			t.Errorf("SameCredential(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

func TestUnmappedOrDisabledCredentialIsRefusedBeforeTheCodeIsSpent(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.svc.AddUser(ctx, User{Login: "olga"}); err != nil {
		t.Fatal(err)
	}
	secret := f.enrol(t, "olga")
	code := testenv.TOTP(t, secret, f.clock.Now())
	_, err := f.svc.Authorize(ctx, "olga", code, "", cred)
	if !errors.Is(err, ErrCredentialNotMapped) || !strings.Contains(err.Error(), "olga") || !strings.Contains(err.Error(), "signet admin user map") {
		t.Fatalf("unmapped credential: want ErrCredentialNotMapped naming the user and the fix, got %v", err)
	}
	u, err := f.svc.MapCredential(ctx, "olga", "pkcs11:token=acme;object=mary-2026", false)
	if err != nil || u.DefaultCredential != "pkcs11:token=acme;object=mary-2026" {
		t.Fatalf("first mapped credential becomes the default: %+v %v", u, err)
	}
	// The refused request did not spend the code: it still works once mapped (URI with an extra id).
	if _, err := f.svc.Authorize(ctx, "olga", code, "", cred); err != nil {
		t.Fatalf("mapped credential refused: %v", err)
	}
	if err := f.svc.SetCredentialDisabled(ctx, cred, true); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(30e9)
	if _, err := f.svc.Authorize(ctx, "olga", testenv.TOTP(t, secret, f.clock.Now()), "", cred); !errors.Is(err, ErrCredentialDisabled) {
		t.Fatalf("disabled credential: want ErrCredentialDisabled, got %v", err)
	}
	if d, _ := f.svc.DisabledCredentials(ctx); len(d) != 1 {
		t.Fatalf("disabled list: %v", d)
	}
	if err := f.svc.SetCredentialDisabled(ctx, cred, false); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authorize(ctx, "olga", testenv.TOTP(t, secret, f.clock.Now()), "", cred); err != nil {
		t.Fatalf("re-enabled credential refused: %v", err)
	}
	if u, err := f.svc.UnmapCredential(ctx, "olga", cred); err != nil || len(u.Credentials) != 0 || u.DefaultCredential != "" {
		t.Fatalf("unmap: %+v %v", u, err)
	}
	if _, err := f.svc.MapCredential(ctx, "olga", cred+"?pin-value=1234", false); err == nil {
		t.Fatal("a URI carrying a PIN must not be stored")
	}
}
