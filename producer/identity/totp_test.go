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

func TestAuthorizeAcceptsOathtoolCodeOnceAndRefusesReplay(t *testing.T) {
	f, secret := newEnrolledFixture(t, "mary")
	ctx := context.Background()

	code := testenv.TOTP(t, secret, f.clock.Now())
	d, err := f.svc.Authorize(ctx, "mary", code, "", cred)
	if err != nil {
		t.Fatalf("fresh oathtool code refused: %v", err)
	}
	if d.Method != MethodOTP || d.Login != "mary" || d.Step != step(f.clock.Now()) {
		t.Fatalf("decision = %+v", d)
	}
	_, err = f.svc.Authorize(ctx, "mary", code, "", "")
	if !errors.Is(err, ErrOTPReplayed) {
		t.Fatalf("replayed code: got %v, want ErrOTPReplayed", err)
	}
	want := `OTP rejected for "mary": code already used in this 30 s window; wait for the next code`
	if err.Error() != want {
		t.Fatalf("message = %q, want %q", err, want)
	}
	// Still refused later in the same window, and the next window's code works.
	f.clock.Advance(15 * time.Second)
	if _, err := f.svc.Authorize(ctx, "mary", code, "", ""); !errors.Is(err, ErrOTPReplayed) {
		t.Fatalf("replay in same window: %v", err)
	}
	f.clock.Advance(30 * time.Second)
	if _, err := f.svc.Authorize(ctx, "mary", testenv.TOTP(t, secret, f.clock.Now()), "", ""); err != nil {
		t.Fatalf("next window's code: %v", err)
	}
	// Logins are case-insensitive like Bitrix24's.
	f.clock.Advance(30 * time.Second)
	if _, err := f.svc.Authorize(ctx, "MARY", testenv.TOTP(t, secret, f.clock.Now()), "", ""); err != nil {
		t.Fatalf("upper-case login: %v", err)
	}
	f.noSecretsLogged(t, secret, code)
}

func TestAuthorizeSkew(t *testing.T) {
	f, secret := newEnrolledFixture(t, "ivan")
	ctx := context.Background()
	f.clock.Advance(30 * time.Second) // so that now-1 step is not the enrolment's (spent) step
	now := f.clock.Now()

	for _, d := range []time.Duration{-60 * time.Second, 60 * time.Second} {
		_, err := f.svc.Authorize(ctx, "ivan", testenv.TOTP(t, secret, now.Add(d)), "", "")
		if !errors.Is(err, ErrOTPInvalid) {
			t.Errorf("code from %v away: got %v, want ErrOTPInvalid", d, err)
		}
	}
	// -1 step first: accepting +1 first would make -1 a replay (steps only move forward).
	for _, d := range []time.Duration{-30 * time.Second, 30 * time.Second} {
		if _, err := f.svc.Authorize(ctx, "ivan", testenv.TOTP(t, secret, now.Add(d)), "", ""); err != nil {
			t.Errorf("code from %v away refused: %v", d, err)
		}
	}
	// The current step is now behind the last accepted (+1) one: refused as replay.
	if _, err := f.svc.Authorize(ctx, "ivan", testenv.TOTP(t, secret, now), "", ""); !errors.Is(err, ErrOTPReplayed) {
		t.Errorf("code of a step before the last accepted: got %v, want ErrOTPReplayed", err)
	}
}

