package faults

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/producer"
	"github.com/signet-b24/signet/storage/miniotest"
)

// TestMultiHost is issue 21 must 7: Signet on nine hosts, each a network namespace of its own —
// three nats-server nodes (deploy/nats: TLS, a user per role, R3 streams and buckets), MinIO, two
// intakes behind a load balancer and three workers — with the Bitrix24 emulator and the load balancer
// on the test's own host. It follows the README's "Running on several machines" walkthrough
// (docs/multihost.md): certificates and users from deploy/nats, shared files made once and copied,
// `signet setup` as the one provisioning owner, every server with nats.provision false.
//
// During a run of SIGNET_MULTIHOST_DOCS robot calls (default 600 here, 2,000 in `go tool task
// bench-multihost`, figures in bench/RESULTS.md) an intake, a worker and the node leading the SIGN
// stream are killed with SIGKILL; every document ends signed exactly once with one result per robot
// call (verify). A Sign dialog opened on one intake is submitted to the other. `signet status`, run
// as the status role from the operator's host, shows the live workers' tokens, the killed worker's
// records as stale and the dead node as an offline replica, and exits 1 until the node is back.
//
// It runs only as root where `ip netns` works (else it is skipped, saying why; docs/testing.md),
// in `go tool task test` and alone in `go tool task test-multihost`. It was left out of the suite
// while a worker could drop deliveries after the SIGN leader was killed ("slow consumer", jobs
// ack-pending for minutes; docs/testing.md, "Known failures"); the worker's pull loop no longer can
// (worker/consume.go, TestConsumeReconnectDropsNothing). SIGNET_MULTIHOST_KEEP=dir keeps the logs.
func TestMultiHost(t *testing.T) {
	requireNetns(t)
	testenv.RequireTool(t, "softhsm2-util")
	testenv.RequireTool(t, "openssl")
	minioBin := miniotest.Binary(t)
	n := envInt("SIGNET_MULTIHOST_DOCS", 600)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	root := repoRoot(t)
	dir := t.TempDir()
	if keep := os.Getenv("SIGNET_MULTIHOST_KEEP"); keep != "" {
		// Logs and data survive the run, for a post-mortem (docs/testing.md).
		dir = keep
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	natsBin := filepath.Join(dir, "nats-server")
	if out, err := exec.Command("go", "build", "-o", natsBin, "github.com/nats-io/nats-server/v2").CombinedOutput(); err != nil {
		t.Fatalf("building nats-server from the module: %v\n%s", err, out)
	}

	tn := newTestNet(t)
	natsHosts := []*netHost{tn.addHost("nats-1", 11), tn.addHost("nats-2", 12), tn.addHost("nats-3", 13)}
	s3Host := tn.addHost("s3", 20)
	intakeHosts := []*netHost{tn.addHost("intake-1", 31), tn.addHost("intake-2", 32)}
	workerHosts := []*netHost{tn.addHost("worker-1", 41), tn.addHost("worker-2", 42), tn.addHost("worker-3", 43)}
	opsIP := netSubnet + "1"

	// Every process started below is stopped before the namespaces go (cleanups run last first).
	var all []*proc
	var allMu sync.Mutex
	track := func(p *proc) *proc {
		allMu.Lock()
		all = append(all, p)
		allMu.Unlock()
		return p
	}
	t.Cleanup(func() {
		for _, p := range slices.Backward(all) {
			p.term(20 * time.Second)
		}
	})

	// ---- 1. NATS: certificates and users (deploy/nats), one node per host ----
	tlsDir := filepath.Join(dir, "nats-tls")
	var sans []string
	for _, h := range natsHosts {
		sans = append(sans, "IP:"+h.ip)
	}
	if out, err := exec.Command("sh", filepath.Join(root, "deploy", "nats", "gen-certs.sh"), tlsDir, strings.Join(sans, ",")).CombinedOutput(); err != nil {
		t.Fatalf("gen-certs.sh: %v\n%s", err, out)
	}
	caFile := filepath.Join(tlsDir, "ca.pem")
	passwords, hashEnv := natsUsers(t, dir)
	accounts, err := os.ReadFile(filepath.Join(root, "deploy", "nats", "signet-accounts.conf"))
	if err != nil {
		t.Fatal(err)
	}
	var natsURLs []string
	nodes := make([]*proc, len(natsHosts))
	for i, h := range natsHosts {
		conf, err := os.ReadFile(filepath.Join(root, "deploy", "nats", fmt.Sprintf("nats-%d.conf", i+1)))
		if err != nil {
			t.Fatal(err)
		}
		hd := filepath.Join(dir, h.name)
		c := strings.ReplaceAll(string(conf), "/etc/nats/tls/", tlsDir+"/")
		c = strings.ReplaceAll(c, "/var/lib/nats/jetstream", filepath.Join(hd, "jetstream"))
		for j, o := range natsHosts {
			c = strings.ReplaceAll(c, fmt.Sprintf("nats-route://nats-%d:6222", j+1), "nats-route://"+o.ip+":6222")
		}
		writeFile(t, filepath.Join(hd, "nats.conf"), c)
		writeFile(t, filepath.Join(hd, "signet-accounts.conf"), string(accounts))
		nodes[i] = track(&proc{name: h.name, bin: natsBin, netns: h.ns, args: []string{"-c", filepath.Join(hd, "nats.conf")},
			// /healthz answers 200 once JetStream is current: a meta leader elected.
			env: hashEnv, url: "http://" + h.ip + ":8222", ready: "/healthz", log: filepath.Join(hd, "nats.log")})
		nodes[i].start(t)
		natsURLs = append(natsURLs, "tls://"+h.ip+":4222")
	}
	for _, nd := range nodes {
		nd.waitReady(t, 60*time.Second)
	}
	natsURL := strings.Join(natsURLs, ",")
	asRole := func(role string) []string {
		return []string{"SIGNET_NATS_USER=" + role, "SIGNET_NATS_PASSWORD_FILE=" + filepath.Join(dir, "nats-"+role+".password")}
	}

	// ---- 2. MinIO on its host ----
	s3Key, s3Secret := "signet-"+randHex(4), randHex(20)
	minio := track(&proc{name: "minio", bin: minioBin, netns: s3Host.ns,
		args: []string{"server", filepath.Join(dir, "s3", "data"), "--address", s3Host.ip + ":9000", "--console-address", "127.0.0.1:9001", "--quiet"},
		env:  []string{"HOME=" + filepath.Join(dir, "s3"), "MINIO_ROOT_USER=" + s3Key, "MINIO_ROOT_PASSWORD=" + s3Secret, "MINIO_UPDATE=off", "MINIO_CALLHOME_ENABLE=off", "MINIO_BROWSER=off"},
		url:  "http://" + s3Host.ip + ":9000", ready: "/minio/health/live", log: filepath.Join(dir, "minio.log")})
	os.MkdirAll(filepath.Join(dir, "s3", "data"), 0o700)
	minio.start(t)
	minio.waitReady(t, 60*time.Second)
	s3Env := []string{"SIGNET_S3_ACCESS_KEY=" + s3Key, "SIGNET_S3_SECRET_KEY=" + s3Secret}
	storageURL := "s3://signet/multihost?endpoint=" + s3Host.ip + ":9000&secure=false"

	// ---- 3. The portal and the load balancer, on the operator's host ----
	portalLn, err := net.Listen("tcp", opsIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	portal := emulator.New(emulator.Config{Domain: portalLn.Addr().String()})
	hs := &http.Server{Handler: portal.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(portalLn) }()
	t.Cleanup(func() { hs.Close() })
	lb := startBalancer(t, opsIP)

	// ---- 4. Shared files, made once and copied to the hosts that need them ----
	shared := filepath.Join(dir, "shared")
	// The README's recipe: one "id:base64" AES-256 key line. It seals everything else the processes
	// share (the Sign dialog's form key, the link key, the admin token) in NATS (signet_secrets).
	key, err := exec.Command("openssl", "rand", "-base64", "32").Output()
	if err != nil {
		t.Fatalf("openssl rand: %v", err)
	}
	writeFile(t, filepath.Join(shared, "secret.keys"), "k1:"+strings.TrimSpace(string(key))+"\n")
	writeFile(t, filepath.Join(shared, "bitrix24.client_secret"), portal.ClientSecret())
	if out, err := exec.Command("openssl", "genpkey", "-algorithm", "ed25519", "-out", filepath.Join(shared, "job-signing.key")).CombinedOutput(); err != nil {
		t.Fatalf("openssl genpkey: %v\n%s", err, out)
	}
	if out, err := exec.Command("openssl", "pkey", "-in", filepath.Join(shared, "job-signing.key"), "-pubout", "-out", filepath.Join(shared, "job-verify.pem")).CombinedOutput(); err != nil {
		t.Fatalf("openssl pkey -pubout: %v\n%s", err, out)
	}
	dataDir := func(h *netHost, files ...string) string {
		d := filepath.Join(dir, h.name, "data")
		for _, f := range files {
			b, err := os.ReadFile(filepath.Join(shared, f))
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(d, f), string(b))
		}
		return d
	}

	// ---- 5. signet setup: the one provisioning owner ----
	opsDir := filepath.Join(dir, "ops")
	os.MkdirAll(opsDir, 0o700)
	// Safe to repeat (an unchanged configuration changes nothing): on a loaded machine a new cluster's
	// first stream may take longer than setup's minute while its peers are placed.
	for attempt := 1; ; attempt++ {
		setup := exec.Command(signetBin, "setup", "--nats-url", natsURL, "--nats-tls-ca-file", caFile, "--nats-replicas", "3",
			"--data-dir", opsDir, "--storage-url", storageURL)
		setup.Env = append(append(os.Environ(), s3Env...), asRole("admin")...)
		out, err := setup.CombinedOutput()
		if err == nil {
			break
		}
		if attempt == 3 {
			t.Fatalf("signet setup, %d attempts: %v\n%s", attempt, err, out)
		}
		t.Logf("signet setup, attempt %d: %v: %s", attempt, err, bytes.TrimSpace(out))
	}

	// ---- 6. Intakes and workers ----
	common := []string{
		"--nats-url", natsURL, "--nats-tls-ca-file", caFile, "--nats-replicas", "3", "--nats-provision=false",
		"--storage-url", storageURL, "--public-url", lb.url,
		"--log-format", "json", "--log-level", "warn", "--metrics-listen", "127.0.0.1:9464", // each host has its own loopback
		"--bitrix24-portals", portal.BaseURL(), "--bitrix24-allow-private",
		"--bitrix24-client-id", portal.ClientID(),
		"--bitrix24-oauth-url", portal.OAuthURL(),
		"--bitrix24-rate-per-sec", "1000", "--bitrix24-burst", "1000",
		"--worker-ack-wait", "10s", "--worker-max-deliver", "20", "--worker-interactive", "4", "--worker-batch", "1", "--worker-callbacks", "4",
	}
	signetProc := func(h *netHost, roleName, natsRole string, files ...string) *proc {
		d := dataDir(h, files...)
		args := append([]string{roleName, "--listen", h.ip + ":8080", "--data-dir", d,
			"--bitrix24-client-secret-file", filepath.Join(d, "bitrix24.client_secret")}, common...)
		return track(&proc{name: h.name, netns: h.ns, args: args, env: append(append([]string{}, s3Env...), asRole(natsRole)...),
			url: "http://" + h.ip + ":8080", log: filepath.Join(dir, h.name+".log")})
	}
	intakeFiles := []string{"secret.keys", "bitrix24.client_secret", "job-signing.key", "job-verify.pem"}
	workerFiles := []string{"secret.keys", "bitrix24.client_secret", "job-verify.pem"}
	var intakes, workers []*proc
	for _, h := range intakeHosts {
		intakes = append(intakes, signetProc(h, "intake", "intake", intakeFiles...))
	}
	for _, h := range workerHosts {
		workers = append(workers, signetProc(h, "worker", "worker", workerFiles...))
	}
	for _, p := range intakes {
		p.start(t)
	}
	for _, p := range intakes {
		p.waitReady(t, 60*time.Second)
	}
	lb.setBackends(intakes[0].url, intakes[1].url)
	// The first worker makes the demo token and its certificate; the others get a copy, as hosts
	// that hold the same key (a real deployment has a token per host, or a network HSM).
	workers[0].start(t)
	workers[0].waitReady(t, 90*time.Second)
	for _, h := range workerHosts[1:] {
		if out, err := exec.Command("cp", "-a", filepath.Join(dir, workerHosts[0].name, "data", "softhsm"), filepath.Join(dir, h.name, "data")).CombinedOutput(); err != nil {
			t.Fatalf("copying the token: %v\n%s", err, out)
		}
	}
	for _, p := range workers[1:] {
		p.start(t)
	}
	for _, p := range workers[1:] {
		p.waitReady(t, 90*time.Second)
	}
	// A failed run leaves each live worker's goroutines in its log (SIGQUIT), before the workers are
	// stopped: where a job in hand waits is what a post-mortem needs first.
	t.Cleanup(func() {
		if t.Failed() {
			for _, w := range workers {
				w.signal(syscall.SIGQUIT)
			}
			time.Sleep(2 * time.Second)
			// The failure message carries only the logs' tails, written before this: the stacks of
			// the handlers go to the test's output here (all of them stay in the logs).
			for _, w := range workers {
				if d := handlerStacks(w.log); d != "" {
					t.Logf("--- %s: goroutines in the worker's handlers at the end ---\n%s", w.name, d)
				}
			}
		}
	})

	// The operator's connection, as the admin role, for the checks.
	nc, err := nats.Connect(natsURL, nats.UserInfo("admin", passwords["admin"]), nats.RootCAs(caFile),
		nats.CustomInboxPrefix("_INBOX_admin"), nats.MaxReconnects(-1), nats.ReconnectWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// The admin token is made once, in NATS, and written to each intake's admin_token_file for the
	// operator: the same on both.
	tok1, err1 := os.ReadFile(filepath.Join(dir, intakeHosts[0].name, "data", "admin.token"))
	tok2, err2 := os.ReadFile(filepath.Join(dir, intakeHosts[1].name, "data", "admin.token"))
	if err1 != nil || err2 != nil || len(tok1) == 0 || !bytes.Equal(tok1, tok2) {
		t.Fatalf("the intakes' admin tokens differ or are missing (%v, %v): the token must come from NATS", err1, err2)
	}
	p := &pipeline{t: t, dir: filepath.Join(dir, intakeHosts[0].name, "data"), portal: portal, nc: nc, js: js, pdf: testPDF(t),
		cred:    "pkcs11:token=signet-demo;object=demo-signer",
		intake:  &proc{name: "load balancer", url: lb.url, log: filepath.Join(dir, "lb.log")},
		workers: append(append([]*proc{}, intakes...), workers...)}
	if err := portal.Install(ctx, lb.url+"/bitrix24/install"); err != nil {
		t.Fatal(err)
	}
	p.addSigner(ctx)

	// ---- 7. The Sign dialog across intakes, before anything is killed ----
	t.Run("SignDialogAcrossIntakes", func(t *testing.T) { signDialogAcross(t, ctx, portal, intakes[0].url, intakes[1].url, p.cred) })

	// ---- 8. The run, with an intake, a worker and the SIGN leader killed during it ----
	cpu := watchCPU(append(append(append([]*proc{}, nodes...), minio), p.workers...))
	defer cpu.stop()
	start := time.Now()
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		sendRepeating(t, ctx, p, lb.url, n)
	}()
	killAt := func(what string, cond func() bool, kill func()) {
		t.Helper()
		if err := eventually(5*time.Minute, cond); err != nil {
			t.Fatalf("waiting to kill %s: %d robot calls through the balancer, %d completed", what, lb.robots.Load(), len(portal.EventsSent()))
		}
		kill()
		t.Logf("killed %s after %s: %d robot calls through the balancer, %d completed", what, time.Since(start).Round(time.Millisecond),
			lb.robots.Load(), len(portal.EventsSent()))
	}
	killAt("intake-1", func() bool { return lb.robots.Load() >= int64(n/4) }, intakes[0].kill)
	killAt("worker-2", func() bool { return len(portal.EventsSent()) >= n/4 }, workers[1].kill)
	workerKilled := time.Now()
	var leaderIdx int
	killAt("the SIGN leader", func() bool { return len(portal.EventsSent()) >= n/2 }, func() {
		leaderIdx = signLeader(t, ctx, js, natsHosts)
		nodes[leaderIdx].kill()
	})
	t.Logf("the SIGN leader was %s", natsHosts[leaderIdx].name)
	<-sent
	sentIn := time.Since(start)
	p.verify(8 * time.Minute)
	elapsed := time.Since(start)
	lat, _ := latencies(p)
	cpu.stop()
	t.Logf("MULTIHOST docs=%d sent_in=%s elapsed=%s throughput=%.1f docs/s latency p50=%s p99=%s max=%s duplicates_absorbed=%d",
		n, sentIn.Round(time.Second), elapsed.Round(time.Second), float64(n)/elapsed.Seconds(),
		pctOf(lat, 0.5), pctOf(lat, 0.99), lat[len(lat)-1].Round(time.Millisecond), p.duplicateSends())
	t.Logf("MULTIHOST cpu seconds: %s", cpu.report())

	// ---- 9. signet status from the operator's host, as the status role ----
	status := func(expect int) (int, statusJSON, string) {
		args := []string{"status", "--json", "--sample", "500ms", "--expect-workers", strconv.Itoa(expect), "--nats-url", natsURL,
			"--nats-tls-ca-file", caFile, "--data-dir", opsDir, "--storage-url", storageURL}
		cmd := exec.Command(signetBin, args...)
		cmd.Env = append(append(os.Environ(), s3Env...), asRole("status")...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		var rep statusJSON
		if jerr := json.Unmarshal(out.Bytes(), &rep); jerr != nil {
			t.Fatalf("signet status --json: exit %d: %v\n%s\n%s", code, jerr, out.String(), errb.String())
		}
		return code, rep, out.String() + errb.String()
	}
	// The killed worker's records turn stale a minute after its last write.
	time.Sleep(time.Until(workerKilled.Add(contracts.TokenRateFresh + 5*time.Second)))
	code, rep, out := status(3)
	live, stale := map[string]bool{}, map[string]bool{}
	for _, tk := range rep.Tokens {
		if tk.Stale {
			stale[tk.Worker] = true
		} else if tk.State == contracts.TokenOnline {
			live[tk.Worker] = true
		}
	}
	if code != 1 || len(live) != 2 || len(stale) != 1 || rep.Workers != 2 || !rep.StorageOK ||
		!hasProblem(rep, "2 worker(s) reported") || !hasProblem(rep, natsHosts[leaderIdx].name) {
		t.Errorf("status with a worker and a node down: exit %d, live %v, stale %v, want 2 live, 1 stale, the missing worker and node %s named\n%s",
			code, live, stale, natsHosts[leaderIdx].name, out)
	}
	// The node comes back and catches up; with two workers expected nothing is wrong.
	nodes[leaderIdx].start(t)
	nodes[leaderIdx].waitReady(t, 60*time.Second)
	if err := eventually(2*time.Minute, func() bool { c, _, _ := status(2); return c == 0 }); err != nil {
		_, _, out := status(2)
		t.Errorf("status after the node is back, two workers expected: still a problem\n%s", out)
	}
}

// statusJSON is the part of `signet status --json` the test reads.
type statusJSON struct {
	Tokens []struct {
		Worker string `json:"worker"`
		Name   string `json:"name"`
		State  string `json:"state"`
		Stale  bool   `json:"stale"`
	} `json:"tokens"`
	Workers   int      `json:"workers"`
	StorageOK bool     `json:"storage_ok"`
	Problems  []string `json:"problems"`
}

func hasProblem(rep statusJSON, s string) bool {
	for _, p := range rep.Problems {
		if strings.Contains(p, s) {
			return true
		}
	}
	return false
}

// signLeader is the index of the host whose node leads the SIGN stream.
func signLeader(t testing.TB, ctx context.Context, js jetstream.JetStream, hosts []*netHost) int {
	t.Helper()
	st, err := js.Stream(ctx, contracts.StreamSign)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Replicas != 3 || info.Cluster == nil {
		t.Fatalf("SIGN is not replicated on three nodes: replicas %d, cluster %+v", info.Config.Replicas, info.Cluster)
	}
	for i, h := range hosts {
		if h.name == info.Cluster.Leader {
			return i
		}
	}
	t.Fatalf("SIGN leader %q is none of the nodes", info.Cluster.Leader)
	return -1
}

// signDialogAcross opens the Sign dialog through one intake and submits it to the other, then polls
// the job's status on the first: what a load balancer without sticky sessions does (issue 21 must 1).
// The intakes share no file but secret.keys: the form key comes from NATS (signet_secrets).
func signDialogAcross(t *testing.T, ctx context.Context, portal *emulator.Portal, first, second, cred string) {
	deal := 90001
	portal.AddDealFile(deal, "dialog.pdf", testPDF(t))
	req, err := portal.PlacementRequest(ctx, first+"/bitrix24/placement", producer.PlacementToolbar, emulator.AdminUserID, deal)
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
		t.Fatalf("the dialog on %s: HTTP %d %s", first, resp.StatusCode, page)
	}
	form := url.Values{"credential": {cred}, "visible": {"Y"}, "page": {"first"}, "position": {"top-left"}}
	for _, m := range dialogHidden.FindAllSubmatch(page, -1) {
		form.Set(string(m[1]), string(m[2]))
	}
	doc := dialogDoc.FindSubmatch(page)
	if doc == nil {
		t.Fatalf("dialog.pdf not offered:\n%s", page)
	}
	form.Set("document", string(doc[1]))
	sresp, err := http.PostForm(second+"/bitrix24/placement/sign", form)
	if err != nil {
		t.Fatal(err)
	}
	var queued struct {
		StatusURL   string `json:"status_url"`
		StatusToken string `json:"status_token"`
		Error       string `json:"error"`
	}
	_ = json.NewDecoder(sresp.Body).Decode(&queued)
	sresp.Body.Close()
	if sresp.StatusCode != http.StatusAccepted {
		t.Fatalf("submitting on the other intake: HTTP %d %s", sresp.StatusCode, queued.Error)
	}
	var st producer.JobStatus
	if err := eventually(2*time.Minute, func() bool {
		req, _ := http.NewRequest(http.MethodGet, first+queued.StatusURL, nil)
		req.Header.Set(producer.StatusTokenHeader, queued.StatusToken)
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer r.Body.Close()
		_ = json.NewDecoder(r.Body).Decode(&st)
		return st.State == "done" || st.State == "failed"
	}); err != nil || st.State != "done" {
		t.Fatalf("the dialog's job, polled on the first intake: %+v", st)
	}
	// The signed PDF is in the deal in place of the original (TestSignButtonEndToEnd).
	files := portal.DealFileContents(deal)
	signed := false
	for _, b := range files {
		sum := sha256.Sum256(b)
		signed = signed || hex.EncodeToString(sum[:]) == st.SHA256
	}
	if len(files) != 1 || !signed {
		t.Errorf("the deal holds %d file(s), the signed PDF among them: %v", len(files), signed)
	}
}

var (
	dialogHidden = regexp.MustCompile(`name="(ctx|csrf)" value="([^"]+)"`)
	dialogDoc    = regexp.MustCompile(`<option value="([^"]+)">dialog\.pdf`)
)

// sendRepeating makes n robot calls through the balancer, 4 at a time, and repeats a call that is not
// answered 200 with the same event token, as Bitrix24 repeats a call its handler failed (the intake's
// 503 says "Bitrix24 may retry"). Unlike pipeline.send it never gives up on a token for a new one: when
// an intake dies or a NATS leader is elected, the answer of a call that queued its job can be lost, and
// only a repeat of that same call is known to be the same job.
func sendRepeating(t *testing.T, ctx context.Context, p *pipeline, base string, n int) {
	calls := make([]robotCall, n)
	sends := make([]func(context.Context, string) (int, error), n)
	for i := range calls {
		deal := 1000 + int(p.nextID.Add(1))
		disk, _ := p.portal.AddDealFile(deal, fmt.Sprintf("invoice-%d.pdf", deal), p.pdf)
		props := map[string]any{
			producer.PropDocument: strconv.Itoa(disk), producer.PropSigner: "user_" + strconv.Itoa(emulator.AdminUserID),
			producer.PropCredential: p.cred, producer.PropPage: "last", producer.PropReason: "multi-host test",
		}
		tok, send := p.portal.NewRobotCall("signet_sign_pdf", deal, props)
		calls[i] = robotCall{deal: deal, disk: disk, token: tok, jobID: producer.RobotJobID(p.portal.MemberID(), tok)}
		sends[i] = send
	}
	for _, err := range fourAtATime(n, func(i int) error {
		calls[i].sentAt = time.Now()
		for attempt := 0; ; attempt++ {
			status, err := sends[i](ctx, base+"/bitrix24/robot")
			if err == nil && status == http.StatusOK {
				return nil
			}
			if attempt >= 120 || ctx.Err() != nil {
				return fmt.Errorf("robot call for deal %d: status %d: %v", calls[i].deal, status, err)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}) {
		t.Error(err)
	}
	p.mu.Lock()
	p.calls = append(p.calls, calls...)
	p.mu.Unlock()
}

// ---- the load balancer ----

// balancer is a round-robin HTTP load balancer like nginx's upstream with proxy_next_upstream: a
// request whose backend cannot be reached or fails before answering goes to the next one. Robot calls
// may be repeated so: the intake derives the job from the event token (producer.RobotJobID).
type balancer struct {
	url      string
	mu       sync.Mutex
	backends []string
	next     int
	robots   atomic.Int64
}

func startBalancer(t testing.TB, ip string) *balancer {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	b := &balancer{url: "http://" + ln.Addr().String()}
	// nginx's proxy_read_timeout is 60 s; an intake holds a robot call no longer than that while NATS
	// elects a leader.
	client := &http.Client{Timeout: 60 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	hs := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		b.mu.Lock()
		backends, first := b.backends, b.next
		b.next++
		b.mu.Unlock()
		var lastErr error
		for i := range backends {
			be := backends[(first+i)%len(backends)]
			req, _ := http.NewRequestWithContext(r.Context(), r.Method, be+r.URL.RequestURI(), bytes.NewReader(body))
			req.Header = r.Header.Clone()
			req.Host = r.Host
			resp, err := client.Do(req)
			if err != nil {
				lastErr = err
				continue
			}
			if r.URL.Path == "/bitrix24/robot" {
				b.robots.Add(1)
			}
			for k, v := range resp.Header {
				w.Header()[k] = v
			}
			w.WriteHeader(resp.StatusCode)
			io.Copy(w, resp.Body)
			resp.Body.Close()
			return
		}
		http.Error(w, fmt.Sprintf("no backend answered: %v", lastErr), http.StatusBadGateway)
	})}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { hs.Close() })
	return b
}

