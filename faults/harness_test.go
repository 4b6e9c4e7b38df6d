package faults

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/natsembed"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/producer"
)

// signetBin is the binary under test, built once by TestMain.
var signetBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "signet-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	signetBin = filepath.Join(dir, "signet")
	if p := os.Getenv("SIGNET_FAULTS_BIN"); p != "" {
		signetBin = p
	} else {
		cmd := exec.Command("go", "build", "-o", signetBin, "github.com/signet-b24/signet/cmd/signet")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "faults: building cmd/signet failed: %v\n", err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testPDF is the demo's invoice.
func testPDF(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "cmd", "signet", "assets", "invoice.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func repoRoot(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..")
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ---- NATS: one node or a cluster, in this process, restartable on the same ports and store ----

type natsNode struct {
	opts *server.Options
	srv  *server.Server
}

type natsCluster struct {
	t     testing.TB
	nodes []*natsNode
}

// startNATS runs n nodes (1, or 3 for a cluster) on loopback ports with file stores. The ports are
// picked free and then bound by the server, so a test of another package running at the same time
// may take one in between: a cluster whose node cannot start is stopped and started again on new
// ports (at most three times) rather than failing the test on a port it did not choose.
func startNATS(t testing.TB, n int) *natsCluster {
	t.Helper()
	for attempt := 1; ; attempt++ {
		c, err := tryStartNATS(t, n)
		if err == nil {
			t.Cleanup(func() {
				for i := range c.nodes {
					c.stop(i)
				}
			})
			if n > 1 {
				c.waitJetStream()
			}
			return c
		}
		if attempt == 3 {
			t.Fatal(err)
		}
		t.Logf("%v; starting the cluster again on other ports", err)
	}
}

func tryStartNATS(t testing.TB, n int) (*natsCluster, error) {
	c := &natsCluster{t: t}
	clusterPorts := make([]int, n)
	for i := range clusterPorts {
		clusterPorts[i] = freePort(t)
	}
	for i := 0; i < n; i++ {
		o := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: freePort(t),
			JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true, MaxPayload: 8 << 20,
		}
		if n > 1 {
			o.Cluster = server.ClusterOpts{Name: "signet-test", Host: "127.0.0.1", Port: clusterPorts[i]}
			for j, p := range clusterPorts {
				if j != i {
					o.Routes = append(o.Routes, server.RoutesFromStr(fmt.Sprintf("nats://127.0.0.1:%d", p))...)
				}
			}
		}
		c.nodes = append(c.nodes, &natsNode{opts: o})
	}
	for i := range c.nodes {
		if err := c.startNode(i); err != nil {
			for j := range c.nodes {
				c.stop(j)
			}
			return nil, err
		}
	}
	return c, nil
}

// start starts node i again (after stop), on its own ports and store.
func (c *natsCluster) start(i int) {
	c.t.Helper()
	if err := c.startNode(i); err != nil {
		c.t.Fatal(err)
	}
}

func (c *natsCluster) startNode(i int) error {
	nd := c.nodes[i]
	if nd.srv != nil {
		return nil
	}
	o := *nd.opts
	if len(c.nodes) == 1 {
		// One node: the project's own embedded start-up.
		s, err := natsembed.Start(natsembed.Options{StoreDir: o.StoreDir, Port: o.Port, ServerName: o.ServerName})
		if err != nil {
			return err
		}
		nd.srv = s
		return nil
	}
	s, err := server.NewServer(&o)
	if err != nil {
		return err
	}
	go s.Start()
	if !s.ReadyForConnections(20 * time.Second) {
		s.Shutdown()
		return fmt.Errorf("nats node %s not ready (port %d, cluster port %d)", o.ServerName, o.Port, o.Cluster.Port)
	}
	nd.srv = s
	return nil
}

func (c *natsCluster) stop(i int) {
	nd := c.nodes[i]
	if nd.srv == nil {
		return
	}
	nd.srv.Shutdown()
	nd.srv.WaitForShutdown()
	nd.srv = nil
}

// URL lists every node, for clients.
func (c *natsCluster) URL() string {
	var urls []string
	for _, nd := range c.nodes {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", nd.opts.Port))
	}
	return strings.Join(urls, ",")
}

func (c *natsCluster) waitJetStream() {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ok := true
		for _, nd := range c.nodes {
			if nd.srv == nil || !nd.srv.JetStreamIsCurrent() {
				ok = false
			}
		}
		if ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatal("the NATS cluster did not elect a JetStream meta leader within 30 s")
}

