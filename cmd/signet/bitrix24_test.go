package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/internal/config"
	"github.com/signet-b24/signet/producer"
	"github.com/signet-b24/signet/producer/identity"
)

// b24env is one Signet process (intake and workers, embedded NATS, SoftHSM demo token) installed on an
// emulated portal, reached only over HTTP on 127.0.0.1.
type b24env struct {
	a      *app
	cfg    *config.Config
	portal *emulator.Portal
}

func startB24(t *testing.T, ecfg emulator.Config, extra ...string) *b24env {
	t.Helper()
	a, cfg, portal := startInstalled(t, context.Background(), ecfg, append([]string{"--worker-ack-wait", "30s"}, extra...)...)
	return &b24env{a: a, cfg: cfg, portal: portal}
}

func (e *b24env) addUser(t *testing.T, login string, bitrixID int, otpOff bool, creds ...string) {
	t.Helper()
	if err := e.a.identity.AddUser(context.Background(), identity.User{Login: login, BitrixIDs: map[string]int{e.portal.MemberID(): bitrixID},
		OTPDisabled: otpOff, Credentials: creds, DefaultCredential: creds[0]}); err != nil {
		t.Fatal(err)
	}
}

// enrol gives login an OTP secret the way a person does (enrolment link, first code) and returns it.
func (e *b24env) enrol(t *testing.T, login string) string {
	t.Helper()
	ctx := context.Background()
	link, _, err := e.a.identity.StartEnrolment(ctx, login)
	if err != nil {
		t.Fatal(err)
	}
	tok := link[strings.LastIndexByte(link, '/')+1:]
	pe, err := e.a.identity.PendingSecret(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	code, err := totp.GenerateCode(pe.Secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.a.identity.ConfirmEnrolment(ctx, tok, code); err != nil {
		t.Fatal(err)
	}
	return pe.Secret
}

func (e *b24env) robot(t *testing.T, deal int, props map[string]any) string {
	t.Helper()
	tok, status, err := e.portal.RobotCall(context.Background(), e.cfg.PublicURL+"/bitrix24/robot", e.cfg.Bitrix24.RobotCode, deal, props)
	if err != nil || (status != http.StatusOK && status != http.StatusUnprocessableEntity) {
		t.Fatalf("robot call for deal %d: HTTP %d %v", deal, status, err)
	}
	return tok
}

// waitEvents waits until every token has its bizproc.event.send, and returns the RETURN_VALUES.
func (e *b24env) waitEvents(t *testing.T, tokens []string, timeout time.Duration) map[string][]map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		sent := e.portal.EventsSent()
		done := 0
		for _, tok := range tokens {
			if len(sent[tok]) > 0 {
				done++
			}
		}
		if done == len(tokens) {
			return sent
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d robots completed within %s", done, len(tokens), timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func robotProps(doc, signer, credential string) map[string]any {
	return map[string]any{producer.PropDocument: doc, producer.PropSigner: signer, producer.PropCredential: credential,
		producer.PropVisible: "Y", producer.PropPage: "last", producer.PropPosition: "bottom-right", producer.PropReason: "Approved"}
}

// Every failure ends with bizproc.event.send signed=N and an errorText a person can act on, and the
// requester is notified: a workflow never waits forever. Wrong OTP (refused at intake), unknown
// credential, corrupt PDF and a portal file deleted before signing (refused by the worker).
func TestFailuresReachTheWorkflow(t *testing.T) {
	e := startB24(t, emulator.Config{})
	demo := e.cfg.Demo.Credential
	unknown := "pkcs11:token=" + e.cfg.Demo.Token + ";object=nobody-2026"
	e.addUser(t, "mary", 7, false, demo)
	secret := e.enrol(t, "mary")
	e.addUser(t, "bob", 8, true, demo, unknown)

	good, _ := e.portal.AddDealFile(501, "invoice.pdf", demoInvoice)
	broken, _ := e.portal.AddDealFile(502, "broken.pdf", []byte("this is a scanned letter, not a PDF"))
	gone, _ := e.portal.AddDealFile(503, "gone.pdf", demoInvoice)
	e.portal.RemoveDiskFile(gone)

	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(code)
	wrong := fmt.Sprintf("%06d", (n+500000)%1000000)
	cases := []struct {
		name, want string
		deal       int
		props      map[string]any
		notify     int
	}{
		{"wrong OTP", "OTP", 501, robotProps(strconv.Itoa(good), "user_7", demo), 7},
		{"unknown credential", "nobody-2026", 504, robotProps(strconv.Itoa(good), "user_8", unknown), 8},
		{"corrupt PDF", "not a PDF", 502, robotProps(strconv.Itoa(broken), "user_8", demo), 8},
		{"portal file gone", strconv.Itoa(gone), 503, robotProps(strconv.Itoa(gone), "user_8", demo), 8},
	}
	cases[0].props[producer.PropOTP] = wrong
	tokens := make([]string, len(cases))
	for i, c := range cases {
		tokens[i] = e.robot(t, c.deal, c.props)
	}
	sent := e.waitEvents(t, tokens, 2*time.Minute)
	time.Sleep(300 * time.Millisecond) // let the notifications of the same batch be recorded
	notified := map[int]int{}
	for _, nt := range e.portal.Notifications() {
		notified[nt.UserID]++
	}
	for i, c := range cases {
		ret := sent[tokens[i]]
		if len(ret) != 1 {
			t.Errorf("%s: %d event.send accepted, want 1", c.name, len(ret))
			continue
		}
		msg, _ := ret[0]["errorText"].(string)
		t.Logf("%s → errorText %q", c.name, msg)
		if ret[0]["signed"] != "N" || !strings.Contains(msg, c.want) {
			t.Errorf("%s: signed=%v errorText=%q, want signed=N and an error naming %q", c.name, ret[0]["signed"], msg, c.want)
		}
		if strings.Contains(msg, "auth=") || strings.Contains(msg, e.portal.ApplicationToken()) {
			t.Errorf("%s: errorText carries a secret: %q", c.name, msg)
		}
	}
	if notified[7] < 1 || notified[8] < 3 {
		t.Errorf("requesters notified: %v, want mary once and bob three times", notified)
	}
	if v := e.portal.FileVersions(good); len(v) != 1 {
		t.Errorf("a refused job changed the Disk file (%d versions)", len(v))
	}
}

// A robot whose document is a deal file field signs the newest file of the field and puts the signed
// PDF in its place with crm.item.update, keeping the field's other file; the timeline says who signed,
// with which certificate, serial and SHA-256.
func TestRobotSignsDealFileFieldAndReplacesIt(t *testing.T) {
	e := startB24(t, emulator.Config{})
	e.addUser(t, "bob", 8, true, e.cfg.Demo.Credential)
	e.portal.AddDealFile(601, "annex.pdf", []byte("%PDF-1.4 annex, not signed"))
	e.portal.AddDealFile(601, "contract.pdf", demoInvoice)
	before := e.portal.DealFiles(601)
	tok := e.robot(t, 601, robotProps("UF_CRM_SIGNET_FILES", "user_8", e.cfg.Demo.Credential))
	ret := e.waitEvents(t, []string{tok}, 2*time.Minute)[tok][0]
	if ret["signed"] != "Y" || ret["errorText"] != "" {
		t.Fatalf("return values: %v", ret)
	}
	after := e.portal.DealFiles(601)
	contents := e.portal.DealFileContents(601)
	if len(after) != 2 {
		t.Fatalf("deal files after signing: %v (before %v)", after, before)
	}
	var annexKept, signedIn bool
	for id, name := range after {
		if name == "annex.pdf" && before[id] == "annex.pdf" {
			annexKept = true
		}
		if name == "contract.pdf" && before[id] == "" && bytes.HasPrefix(contents[id], demoInvoice) && len(contents[id]) > len(demoInvoice) {
			signedIn = true
			if ret["signedFileId"] != strconv.Itoa(id) || ret["documentSource"] != "file_field" {
				t.Errorf("signedFileId %v, documentSource %v; want the new file %d of the field", ret["signedFileId"], ret["documentSource"], id)
			}
		}
	}
	if !annexKept || !signedIn {
		t.Fatalf("field after signing: %v (before %v): annex kept %v, signed contract in place %v", after, before, annexKept, signedIn)
	}
	cs := e.portal.TimelineComments(601)
	if len(cs) != 1 {
		t.Fatalf("timeline comments: %d", len(cs))
	}
	for _, w := range []string{"signed by bob", "certificate CN=Signet Demo Signer", "serial", "SHA-256 " + ret["documentSha256"].(string)} {
		if !strings.Contains(cs[0].Comment, w) {
			t.Errorf("timeline comment %q lacks %q", cs[0].Comment, w)
		}
	}
}

var (
	hiddenField = regexp.MustCompile(`name="(ctx|csrf)" value="([^"]+)"`)
	docOption   = regexp.MustCompile(`<option value="([^"]+)">contract\.pdf`)
)

// The Sign button end to end: the dialog Bitrix24 frames, the submission, the status endpoint the
// dialog polls until done, and the signed PDF in the deal in place of the original.
func TestSignButtonEndToEnd(t *testing.T) {
	e := startB24(t, emulator.Config{})
	e.addUser(t, "mary", 7, false, e.cfg.Demo.Credential)
	secret := e.enrol(t, "mary")
	e.portal.AddDealFile(701, "contract.pdf", demoInvoice)
	st := submitSign(t, e.cfg.PublicURL, e.signDialog(t, 7, 701, secret))
	if st.State != "done" || st.SHA256 == "" || st.Link == "" {
		t.Fatalf("status: %+v", st)
	}
	// The dialog's download link gives the signed PDF itself.
	lr, err := http.Get(st.Link)
	if err != nil {
		t.Fatal(err)
	}
	linked, _ := io.ReadAll(lr.Body)
	lr.Body.Close()
	if sum := sha256.Sum256(linked); lr.StatusCode != http.StatusOK || hex.EncodeToString(sum[:]) != st.SHA256 {
		t.Fatalf("download link: HTTP %d, %d bytes, not the signed PDF", lr.StatusCode, len(linked))
	}
	files := e.portal.DealFileContents(701)
	if len(files) != 1 {
		t.Fatalf("deal files: %d", len(files))
	}
	for _, data := range files {
		if !bytes.HasPrefix(data, demoInvoice) || len(data) == len(demoInvoice) {
			t.Fatal("the deal's file is not the signed PDF")
		}
	}
	if len(e.portal.TimelineComments(701)) != 1 {
		t.Fatal("no timeline comment for the Sign button")
	}
}

// 500 robot calls against a portal that allows 2 REST requests per second (burst 10) all complete,
// each workflow gets exactly one bizproc.event.send with signed=Y, and each deal one timeline comment:
// the callbacks of many jobs share batch requests (≤50 commands), and a document given as a URL needs
// no per-job lookup. Without batching this would take 1000 requests, over eight minutes.
func TestFiveHundredJobsAtTwoRequestsPerSecond(t *testing.T) {
	if testing.Short() {
		t.Skip("long: 500 signatures")
	}
	e := startB24(t, emulator.Config{RatePerSec: 2, Burst: 10},
		"--bitrix24-rate-per-sec", "2", "--bitrix24-burst", "10", "--worker-callbacks", "50")
	e.addUser(t, "bob", 8, true, e.cfg.Demo.Credential)
	const n = 500
	type job struct {
		deal int
		url  string
	}
	jobs := make([]job, n)
	// addFiles puts the PDFs of jobs [from, to) on the portal; their URLs carry a current auth= token.
	addFiles := func(from, to int) {
		for i := from; i < to; i++ {
			deal := 10000 + i
			e.portal.AddDealFile(deal, fmt.Sprintf("invoice-%d.pdf", deal), demoInvoice)
			var fid int
			for id := range e.portal.DealFiles(deal) {
				fid = id
			}
			jobs[i] = job{deal, e.portal.FileURL(fid)}
		}
	}
	restBefore := len(e.portal.Calls())
	tokens := make([]string, n)
	send := func(from, to int) {
		var next atomic.Int64
		next.Store(int64(from))
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= to {
						return
					}
					tokens[i] = e.robot(t, jobs[i].deal, robotProps(jobs[i].url, "user_8", e.cfg.Demo.Credential))
				}
			}()
		}
		wg.Wait()
	}
	half := n / 2
	addFiles(0, half)
	send(0, half)
	e.waitEvents(t, tokens[:half], 150*time.Second)
	// Then every access token expires (reference §9.1: they live 1 hour): the callbacks of the second
	// half must refresh once for the portal (single flight), store the rotated pair in the KV registry,
	// and carry on.
	before, err := e.a.portals.Load(context.Background(), e.portal.MemberID())
	if err != nil {
		t.Fatal(err)
	}
	e.portal.SetFailure(emulator.Failure{ExpireTokens: true})
	addFiles(half, n)
	send(half, n)
	sent := e.waitEvents(t, tokens, 150*time.Second)
	after, err := e.a.portals.Load(context.Background(), e.portal.MemberID())
	if err != nil {
		t.Fatal(err)
	}
	if r := e.portal.Refreshes(); r != 1 || after.RefreshToken == before.RefreshToken {
		t.Errorf("%d token refreshes after the expiry, want exactly 1 with the rotated refresh token stored", r)
	}
	time.Sleep(500 * time.Millisecond) // a duplicate send would show up now
	sends := map[string]int{}
	batches, limited := 0, 0
	for _, c := range e.portal.Calls()[restBefore:] {
		switch {
		case c.Method == "batch":
			batches++
		case c.Method == "bizproc.event.send" && c.ErrorCode == "":
			tok, _ := c.Params["EVENT_TOKEN"].(string)
			sends[tok]++
		}
		if c.ErrorCode == bitrix24.ErrCodeQueryLimitExceeded {
			limited++
		}
	}
	failed := 0
	for i, tok := range tokens {
		ret := sent[tok]
		if len(ret) != 1 || sends[tok] != 1 || ret[0]["signed"] != "Y" || ret[0]["errorText"] != "" {
			failed++
			if failed <= 3 {
				t.Errorf("deal %d: %d accepted sends, %d calls, return %v", jobs[i].deal, len(ret), sends[tok], ret)
			}
			continue
		}
		if c := e.portal.TimelineComments(jobs[i].deal); len(c) != 1 {
			t.Errorf("deal %d: %d timeline comments, want 1", jobs[i].deal, len(c))
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d jobs not completed exactly once with signed=Y", failed, n)
	}
	t.Logf("%d jobs: %d batch requests, %d answered QUERY_LIMIT_EXCEEDED (retried)", n, batches, limited)
}

