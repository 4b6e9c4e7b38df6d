package main

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/producer"
	"github.com/signet-b24/signet/producer/routes"
)

// Issue 20, must 7: the deal's document is edited in Bitrix24 after the first party signed; when the
// next step begins the route stops as "changed", says why, and the workflow hears it; the second
// party is never asked.
func TestRouteStopsWhenTheDocumentChangesInBitrix24(t *testing.T) {
	e := startRoutes(t)
	ctx := context.Background()
	deal := e.portal.AddItem(emulator.EntityDeal, map[string]any{"assignedById": 9})
	disk, _ := e.portal.AddDealFile(deal, "offer.pdf", demoInvoice)
	tok, status, err := e.portal.RobotCall(ctx, e.cfg.PublicURL+producer.RouteRobotPath, producer.RouteRobotCode, deal, map[string]any{
		producer.PropDocument: strconv.Itoa(disk), producer.PropRouteParties: []string{"user_7", "user_9"},
		producer.PropRouteOrder: "sequential",
	})
	if err != nil || status != http.StatusOK {
		t.Fatalf("route robot: HTTP %d %v", status, err)
	}
	r, err := e.a.routes.Get(ctx, e.portal.MemberID(), producer.RouteID(e.portal.MemberID(), tok))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Steps) != 2 {
		t.Fatalf("steps: %+v", r.Steps)
	}
	e.portal.EditFile(disk, append(append([]byte(nil), demoInvoice...), "\n% edited in Bitrix24\n"...))
	e.sign(t, r, r.Steps[0].Parties[0].Login)
	r = e.waitRoute(t, r.ID, ended)
	if r.State != routes.Changed || !strings.Contains(r.Reason, "changed in Bitrix24") {
		t.Fatalf("route: %s (%s)\n%s", r.State, r.Reason, r.Summary())
	}
	if p := r.Steps[1].Parties[0]; p.State != routes.PartyIdle {
		t.Fatalf("the second party was asked: %s", p.State)
	}
	ret := e.waitEvents(t, []string{tok}, time.Minute)[tok]
	if len(ret) != 1 || ret[0][routes.RetOutcome] != "changed" || !strings.Contains(ret[0][routes.RetOutcomeReason].(string), "changed in Bitrix24") {
		t.Fatalf("the workflow's return values: %v", ret)
	}
}

// Must 7: `signet route remove-party` takes a party out of a running route; its request is withdrawn
// and the step needs only the others: ann's signature completes the route.
func TestRouteRemovePartyCommand(t *testing.T) {
	e := startRoutes(t)
	ctx := context.Background()
	sign := func(login string) routes.Party { return routes.Party{Kind: routes.KindSignet, Login: login} }
	r := e.start(t, []routes.Step{{Parties: []routes.Party{sign("ann"), sign("bob")}}}, 941)
	cli := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := run(ctx, append(args, "--data-dir", e.cfg.DataDir), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	if code, out, errOut := cli("route", "remove-party", r.ID, "--step", "s1", "--party", "nobody"); code == 0 || !strings.Contains(errOut, "no party") {
		t.Fatalf("an unknown party: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut := cli("route", "remove-party", r.ID, "--step", "s1", "--party", "bob", "--reason", "left the company")
	if code != 0 || !strings.Contains(out, "removed") || !strings.Contains(out, "left the company") {
		t.Fatalf("remove-party: exit %d\n%s%s", code, out, errOut)
	}
	e.sign(t, r, "ann")
	r = e.waitRoute(t, r.ID, ended)
	if r.State != routes.Completed || r.Revision != 1 {
		t.Fatalf("route: %s, revision %d\n%s", r.State, r.Revision, r.Summary())
	}
	e.final(t, r, 1)
}
