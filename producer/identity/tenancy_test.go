package identity

import (
	"context"
	"net/http"
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
// spelling, and the admin API sets it.
func TestAssignCredential(t *testing.T) {
	f, c := newHTTPFixture(t)
	ctx := context.Background()
	if m, err := f.svc.CredentialPortal(ctx, cred); m != "" || err != nil {
		t.Fatalf("before any assignment: %q, %v", m, err)
	}
	if st, b, _ := c.do("POST", "/v1/admin/credentials/assign", CredentialRequest{Credential: cred, MemberID: "m-acme"}, false); st != http.StatusUnauthorized {
		t.Fatalf("assign without the admin token: %d %s", st, b)
	}
	if st, b, _ := c.do("POST", "/v1/admin/credentials/assign", CredentialRequest{Credential: cred, MemberID: "m-acme"}, true); st != http.StatusOK {
		t.Fatalf("assign: %d %s", st, b)
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
