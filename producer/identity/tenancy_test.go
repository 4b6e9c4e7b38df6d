package identity

import (
	"context"
	"testing"
)

func TestUserPortal(t *testing.T) {
	for _, c := range []struct {
		ids  map[string]int
		want string
	}{
		{nil, ""},
		{map[string]int{"a": 1}, "a"},
		{map[string]int{"a": 1, "b": 2}, ""},
	} {
		u := User{Login: "x", BitrixIDs: c.ids}
		if got := u.Portal(); got != c.want || u.BelongsTo("") {
			t.Errorf("%v: Portal() = %q, want %q", c.ids, got, c.want)
		}
	}
}

// A credential is Signet-wide until assigned; the assignment follows the credential whatever the URI's
// spelling (the admin API that sets it: web's TestAssignCredentialAPI).
func TestAssignCredential(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if m, err := f.svc.CredentialPortal(ctx, cred); m != "" || err != nil {
		t.Fatalf("before any assignment: %q, %v", m, err)
	}
	if err := f.svc.AssignCredential(ctx, cred, "m-acme"); err != nil {
		t.Fatal(err)
	}
	if m, _ := f.svc.CredentialPortal(ctx, "pkcs11:token=acme;object=mary-2026"); m != "m-acme" {
		t.Errorf("the same key by another URI: %q", m)
	}
	if err := f.svc.AssignCredential(ctx, cred, ""); err != nil {
		t.Fatal(err)
	}
	if list, err := f.svc.CredentialAssignments(ctx); len(list) != 0 || err != nil {
		t.Errorf("after making it Signet-wide: %v, %v", list, err)
	}
	if err := f.svc.AssignCredential(ctx, "not-a-uri", "m-acme"); err == nil {
		t.Error("a malformed URI was assigned")
	}
}
