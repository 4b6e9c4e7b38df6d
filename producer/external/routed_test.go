package external

import (
	"context"
	"errors"
	"testing"

	"github.com/signet-b24/signet/contracts"
)

// A route's party (producer/routes.Externals): the seal job carries the id the route engine gave, a
// second Invite for that job returns the live invitation without mailing the link again, and a new
// one is made only after the old one was withdrawn (or expired, or locked).
func TestRoutedInviteIsIdempotentPerJob(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	const job, addr = "route9-s2p1", "olga@example.org"
	inv := Invitation{RouteID: "route9", StepID: "s2", PartyID: "p1", JobID: job, Name: "Olga", Email: addr,
		DocumentKey: docKey, Language: "en"}
	first, err := r.s.Invite(ctx, inv)
	if err != nil {
		t.Fatal(err)
	}
	r.mailed(t, addr, "A document for you to sign")
	again, err := r.s.Invite(ctx, inv)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != first.ID || JobID(again) != job {
		t.Fatalf("a second Invite for job %s made %s (first %s), job %s", job, again.ID, first.ID, JobID(again))
	}
	if n := len(r.mp.To(t, addr)); n != 1 {
		t.Fatalf("%d messages to %s, want the one link", n, addr)
	}
	if err := r.s.WithdrawJob(ctx, job, "party removed"); err != nil {
		t.Fatal(err)
	}
	next, err := r.s.Invite(ctx, inv)
	if err != nil {
		t.Fatal(err)
	}
	if next.ID == first.ID || next.State != Pending {
		t.Fatalf("after the withdrawal: %+v", next)
	}
	if n := len(r.mp.To(t, addr)); n != 2 {
		t.Fatalf("%d messages to %s, want the new link too", n, addr)
	}
}

// Confirm asks Hold for the route's latest revision before building the seal job: while another
// party's signature is being made it answers ErrBusy and nothing is spent (the party confirms again);
// then the job seals the held revision under the route's job id.
func TestRoutedConfirmSealsTheHeldRevision(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	const job, addr, latest = "route7-s1p2", "petr@example.org", "incoming/routes/route7/2.pdf"
	busy := true
	var released []string
	r.s.Hold = func(_ context.Context, routeID, jobID string) (string, error) {
		if routeID != "route7" || jobID != job {
			t.Errorf("Hold(%s, %s)", routeID, jobID)
		}
		if busy {
			return "", ErrBusy
		}
		return latest, nil
	}
	r.s.Release = func(_ context.Context, _, jobID string) error { released = append(released, jobID); return nil }
	if _, err := r.s.Invite(ctx, Invitation{RouteID: "route7", StepID: "s1", PartyID: "p2", JobID: job, Name: "Petr",
		Email: addr, DocumentKey: docKey, Language: "ru"}); err != nil {
		t.Fatal(err)
	}
	token := find(t, linkRE, r.mailed(t, addr, "Документ на подпись"))
	session, err := r.s.VerifyCode(ctx, token, r.codeByMail(t, token, addr), Evidence{IP: "203.0.113.9"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.s.Confirm(ctx, session, pngDataURL(t), "", Evidence{IP: "203.0.113.9"})
	if !errors.Is(err, ErrBusy) || got == nil || got.State != Verified {
		t.Fatalf("confirming while another signs: %v, %+v", err, got)
	}
	busy = false
	got, err = r.s.Confirm(ctx, session, pngDataURL(t), "", Evidence{IP: "203.0.113.9"})
	if err != nil {
		t.Fatal(err)
	}
	sealed := r.queuedJob(t)
	if got.State != Queued || got.DocumentKey != latest || sealed.ID != job ||
		sealed.Document.URL != contracts.SharedStoragePrefix+latest {
		t.Fatalf("the seal's job %s of %s; invitation %+v", sealed.ID, sealed.Document.URL, got)
	}
	if len(released) != 0 {
		t.Errorf("a queued job's hold was given back: %v", released)
	}
}
