package routes

import (
	"context"
	"errors"
	"testing"
)

// Issue 20: one portal cannot read or act on another portal's route. Portal B's caller, knowing
// the route's id and its parties' logins, gets "no such route" from every door, and the route is
// as it was: running, nobody acted, no audit event after the start.
func TestAttackRouteOfAnotherPortal(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r := f.start(t, portalA, Step{Action: ActionApprove, Parties: []Party{party("ann")}})
	events := len(f.audit.ev)
	if _, err := f.e.Get(ctx, portalB, r.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("portal B reads portal A's route: %v", err)
	}
	if _, err := f.e.Cancel(ctx, portalB, "mary", r.ID, "mine now"); !errors.Is(err, ErrNotFound) {
		t.Errorf("portal B cancels portal A's route: %v", err)
	}
	if err := f.e.Approve(ctx, portalB, "ann", r.ID, "p1", true, "", "203.0.113.5"); !errors.Is(err, ErrNotFound) {
		t.Errorf("portal B approves for portal A's party: %v", err)
	}
	if got := f.get(t, r.ID); got.State != Running || got.Steps[0].Parties[0].State != PartyWaiting {
		t.Errorf("the route changed: %s\n%s", got.State, got.Summary())
	}
	if len(f.audit.ev) != events {
		t.Errorf("the refused acts left %d audit events", len(f.audit.ev)-events)
	}
}

// Issue 20: a party cannot act twice, nor for another party, nor before its step; nobody but the
// originator cancels; a job that is not the route's cannot take its document.
func TestAttackPartyActsTwiceOrForAnother(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r := f.start(t, portalA, Step{Action: ActionApprove, Parties: []Party{party("ann"), party("bob")}}, Step{Parties: []Party{party("mary")}})
	if err := f.e.Approve(ctx, portalA, "ann", r.ID, "p2", true, "", ""); !errors.Is(err, ErrNotYourTurn) {
		t.Errorf("ann approves for bob: %v", err)
	}
	if err := f.e.Approve(ctx, portalA, "ann", r.ID, "p1", true, "", ""); err != nil {
		t.Fatal(err)
	}
	if err := f.e.Approve(ctx, portalA, "ann", r.ID, "p1", false, "changed my mind", ""); !errors.Is(err, ErrNotYourTurn) {
		t.Errorf("ann acts twice: %v", err)
	}
	mary := JobID(r.ID, "s2", "p1")
	if _, err := f.e.Hold(ctx, r.ID, mary); !errors.Is(err, ErrNotYourTurn) {
		t.Errorf("mary's job takes the document before her step: %v", err)
	}
	if _, err := f.e.Hold(ctx, r.ID, r.ID+"-s1p9"); !errors.Is(err, ErrNotYourTurn) {
		t.Errorf("a job of no party takes the document: %v", err)
	}
	if _, err := f.e.Cancel(ctx, portalA, "bob", r.ID, ""); !errors.Is(err, ErrNotOriginator) {
		t.Errorf("a party cancels the originator's route: %v", err)
	}
	got := f.get(t, r.ID)
	if got.State != Running || got.Current != 0 || got.Holder != "" || got.Steps[0].Parties[0].State != PartyApproved || got.Steps[0].Parties[1].State != PartyWaiting {
		t.Errorf("the route changed:\n%s", got.Summary())
	}
}
