package external

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/signet-b24/signet/contracts"
)

func TestByMailCodeConfirmQueuesTheSealsJobWithTheEvidence(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	inv, token := r.linkByMail(t, "party-1", "ivan@example.org")
	if inv.Channel != ChannelEmail || inv.Expires.Sub(inv.Created) != DefaultLinkTTL {
		t.Fatalf("invitation %+v", inv)
	}
	if _, err := r.s.Open(ctx, token); err != nil {
		t.Fatal(err)
	}
	code := r.codeByMail(t, token, "ivan@example.org")
	session, err := r.s.VerifyCode(ctx, token, code[:3]+" "+code[3:], Evidence{IP: "203.0.113.7", UserAgent: "TestBrowser/1"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.s.Confirm(ctx, session, pngDataURL(t), "", Evidence{IP: "203.0.113.8", UserAgent: "TestBrowser/2"})
	if err != nil {
		t.Fatal(err)
	}
	if got.State != Queued || got.JobID != JobID(inv) {
		t.Fatalf("after confirming: %+v", got)
	}
	job := r.queuedJob(t)
	if err := r.keys.Verify(job, time.Now()); err != nil {
		t.Fatalf("the seal's job is not authorised like an intake job: %v", err)
	}
	if r := job.Stamp.Reason; !strings.HasPrefix(r, "Ivan Petrov, external party") || !strings.Contains(r, "e-mail to ivan@example.org, verified ") {
		t.Errorf("the signature's reason %q", r)
	}
	if l := job.Stamp.Location; !strings.HasPrefix(l, `IP 203.0.113.8, browser "TestBrowser/2", confirmed `) {
		t.Errorf("the signature's location %q", l)
	}
	if job.Credential != "pkcs11:token=acme;object=seal" || job.Document.URL != contracts.SharedStoragePrefix+docKey ||
		!job.Stamp.Visible || len(job.Stamp.Image) == 0 || job.Signer.Login != "external:party-1" {
		t.Errorf("job %+v", job)
	}
	// A second confirmation is refused: one seal per invitation.
	if _, err := r.s.Confirm(ctx, session, pngDataURL(t), "", Evidence{}); !errors.Is(err, ErrEnded) {
		t.Errorf("a second confirmation: %v", err)
	}
	r.deliver(t, job.ID, contracts.OutcomeSigned, "")
	if err := r.s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	calls := r.done.all()
	if len(calls) != 1 || calls[0] != (doneCall{"route-1", "step-2", "party-1", contracts.OutcomeSigned, ""}) {
		t.Fatalf("the route engine was told %+v", calls)
	}
	if err := r.s.Sweep(ctx); err != nil || len(r.done.all()) != 1 {
		t.Fatalf("a second sweep told it again: %v %+v", err, r.done.all())
	}
}

func TestBySMSTheLinkAndTheCodeComeThroughTheProvider(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.invite(t, "party-2", "", "+79991234567")
	sent := r.gw.Sent()
	if len(sent) != 1 || sent[0].To != "79991234567" {
		t.Fatalf("the gateway got %+v", sent)
	}
	token := find(t, linkRE, sent[0].Text)
	if err := r.s.SendCode(ctx, token, Evidence{}); err != nil {
		t.Fatal(err)
	}
	code := find(t, codeRE, r.gw.Sent()[1].Text)
	if _, err := r.s.VerifyCode(ctx, token, code, Evidence{}); err != nil {
		t.Fatal(err)
	}
	// An outage: the invitation is not stored, the caller is told to try again.
	r.gw.Down(true)
	if _, err := r.s.Invite(ctx, Invitation{RouteID: "r", PartyID: "p", Name: "A", Phone: "+79990000000", DocumentKey: docKey}); err == nil ||
		!strings.Contains(err.Error(), "503") {
		t.Fatalf("an SMS outage: %v", err)
	}
}

func TestDeclineWithAReasonTellsTheRouteEngine(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	_, token := r.linkByMail(t, "party-5", "decline@example.org")
	session, err := r.s.VerifyCode(ctx, token, r.codeByMail(t, token, "decline@example.org"), Evidence{})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := r.s.Decline(ctx, session, "  the amount is wrong\x00 ", Evidence{IP: "198.51.100.1"})
	if err != nil {
		t.Fatal(err)
	}
	if inv.State != Declined || inv.Reason != "the amount is wrong" {
		t.Fatalf("declined: %+v", inv)
	}
	if c := r.done.all(); len(c) != 1 || c[0].outcome != contracts.OutcomeDeclined || c[0].reason != "the amount is wrong" {
		t.Fatalf("the route engine was told %+v", c)
	}
	if _, err := r.s.Confirm(ctx, session, pngDataURL(t), "", Evidence{}); !errors.Is(err, ErrEnded) {
		t.Errorf("confirming after declining: %v", err)
	}
}

func TestExpiredLinkAndStaleCodeAndThrottle(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	_, token := r.linkByMail(t, "party-6", "slow@example.org")
	code := r.codeByMail(t, token, "slow@example.org")
	if err := r.s.SendCode(ctx, token, Evidence{}); !errors.Is(err, ErrThrottled) {
		t.Errorf("a second code at once: %v", err)
	}
	r.clock.add(CodeTTL + time.Second)
	if _, err := r.s.VerifyCode(ctx, token, code, Evidence{}); !errors.Is(err, ErrCodeStale) {
		t.Errorf("a code after 5 minutes: %v", err)
	}
	r.clock.add(DefaultLinkTTL)
	if _, err := r.s.Open(ctx, token); !errors.Is(err, ErrExpired) {
		t.Errorf("an expired link: %v", err)
	}
	if err := r.s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if c := r.done.all(); len(c) != 1 || c[0].outcome != contracts.OutcomeExpired {
		t.Fatalf("the route engine was told %+v", c)
	}
}

func TestInviteRefusesWhatCannotBeSealed(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	for name, inv := range map[string]Invitation{
		"no name":                {RouteID: "r", PartyID: "p", Email: "a@example.org", DocumentKey: docKey},
		"no channel":             {RouteID: "r", PartyID: "p", Name: "A", DocumentKey: docKey},
		"a signed file":          {RouteID: "r", PartyID: "p", Name: "A", Email: "a@example.org", DocumentKey: "signed/x/y.pdf"},
		"a local phone":          {RouteID: "r", PartyID: "p", Name: "A", Phone: "89991234567", DocumentKey: docKey},
		"a broken address":       {RouteID: "r", PartyID: "p", Name: "A", Email: "not an address", DocumentKey: docKey},
		"no route":               {PartyID: "p", Name: "A", Email: "a@example.org", DocumentKey: docKey},
		"a path out of incoming": {RouteID: "r", PartyID: "p", Name: "A", Email: "a@example.org", DocumentKey: "/etc/passwd"},
	} {
		if _, err := r.s.Invite(ctx, inv); err == nil {
			t.Errorf("%s: invited", name)
		}
	}
}

func TestConfirmTakesAStampBesideTheSignatureAndRefusesWhatIsNoPicture(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	_, token := r.linkByMail(t, "party-7", "stamp@example.org")
	session, err := r.s.VerifyCode(ctx, token, r.codeByMail(t, token, "stamp@example.org"), Evidence{})
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string][2]string{
		"no signature":         {"", ""},
		"an SVG":               {"data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=", ""},
		"not base64":           {"data:image/png;base64,!!!", ""},
		"a PNG that is not":    {"data:image/png;base64,aGVsbG8=", ""},
		"a stamp that is text": {pngDataURL(t), "data:text/plain;base64,aGVsbG8="},
	} {
		if _, err := r.s.Confirm(ctx, session, c[0], c[1], Evidence{}); !errors.Is(err, ErrPicture) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if n := r.ns.Msgs(t, contracts.StreamSign); n != 0 {
		t.Fatalf("refused pictures queued %d jobs", n)
	}
	if _, err := r.s.Confirm(ctx, session, pngDataURL(t), pngDataURL(t), Evidence{}); err != nil {
		t.Fatal(err)
	}
	job := r.queuedJob(t)
	img, err := png.DecodeConfig(bytes.NewReader(job.Stamp.Image))
	if err != nil || img.Width <= 60 {
		t.Errorf("the signet's picture should hold the signature and the stamp side by side: %+v %v", img, err)
	}
}

func TestRemindSendsANewLinkAndTheOldOneStops(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	inv, old := r.linkByMail(t, "party-8", "remind@example.org")
	if err := r.s.Remind(ctx, inv.ID); err != nil {
		t.Fatal(err)
	}
	fresh := find(t, linkRE, r.mailed(t, "remind@example.org", "Reminder: a document waits for your signature"))
	if fresh == old {
		t.Fatal("the reminder repeats the old link")
	}
	if _, err := r.s.Open(ctx, old); !errors.Is(err, ErrNotFound) {
		t.Errorf("the old link after a reminder: %v", err)
	}
	if _, err := r.s.Open(ctx, fresh); err != nil {
		t.Errorf("the new link: %v", err)
	}
}

func TestWithdrawEndsTheLinkAndTheSessionWithoutTellingBack(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	invA, tokA := r.linkByMail(t, "party-9", "withdrawn@example.org")
	invB, tokB := r.linkByMail(t, "party-10", "withdrawn2@example.org")
	session, err := r.s.VerifyCode(ctx, tokB, r.codeByMail(t, tokB, "withdrawn2@example.org"), Evidence{})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{invA.ID, invB.ID} {
		if err := r.s.Withdraw(ctx, id, "party removed from the route"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.s.Open(ctx, tokA); !errors.Is(err, ErrWithdrawn) {
		t.Errorf("a withdrawn link: %v", err)
	}
	if _, err := r.s.Confirm(ctx, session, pngDataURL(t), "", Evidence{}); !errors.Is(err, ErrSession) {
		t.Errorf("confirming a withdrawn invitation: %v", err)
	}
	if err := r.s.Withdraw(ctx, invA.ID, "again"); !errors.Is(err, ErrEnded) {
		t.Errorf("withdrawing twice: %v", err)
	}
	if err := r.s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if c := r.done.all(); len(c) != 0 {
		t.Errorf("the route engine was told back of its own withdrawal: %+v", c)
	}
	if n := r.ns.Msgs(t, contracts.StreamSign); n != 0 {
		t.Errorf("SIGN %d", n)
	}
}