// ---- processes ----

type proc struct {
	name string
	args []string
	env  []string
	url  string // http://127.0.0.1:port of its listener
	log  string
	// bin is the program (default: the signet binary); netns, when set, the network namespace it runs
	// in (`ip netns exec`, multihost_test.go); ready the path waitReady polls (default /readyz).
	bin, netns, ready string
	mu                sync.Mutex
	cmd               *exec.Cmd
	done              chan struct{}
}

func (p *proc) start(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return
	}
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	bin, args := signetBin, p.args
	if p.bin != "" {
		bin = p.bin
	}
	if p.netns != "" {
		// ip netns exec execs the program in place: the pid, the signals and Pdeathsig are its own.
		bin, args = "ip", append([]string{"netns", "exec", p.netns, bin}, args...)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = f, f
	// Pdeathsig: if the test binary dies (a go test timeout), its intake and workers die with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("starting %s: %v", p.name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); f.Close(); close(done) }()
	p.cmd, p.done = cmd, done
}

// kill sends SIGKILL: no drain, no ack, no cleanup.
func (p *proc) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	p.cmd = nil
}

// term sends SIGTERM and waits for the drain to end (SIGKILL after limit).
func (p *proc) term(limit time.Duration) (exited bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return true
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		exited = true
	case <-time.After(limit):
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
	p.cmd = nil
	return exited
}

func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// waitReady polls GET /readyz until 200.
func (p *proc) waitReady(t testing.TB, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	hc := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		if !p.running() {
			t.Fatalf("%s exited during start-up; log:\n%s", p.name, p.tail())
		}
		path := p.ready
		if path == "" {
			path = "/readyz"
		}
		resp, err := hc.Get(p.url + path)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s not ready within %s; log:\n%s", p.name, within, p.tail())
}

// ---- the whole pipeline ----

type options struct {
	Nodes      int // 1 or 3
	Workers    int
	StorageURL string
	StorageEnv []string
	AckWait    time.Duration
	MaxDeliver int
	Batch      int // worker.interactive per process
}

type pipeline struct {
	t       testing.TB
	o       options
	dir     string
	nats    *natsCluster
	nc      *nats.Conn
	js      jetstream.JetStream
	portal  *emulator.Portal
	proxy   *proxy
	intake  *proc
	workers []*proc
	common  []string
	pdf     []byte
	cred    string

	mu     sync.Mutex
	calls  []robotCall
	nextID atomic.Int64
	// pace, when set, hands out one robot call at a time (a ticker), for a steady arrival rate.
	pace <-chan time.Time
}

type robotCall struct {
	deal, disk int
	token      string
	jobID      string
	sentAt     time.Time // when the robot call was made (the one that was accepted)
}

