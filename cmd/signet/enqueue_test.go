package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/config"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/producer"
	"github.com/signet-b24/signet/producer/batch"
	"github.com/signet-b24/signet/producer/identity"
)

// pipeline is a whole Signet (serve) on an embedded NATS, a SoftHSM demo token and local storage,
// installed on an emulated portal, with a signer "mary" (OTP not required) mapped to the demo key.
type pipeline struct {
	app     *app
	cfg     *config.Config
	portal  *emulator.Portal
	dataDir string
}

func startPipeline(t *testing.T, ctx context.Context, flags ...string) *pipeline {
	t.Helper()
	a, cfg, portal := startInstalled(t, ctx, emulator.Config{Log: zap.NewNop()},
		append([]string{"--bitrix24-rate-per-sec", "1000", "--bitrix24-burst", "1000"}, flags...)...)
	if err := a.identity.AddUser(ctx, identity.User{Login: "mary", BitrixIDs: map[string]int{portal.MemberID(): emulator.AdminUserID},
		OTPDisabled: true, Credentials: []string{cfg.Demo.Credential}, DefaultCredential: cfg.Demo.Credential}); err != nil {
		t.Fatal(err)
	}
	return &pipeline{app: a, cfg: cfg, portal: portal, dataDir: cfg.DataDir}
}