// `signet admin bitrix24 register` puts back a robot the portal dropped (as an app update may do,
// reference §3.2) and leaves the existing Sign button alone; `portals` lists the installed portal.
func TestAdminBitrix24Register(t *testing.T) {
	e := startB24(t, emulator.Config{})
	ctx := context.Background()
	if err := e.a.b24.Call(ctx, e.portal.MemberID(), "bizproc.robot.delete", map[string]any{"CODE": e.cfg.Bitrix24.RobotCode}, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.portal.Robots()[e.cfg.Bitrix24.RobotCode]; ok {
		t.Fatal("robot not deleted")
	}
	flags := []string{"--data-dir", e.cfg.DataDir, "--public-url", e.cfg.PublicURL, "--bitrix24-allow-private"}
	var stdout, stderr bytes.Buffer
	if code := run(ctx, append([]string{"admin", "bitrix24", "register"}, flags...), &stdout, &stderr); code != 0 {
		t.Fatalf("register: exit %d: %s", code, stderr.String())
	}
	out := stdout.String()
	if !strings.Contains(out, e.portal.MemberID()) || !strings.Contains(out, "robot added") || !strings.Contains(out, "Sign button already bound") {
		t.Fatalf("register printed %q", out)
	}
	if _, ok := e.portal.Robots()[e.cfg.Bitrix24.RobotCode]; !ok || len(e.portal.Placements()[producer.PlacementToolbar]) != 1 {
		t.Fatalf("after register: robots %v, placements %v", e.portal.Robots(), e.portal.Placements())
	}
	stdout.Reset()
	if code := run(ctx, append([]string{"admin", "bitrix24", "portals"}, flags...), &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), e.portal.MemberID()) {
		t.Fatalf("portals: exit %d: %s %s", code, stdout.String(), stderr.String())
	}
}