func TestAuthorizeLockoutAndUnlock(t *testing.T) {
	f, secret := newEnrolledFixture(t, "olga")
	ctx := context.Background()
	good := testenv.TOTP(t, secret, f.clock.Now())
	bad := testenv.WrongTOTP(good)

	// Malformed input is not a guess and does not count.
	if _, err := f.svc.Authorize(ctx, "olga", "12ab56", "", ""); !errors.Is(err, ErrOTPFormat) {
		t.Fatalf("malformed code: %v", err)
	}
	for i := 1; i <= 4; i++ {
		_, err := f.svc.Authorize(ctx, "olga", bad, "", "")
		if !errors.Is(err, ErrOTPInvalid) || errors.Is(err, ErrLockedOut) {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	_, err := f.svc.Authorize(ctx, "olga", bad, "", "")
	if !errors.Is(err, ErrOTPInvalid) || !errors.Is(err, ErrLockedOut) {
		t.Fatalf("5th wrong code: got %v, want ErrOTPInvalid and ErrLockedOut", err)
	}
	unlock := f.clock.Now().Add(15 * time.Minute).UTC().Format(time.RFC3339)
	_, err = f.svc.Authorize(ctx, "olga", good, "", "")
	if !errors.Is(err, ErrLockedOut) || !strings.Contains(err.Error(), unlock) || !strings.Contains(err.Error(), `"olga"`) {
		t.Fatalf("good code while locked: %v (want ErrLockedOut naming %s)", err, unlock)
	}
	if n := f.logs.FilterMessage("user locked out after too many wrong OTP codes").Len(); n != 1 {
		t.Fatalf("lockout logged %d times, want 1", n)
	}
	f.clock.Advance(15*time.Minute - time.Second)
	if _, err := f.svc.Authorize(ctx, "olga", testenv.TOTP(t, secret, f.clock.Now()), "", ""); !errors.Is(err, ErrLockedOut) {
		t.Fatalf("one second before unlock: %v", err)
	}
	f.clock.Advance(time.Second)
	if _, err := f.svc.Authorize(ctx, "olga", testenv.TOTP(t, secret, f.clock.Now()), "", ""); err != nil {
		t.Fatalf("after the lockout: %v", err)
	}
	// A success resets the count: four more wrong codes do not lock.
	for range 4 {
		f.svc.Authorize(ctx, "olga", bad, "", "")
	}
	f.clock.Advance(30 * time.Second)
	if _, err := f.svc.Authorize(ctx, "olga", testenv.TOTP(t, secret, f.clock.Now()), "", ""); err != nil {
		t.Fatalf("after 4 wrong codes following a success: %v", err)
	}
	f.noSecretsLogged(t, secret, good, bad)
}

func TestAuthorizeConfigurableLockout(t *testing.T) {
	f := newFixture(t)
	f.cfg.MaxFailures, f.cfg.Lockout = 2, time.Minute
	svc := f.reopen(t, f.keys)
	ctx := context.Background()
	f.addUser(t, "p")
	secret := f.enrol(t, "p")
	bad := testenv.WrongTOTP(testenv.TOTP(t, secret, f.clock.Now()))
	svc.Authorize(ctx, "p", bad, "", "")
	if _, err := svc.Authorize(ctx, "p", bad, "", ""); !errors.Is(err, ErrLockedOut) {
		t.Fatalf("2nd wrong code with MaxFailures=2: %v", err)
	}
	f.clock.Advance(time.Minute)
	if _, err := svc.Authorize(ctx, "p", testenv.TOTP(t, secret, f.clock.Now()), "", ""); err != nil {
		t.Fatalf("after a 1-minute lockout: %v", err)
	}
}

func TestAuthorizeConcurrentSameCodeExactlyOneWins(t *testing.T) {
	f, secret := newEnrolledFixture(t, "anna")
	ctx := context.Background()
	code := testenv.TOTP(t, secret, f.clock.Now())

	// Two Service values stand for two intake processes; only the KV revision check arbitrates.
	svcs := []*Service{f.svc, f.reopen(t, f.keys)}
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = svcs[i%2].Authorize(ctx, "anna", code, "", "")
		}()
	}
	close(start)
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrOTPReplayed):
			t.Errorf("loser got %v, want ErrOTPReplayed", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent uses of one code accepted, want exactly 1", ok, n)
	}
}

func TestAuthorizeUserStates(t *testing.T) {
	f := newUserFixture(t, "nocode")
	ctx := context.Background()
	if _, err := f.svc.Authorize(ctx, "nocode", "123456", "", ""); !errors.Is(err, ErrNotEnrolled) {
		t.Fatalf("not enrolled: %v", err)
	}
	if _, err := f.svc.SetOTPDisabled(ctx, "nocode", true); err != nil {
		t.Fatal(err)
	}
	d, err := f.svc.Authorize(ctx, "nocode", "", "", "")
	if err != nil || d.Method != MethodOTPNotRequired {
		t.Fatalf("OTP disabled: %+v %v", d, err)
	}
	if _, err := f.svc.SetDisabled(ctx, "nocode", true); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authorize(ctx, "nocode", "", "", ""); !errors.Is(err, ErrUserDisabled) || !strings.Contains(err.Error(), `"nocode"`) {
		t.Fatalf("disabled: %v", err)
	}
	if _, err := f.svc.Authorize(ctx, "ghost", "123456", "", ""); !errors.Is(err, ErrUserNotFound) {
		t.Fatalf("unknown user: %v", err)
	}
}
