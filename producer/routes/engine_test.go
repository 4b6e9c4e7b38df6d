package routes

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/producer/requests"
)

// A sequential route asks the next step only when the previous is done; each signature becomes the
// next revision; a replayed outcome changes nothing; the route completes after the last step.
func TestRouteStepsAdvanceOnOutcomes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r := f.start(t, portalA, Step{Parties: []Party{party("ann")}}, Step{Parties: []Party{party("bob")}})
	ann, bob := JobID(r.ID, "s1", "p1"), JobID(r.ID, "s2", "p1")
	if _, _, err := f.reqs.Store.Get(ctx, ann); err != nil {
		t.Fatalf("ann has no request: %v", err)
	}
	if _, _, err := f.reqs.Store.Get(ctx, bob); !errors.Is(err, requests.ErrNotFound) {
		t.Fatalf("bob is asked before ann signed: %v", err)
	}
	key, err := f.e.Hold(ctx, r.ID, ann)
	if err != nil || key != RevisionKey(r.ID, 0) {
		t.Fatalf("hold: %q %v", key, err)
	}
	d := f.workerSigns(t, ann)
	for range 2 { // the watcher and the sweeper may both hear it
		if err := f.e.JobDone(ctx, ann, d); err != nil {
			t.Fatal(err)
		}
	}
	r = f.get(t, r.ID)
	if r.Revision != 1 || r.Current != 1 || r.Holder != "" || r.Steps[0].Parties[0].State != PartySigned {
		t.Fatalf("after ann: revision %d, step %d, holder %q\n%s", r.Revision, r.Current, r.Holder, r.Summary())
	}
	if _, _, err := f.reqs.Store.Get(ctx, bob); err != nil {
		t.Fatalf("bob is not asked after ann signed: %v", err)
	}
	if key, err = f.e.Hold(ctx, r.ID, bob); err != nil || key != RevisionKey(r.ID, 1) {
		t.Fatalf("bob must sign revision 1: %q %v", key, err)
	}
	if err := f.e.JobDone(ctx, bob, f.workerSigns(t, bob)); err != nil {
		t.Fatal(err)
	}
	// Told stays false: this engine has no Bitrix24 client, so the portal is told by an intake's
	// sweeper (the workflow's completion is judged with the emulator in cmd/signet).
	if r = f.get(t, r.ID); r.State != Completed || r.Revision != 2 || r.Told {
		t.Fatalf("completed: %s revision %d told %v", r.State, r.Revision, r.Told)
	}
	for _, want := range []string{"started", "asked party p1 (ann)", "signed party p1 (ann)", "completed"} {
		if !strings.Contains(f.audit.details(), want) {
			t.Errorf("audit trail lacks %q:\n%s", want, f.audit.details())
		}
	}
}

// The document is held by one job at a time: a second party of a parallel step is told to wait
// until the first signature is filed, and then signs on top of it.
func TestRouteOneSignatureAtATime(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r := f.start(t, portalA, Step{Parties: []Party{party("ann"), party("bob")}})
	ann, bob := JobID(r.ID, "s1", "p1"), JobID(r.ID, "s1", "p2")
	if _, err := f.e.Hold(ctx, r.ID, ann); err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.Hold(ctx, r.ID, bob); !errors.Is(err, ErrBusy) {
		t.Fatalf("two signatures at once: %v", err)
	}
	if err := f.e.JobDone(ctx, ann, f.workerSigns(t, ann)); err != nil {
		t.Fatal(err)
	}
	if key, err := f.e.Hold(ctx, r.ID, bob); err != nil || key != RevisionKey(r.ID, 1) {
		t.Fatalf("bob signs the revision with ann's signature: %q %v", key, err)
	}
	if err := f.e.JobDone(ctx, bob, f.workerSigns(t, bob)); err != nil {
		t.Fatal(err)
	}
	if r = f.get(t, r.ID); r.State != Completed || r.Revision != 2 {
		t.Fatalf("parallel: %s revision %d", r.State, r.Revision)
	}
}

