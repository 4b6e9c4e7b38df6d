package identity

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-b24/signet/internal/testsupport/testenv"
)

const cred = "pkcs11:token=acme;object=mary-2026;id=%01"

func TestGrantLifecycle(t *testing.T) {
	f := newUserFixture(t, "mary", "ivan")
	ctx := context.Background()
	secret := f.enrol(t, "mary")

	if _, err := f.svc.CreateGrant(ctx, "mary", testenv.WrongTOTP(testenv.TOTP(t, secret, f.clock.Now())), cred, 3, 0); !errors.Is(err, ErrOTPInvalid) {
		t.Fatalf("grant with a wrong code: %v", err)
	}
	code := testenv.TOTP(t, secret, f.clock.Now())
	g, err := f.svc.CreateGrant(ctx, "mary", code, cred, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !g.Expires.Equal(f.clock.Now().Add(12*time.Hour)) || g.Max != 3 || g.Used != 0 {
		t.Fatalf("grant %+v: want 3 documents for 12 h", g)
	}
	// The grant's code is spent like any other.
	if _, err := f.svc.Authorize(ctx, "mary", code, "", cred); !errors.Is(err, ErrOTPReplayed) {
		t.Fatalf("code reused after creating a grant: %v", err)
	}
	for name, c := range map[string]struct {
		login, cred string
		want        error
	}{
		"other credential": {"mary", "pkcs11:token=acme;object=other", ErrGrantScope},
		"other user":       {"ivan", cred, ErrGrantScope},
	} {
		if _, err := f.svc.Authorize(ctx, c.login, "", g.ID, c.cred); !errors.Is(err, c.want) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for i := 1; i <= 3; i++ {
		d, err := f.svc.Authorize(ctx, "mary", "", g.ID, cred)
		if err != nil || d.Method != MethodGrant || d.GrantID != g.ID {
			t.Fatalf("document %d: %+v %v", i, d, err)
		}
	}
	if _, err := f.svc.Authorize(ctx, "mary", "", g.ID, cred); !errors.Is(err, ErrGrantExhausted) {
		t.Fatalf("4th document on a 3-document grant: %v", err)
	}
	if got, _ := f.svc.GetGrant(ctx, g.ID); got.Used != 3 {
		t.Fatalf("used %d, want 3", got.Used)
	}

	f.clock.Advance(30 * time.Second)
	g2, err := f.svc.CreateGrant(ctx, "mary", testenv.TOTP(t, secret, f.clock.Now()), cred, 100, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.RevokeGrant(ctx, g2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authorize(ctx, "mary", "", g2.ID, cred); !errors.Is(err, ErrGrantRevoked) || strings.Contains(err.Error(), g2.ID) {
		t.Fatalf("revoked grant: want ErrGrantRevoked naming the grant without its whole id (it authorises signing): %v", err)
	}
	f.clock.Advance(30 * time.Second)
	g3, err := f.svc.CreateGrant(ctx, "mary", testenv.TOTP(t, secret, f.clock.Now()), cred, 100, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour - time.Second)
	if _, err := f.svc.Authorize(ctx, "mary", "", g3.ID, cred); err != nil {
		t.Fatalf("one second before expiry: %v", err)
	}
	f.clock.Advance(time.Second)
	if _, err := f.svc.Authorize(ctx, "mary", "", g3.ID, cred); !errors.Is(err, ErrGrantExpired) {
		t.Fatalf("expired grant: %v", err)
	}
	list, err := f.svc.ListGrants(ctx)
	if err != nil || len(list) != 3 || list[0].ID != g3.ID || !list[1].Revoked {
		t.Fatalf("ListGrants = %+v, %v", list, err)
	}
	// A disabled user's grants stop at once.
	f.svc.SetDisabled(ctx, "mary", true)
	if _, err := f.svc.Authorize(ctx, "mary", "", g.ID, cred); !errors.Is(err, ErrUserDisabled) {
		t.Fatalf("grant of a disabled user: %v", err)
	}
	if _, err := f.svc.Authorize(ctx, "mary", "", "g-nonexistent", cred); !errors.Is(err, ErrUserDisabled) {
		t.Fatalf("disabled user checked before the grant: %v", err)
	}
	f.svc.SetDisabled(ctx, "mary", false)
	if _, err := f.svc.Authorize(ctx, "mary", "", "gnonexistent", cred); !errors.Is(err, ErrGrantNotFound) {
		t.Fatalf("unknown grant: %v", err)
	}
}

func TestGrantValidation(t *testing.T) {
	f := newUserFixture(t, "mary")
	ctx := context.Background()
	f.svc.SetOTPDisabled(ctx, "mary", true)
	for name, c := range map[string]struct {
		cred string
		max  int
		ttl  time.Duration
	}{
		"zero count":    {cred, 0, 0},
		"no credential": {"", 5, 0},
		"too long":      {cred, 5, 8 * 24 * time.Hour},
	} {
		if _, err := f.svc.CreateGrant(ctx, "mary", "", c.cred, c.max, c.ttl); !errors.Is(err, ErrGrantInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// OTP disabled: the grant is created without a code, through the same check.
	if _, err := f.svc.CreateGrant(ctx, "mary", "", cred, 5, 0); err != nil {
		t.Fatalf("grant for a user with OTP disabled: %v", err)
	}
}

func TestGrantConcurrentConsumersNeverExceedMax(t *testing.T) {
	f, secret := newEnrolledFixture(t, "acct")
	ctx := context.Background()
	const max = 10
	g, err := f.svc.CreateGrant(ctx, "acct", testenv.TOTP(t, secret, f.clock.Now()), cred, max, 0)
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 4
	var mu sync.Mutex
	ok, exhausted := 0, 0
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				_, err := f.svc.Authorize(ctx, "acct", "", g.ID, cred)
				mu.Lock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, ErrGrantExhausted):
					exhausted++
				default:
					t.Errorf("consumer: %v", err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ok != max || exhausted != workers*each-max {
		t.Fatalf("%d accepted, %d exhausted; want %d and %d", ok, exhausted, max, workers*each-max)
	}
	if got, _ := f.svc.GetGrant(ctx, g.ID); got.Used != max {
		t.Fatalf("used = %d, want %d", got.Used, max)
	}
}
