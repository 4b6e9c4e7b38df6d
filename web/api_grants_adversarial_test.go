package web

import (
	"context"
	"net/http"
	"testing"

	"github.com/signet-b24/signet/internal/testsupport/testenv"
)

// An unauthenticated caller of the grant API learns nothing and changes nothing: no grant for a user
// whose OTP is off, no lockout of an enrolled user however many wrong codes it sends, and the same
// answer for a login that exists and one that does not (no login oracle).
func TestAttackUnauthenticatedGrant(t *testing.T) {
	f, c := newHTTPFixture(t)
	ctx := context.Background()
	f.addUser(t, "mary")
	secret := f.enrol(t, "mary")
	f.addUser(t, "nootp")
	if _, err := f.svc.SetOTPDisabled(ctx, "nootp", true); err != nil {
		t.Fatal(err)
	}
	answer := func(login, code string) (int, string) {
		st, b, _ := c.do("POST", "/v1/grants", GrantRequest{Login: login, Code: code, Credential: cred, Max: 10000}, false)
		return st, string(b)
	}
	// A user whose OTP is off: no grant.
	st, noOTP := answer("nootp", "")
	if st != http.StatusUnauthorized {
		t.Fatalf("grant for a user without OTP, unauthenticated: %d %s", st, noOTP)
	}
	// Ten wrong codes for an enrolled user, twice the lockout threshold.
	var wrong string
	for range 10 {
		if st, wrong = answer("mary", "000000"); st != http.StatusUnauthorized {
			t.Fatalf("wrong code, unauthenticated: %d %s", st, wrong)
		}
	}
	st, nobody := answer("no-such-login", "123456")
	if st != http.StatusUnauthorized || nobody != wrong || nobody != noOTP {
		t.Errorf("the answers differ by login (a login oracle): %q / %q / %q", noOTP, wrong, nobody)
	}
	// The other grant routes too.
	for _, r := range []struct{ method, path string }{{"GET", "/v1/grants"}, {"GET", "/v1/grants/gabc"}, {"DELETE", "/v1/grants/gabc"}} {
		if st, b, _ := c.do(r.method, r.path, nil, false); st != http.StatusUnauthorized {
			t.Errorf("%s %s unauthenticated: %d %s", r.method, r.path, st, b)
		}
	}
	// Nothing stored, and mary is not locked out: her next code is accepted.
	if gs, err := f.svc.ListGrants(ctx); err != nil || len(gs) != 0 {
		t.Fatalf("grants after the attack: %+v, %v", gs, err)
	}
	if _, err := f.svc.Authorize(ctx, "mary", testenv.TOTP(t, secret, f.clock.Now()), "", cred); err != nil {
		t.Fatalf("mary after the attack: %v", err)
	}
}
