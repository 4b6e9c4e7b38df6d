// Command e2e measures Signet end to end: it starts `signet serve` (embedded NATS, local storage,
// the SoftHSM demo token) as a child process, installs it on an emulated Bitrix24 portal, sends N
// robot calls over HTTP exactly as Bitrix24 does, and times each until the portal receives its
// bizproc.event.send. Beside it, it measures the raw C_Sign rate of the same token and key in the
// same run, then the latency of interactive calls sent at half the measured throughput.
//
//	go tool task bench N=1000
//	docs=1000 docs_per_s=… p50_ms=… p99_ms=… peak_rss_mb=… raw_csign_per_s=… ratio=… signet_cpu_ms_per_doc=… jetstream_requests_per_job=…
//	interactive docs=… per_s=… p50_ms=… p99_ms=…
//
// It prints figures; it never fails on a timing.
package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/keyring"
	"github.com/signet-b24/signet/keyring/softhsm"
	"github.com/signet-b24/signet/producer"
)

//go:embed invoice.pdf
var invoice []byte

const credential = "pkcs11:token=signet-demo;object=demo-signer"

func main() {
	n := flag.Int("n", 1000, "documents in the throughput run")
	signet := flag.String("signet", "bin/signet", "the signet binary to run")
	senders := flag.Int("senders", 8, "concurrent robot calls (Bitrix24's queue sends several at once)")
	interactiveSecs := flag.Duration("interactive", 10*time.Second, "length of the half-load interactive run (0: skip)")
	rawSecs := flag.Duration("raw", 3*time.Second, "length of the raw C_Sign measurement")
	keep := flag.Bool("keep", false, "keep the data directory and print its path (for figures on a disk: deleting it slows the file creations of the next run, see bench/RESULTS.md)")
	extra := flag.String("args", "", "extra flags for `signet serve`, space-separated (e.g. \"--worker-interactive 4\")")
	cpuProfile := flag.String("cpuprofile", "", "write this process's CPU profile (the emulated portal and the robot calls) to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(*n, *signet, *senders, *interactiveSecs, *rawSecs, *keep, strings.Fields(*extra)); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(n int, signet string, senders int, interactive, rawDur time.Duration, keep bool, extra []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	dataDir, err := os.MkdirTemp("", "signet-bench-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Fprintln(os.Stderr, "data directory:", dataDir)
	} else {
		defer os.RemoveAll(dataDir)
	}
	portal := emulator.New(emulator.Config{Log: zap.NewNop()})
	base, err := portal.Start()
	if err != nil {
		return err
	}
	defer portal.Close()
	secretFile := filepath.Join(dataDir, "bitrix24.client_secret")
	if err := os.WriteFile(secretFile, []byte(portal.ClientSecret()), 0o600); err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	metricsAddr, err := freeAddr()
	if err != nil {
		return err
	}
	natsMonitor, err := freePort()
	if err != nil {
		return err
	}
	common := []string{"--data-dir", dataDir}
	args := append([]string{"serve", "--listen", addr, "--metrics-listen", metricsAddr, "--log-level", "warn",
		"--bitrix24-portals", base, "--bitrix24-allow-private",
		"--bitrix24-client-id", portal.ClientID(), "--bitrix24-client-secret-file", secretFile,
		"--bitrix24-oauth-url", portal.OAuthURL(), "--bitrix24-rate-per-sec", "1000", "--bitrix24-burst", "1000",
		// The embedded NATS server's monitoring port: /varz counts every message the Signet process
		// sent it (jetstreamRequests). Read twice per run, it adds nothing to the cost it measures.
		"--nats-monitor-port", strconv.Itoa(natsMonitor)}, common...)
	args = append(args, extra...)
	cmd := exec.CommandContext(ctx, signet, args...)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w (build it with `go build -o bin/signet ./cmd/signet`)", signet, err)
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	url := "http://" + addr
	if err := waitReady(ctx, url+"/readyz", time.Minute); err != nil {
		return err
	}
	if err := portal.Install(ctx, url+"/bitrix24/install"); err != nil {
		return err
	}
	add := exec.CommandContext(ctx, signet, append([]string{"admin", "user", "add", "bench", "--otp-disabled",
		"--bitrix", fmt.Sprintf("%s:%d", portal.MemberID(), emulator.AdminUserID), "--credential", credential}, common...)...)
	if out, err := add.CombinedOutput(); err != nil {
		return fmt.Errorf("adding the bench user: %v\n%s", err, out)
	}

	raw, err := rawCSign(ctx, dataDir, rawDur)
	if err != nil {
		return fmt.Errorf("raw C_Sign: %w", err)
	}

	// Throughput: N calls as fast as the senders go.
	varz := fmt.Sprintf("http://127.0.0.1:%d", natsMonitor)
	js0, jsErr := jetstreamRequests(varz)
	cpu0, self0 := procCPU(cmd.Process.Pid), selfCPU()
	lat, elapsed, err := load(ctx, portal, url, n, senders, 0)
	if err != nil {
		return err
	}
	cpu1 := procCPU(cmd.Process.Pid)
	js1, err := jetstreamRequests(varz)
	jsErr = errors.Join(jsErr, err)
	jsPerJob := -1.0 // printed as -1 when the monitoring port could not be read
	if jsErr == nil {
		jsPerJob = js1.sub(js0).perJob(n)
		api := float64(js1.api-js0.api) / float64(n)
		fmt.Fprintf(os.Stderr, "nats messages per job: %.2f, of which $JS.API requests %.2f and publishes, KV writes and direct gets, acks and pulls %.2f\n",
			jsPerJob, api, jsPerJob-api)
	} else {
		fmt.Fprintln(os.Stderr, "jetstream requests not counted:", jsErr)
	}
	rate := float64(n) / elapsed.Seconds()
	// CPU per document: the signet process (intake, NATS, workers), and this process (the emulated
	// portal and the robot calls). On 2 cores, 2000 ms / (their sum) bounds the rate; with the portal
	// on another machine, as in production, all the cores would be Signet's.
	signetMs := float64(cpu1-cpu0) / float64(time.Millisecond) / float64(n)
	fmt.Fprintf(os.Stderr, "cpu per document: signet=%.1fms emulator+client=%.1fms\n",
		signetMs, float64(selfCPU()-self0)/float64(time.Millisecond)/float64(n))
	if signetMs > 0 {
		bound := float64(runtime.NumCPU()) * 1000 / signetMs
		fmt.Fprintf(os.Stderr, "bound by Signet's CPU alone (%d cores, portal elsewhere): %.0f docs/s, %.2f × raw C_Sign\n",
			runtime.NumCPU(), bound, bound/raw)
	}
	if st := stages("http://" + metricsAddr + "/metrics"); st != "" {
		fmt.Fprintln(os.Stderr, "mean per stage:", st)
	}
	fmt.Printf("docs=%d docs_per_s=%.1f p50_ms=%.0f p99_ms=%.0f peak_rss_mb=%.0f raw_csign_per_s=%.1f ratio=%.2f signet_cpu_ms_per_doc=%.2f jetstream_requests_per_job=%.1f\n",
		n, rate, pct(lat, 50), pct(lat, 99), peakRSS(cmd.Process.Pid), raw, rate/raw, signetMs, jsPerJob)

	// Interactive latency at half that load.
	if interactive > 0 {
		half := rate / 2
		m := max(int(half*interactive.Seconds()), 1)
		lat, _, err := load(ctx, portal, url, m, senders, time.Duration(float64(time.Second)/half))
		if err != nil {
			return err
		}
		fmt.Printf("interactive docs=%d per_s=%.1f p50_ms=%.0f p99_ms=%.0f peak_rss_mb=%.0f\n", m, half, pct(lat, 50), pct(lat, 99), peakRSS(cmd.Process.Pid))
	}
	return nil
}

