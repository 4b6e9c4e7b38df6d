package main

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/keyring"
	"github.com/signet-b24/signet/producer"
	"github.com/signet-b24/signet/producer/requests"
)

// Requests to sign end to end (issue 19, must 1 and 4), on one Signet process with NATS, SoftHSM and
// the emulated portal: a robot whose signer needs a code and got none makes a request and the
// workflow waits; the signer is notified in Bitrix24; one code signs two requests (a grant for
// exactly those); a third is declined with a reason, a fourth expires; a company seal (no OTP) signs
// at once. Each robot completes once with its outcome, file id, signer and document source, and a
// replayed end makes no second bizproc.event.send.
func TestRequestsToSignEndToEnd(t *testing.T) {
	e := startB24(t, emulator.Config{}, "--requests-deadline", "3s", "--requests-sweep-interval", "200ms")
	ctx := context.Background()
	demo := e.cfg.Demo.Credential
	e.addUser(t, "mary", 7, false, demo)
	secret := e.enrol(t, "mary")
	e.addUser(t, "seal", 8, true, demo)
	u, err := keyring.ParseURI(demo)
	if err != nil {
		t.Fatal(err)
	}

	docs := map[int]int{}
	for _, deal := range []int{701, 702, 703, 704, 705} {
		docs[deal], _ = e.portal.AddDealFile(deal, "contract-"+strconv.Itoa(deal)+".pdf", demoInvoice)
	}
	ask := func(deal int, credential, deadline string) map[string]any {
		p := robotProps(strconv.Itoa(docs[deal]), "user_7", credential)
		if deadline != "" {
			p[producer.PropDeadline] = deadline
		}
		return p
	}
	// 701: the default credential; 702: the certificate by its friendly name; 703 is declined;
	// 704 waits for the 3 s default deadline; 705 is the seal's.
	tok := map[int]string{
		701: e.robot(t, 701, ask(701, "", "1")),
		702: e.robot(t, 702, ask(702, u.Object, "1")),
		703: e.robot(t, 703, ask(703, "", "1")),
		704: e.robot(t, 704, ask(704, "", "")),
		705: e.robot(t, 705, robotProps(strconv.Itoa(docs[705]), "user_8", "")),
	}
	id := func(deal int) string { return producer.RobotJobID(e.portal.MemberID(), tok[deal]) }

	// The seal signs at once; the others wait for their signer.
	seal := e.waitEvents(t, []string{tok[705]}, 2*time.Minute)[tok[705]][0]
	if seal["outcome"] != "signed" || seal["signed"] != "Y" {
		t.Fatalf("a signer without OTP must sign at once: %v", seal)
	}
	for _, deal := range []int{701, 702, 703} {
		if n := len(e.portal.EventsSent()[tok[deal]]); n != 0 {
			t.Fatalf("deal %d: the robot completed before its signer acted", deal)
		}
	}
	// Mary is told in Bitrix24 of each request, once, with a link to her inbox.
	tags := map[string]emulator.Notification{}
	for _, n := range e.portal.Notifications() {
		if n.UserID == 7 {
			tags[n.Tag] = n
		}
	}
	if _, ok := tags["signet-request-"+id(704)]; !ok { // asking to sign, or (past its 3 s) saying it expired
		t.Fatalf("deal 704: no notification (all: %v)", e.portal.Notifications())
	}
	for _, deal := range []int{701, 702, 703} {
		n, ok := tags["signet-request-"+id(deal)]
		if !ok || !strings.Contains(n.Message, producer.InboxPath+"?request="+id(deal)) || !strings.Contains(n.Message, "contract-") && !strings.Contains(n.Message, "Disk file") {
			t.Fatalf("deal %d: notification %+v (all: %v)", deal, n, e.portal.Notifications())
		}
	}
	pending, err := e.a.requests.List(ctx, e.portal.MemberID(), "mary")
	if err != nil || len(pending) < 3 {
		t.Fatalf("mary's inbox: %d requests, %v", len(pending), err)
	}
	if pending[1].Job.Credential != demo {
		t.Fatalf("the friendly name %q did not pick %s: %s", u.Object, demo, pending[1].Job.Credential)
	}

	// One code signs two requests. (The enrolment used this window's code: the next one is taken.)
	code, err := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.a.requests.Sign(ctx, "mary", []string{id(701), id(702)}, code)
	if err != nil || len(res) != 2 || res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("sign with one code: %v %+v", err, res)
	}
	if err := e.a.requests.Decline(ctx, "mary", id(703), "the amount is wrong"); err != nil {
		t.Fatal(err)
	}
	sent := e.waitEvents(t, []string{tok[701], tok[702], tok[703], tok[704]}, 2*time.Minute)
	for _, deal := range []int{701, 702} {
		ret := sent[tok[deal]][0]
		if ret["outcome"] != "signed" || ret["signed"] != "Y" || ret["signedFileId"] != strconv.Itoa(docs[deal]) || ret["signer"] != "user_7" ||
			ret["documentSource"] != contracts.SourceDisk || ret["certificateSubject"] == "" || ret["signedFileUrl"] == "" {
			t.Errorf("deal %d: return values %v", deal, ret)
		}
		if v := e.portal.FileVersions(docs[deal]); len(v) != 2 {
			t.Errorf("deal %d: %d versions of the Disk file, want the signed one added", deal, len(v))
		}
	}
	if ret := sent[tok[703]][0]; ret["outcome"] != "declined" || ret["signed"] != "N" || ret["outcomeReason"] != "the amount is wrong" {
		t.Errorf("declined: %v", ret)
	}
	if ret := sent[tok[704]][0]; ret["outcome"] != "expired" || ret["signed"] != "N" || !strings.Contains(ret["outcomeReason"].(string), "deadline") {
		t.Errorf("expired: %v", ret)
	}
	if v := e.portal.FileVersions(docs[703]); len(v) != 1 {
		t.Errorf("a declined request changed its file (%d versions)", len(v))
	}

	// Replays: a second decline, sign or end of an ended request, and the robot call sent again.
	if err := e.a.requests.Decline(ctx, "mary", id(703), "again"); !errors.Is(err, requests.ErrNotPending) {
		t.Errorf("a second decline: %v", err)
	}
	if _, err := e.a.requests.Sign(ctx, "mary", []string{id(701)}, code); !errors.Is(err, requests.ErrNotPending) {
		t.Errorf("signing a signed request again: %v", err)
	}
	r703, _, err := e.a.requests.Store.Get(ctx, id(703))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.a.requests.Queue.End(ctx, r703, contracts.OutcomeDeclined, "replayed"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.a.requests.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if st := e.robotStatus(t, 703, ask(703, "", "1")); st != http.StatusOK {
		t.Errorf("a new robot call: HTTP %d", st)
	}
	time.Sleep(time.Second) // give a wrongly re-sent end the time to reach the portal
	for _, deal := range []int{701, 702, 703, 704} {
		n := 0
		for _, c := range e.portal.Calls() {
			if c.Method == "bizproc.event.send" && c.Params["EVENT_TOKEN"] == tok[deal] {
				n++
			}
		}
		if n != 1 || len(e.portal.EventsSent()[tok[deal]]) != 1 {
			t.Errorf("deal %d: %d bizproc.event.send, want exactly 1", deal, n)
		}
	}
}