// An approve-only "any" step ends with the first approval and withdraws the others; a decline of a
// later step ends the route with the reason.
func TestRouteApproveAnyThenDecline(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r := f.start(t, portalA, Step{Need: NeedAny, Action: ActionApprove, Parties: []Party{party("ann"), party("bob")}},
		Step{Parties: []Party{party("mary")}})
	if err := f.e.Approve(ctx, portalA, "bob", r.ID, "p2", true, "", "10.0.0.9"); err != nil {
		t.Fatal(err)
	}
	r = f.get(t, r.ID)
	if r.Current != 1 || r.Steps[0].Parties[0].State != PartyWithdrawn || r.Steps[0].Parties[1].From != "10.0.0.9" {
		t.Fatalf("any step:\n%s", r.Summary())
	}
	mary := JobID(r.ID, "s2", "p1")
	if err := f.e.JobDone(ctx, mary, &contracts.Delivered{Outcome: contracts.OutcomeDeclined, Error: "wrong amount"}); err != nil {
		t.Fatal(err)
	}
	if r = f.get(t, r.ID); r.State != Declined || !strings.Contains(r.Reason, "wrong amount") {
		t.Fatalf("declined: %s %q", r.State, r.Reason)
	}
}

type invites struct {
	got       []ExternalInvite
	down      error    // the provider's outage, while set
	withdrawn []string // the job ids of the invitations withdrawn
}

func (i *invites) Withdraw(_ context.Context, jobID, _ string) error {
	i.withdrawn = append(i.withdrawn, jobID)
	return nil
}

func (i *invites) Invite(_ context.Context, inv ExternalInvite) error {
	if i.down != nil {
		return i.down
	}
	i.got = append(i.got, inv)
	return nil
}

// A route with an external party is refused while no external signing is configured; with it, the
// party is invited when its step begins and its decline ends the route.
func TestRouteExternalParty(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ext := Party{Kind: KindExternal, Name: "Ivan Petrov", Email: "ivan@example.com"}
	_, err := f.e.Start(ctx, &Route{Portal: contracts.Portal{MemberID: portalA}, Originator: "mary", Steps: []Step{{Parties: []Party{ext}}}}, strings.NewReader(string(pdf)))
	if !errors.Is(err, ErrNoExternals) {
		t.Fatalf("external party without external signing: %v", err)
	}
	inv := &invites{}
	f.e.Externals = inv
	r := f.start(t, portalA, Step{Parties: []Party{party("ann")}}, Step{Parties: []Party{ext}})
	if len(inv.got) != 0 {
		t.Fatal("the external party was invited before its step")
	}
	ann := JobID(r.ID, "s1", "p1")
	if _, err := f.e.Hold(ctx, r.ID, ann); err != nil {
		t.Fatal(err)
	}
	if err := f.e.JobDone(ctx, ann, f.workerSigns(t, ann)); err != nil {
		t.Fatal(err)
	}
	if len(inv.got) != 1 || inv.got[0].Email != "ivan@example.com" || inv.got[0].DocumentKey != RevisionKey(r.ID, 1) || inv.got[0].JobID != JobID(r.ID, "s2", "p1") {
		t.Fatalf("invitation: %+v", inv.got)
	}
	if err := f.e.PartyDone(ctx, r.ID, "s2", "p1", OutcomeDeclined, "not our terms"); err != nil {
		t.Fatal(err)
	}
	if r = f.get(t, r.ID); r.State != Declined || !strings.Contains(r.Reason, "Ivan Petrov: not our terms") {
		t.Fatalf("external decline: %s %q", r.State, r.Reason)
	}
}