var deal atomic.Int64

// call is one robot call of the load: its deal and Disk file, when it was sent, and the event token
// the portal gave it.
type call struct {
	disk, deal int
	sent       time.Time
	token      string
}

// load sends n robot calls (spaced by every when > 0, else back to back from the senders) and
// returns each call's latency until its bizproc.event.send reached the portal, and the wall time.
func load(ctx context.Context, portal *emulator.Portal, url string, n, senders int, every time.Duration) ([]time.Duration, time.Duration, error) {
	calls := make([]call, n)
	for i := range calls {
		d := int(deal.Add(1)) + 1000
		disk, _ := portal.AddDealFile(d, fmt.Sprintf("invoice-%d.pdf", d), invoice)
		calls[i] = call{disk: disk, deal: d}
	}
	var mu sync.Mutex
	var sendErr error
	finished := map[string]completion{}
	progress := make(chan struct{}, 1)
	portal.OnEventSent(func(token string, rv map[string]any) {
		mu.Lock()
		finished[token] = completion{at: time.Now(), signed: rv["signed"] == "Y", errorText: fmt.Sprint(rv["errorText"])}
		mu.Unlock()
		select {
		case progress <- struct{}{}:
		default:
		}
	})
	defer portal.OnEventSent(nil)
	var next atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if every > 0 {
					if d := time.Until(start.Add(time.Duration(i) * every)); d > 0 {
						time.Sleep(d)
					}
				}
				c := &calls[i]
				sent := time.Now()
				tok, status, err := portal.RobotCall(ctx, url+"/bitrix24/robot", "signet_sign_pdf", c.deal, map[string]any{
					producer.PropDocument: strconv.Itoa(c.disk), producer.PropSigner: "user_" + strconv.Itoa(emulator.AdminUserID),
					producer.PropCredential: credential, producer.PropVisible: "Y", producer.PropPage: "last",
					producer.PropPosition: "bottom-right", producer.PropReason: "bench",
				})
				if err == nil && status != http.StatusOK {
					err = fmt.Errorf("robot call: HTTP %d", status)
				}
				mu.Lock()
				c.sent, c.token = sent, tok
				if err != nil {
					sendErr = errors.Join(sendErr, err)
				}
				mu.Unlock()
				if err != nil { // no event.send will come for this call: look now
					select {
					case progress <- struct{}{}:
					default:
					}
				}
			}
		})
	}
	// A call is done when its bizproc.event.send reaches the portal: the emulator reports each one as
	// it accepts it, so the completion time is exact and nothing polls.
	wait := time.NewTimer(20 * time.Minute)
	defer wait.Stop()
	for left := n; left > 0; {
		select {
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-wait.C:
			return nil, 0, fmt.Errorf("%d of %d calls not completed after 20 minutes", left, n)
		case <-progress:
		}
		mu.Lock()
		done, err := matched(calls[n-left:], finished)
		left, err = left-done, errors.Join(sendErr, err)
		mu.Unlock()
		if err != nil {
			return nil, 0, err
		}
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	lat := make([]time.Duration, n)
	last := start
	for i := range calls {
		done := finished[calls[i].token].at
		lat[i] = done.Sub(calls[i].sent)
		if done.After(last) {
			last = done
		}
	}
	return lat, last.Sub(start), nil
}