func (p *pipeline) batchStatus(t *testing.T, ctx context.Context, id string) *batch.Status {
	t.Helper()
	kv, err := p.app.js.KeyValue(ctx, batch.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := p.app.js.KeyValue(ctx, contracts.BucketJobs)
	if err != nil {
		t.Fatal(err)
	}
	st, err := batch.ReadStatus(ctx, p.app.js, kv, jobs, id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// waitFor polls cond every 50 ms until it holds or the bound passes (a bound, not a speed claim).
func waitFor(t *testing.T, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting for %s", bound, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A person's robot call is not stuck behind a night batch: with 5,000 batch documents queued and
// being signed, the interactive job completes while the batch still has pending work.
func TestInteractiveJobIsNotStuckBehindABatch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p := startPipeline(t, ctx, "--worker-batch", "2", "--worker-interactive", "2")
	a := p.app

	// 5,000 documents: one uploaded object named by every row (the upload path has its own test).
	if _, err := a.store.Put(ctx, "incoming/fairness/invoice.pdf", bytes.NewReader(demoInvoice), int64(len(demoInvoice)), "application/pdf", ""); err != nil {
		t.Fatal(err)
	}
	var manifest strings.Builder
	manifest.WriteString("key,file_name\n")
	const n = 5000
	for i := range n {
		fmt.Fprintf(&manifest, "incoming/fairness/invoice.pdf,invoice-%d.pdf\n", i)
	}
	mpath := filepath.Join(t.TempDir(), "night.csv")
	if err := os.WriteFile(mpath, []byte(manifest.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := batch.ReadManifest(mpath)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := batch.OpenBucket(ctx, a.js, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	enq := &batch.Enqueuer{JS: a.js, KV: kv, Store: a.store, Identity: a.identity, JobKey: a.jobKey}
	sum, err := enq.Enqueue(ctx, batch.Request{Login: "mary", Credential: p.cfg.Demo.Credential, Manifest: m,
		OTP: func() (string, error) { return "", nil }})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Published != n {
		t.Fatalf("published %d of %d", sum.Published, n)
	}
	// The batch is being worked on before the person asks.
	waitFor(t, time.Minute, "the first batch document to be signed", func() bool { return p.batchStatus(t, ctx, sum.BatchID).Signed > 0 })

	disk, _ := p.portal.AddDealFile(77, "contract.pdf", demoInvoice)
	tok, status, err := p.portal.RobotCall(ctx, p.cfg.PublicURL+"/bitrix24/robot", p.cfg.Bitrix24.RobotCode, 77, map[string]any{
		producer.PropDocument: strconv.Itoa(disk), producer.PropSigner: "user_" + strconv.Itoa(emulator.AdminUserID),
		producer.PropCredential: p.cfg.Demo.Credential,
	})
	if err != nil || status != http.StatusOK {
		t.Fatalf("robot call: HTTP %d, %v", status, err)
	}
	var ret map[string]any
	waitFor(t, time.Minute, "the interactive job's bizproc.event.send", func() bool {
		if sent := p.portal.EventsSent()[tok]; len(sent) > 0 {
			ret = sent[0]
			return true
		}
		return false
	})
	st := p.batchStatus(t, ctx, sum.BatchID)
	if ret["signed"] != "Y" {
		t.Fatalf("the interactive job was not signed: %v", ret["errorText"])
	}
	if st.Pending == 0 {
		t.Fatalf("the batch finished before the interactive job (%+v): the test proves nothing on this machine", st)
	}
	t.Logf("interactive job done while the batch had %d of %d pending", st.Pending, st.Total)
}

// `signet enqueue` on a folder (one unreadable document among them), then `signet batch status`:
// the signed documents are real PAdES signatures made from the uploaded files, the failure is listed
// with its reason, and running enqueue again queues nothing.
func TestEnqueueAndBatchStatusCommands(t *testing.T) {
	pdfsig := testenv.RequireTool(t, "pdfsig")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := startPipeline(t, ctx)
	dir := t.TempDir()
	for i := range 3 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("inv-%d.pdf", i)), demoInvoice, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "inv-9.pdf"), []byte("this is not a PDF"), 0o644); err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := run(ctx, append(args, "--data-dir", p.dataDir), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	code, out, errOut := cli("enqueue", dir, "--login", "mary", "--otp", "000000", "--progress", "lines", "--visible")
	if code != 0 {
		t.Fatalf("enqueue: exit %d\n%s\n%s", code, out, errOut)
	}
	m := regexp.MustCompile(`batch=(b[0-9a-f]+) documents=4 queued=4 already_queued=0 `).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("enqueue summary: %q", out)
	}
	id := m[1]
	enqueueOut := out
	if !strings.Contains(errOut, "queued 4 of 4 (100%)") {
		t.Errorf("progress lines: %q", errOut)
	}
	if strings.Contains(out+errOut, "000000") {
		t.Error("the OTP must not be echoed")
	}
	waitFor(t, time.Minute, "the batch to finish", func() bool { return p.batchStatus(t, ctx, id).Done })

	code, out, _ = cli("batch", "status", id)
	if code != 1 || !strings.Contains(out, "signed 3  failed 1  pending 0") || !strings.Contains(out, "inv-9.pdf") {
		t.Fatalf("batch status: exit %d (want 1: a document failed)\n%s", code, out)
	}
	if !regexp.MustCompile(`4\s+inv-9\.pdf\s+\d+\s+.*(PDF|pdf)`).MatchString(out) {
		t.Errorf("the failure must name the document and why:\n%s", out)
	}
	code, out, _ = cli("batch", "status", id, "--json")
	var st batch.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Signed != 3 || st.Failed != 1 || !st.Done {
		t.Fatalf("batch status --json: %v %+v", err, st)
	}
	if code, out, _ = cli("batch", "status", id, "--watch", "--every", "50ms"); code != 1 || !strings.Contains(out, "finished at") {
		t.Fatalf("batch status --watch on a finished batch must print once and end: exit %d\n%s", code, out)
	}
	if code, _, errOut := cli("batch", "status", "bnosuchbatch"); code != 1 || !strings.Contains(errOut, "no such batch") {
		t.Fatalf("unknown batch: exit %d %q", code, errOut)
	}
	if code, out, _ = cli("batch", "list"); code != 0 || !strings.Contains(out, id) {
		t.Fatalf("batch list: %d %s", code, out)
	}

	// A signed batch document, read back from storage, is a valid signature over the uploaded file.
	kv, err := p.app.js.KeyValue(ctx, batch.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := batch.GetRecord(ctx, kv, id)
	if err != nil {
		t.Fatal(err)
	}
	// The batch's secrets stay in NATS: the grant id (a bearer credential) and the key of its job ids.
	if code, out, _ := cli("batch", "list", "--json"); code != 0 || !strings.Contains(out, id) ||
		rec.DocKey == "" || strings.Contains(out, rec.DocKey) || rec.GrantID == "" || strings.Contains(out, rec.GrantID) {
		t.Errorf("batch list --json: exit %d, prints a secret of the batch:\n%s", code, out)
	}
	signed, err := p.app.results.Signed(ctx, rec.JobID(0))
	if err != nil || signed == nil {
		t.Fatalf("result of document 1: %v %v", signed, err)
	}
	rc, _, err := p.app.store.Get(ctx, signed.PDFKey)
	if err != nil {
		t.Fatal(err)
	}
	pdf, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(pdf, demoInvoice) {
		t.Error("the uploaded file is not a prefix of the signed one")
	}
	path := filepath.Join(t.TempDir(), "signed.pdf")
	if err := os.WriteFile(path, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	if o, err := exec.Command(pdfsig, path).CombinedOutput(); err != nil || !strings.Contains(string(o), "Signature is Valid.") {
		t.Errorf("pdfsig: %v\n%s", err, o)
	}

	// The signed PDFs come out of the storage under the folder's own names; the one that failed is
	// listed, and the command says so with exit 1.
	if !strings.Contains(enqueueOut, "signet batch collect "+id+" --out "+dir+"-signed") {
		t.Errorf("the folder form of enqueue must say how to collect the signed PDFs:\n%s", enqueueOut)
	}
	outDir := filepath.Join(t.TempDir(), "signed")
	code, out, errOut = cli("batch", "collect", id, "--out", outDir)
	if code != 1 || !strings.Contains(out, "3 of 4 signed PDFs") || !strings.Contains(out, "4\tinv-9.pdf") {
		t.Fatalf("batch collect: exit %d (want 1: one document is not signed)\n%s\n%s", code, out, errOut)
	}
	for i := range 3 {
		f := filepath.Join(outDir, fmt.Sprintf("inv-%d.pdf", i))
		if o, err := exec.Command(pdfsig, f).CombinedOutput(); err != nil || !strings.Contains(string(o), "Signature is Valid.") {
			t.Errorf("pdfsig %s: %v\n%s", f, err, o)
		}
	}
	golden(t, "enqueue_batch", normalise(
		"$ signet enqueue DIR --login mary --otp 000000 --progress lines --visible   (exit 0)\n"+enqueueOut+"\n"+
			transcript(nil, []string{"--data-dir", p.dataDir},
				[]string{"batch", "status", id}, []string{"batch", "status", id, "--json"},
				[]string{"batch", "list"}, []string{"batch", "list", "--json"},
				[]string{"batch", "collect", id, "--out", outDir}, []string{"batch", "collect", id, "--out", outDir, "--json"}),
		dir, outDir, p.dataDir))
	golden(t, "enqueue_batch.ru", inRussian(func() string {
		return normalise(transcript(nil, []string{"--data-dir", p.dataDir},
			[]string{"batch", "status", id}, []string{"batch", "list"}, []string{"batch", "collect", id, "--out", outDir}),
			dir, outDir, p.dataDir)
	}))

	// A signer whose OTP is off is asked no code: without --otp, and with nothing on standard input,
	// a new batch is queued.
	dir2 := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir2, "other.pdf"), demoInvoice, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut = cli("enqueue", dir2, "--login", "mary", "--progress", "none"); code != 0 || !strings.Contains(out, "queued=1") {
		t.Fatalf("enqueue for a signer without OTP, no --otp: exit %d\n%s\n%s", code, out, errOut)
	}

	// Again: nothing new is queued and no grant is spent.
	code, out, errOut = cli("enqueue", dir, "--login", "mary", "--otp", "000000", "--progress", "none")
	if code != 0 || !strings.Contains(out, "queued=0 already_queued=4") || !strings.Contains(out, "grant_used=4/4") {
		t.Fatalf("second enqueue: exit %d\n%s\n%s", code, out, errOut)
	}
}

// `signet status --json` reports every consumer and stream of a running server, its tokens and
// storage; /healthz and /readyz answer, and /readyz turns 503 when NATS goes away.
func TestStatusAndHealth(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := startPipeline(t, ctx)
	getAt := func(base, path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	get := func(path string) (int, string) { return getAt(p.cfg.PublicURL, path) }
	// /metrics and the detailed /readyz are on the metrics listener only (metrics.listen).
	metricsURL := p.app.listener(listenerMetrics).URL()
	if code, _ := get("/metrics"); code != http.StatusNotFound {
		t.Errorf("/metrics on the public listener: HTTP %d, want 404", code)
	}
	// The monitor sets the token gauges at start; wait for the first round.
	waitFor(t, 30*time.Second, "the token gauges", func() bool {
		_, m := getAt(metricsURL, "/metrics")
		return strings.Contains(m, `signet_token_online{token="signet-demo"} 1`)
	})
	var stdout, stderr bytes.Buffer
	if code := run(ctx, []string{"status", "--json", "--sample", "200ms", "--data-dir", p.dataDir}, &stdout, &stderr); code != 0 {
		t.Fatalf("status: exit %d %s", code, stderr.String())
	}
	var rep statusReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("status --json: %v\n%s", err, stdout.String())
	}
	var names []string
	for _, c := range rep.Consumers {
		names = append(names, c.Stream+"/"+c.Name)
	}
	if strings.Join(names, " ") != "SIGN/sign-interactive SIGN/sign-batch CALLBACK/callback CALLBACK/callback-batch" {
		t.Errorf("consumers %v", names)
	}
	// The token state is the worker's record in NATS (issue 21 must 3), not this process's /metrics.
	if len(rep.Streams) < 4 || !rep.StorageOK || len(rep.Tokens) != 1 || rep.Tokens[0].State != contracts.TokenOnline ||
		rep.Tokens[0].Stale || rep.Tokens[0].Worker == "" || rep.Tokens[0].MaxSessions == 0 || rep.Workers != 1 || len(rep.Portals) != 1 {
		t.Errorf("status: %+v", rep)
	}
	stdout.Reset()
	if code := run(ctx, []string{"status", "--sample", "100ms", "--data-dir", p.dataDir}, &stdout, &stderr); code != 0 ||
		!strings.Contains(stdout.String(), "SIGN/sign-batch") || !strings.Contains(stdout.String(), "signet-demo") {
		t.Fatalf("status: exit %d\n%s", code, stdout.String())
	}

	// A record a killed worker left behind is shown STALE; it is no problem while the expected
	// number of workers report, and is named when one is missing. A live worker's offline token is.
	kv, err := p.app.js.KeyValue(ctx, contracts.BucketJobs)
	if err != nil {
		t.Fatal(err)
	}
	putRecord := func(tr contracts.TokenRate) {
		b, _ := json.Marshal(tr)
		if _, err := kv.Put(ctx, contracts.TokenRateKey(tr.Token, tr.Worker), b); err != nil {
			t.Fatal(err)
		}
	}
	putRecord(contracts.TokenRate{Token: "signet-demo", Worker: "gone/1", State: contracts.TokenOnline, MaxSessions: 4, Updated: time.Now().Add(-5 * time.Minute)})
	statusOut := func(args ...string) (int, string) {
		stdout.Reset()
		code := run(ctx, append([]string{"status", "--sample", "10ms", "--data-dir", p.dataDir}, args...), &stdout, &stderr)
		return code, stdout.String()
	}
	if code, out := statusOut(); code != 0 || !strings.Contains(out, "gone/1") || !strings.Contains(out, "STALE (online when last seen)") {
		t.Errorf("status with a stale record: exit %d\n%s", code, out)
	}
	if code, out := statusOut("--expect-workers", "2"); code != 1 || !strings.Contains(out, "1 worker(s) reported their tokens in the last minute, 2 expected") ||
		!strings.Contains(out, "stale records from gone/1") {
		t.Errorf("status --expect-workers 2 with one live worker: exit %d\n%s", code, out)
	}
	putRecord(contracts.TokenRate{Token: "usb-1", Worker: "other/2", State: contracts.TokenOffline, Err: "token not present", Updated: time.Now()})
	if code, out := statusOut(); code != 1 || !strings.Contains(out, "token usb-1 is offline on worker other/2: token not present") {
		t.Errorf("status with an offline token: exit %d\n%s", code, out)
	}
	for _, k := range []string{contracts.TokenRateKey("signet-demo", "gone/1"), contracts.TokenRateKey("usb-1", "other/2")} {
		if err := kv.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}

	// The dashboard is mounted behind the administrator check.
	if code, _ := get("/ops"); code != http.StatusUnauthorized && code != http.StatusForbidden && code != http.StatusSeeOther {
		t.Errorf("/ops without the administrator's token: HTTP %d", code)
	}
	tok, err := loadOrCreateSecret(p.cfg.Security.AdminTokenFile)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", p.cfg.PublicURL+"/ops", nil)
	req.Header.Set("Authorization", "Bearer "+hex.EncodeToString(tok))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "SIGN/sign-batch") || !strings.Contains(string(page), "<svg") {
		t.Errorf("/ops with the administrator's token: HTTP %d", resp.StatusCode)
	}
	// The dashboard names the metrics listener instead of linking to a /metrics the public listener
	// does not serve.
	if !strings.Contains(string(page), metricsURL+"/metrics") || strings.Contains(string(page), `href="/metrics"`) {
		t.Errorf("/ops does not name the metrics listener %s, or still links /metrics", metricsURL)
	}

	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := get("/readyz"); code != 200 || body != "ready\ntokens online: 1 of 1\n" {
		t.Errorf("public /readyz: %d %q; want ready and the count of tokens online, no token's name", code, body)
	}
	if code, body := getAt(metricsURL, "/readyz"); code != 200 || !strings.HasPrefix(body, "ready\n") || !strings.Contains(body, "token signet-demo: online") {
		t.Errorf("/readyz on the metrics listener: %d %q", code, body)
	}
	p.app.embedded.Shutdown()
	waitFor(t, 30*time.Second, "NATS to be seen as gone", func() bool { return !p.app.nc.IsConnected() })
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "NATS not connected") {
		t.Errorf("/readyz without NATS: %d %q", code, body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz must stay 200 (the process is alive) while NATS is away: %d", code)
	}
}
