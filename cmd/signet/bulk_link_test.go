package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/producer/batch"
	"github.com/signet-b24/signet/producer/bulk"
)

// Bulk signing by a CRM filter in both write-back modes, then the same filter run again (issue 19,
// must 3). Stage LINK is signed in the link-only mode: the deals' files stay as they were, each gets a
// link to its signed PDF, which opens over HTTP and pdfsig accepts, and a status. Stage REPL is signed
// in the replace mode. Run again over both stages, the filter picks nothing and counts every deal as
// already signed; a deal given a new file since is picked again.
func TestBulkLinkModeAndRerunSkipSigned(t *testing.T) {
	pdfsig := testenv.RequireTool(t, "pdfsig")
	e := startB24(t, emulator.Config{})
	ctx := context.Background()
	e.addUser(t, "mary", 7, false, e.cfg.Demo.Credential)
	secret := e.enrol(t, "mary")
	viewer := e.portal.NewAuth(7).AccessToken
	deals := map[string][]int{}
	for i := range 6 {
		stage := []string{"LINK", "REPL"}[i%2]
		name := "act-" + strconv.Itoa(i) + ".pdf"
		id := e.portal.AddItem(emulator.EntityDeal, map[string]any{"title": name, "stageId": stage})
		e.portal.AddDealFile(id, name, demoInvoice)
		deals[stage] = append(deals[stage], id)
	}
	jobs, err := e.a.js.KeyValue(ctx, contracts.BucketJobs)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := batch.OpenBucket(ctx, e.a.js, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Two accountants, one batch each: a code (and any older one) is used once, and enrolment used
	// the current window's.
	e.addUser(t, "anna", 8, false, e.cfg.Demo.Credential)
	secrets := map[string]string{"mary": secret, "anna": e.enrol(t, "anna")}
	sign := func(stage string, mode bulk.Mode, login string) {
		t.Helper()
		sel, err := bulk.Select(ctx, e.a.b24, e.portal.MemberID(), viewer, bulk.Filter{EntityTypeID: bulk.EntityDeal, StageIDs: []string{stage}},
			emulator.DealFileField, 1000, e.a.results)
		if err != nil {
			t.Fatal(err)
		}
		if len(sel.Items) != len(deals[stage]) || sel.AlreadySigned != 0 {
			t.Fatalf("stage %s: %d picked, %d already signed; want %d and 0", stage, len(sel.Items), sel.AlreadySigned, len(deals[stage]))
		}
		sel.Mode = mode
		m, err := sel.Manifest("bitrix24:" + e.portal.MemberID() + ":deals:" + stage)
		if err != nil {
			t.Fatal(err)
		}
		enq := &batch.Enqueuer{JS: e.a.js, KV: kv, Store: e.a.store, Identity: e.a.identity, JobKey: e.a.jobKey}
		sum, err := enq.Enqueue(ctx, batch.Request{Login: login, Credential: e.cfg.Demo.Credential, Manifest: m,
			OTP: func() (string, error) { return totp.GenerateCode(secrets[login], time.Now().Add(30*time.Second)) }})
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(2 * time.Minute)
		for {
			st, err := batch.ReadStatus(ctx, e.a.js, kv, jobs, sum.BatchID)
			if err != nil {
				t.Fatal(err)
			}
			if st.Done {
				if st.Signed != len(deals[stage]) || st.Failed != 0 {
					t.Fatalf("stage %s: batch status %+v", stage, st)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("stage %s: batch not done: %+v", stage, st)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	sign("LINK", bulk.ModeLink, "mary")
	sign("REPL", bulk.ModeReplace, "anna")

	dir := t.TempDir()
	for _, id := range deals["LINK"] {
		for _, data := range e.portal.DealFileContents(id) {
			if string(data) != string(demoInvoice) {
				t.Fatalf("deal %d (link mode): its file was changed", id)
			}
		}
		if st, _ := e.portal.DealField(id, e.cfg.Bitrix24.StatusField).(string); !strings.Contains(st, "mary") {
			t.Errorf("deal %d: status %q, want who signed", id, st)
		}
		link, _ := e.portal.DealField(id, e.cfg.Bitrix24.LinkField).(string)
		if !strings.HasPrefix(link, e.cfg.PublicURL+"/files/") {
			t.Fatalf("deal %d: link %q, want a signed /files/ link on %s", id, link, e.cfg.PublicURL)
		}
		resp, err := http.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("deal %d: GET its link: HTTP %d %v", id, resp.StatusCode, err)
		}
		pdf := filepath.Join(dir, strconv.Itoa(id)+".pdf")
		if err := os.WriteFile(pdf, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if out, _ := exec.Command(pdfsig, pdf).CombinedOutput(); !strings.Contains(string(out), "Signature is Valid.") {
			t.Errorf("deal %d: pdfsig on the linked file:\n%s", id, out)
		}
	}
	for _, id := range deals["REPL"] {
		for _, data := range e.portal.DealFileContents(id) {
			if string(data) == string(demoInvoice) {
				t.Errorf("deal %d (replace mode): its file is still the unsigned one", id)
			}
		}
	}

	// The night's filter run twice: nothing to sign.
	both := bulk.Filter{EntityTypeID: bulk.EntityDeal, StageIDs: []string{"LINK", "REPL"}}
	again, err := bulk.Select(ctx, e.a.b24, e.portal.MemberID(), viewer, both, emulator.DealFileField, 1000, e.a.results)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Items) != 0 || again.AlreadySigned != 6 {
		t.Fatalf("rerun: %d picked, %d already signed; want 0 and 6", len(again.Items), again.AlreadySigned)
	}
	// A deal whose newest file is new since is signed again, in either mode.
	fresh := deals["LINK"][0]
	e.portal.AddDealFile(fresh, "act-new.pdf", demoInvoice)
	again, err = bulk.Select(ctx, e.a.b24, e.portal.MemberID(), viewer, both, emulator.DealFileField, 1000, e.a.results)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Items) != 1 || again.Items[0].ID != fresh || again.AlreadySigned != 5 {
		t.Fatalf("rerun after a new file: %+v, %d already signed; want deal %d alone", again.Items, again.AlreadySigned, fresh)
	}
}