// completion is when a robot call's bizproc.event.send reached the portal, and what it said.
type completion struct {
	at        time.Time
	signed    bool
	errorText string
}

// matched counts the calls at the head of calls that were answered and completed, up to the first
// that is not (calls are sent and mostly finish in order, so each pass looks at few); a completion
// that is not "signed" fails the run.
func matched(calls []call, finished map[string]completion) (n int, err error) {
	for i := range calls {
		c, ok := finished[calls[i].token]
		if !ok || calls[i].token == "" {
			return n, nil
		}
		if !c.signed {
			return n, fmt.Errorf("deal %d not signed: %s", calls[i].deal, c.errorText)
		}
		n++
	}
	return n, nil
}

// rawCSign signs SHA-256 digests with the demo key on the same SoftHSM token, from as many
// goroutines as the server's sign workers (8 interactive + 4 batch by default), for d.
func rawCSign(ctx context.Context, dataDir string, d time.Duration) (float64, error) {
	dir := filepath.Join(dataDir, "softhsm")
	pin, err := os.ReadFile(filepath.Join(dir, "user.pin"))
	if err != nil {
		return 0, err
	}
	so, err := os.ReadFile(filepath.Join(dir, "so.pin"))
	if err != nil {
		return 0, err
	}
	module, err := softhsm.Init(dir, "signet-demo", strings.TrimSpace(string(so)), strings.TrimSpace(string(pin)))
	if err != nil {
		return 0, err
	}
	k, err := keyring.Open(ctx, []keyring.TokenConfig{{Name: "signet-demo", Module: module, Label: "signet-demo",
		PinFile: filepath.Join(dir, "user.pin")}}, zap.NewNop())
	if err != nil {
		return 0, err
	}
	defer k.Close()
	cred, err := k.Credential(ctx, credential)
	if err != nil {
		return 0, err
	}
	digest := sha256.Sum256([]byte("signet bench"))
	var count atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	var firstErr atomic.Value
	start := time.Now()
	for range 12 {
		wg.Go(func() {
			for time.Now().Before(stop) {
				if _, err := cred.Key.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				count.Add(1)
			}
		})
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, err
	}
	return float64(count.Load()) / time.Since(start).Seconds(), nil
}