func newPipeline(t testing.TB, o options) *pipeline {
	t.Helper()
	testenv.RequireTool(t, "softhsm2-util")
	if o.Nodes == 0 {
		o.Nodes = 1
	}
	if o.Workers == 0 {
		o.Workers = 1
	}
	if o.AckWait == 0 {
		o.AckWait = 3 * time.Second
	}
	if o.MaxDeliver == 0 {
		o.MaxDeliver = 20
	}
	if o.Batch == 0 {
		o.Batch = 4
	}
	p := &pipeline{t: t, o: o, dir: t.TempDir(), pdf: testPDF(t), cred: "pkcs11:token=signet-demo;object=demo-signer"}
	p.nats = startNATS(t, o.Nodes)

	// The portal behind a proxy whose address is the portal's domain.
	realLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.proxy = startProxy(t, realLn.Addr().String())
	p.portal = emulator.New(emulator.Config{Domain: p.proxy.Addr()})
	hs := &http.Server{Handler: p.portal.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(realLn) }()
	t.Cleanup(func() { hs.Close() })

	secretFile := filepath.Join(p.dir, "bitrix24.client_secret")
	if err := os.WriteFile(secretFile, []byte(p.portal.ClientSecret()), 0o600); err != nil {
		t.Fatal(err)
	}
	p.common = []string{
		"--nats-url", p.nats.URL(), "--nats-replicas", strconv.Itoa(o.Nodes), "--data-dir", p.dir,
		"--log-format", "json", "--log-level", "warn", "--metrics-listen", "127.0.0.1:0", // processes share the machine
		"--bitrix24-portals", "http://" + p.proxy.Addr(), "--bitrix24-allow-private",
		"--bitrix24-client-id", p.portal.ClientID(), "--bitrix24-client-secret-file", secretFile,
		"--bitrix24-oauth-url", "http://" + p.proxy.Addr() + "/oauth/token/",
		"--bitrix24-rate-per-sec", "1000", "--bitrix24-burst", "1000",
		"--worker-ack-wait", o.AckWait.String(), "--worker-max-deliver", strconv.Itoa(o.MaxDeliver),
		"--worker-interactive", strconv.Itoa(o.Batch), "--worker-batch", "1", "--worker-callbacks", strconv.Itoa(o.Batch),
	}
	if o.StorageURL != "" {
		p.common = append(p.common, "--storage-url", o.StorageURL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The admin API token (security.admin_token_file, default <data_dir>/admin.token): 32 bytes as hex.
	adminToken := make([]byte, 32)
	if _, err := rand.Read(adminToken); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.dir, "admin.token"), []byte(hex.EncodeToString(adminToken)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	port := freePort(t)
	p.intake = &proc{name: "intake", args: append([]string{"intake", "--listen", fmt.Sprintf("127.0.0.1:%d", port)}, p.common...),
		env: o.StorageEnv, url: fmt.Sprintf("http://127.0.0.1:%d", port), log: filepath.Join(p.dir, "intake.log")}
	p.intake.start(t)
	t.Cleanup(func() { p.intake.term(10 * time.Second) })
	p.intake.waitReady(t, 30*time.Second)

	for i := 0; i < o.Workers; i++ {
		p.addWorker()
	}
	// The first worker creates the demo token and its key; the others then open the same token.
	p.workers[0].start(t)
	p.workers[0].waitReady(t, 60*time.Second)
	for _, w := range p.workers[1:] {
		w.start(t)
	}
	for _, w := range p.workers[1:] {
		w.waitReady(t, 60*time.Second)
	}
	t.Cleanup(func() {
		for _, w := range p.workers {
			w.term(30 * time.Second)
		}
	})

	if err := p.portal.Install(ctx, p.intake.url+"/bitrix24/install"); err != nil {
		t.Fatal(err)
	}
	p.addSigner(ctx)

	p.nc, err = nats.Connect(p.nats.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.nc.Close)
	if p.js, err = jetstream.New(p.nc); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *pipeline) addWorker() *proc {
	port := freePort(p.t)
	w := &proc{name: fmt.Sprintf("worker-%d", len(p.workers)+1),
		args: append([]string{"worker", "--listen", fmt.Sprintf("127.0.0.1:%d", port)}, p.common...),
		env:  p.o.StorageEnv, url: fmt.Sprintf("http://127.0.0.1:%d", port),
		log: filepath.Join(p.dir, fmt.Sprintf("worker-%d.log", len(p.workers)+1))}
	p.workers = append(p.workers, w)
	return w
}

// addSigner registers the admin user as signer through the admin API, with OTP off and the demo
// credential mapped.
func (p *pipeline) addSigner(ctx context.Context) {
	p.t.Helper()
	tokHex, err := os.ReadFile(filepath.Join(p.dir, "admin.token"))
	if err != nil {
		p.t.Fatal(err)
	}
	user := map[string]any{
		"login": "signer", "description": "fault-test signer", "otp_disabled": true,
		"bitrix_ids":  map[string]int{p.portal.MemberID(): emulator.AdminUserID},
		"credentials": []string{p.cred, missingCred}, "default_credential": p.cred,
	}
	status, answer := p.adminPost(ctx, tokHex, user)
	if status == http.StatusBadRequest && strings.Contains(answer, "unknown field") {
		// A build without credential mapping.
		delete(user, "credentials")
		delete(user, "default_credential")
		status, answer = p.adminPost(ctx, tokHex, user)
	}
	if status/100 != 2 {
		p.t.Fatalf("adding the signer: HTTP %d: %s", status, answer)
	}
}

func (p *pipeline) adminPost(ctx context.Context, token []byte, v any) (int, string) {
	p.t.Helper()
	body, _ := json.Marshal(v)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.intake.url+"/v1/admin/users", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// send makes n robot calls (4 at a time, like Bitrix24's queue server) and records their tokens.
// A call the intake could not queue (503 while NATS is away) or whose answer was lost is repeated
// with its own event_token, as Bitrix24 repeats it.
func (p *pipeline) send(ctx context.Context, n int) []robotCall {
	return p.sendWith(ctx, n, p.pdf, p.cred)
}

// sendWith is send with another document and credential.
func (p *pipeline) sendWith(ctx context.Context, n int, pdf []byte, cred string) []robotCall {
	p.t.Helper()
	calls := make([]robotCall, n)
	for i := range calls {
		deal := 1000 + int(p.nextID.Add(1))
		disk, _ := p.portal.AddDealFile(deal, fmt.Sprintf("invoice-%d.pdf", deal), pdf)
		calls[i] = robotCall{deal: deal, disk: disk}
	}
	for _, err := range fourAtATime(n, func(i int) error {
		c := &calls[i]
		props := map[string]any{
			producer.PropDocument: strconv.Itoa(c.disk), producer.PropSigner: "user_" + strconv.Itoa(emulator.AdminUserID),
			producer.PropCredential: cred, producer.PropPage: "last", producer.PropReason: "fault test",
		}
		if p.pace != nil {
			<-p.pace
		}
		// One robot execution, one event_token: a call whose answer was a 503 or was lost is sent
		// again as it was, as Bitrix24's queue server re-sends it (docs/bitrix24.md, "Repeated robot
		// calls"). A new token would be a new execution of the robot, which must sign again: retrying
		// with one made a lost answer look like a double signature.
		tok, deliver := p.portal.NewRobotCall("signet_sign_pdf", c.deal, props)
		c.token, c.jobID = tok, producer.RobotJobID(p.portal.MemberID(), tok)
		for attempt := 0; ; attempt++ {
			c.sentAt = time.Now()
			status, err := deliver(ctx, p.intake.url+"/bitrix24/robot")
			if err == nil && status == http.StatusOK {
				return nil
			}
			if attempt >= 60 || ctx.Err() != nil {
				return fmt.Errorf("robot call for deal %d: status %d: %v", c.deal, status, err)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}) {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.calls = append(p.calls, calls...)
	p.mu.Unlock()
	return calls
}

// fourAtATime runs f for 0..n-1, four at a time like Bitrix24's queue server, each worker stopping at
// its first error; it returns the errors.
func fourAtATime(n int, f func(i int) error) []error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	var out []error
	for err := range errs {
		out = append(out, err)
	}
	return out
}

// completed counts the robots that got an accepted bizproc.event.send.
func (p *pipeline) completed() int {
	sent := p.portal.EventsSent()
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.calls {
		if len(sent[c.token]) > 0 {
			n++
		}
	}
	return n
}

// waitProgress returns once at least frac of the calls completed (or fails the test after limit).
func (p *pipeline) waitProgress(frac float64, limit time.Duration) {
	p.t.Helper()
	p.mu.Lock()
	want := int(frac * float64(len(p.calls)))
	p.mu.Unlock()
	deadline := time.Now().Add(limit)
	last, lastAt := -1, time.Now()
	for p.completed() < want {
		// No progress for 90 s is a stall, whatever the limit: fail now and say where things are.
		if n := p.completed(); n != last {
			last, lastAt = n, time.Now()
		} else if time.Since(lastAt) > 90*time.Second {
			deadline = time.Now()
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("only %d of %d robots completed within %s\n%s%s", p.completed(), want, limit, p.diagnose(), p.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// diagnose describes the jobs whose robots have not completed, and the streams and consumers.
func (p *pipeline) diagnose() string {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var b strings.Builder
	if p.js == nil {
		return ""
	}
	sent := p.portal.EventsSent()
	kv, _ := p.js.KeyValue(ctx, contracts.BucketJobs)
	p.mu.Lock()
	calls := append([]robotCall(nil), p.calls...)
	p.mu.Unlock()
	shown := 0
	for _, c := range calls {
		if len(sent[c.token]) > 0 || shown >= 10 {
			continue
		}
		shown++
		fmt.Fprintf(&b, "not completed: job %s deal %d disk %d", c.jobID, c.deal, c.disk)
		if kv != nil {
			if e, err := kv.Get(ctx, "res."+c.jobID); err == nil {
				fmt.Fprintf(&b, " result rev %d", e.Revision())
			} else {
				fmt.Fprintf(&b, " no result (%v)", err)
			}
			if e, err := kv.Get(ctx, "cb."+c.jobID); err == nil {
				fmt.Fprintf(&b, " steps %s", e.Value())
			}
		}
		fmt.Fprintf(&b, " versions %d\n", len(p.portal.FileVersions(c.disk)))
	}
	for _, s := range []string{contracts.StreamSign, contracts.StreamCallback, contracts.StreamDead} {
		st, err := p.js.Stream(ctx, s)
		if err != nil {
			fmt.Fprintf(&b, "stream %s: %v\n", s, err)
			continue
		}
		info, err := st.Info(ctx)
		if err != nil {
			fmt.Fprintf(&b, "stream %s: %v\n", s, err)
			continue
		}
		fmt.Fprintf(&b, "stream %s: msgs %d first %d last %d deleted %d cluster %+v\n", s, info.State.Msgs, info.State.FirstSeq, info.State.LastSeq, info.State.NumDeleted, info.Cluster)
		for names := st.ConsumerNames(ctx); ; {
			name, ok := <-names.Name()
			if !ok {
				break
			}
			c, err := st.Consumer(ctx, name)
			if err != nil {
				continue
			}
			ci := c.CachedInfo()
			fmt.Fprintf(&b, "  consumer %s: pending %d ack_pending %d redelivered %d waiting %d delivered %+v ack_floor %+v cluster %+v\n",
				name, ci.NumPending, ci.NumAckPending, ci.NumRedelivered, ci.NumWaiting, ci.Delivered, ci.AckFloor, ci.Cluster)
		}
		if info.State.Msgs > 0 && info.State.Msgs < 20 {
			for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
				m, err := st.GetMsg(ctx, seq)
				if err != nil {
					continue
				}
				fmt.Fprintf(&b, "  msg %d %s id=%s job=%s\n", seq, m.Subject, m.Header.Get(contracts.HeaderMsgID), queueJobID(m.Data))
			}
		}
	}
	return b.String()
}

func queueJobID(data []byte) string {
	var v struct {
		ID    string `json:"id"`
		JobID string `json:"job_id"`
	}
	_ = json.Unmarshal(data, &v)
	return v.ID + v.JobID
}

func (p *pipeline) logs() string {
	var b strings.Builder
	for _, pr := range append([]*proc{p.intake}, p.workers...) {
		fmt.Fprintf(&b, "\n--- %s log (tail) ---\n%s", pr.name, pr.tail())
	}
	return b.String()
}

// verify waits for every robot to complete, then counts: per job exactly one stored result, exactly
// one accepted (not duplicate) bizproc.event.send with signed=Y, and one signed version of the Disk file
// whose SHA-256 is the stored result's (a job signed twice would show two different versions). The
// queues end empty and nothing is dead.
func (p *pipeline) verify(limit time.Duration) { p.verifyOutcome(limit, nil) }

// verifyOutcome is verify where the jobs of the event tokens in failed must fail for good instead:
// exactly one accepted bizproc.event.send with signed=N, no stored result, one letter in DEAD.
func (p *pipeline) verifyOutcome(limit time.Duration, failed map[string]bool) {
	t := p.t
	t.Helper()
	p.waitProgress(1, limit)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Let late duplicates (a retried send whose first answer was lost) show up before counting.
	time.Sleep(500 * time.Millisecond)

	accepted := map[string]int{}
	for _, c := range p.portal.Calls() {
		if c.Method == "bizproc.event.send" && c.ErrorCode == "" && !c.Duplicate {
			tok, _ := c.Params["EVENT_TOKEN"].(string)
			accepted[tok]++
		}
	}
	kv, err := p.js.KeyValue(ctx, contracts.BucketJobs)
	if err != nil {
		t.Fatal(err)
	}
	sent := p.portal.EventsSent()
	var bad []string
	complain := func(format string, a ...any) {
		if len(bad) < 20 {
			bad = append(bad, fmt.Sprintf(format, a...))
		}
	}
	results := 0
	for _, c := range p.calls {
		if accepted[c.token] != 1 {
			complain("job %s (deal %d): %d accepted bizproc.event.send, want exactly 1", c.jobID, c.deal, accepted[c.token])
		}
		if failed[c.token] {
			if rv := sent[c.token]; len(rv) > 0 && (rv[0]["signed"] != "N" || rv[0]["errorText"] == "") {
				complain("job %s should have failed: robot completed with signed=%v errorText=%v", c.jobID, rv[0]["signed"], rv[0]["errorText"])
			}
			if _, err := kv.Get(ctx, "res."+c.jobID); err == nil {
				complain("job %s should have failed but has a stored result", c.jobID)
			}
			continue
		}
		if rv := sent[c.token]; len(rv) > 0 && rv[0]["signed"] != "Y" {
			complain("job %s: robot completed with signed=%v: %v", c.jobID, rv[0]["signed"], rv[0]["errorText"])
		}
		e, err := kv.Get(ctx, "res."+c.jobID)
		if err != nil {
			complain("job %s: no stored result: %v", c.jobID, err)
			continue
		}
		results++
		if e.Revision() == 0 {
			complain("job %s: result without a revision", c.jobID)
		}
		var res contracts.Signed
		if err := json.Unmarshal(e.Value(), &res); err != nil {
			complain("job %s: result unreadable: %v", c.jobID, err)
			continue
		}
		// Exactly one timeline comment on the deal names the job, even when an answer was lost.
		mine := 0
		for _, cm := range p.portal.TimelineComments(c.deal) {
			if strings.Contains(cm.Comment, "Signet job "+c.jobID+",") {
				mine++
			}
		}
		if mine != 1 {
			complain("job %s: %d timeline comments on deal %d name it, want exactly 1", c.jobID, mine, c.deal)
			for _, pr := range append([]*proc{p.intake}, p.workers...) {
				b, _ := os.ReadFile(pr.log)
				for _, line := range strings.Split(string(b), "\n") {
					if strings.Contains(line, c.jobID) {
						t.Logf("%s log: %.300s", pr.name, line)
					}
				}
			}
		}
		versions := p.portal.FileVersions(c.disk)
		if len(versions) < 2 {
			complain("job %s: Disk file %d has no signed version", c.jobID, c.disk)
			continue
		}
		if len(versions) > 2 {
			complain("job %s: Disk file %d has %d signed versions, want 1 (an upload repeated after a lost answer?)", c.jobID, c.disk, len(versions)-1)
		}
		for _, v := range versions[1:] {
			sum := sha256.Sum256(v)
			if hex.EncodeToString(sum[:]) != res.SHA256After {
				complain("job %s: Disk file %d got a version that is not the stored result (signed twice?)", c.jobID, c.disk)
			}
		}
	}
	if results != len(p.calls)-len(failed) {
		complain("%d stored results for %d jobs, %d of which must fail", results, len(p.calls), len(failed))
	}
	if len(bad) > 0 {
		t.Errorf("%d jobs; problems:\n  %s", len(p.calls), strings.Join(bad, "\n  "))
	}
	// Settled: the work queues drain (the last acks follow the last callbacks by a moment).
	deadline := time.Now().Add(30 * time.Second)
	for {
		pending := map[string]uint64{}
		for _, s := range []string{contracts.StreamSign, contracts.StreamCallback, contracts.StreamDead} {
			st, err := p.js.Stream(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			info, err := st.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := uint64(0)
			if s == contracts.StreamDead {
				want = uint64(len(failed))
			}
			if info.State.Msgs != want {
				pending[s] = info.State.Msgs
			}
		}
		if len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("messages in the streams after every robot completed: %v (DEAD should hold %d)", pending, len(failed))
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%d jobs: %d stored results, %d accepted bizproc.event.send, %d duplicate sends absorbed by the portal",
		len(p.calls), results, len(accepted), p.duplicateSends())
}

func (p *pipeline) duplicateSends() int {
	n := 0
	for _, c := range p.portal.Calls() {
		if c.Method == "bizproc.event.send" && c.Duplicate {
			n++
		}
	}
	return n
}

// tokenDir is the SoftHSM token directory of the demo token the workers share.
func (p *pipeline) tokenDir() string {
	p.t.Helper()
	ents, err := os.ReadDir(filepath.Join(p.dir, "softhsm", "tokens"))
	if err != nil || len(ents) != 1 {
		p.t.Fatalf("expected one SoftHSM token under %s: %v (%d entries)", filepath.Join(p.dir, "softhsm", "tokens"), err, len(ents))
	}
	return filepath.Join(p.dir, "softhsm", "tokens", ents[0].Name())
}

var errTimeout = errors.New("timeout")

// missingCred is mapped to the signer but has no key on the token: the worker fails such a job for good.
const missingCred = "pkcs11:token=signet-demo;object=nobody"

// run runs the signet binary to completion (a CLI command such as dlq) and returns its stdout.
func run(t testing.TB, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(signetBin, args...)
	// The tests read the CLI's English (it follows LC_ALL/LC_MESSAGES/LANG, docs/i18n.md).
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// eventually polls cond every 20 ms until it holds or limit passes.
func eventually(limit time.Duration, cond func() bool) error {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return errTimeout
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}