// An external party whose link locked (too many wrong codes) fails the route with the reason, and
// the other external party of the step has their invitation withdrawn; telling it again changes
// nothing. A link that expired unanswered expires the route.
func TestRouteExternalPartyFailsOrExpires(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	inv := &invites{}
	f.e.Externals = inv
	ivan := Party{Kind: KindExternal, Name: "Ivan Petrov", Email: "ivan@example.com"}
	olga := Party{Kind: KindExternal, Name: "Olga Sidorova", Phone: "+79991234567"}
	r := f.start(t, portalA, Step{Parties: []Party{ivan, olga}})
	if len(inv.got) != 2 {
		t.Fatalf("invitations: %+v", inv.got)
	}
	if err := f.e.PartyDone(ctx, r.ID, "s1", "p1", OutcomeFailed, "locked after too many wrong codes"); err != nil {
		t.Fatal(err)
	}
	if r = f.get(t, r.ID); r.State != Failed || !strings.Contains(r.Reason, "Ivan Petrov: locked after too many wrong codes") {
		t.Fatalf("after the lock: %s %q", r.State, r.Reason)
	}
	if len(inv.withdrawn) != 1 || inv.withdrawn[0] != JobID(r.ID, "s1", "p2") {
		t.Fatalf("withdrawn: %v", inv.withdrawn)
	}
	if err := f.e.PartyDone(ctx, r.ID, "s1", "p1", OutcomeFailed, "locked"); !errors.Is(err, ErrEnded) {
		t.Fatalf("told twice: %v", err)
	}
	r = f.start(t, portalA, Step{Parties: []Party{ivan}})
	if err := f.e.PartyDone(ctx, r.ID, "s1", "p1", OutcomeExpired, ""); err != nil {
		t.Fatal(err)
	}
	if r = f.get(t, r.ID); r.State != Expired || !strings.Contains(r.Reason, "Ivan Petrov: the link expired") {
		t.Fatalf("after the link expired: %s %q", r.State, r.Reason)
	}
}

// Bad routes are refused before anything is stored.
func TestRouteValidation(t *testing.T) {
	f := newFixture(t)
	for name, steps := range map[string][]Step{
		"no steps":      nil,
		"unknown user":  {{Parties: []Party{party("ghost")}}},
		"bad rule":      {{Need: "most", Parties: []Party{party("ann")}}},
		"no e-mail":     {{Parties: []Party{{Kind: KindExternal, Name: "X"}}}},
		"pin in URI":    {{Parties: []Party{{Kind: KindSignet, Login: "ann", Credential: "pkcs11:token=a;pin-value=1234"}}}},
		"unknown kind":  {{Parties: []Party{{Kind: "robot", Login: "ann"}}}},
		"empty parties": {{}},
	} {
		_, err := f.e.Start(context.Background(), &Route{Portal: contracts.Portal{MemberID: portalA}, Originator: "mary", Steps: steps}, strings.NewReader(string(pdf)))
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "1234") {
			t.Errorf("%s: the error repeats the PIN: %v", name, err)
		}
	}
	if _, err := f.e.Start(context.Background(), &Route{Originator: "mary", Steps: []Step{{Parties: []Party{party("ann")}}}}, strings.NewReader("not a pdf")); err == nil {
		t.Error("a document that is not a PDF was accepted")
	}
	if all, _ := f.e.Store.All(context.Background()); len(all) != 0 {
		t.Errorf("refused routes were stored: %d", len(all))
	}
}

// The sweeper expires a route past its deadline and withdraws its parties' requests.
func TestRouteSweeperExpires(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r := f.start(t, portalA, Step{Parties: []Party{party("ann")}})
	if err := f.e.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if f.get(t, r.ID).State != Running {
		t.Fatal("a route expired before its deadline")
	}
	later := r.Deadline.Add(1)
	f.e.Now = func() time.Time { return later }
	if err := f.e.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if r = f.get(t, r.ID); r.State != Expired {
		t.Fatalf("expired: %s", r.State)
	}
	if q, _, _ := f.reqs.Store.Get(ctx, JobID(r.ID, "s1", "p1")); q.State == requests.Pending {
		t.Fatal("the expired route's request stays in the inbox")
	}
}

