package faults

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/signet-b24/signet/storage/miniotest"
)

// TestSoak pushes SIGNET_SOAK_DOCS (default 10,000) robot calls through the whole pipeline (robot call
// → intake → NATS → two worker processes → MinIO → callbacks to the emulated portal) and reports
// throughput, end-to-end latency percentiles (robot call to accepted bizproc.event.send) and the peak
// memory of every process; the figures go to bench/RESULTS.md. SIGNET_SOAK_RATE (calls per second)
// paces the calls; 0, the default, sends them as fast as the intake takes them. Only with SIGNET_SOAK=1.
func TestSoak(t *testing.T) {
	if !soak() {
		t.Skip("the soak runs only with SIGNET_SOAK=1 (it takes several minutes); see bench/RESULTS.md")
	}
	n := envInt("SIGNET_SOAK_DOCS", 10000)
	rate := envInt("SIGNET_SOAK_RATE", 0)
	m := miniotest.Start(t)
	p := newPipeline(t, options{Workers: 2, Batch: 4, AckWait: 30 * time.Second, MaxDeliver: 10, StorageURL: m.URL("signet", "soak"),
		StorageEnv: []string{"SIGNET_S3_ACCESS_KEY=" + m.AccessKey, "SIGNET_S3_SECRET_KEY=" + m.SecretKey}})
	if rate > 0 {
		tk := time.NewTicker(time.Second / time.Duration(rate))
		defer tk.Stop()
		p.pace = tk.C
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.send(ctx, n)
	}()
	// send() records the calls when all are made; meanwhile just wait.
	<-done
	sentIn := time.Since(start)
	p.verify(50 * time.Minute)
	elapsed := time.Since(start)

	lat, last := latencies(p)
	pct := func(q float64) time.Duration { return pctOf(lat, q) }
	var mem []string
	for _, pr := range append([]*proc{p.intake}, p.workers...) {
		mem = append(mem, fmt.Sprintf("%s %s", pr.name, peakRSS(pr)))
	}
	mem = append(mem, fmt.Sprintf("test process (nats-server + emulator) %s", selfPeakRSS()))
	mem = append(mem, fmt.Sprintf("minio %s", cmdlinePeakRSS(m.Endpoint)))
	report := fmt.Sprintf("docs=%d rate=%s sent_in=%s elapsed=%s throughput=%.1f docs/s latency p50=%s p90=%s p99=%s max=%s duplicates_absorbed=%d\npeak RSS: %s",
		n, rateString(rate), sentIn.Round(time.Second), elapsed.Round(time.Second), float64(n)/last.Sub(start).Seconds(),
		pct(0.5), pct(0.9), pct(0.99), lat[len(lat)-1].Round(time.Millisecond), p.duplicateSends(), strings.Join(mem, "; "))
	t.Log(report)
	if out := os.Getenv("SIGNET_SOAK_OUT"); out != "" {
		_ = os.WriteFile(out, []byte(report+"\n"), 0o644)
	}
}

// soak reports whether the long run is asked for (SIGNET_SOAK=1).
func soak() bool { return os.Getenv("SIGNET_SOAK") == "1" }

func rateString(r int) string {
	if r == 0 {
		return "burst"
	}
	return strconv.Itoa(r) + "/s"
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// peakRSS reads VmHWM (peak resident set) of a running process from /proc.
func peakRSS(p *proc) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return "n/a"
	}
	return vmHWM(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
}

// cmdlinePeakRSS is the VmHWM of the process whose command line contains s (MinIO, by its address).
func cmdlinePeakRSS(s string) string {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.Contains(string(b), s) {
			return vmHWM("/proc/" + e.Name() + "/status")
		}
	}
	return "n/a"
}

func selfPeakRSS() string { return vmHWM("/proc/self/status") }

func vmHWM(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "n/a"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.Atoi(f[1])
				return fmt.Sprintf("%d MiB", kb/1024)
			}
		}
	}
	return "n/a"
}
