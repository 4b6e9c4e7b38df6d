package main

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"golang.org/x/text/language"

	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/producer"
	"github.com/signet-b24/signet/producer/batch"
)

// wonDeals is the page's filter for the won deals of pipeline 1 (bulkNight).
var wonDeals = map[string]any{"entity_type_id": 2, "category": "1", "stages": "C1:WON", "file_field": "UF_CRM_SIGNET_FILES"}

// bulkShow runs the page's filter and returns the sealed selection.
func (e *b24env) bulkShow(t *testing.T, tok string) (string, map[string]any) {
	t.Helper()
	st, ans := e.pageCall(t, "POST", producer.BulkPath+"/show", producer.BulkTokenHeader, tok, wonDeals)
	sel, _ := ans["selection"].(string)
	if st != http.StatusOK || sel == "" {
		t.Fatalf("show: HTTP %d %v", st, ans)
	}
	return sel, ans
}

func codeOf(t *testing.T, secret string) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestAttackBulkPageOtherPortalsUsersAndGrant: the bulk page lists and signs only what its own
// viewer was shown on their own portal, and no more than that. Bob, with his own page and his own
// valid code, cannot sign Mary's selection nor read her batch; a selection or a page token changed
// by one character, or none, is refused; the page's session names its portal sealed, so a form for
// another portal's member_id opens nothing, and a credential not Mary's is refused; nothing is
// queued by any of it. Mary's own run gets one grant for exactly the 3 documents shown, spent to
// the last, and it signs not one more.
func TestAttackBulkPageOtherPortalsUsersAndGrant(t *testing.T) {
	e := startB24(t, emulator.Config{})
	ctx := context.Background()
	demo := e.cfg.Demo.Credential
	e.addUser(t, "mary", 7, false, demo)
	secret := e.enrol(t, "mary")
	e.addUser(t, "bob", 9, false, demo)
	bobSecret := e.enrol(t, "bob")
	e.bulkNight(t, 3)

	// As the inbox: scripts from Signet with the page's nonce only, framed by the portal only.
	target, form := e.bulkForm(t, 7, "en")
	req, _ := http.NewRequest("POST", target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	if !regexp.MustCompile(`script-src 'self' 'nonce-[0-9a-f]{32}'`).MatchString(csp) || !strings.Contains(csp, "default-src 'none'") ||
		!strings.Contains(csp, "frame-ancestors "+e.portal.BaseURL()) || strings.Contains(csp, "unsafe") {
		t.Errorf("the bulk page's CSP: %q", csp)
	}

	st, _, tok := e.openBulk(t, 7)
	if st != http.StatusOK || tok == "" {
		t.Fatalf("mary's page: HTTP %d", st)
	}
	st, _, bobTok := e.openBulk(t, 9)
	if st != http.StatusOK || bobTok == "" {
		t.Fatalf("bob's page: HTTP %d", st)
	}
	sel, shown := e.bulkShow(t, tok)
	if shown["count"] != float64(3) {
		t.Fatalf("mary was shown %v documents, want 3", shown["count"])
	}
	sign := func(tk, selection, cred, code string) (int, map[string]any) {
		return e.pageCall(t, "POST", producer.BulkPath+"/sign", producer.BulkTokenHeader, tk,
			map[string]any{"selection": selection, "credential": cred, "code": code, "mode": "replace", "visible": true})
	}
	flip := func(s string) string {
		b := []byte(s)
		b[len(b)/2] ^= 1
		return string(b)
	}
	for what, c := range map[string]struct {
		tok, sel, cred, code string
		want                 int
	}{
		"bob with mary's selection and his own code": {bobTok, sel, demo, codeOf(t, bobSecret), http.StatusNotFound},
		"a selection changed by one character":       {tok, flip(sel), demo, codeOf(t, secret), http.StatusNotFound},
		"no selection":                               {tok, "", demo, codeOf(t, secret), http.StatusNotFound},
		"a page token changed by one character":      {flip(tok), sel, demo, codeOf(t, secret), http.StatusNotFound},
		"no page token":                              {"", sel, demo, codeOf(t, secret), http.StatusNotFound},
		"a credential that is not mary's":            {tok, sel, "pkcs11:token=other;object=someone", codeOf(t, secret), http.StatusUnprocessableEntity},
	} {
		if st, ans := sign(c.tok, c.sel, c.cred, c.code); st != c.want {
			t.Errorf("%s: HTTP %d %v, want %d", what, st, ans, c.want)
		}
	}
	for _, tk := range []string{"", flip(tok)} {
		if st, ans := e.pageCall(t, "POST", producer.BulkPath+"/show", producer.BulkTokenHeader, tk, wonDeals); st != http.StatusNotFound {
			t.Errorf("show with token %q: HTTP %d %v, want 404", tk, st, ans)
		}
	}
	// Another portal's member_id with this portal's form: no such install, nothing opens.
	form.Set("member_id", strings.Repeat("f", 32))
	if st, _ := postForm(t, target, form); st != http.StatusUnauthorized {
		t.Errorf("the page for another portal's member_id: HTTP %d, want 401", st)
	}
	if e.published(t) {
		t.Fatal("a refused call queued documents")
	}

	st, ans := sign(tok, sel, demo, codeOf(t, secret))
	id, _ := ans["batch"].(string)
	if st != http.StatusAccepted || id == "" {
		t.Fatalf("mary's own run: HTTP %d %v", st, ans)
	}
	if st, ans := e.pageCall(t, "GET", producer.BulkPath+"/status/"+id, producer.BulkTokenHeader, bobTok, nil); st != http.StatusNotFound {
		t.Errorf("bob reading mary's batch: HTTP %d %v, want 404", st, ans)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st, ans = e.pageCall(t, "GET", producer.BulkPath+"/status/"+id, producer.BulkTokenHeader, tok, nil)
		if st == http.StatusOK && ans["done"] == true {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mary's batch never finished: HTTP %d %v", st, ans)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if ans["signed"] != float64(3) || ans["failed"] != float64(0) {
		t.Fatalf("mary's batch: %v, want 3 signed", ans)
	}
	kv, err := e.a.js.KeyValue(ctx, batch.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := batch.GetRecord(ctx, kv, id)
	if err != nil {
		t.Fatal(err)
	}
	g, err := e.a.identity.GetGrant(ctx, rec.GrantID)
	if err != nil {
		t.Fatal(err)
	}
	if g.Max != 3 || g.Used != 3 {
		t.Fatalf("the grant covers %d documents and was used %d times, want exactly the 3 shown", g.Max, g.Used)
	}
	if _, err := e.a.identity.Authorize(ctx, "mary", "", rec.GrantID, demo); err == nil {
		t.Fatal("the grant signed a fourth document")
	}
}

// TestBulkPageLinkModeQueuesLinkJobs: in "link only" mode every job the page queues carries
// write_back=link (signed under the job authorisation) and the page's stamp options; the same
// selection sent again resumes that batch and queues nothing. (Writing the link and the status
// into the items is the worker's.)
func TestBulkPageLinkModeQueuesLinkJobs(t *testing.T) {
	e := startB24(t, emulator.Config{})
	e.addUser(t, "mary", 7, false, e.cfg.Demo.Credential)
	secret := e.enrol(t, "mary")
	e.bulkNight(t, 2)
	_, _, tok := e.openBulk(t, 7)
	sel, shown := e.bulkShow(t, tok)
	est, _ := json.Marshal(shown["estimates"])
	if !strings.Contains(string(est), "2 documents: about 1 s") {
		t.Errorf("the estimates: %s", est)
	}
	sub, err := e.a.nc.SubscribeSync(contracts.SubjectSignBatch)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	st, ans := e.pageCall(t, "POST", producer.BulkPath+"/sign", producer.BulkTokenHeader, tok,
		map[string]any{"selection": sel, "credential": e.cfg.Demo.Credential, "code": codeOf(t, secret), "mode": "link", "reason": "night run"})
	if st != http.StatusAccepted {
		t.Fatalf("sign in link mode: HTTP %d %v", st, ans)
	}
	for range 2 {
		m, err := sub.NextMsg(30 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var job contracts.SignJob
		if err := json.Unmarshal(m.Data, &job); err != nil {
			t.Fatal(err)
		}
		if job.Reply.WriteBack != "link" || job.BatchID != ans["batch"] || job.Stamp.Reason != "night run" || job.Portal.MemberID != e.portal.MemberID() {
			t.Errorf("a queued job: write_back %q, batch %s, reason %q, portal %s", job.Reply.WriteBack, job.BatchID, job.Stamp.Reason, job.Portal.MemberID)
		}
	}
	// The same selection sent again: the same batch, resumed, nothing queued twice.
	st, again := e.pageCall(t, "POST", producer.BulkPath+"/sign", producer.BulkTokenHeader, tok,
		map[string]any{"selection": sel, "credential": e.cfg.Demo.Credential, "code": codeOf(t, secret), "mode": "link", "reason": "night run"})
	if st != http.StatusAccepted || again["batch"] != ans["batch"] || again["resumed"] != true {
		t.Errorf("the same selection again: HTTP %d %v, want batch %v resumed", st, again, ans["batch"])
	}
	if m, err := sub.NextMsg(2 * time.Second); err == nil {
		t.Errorf("sending the selection again queued job %s", m.Header.Get(contracts.HeaderMsgID))
	}
}

// TestBulkPageSummaryNamesFailures: a document that cannot be signed (its "PDF" is not one) ends the
// run as failed with its name and the worker's reason, beside the signed ones, in the page's summary.
func TestBulkPageSummaryNamesFailures(t *testing.T) {
	e := startB24(t, emulator.Config{})
	e.addUser(t, "mary", 7, false, e.cfg.Demo.Credential)
	secret := e.enrol(t, "mary")
	e.bulkNight(t, 2)
	broken := e.portal.AddItem(emulator.EntityDeal, map[string]any{"title": "broken.pdf", "stageId": "C1:WON", "categoryId": 1})
	e.portal.AddDealFile(broken, "broken.pdf", []byte("this is not a PDF"))
	_, _, tok := e.openBulk(t, 7)
	sel, _ := e.bulkShow(t, tok)
	st, ans := e.pageCall(t, "POST", producer.BulkPath+"/sign", producer.BulkTokenHeader, tok,
		map[string]any{"selection": sel, "credential": e.cfg.Demo.Credential, "code": codeOf(t, secret), "mode": "replace"})
	if st != http.StatusAccepted {
		t.Fatalf("sign: HTTP %d %v", st, ans)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		st, ans = e.pageCall(t, "GET", producer.BulkPath+"/status/"+ans["batch"].(string), producer.BulkTokenHeader, tok, nil)
		if st == http.StatusOK && ans["done"] == true {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the batch never finished: HTTP %d %v", st, ans)
		}
		time.Sleep(300 * time.Millisecond)
	}
	fails, _ := ans["failures"].([]any)
	if ans["signed"] != float64(2) || ans["failed"] != float64(1) || len(fails) != 1 {
		t.Fatalf("the summary: %v, want 2 signed and 1 failed", ans)
	}
	f := fails[0].(map[string]any)
	t.Logf("the failure as the page shows it: %v", f)
	// The reason is the failure's kind worded from the catalogue (internal/reasons), not the worker's
	// own English error, so a Russian page would read it in Russian.
	if want := i18n.For(language.English).T("failure.not_pdf"); f["name"] != "broken.pdf" || f["reason"] != want {
		t.Errorf("the failure: %v, want broken.pdf with the reason %q", f, want)
	}
	if s, _ := ans["summary"].(string); !strings.Contains(s, "2 documents signed, 1 failed") {
		t.Errorf("the summary says %q", s)
	}
}