// A signature made on another revision than the route's latest (its job signed an older copy) is
// never filed over the newer one: the party fails and the route stops, saying why.
func TestRouteRefusesASignatureOfAnOlderRevision(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r := f.start(t, portalA, Step{Parties: []Party{party("ann")}})
	ann := JobID(r.ID, "s1", "p1")
	if _, err := f.e.Hold(ctx, r.ID, ann); err != nil {
		t.Fatal(err)
	}
	d := f.workerSigns(t, ann)
	ent, _ := f.jobs.Get(ctx, contracts.ResultKey(ann))
	var s contracts.Signed
	_ = json.Unmarshal(ent.Value(), &s)
	s.SHA256Before = strings.Repeat("0", 64) // not revision 0's
	b, _ := json.Marshal(s)
	if _, err := f.jobs.Put(ctx, contracts.ResultKey(ann), b); err != nil {
		t.Fatal(err)
	}
	if err := f.e.JobDone(ctx, ann, d); err != nil {
		t.Fatal(err)
	}
	if r = f.get(t, r.ID); r.State != Failed || r.Revision != 0 || !strings.Contains(r.Reason, "another revision") {
		t.Fatalf("a signature of another revision: %s revision %d %q", r.State, r.Revision, r.Reason)
	}
}

type notified struct{ ids []string }

func (n *notified) NotifyRequest(_ context.Context, r *requests.Request) error {
	n.ids = append(n.ids, r.ID)
	return nil
}

// A party who waited longer than the route's reminder time is reminded once, however often the
// sweeper runs; one who has not waited that long is not.
func TestRouteReminderOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	n := &notified{}
	f.reqs.Notifiers = []requests.Notifier{n}
	r, err := f.e.Start(ctx, &Route{Portal: contracts.Portal{MemberID: portalA}, Originator: "mary", RemindAfter: time.Hour,
		Steps: []Step{{Parties: []Party{party("ann")}}}}, strings.NewReader(string(pdf)))
	if err != nil {
		t.Fatal(err)
	}
	asked := len(n.ids) // the request's own notice
	if err := f.e.Sweep(ctx); err != nil || len(n.ids) != asked {
		t.Fatalf("reminded before the hour: %v %v", n.ids, err)
	}
	later := time.Now().Add(2 * time.Hour)
	f.e.Now = func() time.Time { return later }
	for range 3 {
		if err := f.e.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if len(n.ids) != asked+1 || n.ids[len(n.ids)-1] != JobID(r.ID, "s1", "p1") {
		t.Fatalf("reminders: %v", n.ids)
	}
	if !f.get(t, r.ID).Steps[0].Parties[0].Reminded || !strings.Contains(f.audit.details(), "reminded party p1") {
		t.Fatal("the reminder is not recorded")
	}
}

// The requests' sweeper may end a party's request at the deadline before the route's sweeper: its
// "expired" outcome expires the route, it does not fail it.
func TestRouteExpiresByItsPartysRequest(t *testing.T) {
	f := newFixture(t)
	r := f.start(t, portalA, Step{Parties: []Party{party("ann")}})
	if err := f.e.JobDone(context.Background(), JobID(r.ID, "s1", "p1"), &contracts.Delivered{Outcome: contracts.OutcomeExpired}); err != nil {
		t.Fatal(err)
	}
	if r = f.get(t, r.ID); r.State != Expired {
		t.Fatalf("expired by the request: %s %q", r.State, r.Reason)
	}
}

// An invitation that fails (the mail provider is down) leaves the party waiting with the reason
// shown, and the sweeper invites again once it works: never a silent stop, never a failed route.
func TestRouteRetriesAPartyNotReached(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	inv := &invites{down: errors.New("smtp: connection refused")}
	f.e.Externals = inv
	r := f.start(t, portalA, Step{Parties: []Party{{Kind: KindExternal, Name: "Ivan Petrov", Email: "ivan@example.com"}}})
	p := r.Steps[0].Parties[0]
	if r.State != Running || p.State != PartyWaiting || !p.Unreached || !strings.Contains(p.Reason, "connection refused") {
		t.Fatalf("after a failed invitation: %s %+v", r.State, p)
	}
	inv.down = nil
	if err := f.e.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	p = f.get(t, r.ID).Steps[0].Parties[0]
	if len(inv.got) != 1 || p.Unreached || p.Reason != "" {
		t.Fatalf("after the sweep: %d invitations, %+v", len(inv.got), p)
	}
	if err := f.e.Sweep(ctx); err != nil || len(inv.got) != 1 {
		t.Fatalf("invited again once reached: %d %v", len(inv.got), err)
	}
}