// robotStatus sends a robot call and returns the handler's status.
func (e *b24env) robotStatus(t *testing.T, deal int, props map[string]any) int {
	t.Helper()
	_, status, err := e.portal.RobotCall(context.Background(), e.cfg.PublicURL+"/bitrix24/robot", e.cfg.Bitrix24.RobotCode, deal, props)
	if err != nil {
		t.Fatal(err)
	}
	return status
}

// A refusal at the document or signer stage (a URL outside the portal, a signer Signet does not
// know) is told to the signer in Bitrix24 too, not only to the workflow (the README's promise).
func TestRefusalsNotifyTheSigner(t *testing.T) {
	e := startB24(t, emulator.Config{})
	e.addUser(t, "mary", 7, false, e.cfg.Demo.Credential)
	outside := e.robot(t, 801, robotProps("https://elsewhere.example/contract.pdf", "user_7", ""))
	unknown := e.robot(t, 802, robotProps("42", "user_99", ""))
	sent := e.waitEvents(t, []string{outside, unknown}, time.Minute)
	for tok, uid := range map[string]int{outside: 7, unknown: 99} {
		if ret := sent[tok][0]; ret["outcome"] != "failed" || ret["signed"] != "N" {
			t.Errorf("refusal: %v", ret)
		}
		tag := "signet-" + producer.RobotJobID(e.portal.MemberID(), tok)
		deadline := time.Now().Add(30 * time.Second)
		for {
			found := false
			for _, n := range e.portal.Notifications() {
				found = found || n.Tag == tag && n.UserID == uid
			}
			if found {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("user %d was not notified of the refusal (%v)", uid, e.portal.Notifications())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
