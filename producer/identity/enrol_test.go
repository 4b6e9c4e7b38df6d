package identity

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-b24/signet/internal/testsupport/testenv"
)

func TestEnrolmentLinkAndOtpauthURL(t *testing.T) {
	f := newUserFixture(t, "mary@example.com")
	ctx := context.Background()
	link, expires, err := f.svc.StartEnrolment(ctx, "mary@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(link, "http://signet.test:8080/enrol/") {
		t.Fatalf("link %q does not start with the public URL", link)
	}
	if !expires.Equal(f.clock.Now().Add(time.Hour)) {
		t.Fatalf("expires %v, want one hour from now", expires)
	}
	tok := testenv.EnrolmentToken(t, link)
	p, err := f.svc.PendingSecret(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	want := "otpauth://totp/Signet:mary@example.com?secret=" + p.Secret + "&issuer=Signet&period=30&digits=6&algorithm=SHA1"
	if p.URL != want {
		t.Fatalf("otpauth URL\n got %s\nwant %s", p.URL, want)
	}
	if len(p.Secret) != 32 { // 160 bits in base32
		t.Fatalf("secret length %d, want 32 base32 characters", len(p.Secret))
	}
	// Only the token's hash is stored.
	keys, _ := listKeys(ctx, f.svc.enrol, ">")
	for _, k := range keys {
		e, _ := f.svc.enrol.Get(ctx, k)
		if strings.Contains(k, tok) || strings.Contains(string(e.Value()), tok) {
			t.Fatal("enrolment token stored in clear")
		}
	}
	png, err := f.svc.EnrolmentQR(ctx, tok, 256)
	if err != nil || !strings.HasPrefix(string(png), "\x89PNG") {
		t.Fatalf("QR code: %v", err)
	}
	if u, _ := f.svc.GetUser(ctx, "mary@example.com"); u.Enrolled {
		t.Fatal("enrolled before confirming")
	}
	if err := f.svc.ConfirmEnrolment(ctx, tok, testenv.WrongTOTP(testenv.TOTP(t, p.Secret, f.clock.Now()))); !errors.Is(err, ErrOTPInvalid) {
		t.Fatalf("wrong confirmation code: %v", err)
	}
	code := testenv.TOTP(t, p.Secret, f.clock.Now())
	if err := f.svc.ConfirmEnrolment(ctx, tok, code); err != nil {
		t.Fatal(err)
	}
	if u, _ := f.svc.GetUser(ctx, "mary@example.com"); !u.Enrolled {
		t.Fatal("not enrolled after confirming")
	}
	// The confirming code cannot also authorise a signature.
	if _, err := f.svc.Authorize(ctx, "mary@example.com", code, "", ""); !errors.Is(err, ErrOTPReplayed) {
		t.Fatalf("confirmation code reused for signing: %v", err)
	}
	// The link is now used: the page data and a second confirmation are refused.
	if _, err := f.svc.PendingSecret(ctx, tok); !errors.Is(err, ErrEnrolmentUsed) {
		t.Fatalf("PendingSecret of a used link: %v", err)
	}
	f.clock.Advance(30 * time.Second)
	if err := f.svc.ConfirmEnrolment(ctx, tok, testenv.TOTP(t, p.Secret, f.clock.Now())); !errors.Is(err, ErrEnrolmentUsed) {
		t.Fatalf("reused link: %v", err)
	}
	f.noSecretsLogged(t, p.Secret, tok, code)
}

func TestEnrolmentExpiredLinkChangesNothing(t *testing.T) {
	f := newUserFixture(t, "ivan")
	ctx := context.Background()
	_, tok, p := f.startEnrolment(t, "ivan")
	f.clock.Advance(time.Hour)
	if _, err := f.svc.PendingSecret(ctx, tok); !errors.Is(err, ErrEnrolmentExpired) {
		t.Fatalf("page of an expired link: %v", err)
	}
	err := f.svc.ConfirmEnrolment(ctx, tok, testenv.TOTP(t, p.Secret, f.clock.Now()))
	if !errors.Is(err, ErrEnrolmentExpired) || !strings.Contains(err.Error(), `"ivan"`) {
		t.Fatalf("confirming an expired link: %v", err)
	}
	if u, _ := f.svc.GetUser(ctx, "ivan"); u.Enrolled {
		t.Fatal("expired link enrolled the user")
	}
	if _, err := f.svc.PendingSecret(ctx, "not-a-token"); !errors.Is(err, ErrEnrolmentNotFound) {
		t.Fatalf("unknown token: %v", err)
	}
}

func TestReEnrolmentReplacesSecretOnlyWhenConfirmed(t *testing.T) {
	f, oldSecret := newEnrolledFixture(t, "olga")
	ctx := context.Background()

	_, tok, p := f.startEnrolment(t, "olga")
	if p.Secret == oldSecret {
		t.Fatal("re-enrolment reused the old secret")
	}
	// Pending: the old secret still works, the new one does not yet.
	if _, err := f.svc.Authorize(ctx, "olga", testenv.TOTP(t, p.Secret, f.clock.Now()), "", ""); !errors.Is(err, ErrOTPInvalid) {
		t.Fatalf("pending secret accepted before confirmation: %v", err)
	}
	if _, err := f.svc.Authorize(ctx, "olga", testenv.TOTP(t, oldSecret, f.clock.Now()), "", ""); err != nil {
		t.Fatalf("old secret during a pending re-enrolment: %v", err)
	}
	f.clock.Advance(30 * time.Second)
	if err := f.svc.ConfirmEnrolment(ctx, tok, testenv.TOTP(t, p.Secret, f.clock.Now())); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(30 * time.Second)
	if _, err := f.svc.Authorize(ctx, "olga", testenv.TOTP(t, oldSecret, f.clock.Now()), "", ""); !errors.Is(err, ErrOTPInvalid) {
		t.Fatalf("old secret after re-enrolment: %v", err)
	}
	if _, err := f.svc.Authorize(ctx, "olga", testenv.TOTP(t, p.Secret, f.clock.Now()), "", ""); err != nil {
		t.Fatalf("new secret after re-enrolment: %v", err)
	}
}

func TestNewerLinkSupersedesOlder(t *testing.T) {
	f := newUserFixture(t, "anna")
	ctx := context.Background()
	_, first, p1 := f.startEnrolment(t, "anna")
	if _, _, err := f.svc.StartEnrolment(ctx, "anna"); err != nil {
		t.Fatal(err)
	}
	err := f.svc.ConfirmEnrolment(ctx, first, testenv.TOTP(t, p1.Secret, f.clock.Now()))
	if !errors.Is(err, ErrEnrolmentSuperseded) {
		t.Fatalf("older link after a newer one: %v", err)
	}
}

func TestEnrolmentLinkUsableOnceUnderRace(t *testing.T) {
	f := newUserFixture(t, "petr")
	ctx := context.Background()
	link, tok, p := f.startEnrolment(t, "petr")
	code := testenv.TOTP(t, p.Secret, f.clock.Now())
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = f.svc.ConfirmEnrolment(ctx, tok, code) }()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if !errors.Is(err, ErrEnrolmentUsed) {
			t.Errorf("loser: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d confirmations of one link succeeded, want 1", ok)
	}
	u, _ := url.Parse(link)
	if u.RawQuery != "" {
		t.Fatalf("link carries a query: %q", link)
	}
}

// The page after a confirmation names the user and the authenticator app's issuer: PendingSecret
// gives the issuer while the link is pending, EnrolmentLogin the login once it is used, and nothing
// for a token that names no link.
func TestEnrolmentNamesItsUserAndIssuer(t *testing.T) {
	f := newUserFixture(t, "mary")
	ctx := context.Background()
	_, tok, p := f.startEnrolment(t, "mary")
	if p.Issuer != "Signet" || p.Login != "mary" {
		t.Fatalf("pending enrolment: issuer %q, login %q", p.Issuer, p.Login)
	}
	if err := f.svc.ConfirmEnrolment(ctx, tok, testenv.TOTP(t, p.Secret, f.clock.Now())); err != nil {
		t.Fatal(err)
	}
	if got := f.svc.EnrolmentLogin(ctx, tok); got != "mary" {
		t.Errorf("EnrolmentLogin of the used link = %q, want mary", got)
	}
	if got := f.svc.EnrolmentLogin(ctx, "no-such-token"); got != "" {
		t.Errorf("EnrolmentLogin of an unknown token = %q, want none", got)
	}
}
