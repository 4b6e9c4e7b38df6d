package external

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/signet-b24/signet/contracts"
)

func TestAttackCodeBruteForceLocksTheInvitation(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	_, token := r.linkByMail(t, "party-3", "brute@example.org")
	code := r.codeByMail(t, token, "brute@example.org")
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	for i := 1; i < DefaultMaxFailures; i++ {
		if _, err := r.s.VerifyCode(ctx, token, wrong, Evidence{}); !errors.Is(err, ErrCodeWrong) {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	if _, err := r.s.VerifyCode(ctx, token, wrong, Evidence{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("the last allowed wrong code: %v", err)
	}
	// Locked for good: the right code, a new code, the page: all refused.
	if _, err := r.s.VerifyCode(ctx, token, code, Evidence{}); !errors.Is(err, ErrLocked) {
		t.Errorf("the right code after the lock: %v", err)
	}
	if err := r.s.SendCode(ctx, token, Evidence{}); !errors.Is(err, ErrLocked) {
		t.Errorf("a new code after the lock: %v", err)
	}
	if _, err := r.s.Open(ctx, token); !errors.Is(err, ErrLocked) {
		t.Errorf("the page after the lock: %v", err)
	}
	if c := r.done.all(); len(c) != 1 || c[0].outcome != contracts.OutcomeFailed || !strings.Contains(c[0].reason, "wrong codes") {
		t.Errorf("the route engine was told %+v", c)
	}
}

func TestAttackLinkReuseAndGuessing(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	inv, token := r.linkByMail(t, "party-4", "reuse@example.org")
	code := r.codeByMail(t, token, "reuse@example.org")
	if _, err := r.s.VerifyCode(ctx, token, code, Evidence{}); err != nil {
		t.Fatal(err)
	}
	// The link is spent on the right code: whoever else holds it gets nothing.
	if _, err := r.s.Open(ctx, token); !errors.Is(err, ErrUsed) {
		t.Errorf("reopening a used link: %v", err)
	}
	if err := r.s.SendCode(ctx, token, Evidence{}); !errors.Is(err, ErrUsed) {
		t.Errorf("a code for a used link: %v", err)
	}
	if _, err := r.s.VerifyCode(ctx, token, code, Evidence{}); !errors.Is(err, ErrUsed) {
		t.Errorf("the same code again: %v", err)
	}
	// Each refusal is in the trail, and no event holds the link's secret or the code.
	_, secret, _ := ParseToken(token)
	refused := 0
	for _, e := range r.story(t, inv) {
		if b, _ := json.Marshal(e); strings.Contains(string(b), secret) || strings.Contains(string(b), code) {
			t.Errorf("an audit event holds a secret: %s", b)
		}
		if e.Action == ActionCodeFailed && strings.Contains(e.Reason, "used already") {
			refused++
		}
	}
	if refused != 1 {
		t.Errorf("%d refusals of the used link in the trail, want 1", refused)
	}
	// Guessing: a wrong secret for a real id says what an unknown id says; a malformed token too.
	forged := inv.ID + "." + strings.Repeat("A", secretLen)
	for _, tok := range []string{forged, strings.Repeat("0", idLen) + "." + strings.Repeat("A", secretLen), "x", token + "A", ""} {
		if _, err := r.s.Open(ctx, tok); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open(%.20q…): %v", tok, err)
		}
	}
	// The link's secret is nowhere in the bucket.
	stored, _, _ := r.s.st.get(ctx, inv.ID)
	if stored.LinkHash == "" || strings.Contains(stored.LinkHash, secret) {
		t.Errorf("stored link hash %q", stored.LinkHash)
	}
}

func TestAttackOtherPartysInvitation(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	_, tokA := r.linkByMail(t, "party-a", "a@example.org")
	invB, tokB := r.linkByMail(t, "party-b", "b@example.org")
	sessA, err := r.s.VerifyCode(ctx, tokA, r.codeByMail(t, tokA, "a@example.org"), Evidence{})
	if err != nil {
		t.Fatal(err)
	}
	// A's session secret under B's id opens nothing of B's.
	_, secretA, _ := ParseToken(sessA)
	crossed := invB.ID + "." + secretA
	if _, err := r.s.Session(ctx, crossed); !errors.Is(err, ErrSession) {
		t.Errorf("A's session on B: %v", err)
	}
	if _, err := r.s.Confirm(ctx, crossed, pngDataURL(t), "", Evidence{}); !errors.Is(err, ErrSession) {
		t.Errorf("A confirming B's: %v", err)
	}
	if _, err := r.s.Decline(ctx, crossed, "no", Evidence{}); !errors.Is(err, ErrSession) {
		t.Errorf("A declining B's: %v", err)
	}
	// A's code does not open B's link either.
	codeB := r.codeByMail(t, tokB, "b@example.org")
	_ = codeB
	if _, err := r.s.VerifyCode(ctx, tokB, "000000", Evidence{}); err == nil && codeB != "000000" {
		t.Error("a code that is not B's opened B's link")
	}
}
