package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/producer"
	"github.com/signet-b24/signet/producer/requests"
	"github.com/signet-b24/signet/producer/routes"
)

// routeEnv is one Signet process with NATS, SoftHSM and the emulated portal, and three enrolled
// users on it: mary (7), bob (9) and ann (11), all with the demo certificate.
type routeEnv struct {
	*b24env
	secrets map[string]string
}

func startRoutes(t *testing.T) *routeEnv {
	t.Helper()
	e := &routeEnv{b24env: startB24(t, emulator.Config{}, "--requests-sweep-interval", "200ms"), secrets: map[string]string{}}
	for login, id := range map[string]int{"mary": 7, "bob": 9, "ann": 11} {
		e.addUser(t, login, id, false, e.cfg.Demo.Credential)
		e.secrets[login] = e.enrol(t, login)
	}
	return e
}

func (e *routeEnv) start(t *testing.T, steps []routes.Step, deal int) *routes.Route {
	t.Helper()
	r := &routes.Route{Portal: contracts.Portal{MemberID: e.portal.MemberID()}, Originator: "mary", Title: "Supply contract",
		Document: routes.Document{FileName: "supply.pdf", EntityTypeID: 2, EntityID: deal}, Steps: steps}
	r, err := e.a.routes.Start(context.Background(), r, bytes.NewReader(demoInvoice))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// sign signs login's request for their party of the route in their inbox, with a fresh code.
func (e *routeEnv) sign(t *testing.T, r *routes.Route, login string) {
	t.Helper()
	if err := e.signErr(e.partyJob(t, r.ID, login), login); err != nil {
		t.Fatal(err)
	}
}

// signErr signs request id as login. A code already spent in this 30-second window is refused as a
// replay: it waits for the next.
func (e *routeEnv) signErr(id, login string) error {
	for range 40 {
		code, err := totp.GenerateCode(e.secrets[login], time.Now())
		if err != nil {
			return err
		}
		res, err := e.a.requests.Sign(context.Background(), login, []string{id}, code)
		if err == nil && res[0].Err == nil {
			return nil
		}
		if err == nil {
			err = res[0].Err
		}
		if !strings.Contains(err.Error(), "already used") && !strings.Contains(err.Error(), "replay") {
			return fmt.Errorf("%s signs %s: %w", login, id, err)
		}
		time.Sleep(time.Second)
	}
	return fmt.Errorf("%s: no fresh code", login)
}

// partyJob waits until login is asked on route id and returns their request's id.
func (e *routeEnv) partyJob(t *testing.T, id, login string) string {
	t.Helper()
	var job string
	e.waitRoute(t, id, func(r *routes.Route) bool {
		for _, st := range r.Steps[r.Current:] {
			for _, p := range st.Parties {
				if p.Login == login && p.State == routes.PartyWaiting {
					job = p.JobID
					return true
				}
			}
		}
		return false
	})
	return job
}

func (e *routeEnv) waitRoute(t *testing.T, id string, ok func(*routes.Route) bool) *routes.Route {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		r, err := e.a.routes.Get(context.Background(), "", id)
		if err != nil {
			t.Fatal(err)
		}
		if ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("route %s did not get there: %s %s\n%s", id, r.State, r.Reason, r.Summary())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func ended(r *routes.Route) bool { return r.State.Ended() }

// final writes the route's last revision to a file and judges it: pdfsig must count want valid
// signatures and qpdf --check must pass.
func (e *routeEnv) final(t *testing.T, r *routes.Route, want int) {
	t.Helper()
	pdfsig, qpdf := testenv.RequireTool(t, "pdfsig"), testenv.RequireTool(t, "qpdf")
	rc, _, err := e.a.store.Get(context.Background(), r.RevisionKey)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "final.pdf")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	o, _ := exec.Command(pdfsig, path).CombinedOutput()
	if n := strings.Count(string(o), "Signature is Valid."); n != want || strings.Contains(string(o), "Signature is Invalid") {
		t.Errorf("pdfsig: %d valid signatures, want %d:\n%s", n, want, o)
	}
	if o, err := exec.Command(qpdf, "--check", path).CombinedOutput(); err != nil {
		t.Errorf("qpdf --check: %v\n%s", err, o)
	}
}

// Issue 20, must 1 and 3: a two-step route (mary signs, then bob) ends with both signatures on one
// PDF; bob is not asked before mary has signed. Then a parallel step of two parties signs the same
// document, each an incremental update on the other's revision: both valid.
func TestRouteSequentialAndParallelSignatures(t *testing.T) {
	e := startRoutes(t)
	ctx := context.Background()
	sign := func(login string) routes.Party { return routes.Party{Kind: routes.KindSignet, Login: login} }

	r := e.start(t, []routes.Step{{Parties: []routes.Party{sign("mary")}}, {Parties: []routes.Party{sign("bob")}}}, 901)
	if p := r.Steps[1].Parties[0]; p.State != routes.PartyIdle {
		t.Fatalf("bob is asked before mary signed: %s", p.State)
	}
	if _, _, err := e.a.requests.Store.Get(ctx, routes.JobID(r.ID, "s2", "p1")); !errors.Is(err, requests.ErrNotFound) {
		t.Fatalf("bob has a request before his step: %v", err)
	}
	e.sign(t, r, "mary")
	// Bob's inbox shows the document with mary's signature: the route's latest revision.
	bobJob := e.partyJob(t, r.ID, "bob")
	_, _, tok := e.openInbox(t, 9, nil)
	req, _ := http.NewRequest(http.MethodGet, e.cfg.PublicURL+producer.InboxPath+"/document/"+bobJob, nil)
	req.Header.Set(producer.InboxTokenHeader, tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	preview, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	cur, _ := e.a.routes.Get(ctx, "", r.ID)
	rc, _, err := e.a.store.Get(ctx, cur.RevisionKey)
	if err != nil {
		t.Fatal(err)
	}
	rev1, _ := io.ReadAll(rc)
	rc.Close()
	if resp.StatusCode != http.StatusOK || cur.Revision != 1 || !bytes.Equal(preview, rev1) {
		t.Fatalf("bob's preview: HTTP %d, %d bytes; revision %d is %d bytes", resp.StatusCode, len(preview), cur.Revision, len(rev1))
	}
	e.sign(t, r, "bob")
	r = e.waitRoute(t, r.ID, ended)
	if r.State != routes.Completed || r.Revision != 2 {
		t.Fatalf("route: %s, revision %d, %s\n%s", r.State, r.Revision, r.Reason, r.Summary())
	}
	e.final(t, r, 2)

	// A parallel step: ann and bob sign in any order, never at once on one document.
	r = e.start(t, []routes.Step{{Need: routes.NeedAll, Parties: []routes.Party{sign("ann"), sign("bob")}}}, 902)
	annJob, bobJob := e.partyJob(t, r.ID, "ann"), e.partyJob(t, r.ID, "bob")
	annDone := make(chan error, 1)
	go func() { annDone <- e.signErr(annJob, "ann") }()
	if err := e.signErr(bobJob, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := <-annDone; err != nil {
		t.Fatal(err)
	}
	r = e.waitRoute(t, r.ID, ended)
	if r.State != routes.Completed || r.Revision != 2 {
		t.Fatalf("parallel route: %s, revision %d, %s\n%s", r.State, r.Revision, r.Reason, r.Summary())
	}
	e.final(t, r, 2)
}

// Issue 20, must 1 and 4: the robot "signet_route" starts a route from a workflow with the deal's
// file; a party's decline ends it as declined and the workflow hears it with the party's reason.
// Then a route is cancelled by its originator (the parties' requests leave their inbox), and one
// expires at its deadline; each is told once.
func TestRouteDeclineCancelExpiry(t *testing.T) {
	e := startRoutes(t)
	ctx := context.Background()
	deal := e.portal.AddItem(emulator.EntityDeal, map[string]any{"assignedById": 12})
	disk, _ := e.portal.AddDealFile(deal, "supply.pdf", demoInvoice)
	tok, status, err := e.portal.RobotCall(ctx, e.cfg.PublicURL+producer.RouteRobotPath, producer.RouteRobotCode, deal, map[string]any{
		producer.PropDocument: strconv.Itoa(disk), producer.PropRouteParties: []string{"user_7", "user_9"},
		producer.PropRouteDeclineStage: "LOSE",
	})
	if err != nil || status != http.StatusOK {
		t.Fatalf("route robot: HTTP %d %v", status, err)
	}
	id := producer.RouteID(e.portal.MemberID(), tok)
	r, err := e.a.routes.Get(ctx, e.portal.MemberID(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Steps) != 2 || r.Steps[0].Parties[0].Login != "mary" || r.Steps[1].Parties[0].Login != "bob" {
		t.Fatalf("the robot's parties: %+v", r.Steps)
	}
	// A call whose document is not a Disk file id is refused, and the workflow is told.
	if _, st, err := e.portal.RobotCallCopies(ctx, e.cfg.PublicURL+producer.RouteRobotPath, producer.RouteRobotCode, deal, map[string]any{
		producer.PropDocument: "abc"}, 1, false); err != nil || st[0] != http.StatusUnprocessableEntity {
		t.Fatalf("a robot call with a bad document must be refused: %v %v", st, err)
	}
	e.sign(t, r, "mary")
	bobJob := e.partyJob(t, id, "bob")
	if err := e.a.requests.Decline(ctx, "bob", bobJob, "the price is wrong"); err != nil {
		t.Fatal(err)
	}
	ret := e.waitEvents(t, []string{tok}, 2*time.Minute)[tok]
	if len(ret) != 1 || ret[0][routes.RetOutcome] != "declined" || !strings.Contains(ret[0][routes.RetOutcomeReason].(string), "the price is wrong") {
		t.Fatalf("the workflow must hear the decline with its reason once: %v", ret)
	}
	r = e.waitRoute(t, id, ended)
	if r.State != routes.Declined || r.Steps[0].Parties[0].State != routes.PartySigned || r.Steps[1].Parties[0].State != routes.PartyDeclined {
		t.Fatalf("declined route: %s\n%s", r.State, r.Summary())
	}
	if !strings.Contains(ret[0][routes.RetParties].(string), "mary: signed") {
		t.Errorf("the parties' outcomes: %q", ret[0][routes.RetParties])
	}
	// The decline is mirrored (issue 20, must 4): a task with bob's reason bound to the deal, for the
	// deal's responsible manager, and the deal on the decline stage.
	var task *emulator.Task
	for _, tk := range e.portal.Tasks() {
		if strings.Contains(tk.Description, "the price is wrong") {
			task = &tk
		}
	}
	if task == nil || len(task.CRM) != 1 || task.CRM[0] != "D_"+strconv.Itoa(deal) || task.ResponsibleID != 12 {
		t.Errorf("the manager's task: %+v (tasks %+v)", task, e.portal.Tasks())
	}
	if got := e.portal.DealField(deal, "stageId"); got != "LOSE" {
		t.Errorf("the deal's stage after the decline: %v", got)
	}
	if got := e.portal.DealField(deal, e.cfg.Bitrix24.RouteStatusField); got != "declined" {
		t.Errorf("the deal's route status field: %v", got)
	}

	// Cancel: bob's request leaves his inbox; nobody but the originator may cancel.
	sign := func(login string) routes.Party { return routes.Party{Kind: routes.KindSignet, Login: login} }
	r = e.start(t, []routes.Step{{Parties: []routes.Party{sign("bob")}}}, 904)
	job := e.partyJob(t, r.ID, "bob")
	if _, err := e.a.routes.Cancel(ctx, e.portal.MemberID(), "bob", r.ID, ""); !errors.Is(err, routes.ErrNotOriginator) {
		t.Fatalf("a party cancelled another's route: %v", err)
	}
	if _, err := e.a.routes.Cancel(ctx, e.portal.MemberID(), "mary", r.ID, "wrong file"); err != nil {
		t.Fatal(err)
	}
	if q, _, err := e.a.requests.Store.Get(ctx, job); err != nil || q.State == requests.Pending {
		t.Fatalf("the cancelled route's request stays in the inbox: %v %v", q, err)
	}
	if err := e.signErr(job, "bob"); err == nil {
		t.Fatal("a party signed a cancelled route")
	}
	if r, _ = e.a.routes.Get(ctx, "", r.ID); r.State != routes.Cancelled || !strings.Contains(r.Reason, "wrong file") {
		t.Fatalf("cancelled: %s %q", r.State, r.Reason)
	}

	// Expiry: the sweeper ends a route past its deadline.
	r = &routes.Route{Portal: contracts.Portal{MemberID: e.portal.MemberID()}, Originator: "mary", Deadline: time.Now().Add(2 * time.Second),
		Document: routes.Document{FileName: "late.pdf"}, Steps: []routes.Step{{Parties: []routes.Party{sign("ann")}}}}
	if r, err = e.a.routes.Start(ctx, r, bytes.NewReader(demoInvoice)); err != nil {
		t.Fatal(err)
	}
	r = e.waitRoute(t, r.ID, ended)
	if r.State != routes.Expired || r.Steps[0].Parties[0].State != routes.PartyWithdrawn {
		t.Fatalf("expired: %s\n%s", r.State, r.Summary())
	}
}

// `signet route start --file`, `status` and `cancel` against a running Signet: the route file names
// the portal, the originator, the PDF beside it and the steps; the status shows each party; cancel
// ends it and takes the party's request out of the inbox.
func TestRouteCommands(t *testing.T) {
	e := startRoutes(t)
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "nda.pdf"), demoInvoice, 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "route.json")
	if err := os.WriteFile(file, []byte(`{"portal": "`+e.portal.MemberID()+`", "originator": "mary", "title": "NDA", "document": "nda.pdf",
		"days": 3, "steps": [{"action": "sign", "parties": [{"kind": "signet", "login": "ann"}]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := run(ctx, append(args, "--data-dir", e.cfg.DataDir), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	code, out, errOut := cli("route", "start", "--file", file)
	if code != 0 || !strings.HasPrefix(out, "Route rt") {
		t.Fatalf("route start: exit %d\n%s%s", code, out, errOut)
	}
	id := strings.TrimSuffix(strings.Fields(out)[1], ":")
	job := e.partyJob(t, id, "ann")
	if code, out, errOut = cli("route", "status", id); code != 0 || !strings.Contains(out, "ann") || !strings.Contains(out, "waiting") {
		t.Fatalf("route status: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut = cli("route", "cancel", id, "--reason", "wrong version"); code != 0 || !strings.Contains(out, "cancelled") || !strings.Contains(out, "wrong version") {
		t.Fatalf("route cancel: exit %d\n%s%s", code, out, errOut)
	}
	if q, _, err := e.a.requests.Store.Get(ctx, job); err != nil || q.State == requests.Pending {
		t.Fatalf("the cancelled route's request stays in the inbox: %v", err)
	}
	if code, _, errOut = cli("route", "status", "rt000000000000000000000000"); code != 1 || !strings.Contains(errOut, "no such route") {
		t.Fatalf("status of no route: exit %d %s", code, errOut)
	}
}

var routeTokenRE = regexp.MustCompile(`name="token" value="([^"]+)"`)

// openRoutePage opens the route page as Bitrix24 user userID does from the left menu, and returns
// the page and its session token.
func (e *routeEnv) openRoutePage(t *testing.T, userID int) (string, string) {
	t.Helper()
	h := e.portal.Placements()[producer.PlacementLeftMenu]
	if len(h) != 2 || !strings.HasSuffix(h[1], producer.RoutesPath) {
		t.Fatalf("the route page is not bound to LEFT_MENU: %v", h)
	}
	req, err := e.portal.PlacementRequest(context.Background(), h[1], producer.PlacementLeftMenu, userID, 1)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("route page for user %d: HTTP %d\n%s", userID, resp.StatusCode, page)
	}
	tok := ""
	if m := routeTokenRE.FindSubmatch(page); m != nil {
		tok = html.UnescapeString(string(m[1]))
	}
	return string(page), tok
}

func (e *routeEnv) routeAct(t *testing.T, tok string, form url.Values) string {
	t.Helper()
	form.Set("token", tok)
	resp, err := http.PostForm(e.cfg.PublicURL+producer.RoutesPath+"/act", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	return string(page)
}

// Issue 20, must 2 and 3: the route page shows the viewer's routes with each party; an approver of
// the current step approves there (recorded with where from), another user cannot act for them,
// and the originator cancels there.
func TestRoutePage(t *testing.T) {
	e := startRoutes(t)
	approve := routes.Step{Action: routes.ActionApprove, Parties: []routes.Party{{Kind: routes.KindSignet, Login: "ann"}}}
	r := e.start(t, []routes.Step{approve, {Parties: []routes.Party{{Kind: routes.KindSignet, Login: "bob"}}}}, 905)

	// bob sees the route (he is a party) but has nothing to approve; his forged approval is refused.
	page, bobTok := e.openRoutePage(t, 9)
	if !strings.Contains(page, r.ID) || strings.Contains(page, `value="approve"`) || bobTok == "" {
		t.Fatalf("bob's route page:\n%s", page)
	}
	if out := e.routeAct(t, bobTok, url.Values{"route": {r.ID}, "party": {"p1"}, "do": {"approve"}}); !strings.Contains(out, "cannot be done now") {
		t.Fatalf("bob approved for ann:\n%s", out)
	}
	page, annTok := e.openRoutePage(t, 11)
	if !strings.Contains(page, `value="approve"`) {
		t.Fatalf("ann's route page has no Approve:\n%s", page)
	}
	if out := e.routeAct(t, annTok, url.Values{"route": {r.ID}, "party": {"p1"}, "do": {"approve"}}); !strings.Contains(out, "Done.") {
		t.Fatalf("ann's approval:\n%s", out)
	}
	got := e.waitRoute(t, r.ID, func(r *routes.Route) bool { return r.Current == 1 })
	if p := got.Steps[0].Parties[0]; p.State != routes.PartyApproved || p.From == "" {
		t.Fatalf("ann's approval recorded: %+v", p)
	}
	// mary, the originator, cancels from her page; the route ends with her reason.
	_, maryTok := e.openRoutePage(t, 7)
	if out := e.routeAct(t, maryTok, url.Values{"route": {r.ID}, "do": {"cancel"}, "reason": {"terms changed"}}); !strings.Contains(out, "Done.") {
		t.Fatalf("mary's cancel:\n%s", out)
	}
	if got = e.waitRoute(t, r.ID, ended); got.State != routes.Cancelled || !strings.Contains(got.Reason, "terms changed") {
		t.Fatalf("cancelled from the page: %s %q", got.State, got.Reason)
	}
	if out := e.routeAct(t, "forged.token", url.Values{"route": {r.ID}, "do": {"cancel"}}); strings.Contains(out, "Done.") {
		t.Fatal("a forged token acted")
	}
}

// The robot takes the deal's responsible person (crm.item.get's assignedById) as the first party,
// then the given ones; "parallel" puts them in one step.
func TestRouteRobotTakesTheResponsible(t *testing.T) {
	e := startRoutes(t)
	ctx := context.Background()
	deal := e.portal.AddItem(emulator.EntityDeal, map[string]any{"assignedById": 9})
	disk, _ := e.portal.AddDealFile(deal, "offer.pdf", demoInvoice)
	tok, status, err := e.portal.RobotCall(ctx, e.cfg.PublicURL+producer.RouteRobotPath, producer.RouteRobotCode, deal, map[string]any{
		producer.PropDocument: strconv.Itoa(disk), producer.PropRouteParties: []string{"user_7"},
		producer.PropRouteResponsible: "Y", producer.PropRouteOrder: "parallel",
	})
	if err != nil || status != http.StatusOK {
		t.Fatalf("route robot: HTTP %d %v", status, err)
	}
	r, err := e.a.routes.Get(ctx, e.portal.MemberID(), producer.RouteID(e.portal.MemberID(), tok))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Steps) != 1 || len(r.Steps[0].Parties) != 2 || r.Steps[0].Parties[0].Login != "bob" || r.Steps[0].Parties[1].Login != "mary" {
		t.Fatalf("the robot's parties: %+v", r.Steps)
	}
	if r.Document.EntityID != deal || r.Document.FileName != "offer.pdf" {
		t.Fatalf("the route's document: %+v", r.Document)
	}
	// Both sign; the workflow gets the outcome, each party's line, the link and the Disk file, whose
	// new version is the route's final document with both signatures.
	e.sign(t, r, "bob")
	e.sign(t, r, "mary")
	ret := e.waitEvents(t, []string{tok}, 2*time.Minute)[tok]
	if len(ret) != 1 || ret[0][routes.RetOutcome] != "completed" || ret[0][routes.RetSignedFileID] != strconv.Itoa(disk) ||
		ret[0][routes.RetSignedFileURL] == "" || strings.Count(ret[0][routes.RetParties].(string), ": signed") != 2 {
		t.Fatalf("the workflow's return values: %v", ret)
	}
	r = e.waitRoute(t, r.ID, ended)
	rc, _, err := e.a.store.Get(ctx, r.RevisionKey)
	if err != nil {
		t.Fatal(err)
	}
	final, _ := io.ReadAll(rc)
	rc.Close()
	versions := e.portal.FileVersions(disk)
	if len(versions) < 2 || !bytes.Equal(versions[len(versions)-1], final) {
		t.Fatalf("the Disk file's versions: %d; the last is not the route's final document", len(versions))
	}
	e.final(t, r, 2)
	// signedFileUrl is the final link (routes.final_link_ttl), Signet's own: it gives the final document.
	u := ret[0][routes.RetSignedFileURL].(string)
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(u, routes.FinalPath+r.ID+"/") || resp.StatusCode != http.StatusOK || !bytes.Equal(got, final) {
		t.Fatalf("signedFileUrl %s: HTTP %d, %d bytes", u, resp.StatusCode, len(got))
	}
	if c := e.portal.TimelineComments(deal); len(c) < 3 {
		t.Errorf("the deal's timeline: %d comments, want the route's start and end and one per signature", len(c))
	}
	// Mirrored (issue 20, must 4): the deal's status and date fields, each signer's detached CMS and
	// report filed under Signed Documents / Year / Month / Deal, the deal's responsible notified.
	if got := e.portal.DealField(deal, e.cfg.Bitrix24.RouteStatusField); got != "completed" {
		t.Errorf("the deal's route status field: %v", got)
	}
	if got := e.portal.DealField(deal, e.cfg.Bitrix24.RouteDateField); got == nil {
		t.Errorf("the deal's signing date field is not set")
	}
	year, month := strconv.Itoa(r.Since.Year()), fmt.Sprintf("%02d", int(r.Since.Month()))
	for _, p := range r.Steps[0].Parties {
		for _, suffix := range []string{".p7s", ".report.json"} {
			name := "offer " + r.ID + " s1" + p.ID + suffix
			if e.portal.DiskPath(e.cfg.Bitrix24.RouteFolder, year, month, "Deal #"+strconv.Itoa(deal), name) == nil {
				t.Errorf("%s is not filed on Disk", name)
			}
		}
	}
	told := false
	for _, n := range e.portal.Notifications() {
		told = told || (n.UserID == 9 && strings.Contains(n.Message, r.ID))
	}
	if !told {
		t.Errorf("the deal's responsible (user 9) was not notified of the route")
	}
}

// The robot reads the deal's contact (crm.contact.get) as an external party of a last step; while
// no external signing is configured such a route is refused, and the workflow is told why.
func TestRouteRobotCounterpartyNeedsExternalSigning(t *testing.T) {
	e := startRoutes(t)
	ctx := context.Background()
	contact := e.portal.AddContact(map[string]any{"NAME": "Ivan", "LAST_NAME": "Petrov",
		"EMAIL": []any{map[string]any{"ID": 1, "VALUE": "ivan@example.com", "VALUE_TYPE": "WORK"}}})
	deal := e.portal.AddItem(emulator.EntityDeal, map[string]any{"assignedById": 9, "contactId": contact})
	disk, _ := e.portal.AddDealFile(deal, "contract.pdf", demoInvoice)
	tok, status, err := e.portal.RobotCall(ctx, e.cfg.PublicURL+producer.RouteRobotPath, producer.RouteRobotCode, deal, map[string]any{
		producer.PropDocument: strconv.Itoa(disk), producer.PropRouteResponsible: "Y", producer.PropRouteContact: "Y",
	})
	if err != nil || status != http.StatusUnprocessableEntity {
		t.Fatalf("route robot with a counterparty and no external signing: HTTP %d %v", status, err)
	}
	ret := e.waitEvents(t, []string{tok}, time.Minute)[tok]
	if len(ret) != 1 || ret[0][routes.RetOutcome] != "failed" || !strings.Contains(ret[0][routes.RetOutcomeReason].(string), "external") {
		t.Fatalf("the workflow must hear why: %v", ret)
	}
	if _, err := e.a.routes.Get(ctx, "", producer.RouteID(e.portal.MemberID(), tok)); !errors.Is(err, routes.ErrNotFound) {
		t.Fatalf("a refused route was stored: %v", err)
	}

	// With external signing configured (here a recorder in its place), the contact signs after bob.
	inv := &invitations{}
	e.a.routes.Externals = inv
	tok, status, err = e.portal.RobotCall(ctx, e.cfg.PublicURL+producer.RouteRobotPath, producer.RouteRobotCode, deal, map[string]any{
		producer.PropDocument: strconv.Itoa(disk), producer.PropRouteResponsible: "Y", producer.PropRouteContact: "Y",
	})
	if err != nil || status != http.StatusOK {
		t.Fatalf("route robot with a counterparty: HTTP %d %v", status, err)
	}
	r, err := e.a.routes.Get(ctx, "", producer.RouteID(e.portal.MemberID(), tok))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Steps) != 2 || r.Steps[0].Parties[0].Login != "bob" || r.Steps[1].Parties[0].Kind != routes.KindExternal ||
		r.Steps[1].Parties[0].Name != "Ivan Petrov" || r.Steps[1].Parties[0].Email != "ivan@example.com" {
		t.Fatalf("the robot's steps: %+v", r.Steps)
	}
	e.sign(t, r, "bob")
	e.waitRoute(t, r.ID, func(r *routes.Route) bool { return r.Current == 1 })
	if got := inv.all(); len(got) != 1 || got[0].Email != "ivan@example.com" || got[0].DocumentKey != routes.RevisionKey(r.ID, 1) {
		t.Fatalf("the contact's invitation: %+v", got)
	}
}

type invitations struct {
	mu  sync.Mutex
	got []routes.ExternalInvite
}

func (i *invitations) Invite(_ context.Context, inv routes.ExternalInvite) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.got = append(i.got, inv)
	return nil
}

func (i *invitations) all() []routes.ExternalInvite {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]routes.ExternalInvite(nil), i.got...)
}
