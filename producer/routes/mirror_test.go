package routes

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/contracts"
)

// withPortal gives the fixture's engine a real Bitrix24 client on a strict emulator, with deal 5.
func (f *fixture) withPortal(t *testing.T) *emulator.Portal {
	t.Helper()
	p := emulator.New(emulator.Config{})
	if _, err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	store := bitrix24.NewMemoryTokenStore()
	if err := store.Save(context.Background(), p.NewAuth(emulator.AdminUserID)); err != nil {
		t.Fatal(err)
	}
	f.e.Bitrix = bitrix24.NewClient(bitrix24.ClientConfig{ClientID: p.ClientID(), ClientSecret: p.ClientSecret(),
		OAuthURL: p.OAuthURL(), AllowPrivate: true}, store)
	f.diskFileID, _ = p.AddDealFile(5, "a.pdf", pdf)
	return p
}

// startOnDeal starts a route on deal 5 of the emulator's portal, started by mary (Bitrix24 user 7).
func (f *fixture) startOnDeal(t *testing.T, p *emulator.Portal, m Mirror, steps ...Step) *Route {
	t.Helper()
	r, err := f.e.Start(context.Background(), &Route{Portal: contracts.Portal{MemberID: p.MemberID()}, Originator: "mary", OriginatorID: 7,
		Mirror: m, Steps: steps, Document: Document{FileName: "a.pdf", EntityTypeID: 2, EntityID: 5, DiskFileID: f.diskFileID}}, bytes.NewReader(pdf))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A decline is mirrored: the manager is notified of each transition, gets a task bound to the deal
// with the party's words, and the deal moves to the route's decline stage (issue 20, must 4).
func TestRouteDeclineMirroredInBitrix24(t *testing.T) {
	f := newFixture(t)
	p := f.withPortal(t)
	ctx := context.Background()
	r := f.startOnDeal(t, p, Mirror{ManagerID: 12, DeclineStage: "PREPARATION"}, Step{Action: ActionApprove, Parties: []Party{party("ann")}})
	if err := f.e.Approve(ctx, p.MemberID(), "ann", r.ID, "p1", false, "the price is wrong", "10.0.0.9"); err != nil {
		t.Fatal(err)
	}
	tasks := p.Tasks()
	if len(tasks) != 1 || tasks[0].ResponsibleID != 12 || !strings.Contains(tasks[0].Description, "the price is wrong") ||
		len(tasks[0].CRM) != 1 || tasks[0].CRM[0] != "D_5" {
		t.Fatalf("tasks: %+v", tasks)
	}
	if got := p.DealField(5, "stageId"); got != "PREPARATION" {
		t.Errorf("deal stage %v, want PREPARATION", got)
	}
	var toManager []string
	for _, n := range p.Notifications() {
		if n.UserID == 12 {
			toManager = append(toManager, n.Message)
		}
	}
	// One TAG per route: the manager sees the latest transition (the route's end, with the reason).
	if len(toManager) != 1 || !strings.Contains(toManager[0], "the price is wrong") {
		t.Errorf("notifications to the manager: %q", toManager)
	}
	if c := p.TimelineComments(5); len(c) < 3 {
		t.Errorf("timeline comments: %+v", c)
	}
	r = f.get(t, r.ID)
	for _, s := range r.Mirrored {
		if !s.Done {
			t.Errorf("mirror step %s not done: %s", s.Key, s.Error)
		}
	}
	// Heard again (a redelivered decline, a sweep): nothing is made twice.
	_ = f.e.Approve(ctx, p.MemberID(), "ann", r.ID, "p1", false, "the price is wrong", "10.0.0.9")
	f.e.mirrorDecline(ctx, r, &r.Steps[0].Parties[0], "the price is wrong")
	if err := f.e.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(p.Tasks()); n != 1 {
		t.Errorf("%d tasks after the decline was heard again, want 1", n)
	}
}

// A portal outage while a decline is mirrored: the task waits, recorded on the route; the sweeper
// makes it once the portal is back; a step that keeps failing is given up after MirrorTries and
// shown (issue 20, must 7).
func TestRouteMirrorRetriedThroughAnOutage(t *testing.T) {
	f := newFixture(t)
	p := f.withPortal(t)
	ctx := context.Background()
	now := time.Now().UTC()
	f.e.Now = func() time.Time { return now }
	r := f.startOnDeal(t, p, Mirror{}, Step{Action: ActionApprove, Parties: []Party{party("ann")}})
	p.SetFailure(emulator.Failure{Calls: 1000, Method: "tasks.task.add", Status: 500, Code: "INTERNAL_SERVER_ERROR", Description: "down"})
	if err := f.e.Approve(ctx, p.MemberID(), "ann", r.ID, "p1", false, "not now", "10.0.0.9"); err != nil {
		t.Fatal(err)
	}
	if r = f.get(t, r.ID); r.State != Declined {
		t.Fatalf("state %s: the outage must not stop the route", r.State)
	}
	task := func(r *Route) *MirrorStep {
		for i := range r.Mirrored {
			if r.Mirrored[i].Method == "tasks.task.add" {
				return &r.Mirrored[i]
			}
		}
		t.Fatalf("no task step recorded: %+v", r.Mirrored)
		return nil
	}
	if s := task(r); s.Done || s.Tries != 1 || s.Error == "" || len(p.Tasks()) != 0 {
		t.Fatalf("task step during the outage: %+v", s)
	}
	if got := r.MirrorRetrying(); len(got) != 1 || !strings.Contains(got[0], "tasks.task.add") {
		t.Errorf("the outage is not shown while Signet retries: %q", got)
	}
	// The sweeper before the pause has passed: no call.
	calls := len(p.Calls())
	if err := f.e.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if len(p.Calls()) != calls {
		t.Errorf("the sweeper called the portal before the step's pause passed")
	}
	p.SetFailure(emulator.Failure{})
	now = now.Add(time.Minute)
	if err := f.e.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if s := task(f.get(t, r.ID)); !s.Done || len(p.Tasks()) != 1 || p.Tasks()[0].ResponsibleID != 7 {
		t.Fatalf("after the outage: step %+v, tasks %+v", s, p.Tasks())
	}

	// Another route whose task keeps failing is given up and shown on its page.
	r2 := f.startOnDeal(t, p, Mirror{}, Step{Action: ActionApprove, Parties: []Party{party("ann")}})
	p.SetFailure(emulator.Failure{Calls: 1000, Method: "tasks.task.add", Status: 500, Code: "INTERNAL_SERVER_ERROR", Description: "down"})
	if err := f.e.Approve(ctx, p.MemberID(), "ann", r2.ID, "p1", false, "no", "10.0.0.9"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < MirrorTries; i++ {
		now = now.Add(5 * time.Hour)
		if err := f.e.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	r2 = f.get(t, r2.ID)
	if s := task(r2); !s.Failed || s.Tries != MirrorTries {
		t.Fatalf("a step failing for good: %+v", s)
	}
	if got := r2.MirrorFailures(); len(got) != 1 || !strings.Contains(got[0], "tasks.task.add") {
		t.Errorf("MirrorFailures: %q", got)
	}
}