func pct(lat []time.Duration, p int) float64 {
	s := slices.Clone(lat)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	i := min(len(s)-1, (len(s)*p+99)/100-1)
	return float64(s[max(i, 0)]) / float64(time.Millisecond)
}

// peakRSS is the child's high-water resident set (VmHWM) in MB.
func peakRSS(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func waitReady(ctx context.Context, url string, bound time.Duration) error {
	deadline := time.Now().Add(bound)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("signet serve not ready at %s after %s: %v", url, bound, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	a, err := freeAddr()
	if err != nil {
		return 0, err
	}
	_, p, _ := net.SplitHostPort(a)
	return strconv.Atoi(p)
}

// natsCounts are the embedded server's counters: every message its clients sent (in_msgs: publishes
// to streams and KV buckets, $JS.API requests, direct gets, acks, pull requests), and of those the
// $JS.API requests. The Signet process is the server's only client during the run, so the difference
// over the run divided by the documents is the NATS requests each job cost.
type natsCounts struct{ in, api int64 }

func (c natsCounts) sub(o natsCounts) natsCounts { return natsCounts{c.in - o.in, c.api - o.api} }

func (c natsCounts) perJob(n int) float64 { return float64(c.in) / float64(n) }

func jetstreamRequests(base string) (natsCounts, error) {
	var varz struct {
		InMsgs int64 `json:"in_msgs"`
	}
	var jsz struct {
		API struct {
			Total int64 `json:"total"`
		} `json:"api"`
	}
	if err := getJSON(base+"/varz", &varz); err != nil {
		return natsCounts{}, err
	}
	if err := getJSON(base+"/jsz", &jsz); err != nil {
		return natsCounts{}, err
	}
	return natsCounts{in: varz.InMsgs, api: jsz.API.Total}, nil
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d", url, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

var stageLine = regexp.MustCompile(`^signet_stage_seconds_(sum|count)\{stage="([a-z_]+)"\} (\S+)$`)

// stages reads the server's stage histograms: the mean time of each stage so far, to see where a
// job's time goes.
func stages(url string) string {
	resp, err := http.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	sum, count := map[string]float64{}, map[string]float64{}
	var names []string
	for _, l := range strings.Split(string(b), "\n") {
		m := stageLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		v, _ := strconv.ParseFloat(m[3], 64)
		if m[1] == "sum" {
			sum[m[2]] = v
			names = append(names, m[2])
		} else {
			count[m[2]] = v
		}
	}
	var out []string
	for _, n := range names {
		if count[n] > 0 {
			out = append(out, fmt.Sprintf("%s=%.1fms", n, 1000*sum[n]/count[n]))
		}
	}
	return strings.Join(out, " ")
}

// procCPU is a process's user+system CPU time from /proc/<pid>/stat (clock ticks of 10 ms).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
