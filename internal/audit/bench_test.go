package audit

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-b24/signet/contracts"
)

// BenchmarkAppendThreeProcesses: three worker processes (each its own NATS connection and Writer,
// four goroutines each, as a worker's signing pool) append to a real embedded JetStream at once.
// "shared" is the one chain of before issue 22 (every append expects the stream's last sequence),
// "per-writer" a chain per writer tied by checkpoints. Reported: appends/s over all three,
// retries/op (appends that lost the race for the head) and ckpt_retries/op. Figures in
// bench/RESULTS.md (go test -run '^$' -bench AppendThreeProcesses -benchtime 3000x ./internal/audit/).
func BenchmarkAppendThreeProcesses(b *testing.B) {
	for _, mode := range []struct {
		name   string
		shared bool
	}{{"shared", true}, {"per-writer", false}} {
		b.Run(mode.name, func(b *testing.B) {
			s := startAudit(b)
			ctx := context.Background()
			key := serviceKey(b)
			var writers []*Writer
			for range 3 {
				writers = append(writers, process(b, s, key, Options{SharedChain: mode.shared, CheckpointEvery: 100, CheckpointInterval: time.Minute, MaxAttempts: 1000}))
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, 12)
			b.ResetTimer()
			start := time.Now()
			for _, w := range writers {
				for range 4 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							i := next.Add(1)
							if i > int64(b.N) {
								return
							}
							if err := w.Record(ctx, event(int(i))); err != nil {
								errs <- err
								return
							}
						}
					}()
				}
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			var retries, ckptRetries uint64
			for _, w := range writers {
				st := w.Stats()
				retries += st.Retries
				ckptRetries += st.CheckpointRetries
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "appends/s")
			b.ReportMetric(float64(retries)/float64(b.N), "retries/op")
			b.ReportMetric(float64(ckptRetries)/float64(b.N), "ckpt_retries/op")
			rep, err := Verify(ctx, s.JS, contracts.StreamAudit, VerifyOptions{})
			if err != nil || !rep.OK() {
				b.Fatalf("the trail does not verify: %v %+v", err, rep)
			}
		})
	}
}
