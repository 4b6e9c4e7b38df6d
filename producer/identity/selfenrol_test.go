package identity

import (
	"context"
	"errors"
	"testing"

	"github.com/signet-b24/signet/internal/testsupport/testenv"
)

// An employee enrols inside Bitrix24 only once allowed, only while no authenticator is enrolled, and
// the link it gets follows the administrator's link rules (a newer one supersedes it).
func TestSelfEnrolmentRules(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.svc.AddUser(ctx, User{Login: "ivan@example.com", BitrixIDs: map[string]int{"m1": 7}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.StartSelfEnrolment(ctx, "m1", 7); !errors.Is(err, ErrSelfEnrolForbidden) {
		t.Fatalf("not allowed yet: %v", err)
	}
	if _, err := f.svc.StartSelfEnrolment(ctx, "m2", 7); !errors.Is(err, ErrUserNotFound) {
		t.Fatalf("the same id on another portal: %v", err)
	}
	if _, err := f.svc.SetSelfEnrol(ctx, "ivan@example.com", true); err != nil {
		t.Fatal(err)
	}
	se, err := f.svc.StartSelfEnrolment(ctx, "m1", 7)
	if err != nil || se.Token == "" || se.User.Login != "ivan@example.com" {
		t.Fatalf("allowed: %+v, %v", se, err)
	}
	if !f.svc.EnrolmentOnPortal(ctx, se.Token, "m1", 7) || f.svc.EnrolmentOnPortal(ctx, se.Token, "m1", 8) || f.svc.EnrolmentOnPortal(ctx, se.Token, "m2", 7) {
		t.Fatal("EnrolmentOnPortal does not tie the link to its employee")
	}
	newer, err := f.svc.StartSelfEnrolment(ctx, "m1", 7)
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.svc.PendingSecret(ctx, se.Token)
	if !errors.Is(err, ErrEnrolmentSuperseded) {
		t.Fatalf("the older page's link after a reload: %v", err)
	}
	if p, err = f.svc.PendingSecret(ctx, newer.Token); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.ConfirmEnrolment(ctx, newer.Token, testenv.TOTP(t, p.Secret, f.clock.Now())); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.StartSelfEnrolment(ctx, "m1", 7); !errors.Is(err, ErrAlreadyEnrolled) {
		t.Fatalf("enrolled already: %v", err)
	}
	if _, err := f.svc.SetDisabled(ctx, "ivan@example.com", true); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.StartSelfEnrolment(ctx, "m1", 7); !errors.Is(err, ErrUserDisabled) {
		t.Fatalf("disabled: %v", err)
	}
}