func (b *balancer) setBackends(urls ...string) {
	b.mu.Lock()
	b.backends = urls
	b.mu.Unlock()
}

// ---- figures ----

// latencies are robot call made → its accepted bizproc.event.send, sorted, and when the last was sent.
func latencies(p *pipeline) ([]time.Duration, time.Time) {
	at := map[string]time.Time{}
	for _, c := range p.portal.Calls() {
		if c.Method == "bizproc.event.send" && c.ErrorCode == "" && !c.Duplicate {
			tok, _ := c.Params["EVENT_TOKEN"].(string)
			at[tok] = c.Time
		}
	}
	var lat []time.Duration
	var last time.Time
	for _, c := range p.calls {
		if d, ok := at[c.token]; ok {
			lat = append(lat, d.Sub(c.sentAt))
			if d.After(last) {
				last = d
			}
		}
	}
	slices.Sort(lat)
	if len(lat) == 0 {
		lat = []time.Duration{0}
	}
	return lat, last
}

// pctOf is the q-quantile of sorted latencies, to the millisecond.
func pctOf(lat []time.Duration, q float64) time.Duration {
	return lat[min(len(lat)-1, int(q*float64(len(lat))))].Round(time.Millisecond)
}

// cpuWatch samples each process's CPU time (utime+stime from /proc/<pid>/stat) every second, so that
// a process killed during the run keeps its last figure.
type cpuWatch struct {
	procs []*proc
	mu    sync.Mutex
	ticks map[string]uint64
	done  chan struct{}
	once  sync.Once
}

