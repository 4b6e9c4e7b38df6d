package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/producer"
)

// The other road of bulk signing (issue 19, must 3): items selected in a CRM list with Bitrix24's own
// "start workflow" each run the same process, so the robot is called once per item with the same
// properties (the document as the item's file field); each call lands as a request in the signer's
// inbox, and one code typed there signs the whole set — one grant for exactly those documents.
func TestWorkflowStartedOnSelectedItemsSignsFromTheInbox(t *testing.T) {
	e := startB24(t, emulator.Config{})
	e.addUser(t, "mary", 7, false, e.cfg.Demo.Credential)
	secret := e.enrol(t, "mary")
	deals := []int{801, 802, 803, 804, 805}
	props := robotProps(emulator.DealFileField, "user_7", "") // the template's properties, one for every item
	tok := map[int]string{}
	for _, deal := range deals {
		e.portal.AddDealFile(deal, "act.pdf", demoInvoice)
		tok[deal] = e.robot(t, deal, props)
	}
	for _, deal := range deals {
		if n := len(e.portal.EventsSent()[tok[deal]]); n != 0 {
			t.Fatalf("deal %d: the robot completed before the signer acted", deal)
		}
	}
	status, page, itok := e.openInbox(t, 7, nil)
	if status != http.StatusOK || itok == "" {
		t.Fatalf("inbox: HTTP %d", status)
	}
	var ids []string
	for _, deal := range deals {
		id := producer.RobotJobID(e.portal.MemberID(), tok[deal])
		if !strings.Contains(page, id) {
			t.Fatalf("deal %d: its request %s is not in the inbox", deal, id)
		}
		ids = append(ids, id)
	}
	code, err := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	st, out := e.inboxCall(t, http.MethodPost, producer.InboxPath+"/sign", itok, map[string]any{"ids": ids, "code": code})
	if st != http.StatusAccepted {
		t.Fatalf("sign the set with one code: HTTP %d %v", st, out)
	}
	res, _ := out["results"].([]any)
	if len(res) != len(ids) {
		t.Fatalf("sign: %d results for %d requests: %v", len(res), len(ids), out)
	}
	for _, r := range res {
		if r.(map[string]any)["state"] != "queued" {
			t.Fatalf("sign: %v", out)
		}
	}
	var toks []string
	for _, deal := range deals {
		toks = append(toks, tok[deal])
	}
	sent := e.waitEvents(t, toks, 3*time.Minute)
	for _, deal := range deals {
		ret := sent[tok[deal]][0]
		if ret["outcome"] != "signed" || ret["signed"] != "Y" || ret["documentSource"] != contracts.SourceFileField || ret["signer"] != "user_7" {
			t.Errorf("deal %d: return values %v", deal, ret)
		}
		for _, data := range e.portal.DealFileContents(deal) {
			if string(data) == string(demoInvoice) {
				t.Errorf("deal %d: the file in its field is still the unsigned one", deal)
			}
		}
	}
	// The grant covered exactly the set: the same code cannot sign another request now.
	if st, _ := e.inboxCall(t, http.MethodPost, producer.InboxPath+"/sign", itok, map[string]any{"ids": ids[:1], "code": code}); st == http.StatusAccepted {
		t.Error("a signed request was signed again")
	}
}