// signDialog opens the Sign dialog of deal for Bitrix24 user bitrixID the way Bitrix24 frames it (on
// the intake its button points to) and returns the form the person submits: contract.pdf, and the
// OTP of secret.
func (e *b24env) signDialog(t *testing.T, bitrixID, deal int, secret string) url.Values {
	t.Helper()
	req, err := e.portal.PlacementRequest(context.Background(), e.portal.Placements()[producer.PlacementToolbar][0], producer.PlacementToolbar, bitrixID, deal)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("dialog: HTTP %d %s", resp.StatusCode, page)
	}
	form := url.Values{"credential": {e.cfg.Demo.Credential}, "visible": {"Y"}, "page": {"first"}, "position": {"top-left"}}
	for _, m := range hiddenField.FindAllSubmatch(page, -1) {
		form.Set(string(m[1]), string(m[2]))
	}
	doc := docOption.FindSubmatch(page)
	if doc == nil {
		t.Fatalf("contract.pdf not offered:\n%s", page)
	}
	form.Set("document", string(doc[1]))
	code, _ := totp.GenerateCode(secret, time.Now().Add(30*time.Second)) // the enrolment used this step's code
	form.Set("otp", code)
	return form
}

// submitSign submits the Sign dialog's form to the intake at base and polls that intake's status
// endpoint, as the dialog does, until the job is done or failed.
func submitSign(t *testing.T, base string, form url.Values) producer.JobStatus {
	t.Helper()
	sresp, err := http.PostForm(base+"/bitrix24/placement/sign", form)
	if err != nil {
		t.Fatal(err)
	}
	var queued struct {
		JobID       string `json:"job_id"`
		StatusURL   string `json:"status_url"`
		StatusToken string `json:"status_token"`
		Error       string `json:"error"`
	}
	_ = json.NewDecoder(sresp.Body).Decode(&queued)
	sresp.Body.Close()
	if sresp.StatusCode != http.StatusAccepted {
		t.Fatalf("submit to %s: HTTP %d %s", base, sresp.StatusCode, queued.Error)
	}
	var st producer.JobStatus
	deadline := time.Now().Add(2 * time.Minute)
	for st.State != "done" && st.State != "failed" {
		if time.Now().After(deadline) {
			t.Fatalf("job still %q", st.State)
		}
		time.Sleep(100 * time.Millisecond)
		req, _ := http.NewRequest(http.MethodGet, base+queued.StatusURL, nil)
		req.Header.Set(producer.StatusTokenHeader, queued.StatusToken)
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = json.NewDecoder(r.Body).Decode(&st)
		r.Body.Close()
	}
	return st
}