func watchCPU(procs []*proc) *cpuWatch {
	w := &cpuWatch{procs: procs, ticks: map[string]uint64{}, done: make(chan struct{})}
	go func() {
		tk := time.NewTicker(time.Second)
		defer tk.Stop()
		for {
			w.sample()
			select {
			case <-w.done:
				return
			case <-tk.C:
			}
		}
	}()
	return w
}

func (w *cpuWatch) sample() {
	for _, p := range w.procs {
		p.mu.Lock()
		pid := 0
		if p.cmd != nil && p.cmd.Process != nil {
			pid = p.cmd.Process.Pid
		}
		p.mu.Unlock()
		if pid == 0 {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// Fields after the command name in parentheses: utime and stime are the 12th and 13th.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseUint(f[11], 10, 64)
		s, _ := strconv.ParseUint(f[12], 10, 64)
		w.mu.Lock()
		// A restarted process (the NATS node) adds to what its first life used.
		key := fmt.Sprintf("%s/%d", p.name, pid)
		w.ticks[key] = u + s
		w.mu.Unlock()
	}
}

func (w *cpuWatch) stop() { w.once.Do(func() { w.sample(); close(w.done) }) }

// report is "name seconds" per process (clock ticks are 1/100 s on Linux).
func (w *cpuWatch) report() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	byName := map[string]uint64{}
	for k, v := range w.ticks {
		byName[k[:strings.LastIndexByte(k, '/')]] += v
	}
	var out []string
	for _, p := range w.procs {
		if v, ok := byName[p.name]; ok {
			out = append(out, fmt.Sprintf("%s %.1f", p.name, float64(v)/100))
			delete(byName, p.name)
		}
	}
	return strings.Join(out, "; ")
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// handlerStacks is the part of a SIGQUIT dump in log that a stuck job needs: the goroutines with a
// frame in worker/ or bitrix24/, at most 30 of them.
func handlerStacks(log string) string {
	b, err := os.ReadFile(log)
	if err != nil {
		return ""
	}
	i := bytes.Index(b, []byte("SIGQUIT: quit"))
	if i < 0 {
		return ""
	}
	var out []string
	for _, g := range strings.Split(string(b[i:]), "\n\n") {
		if strings.HasPrefix(g, "goroutine ") && (strings.Contains(g, "signet/worker.") || strings.Contains(g, "signet/bitrix24.")) && len(out) < 30 {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

// signal sends sig to a running process (SIGQUIT: a Go program writes its goroutines to its log).
func (p *proc) signal(sig os.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		_ = p.cmd.Process.Signal(sig)
	}
}
