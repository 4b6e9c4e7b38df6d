package archive

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nuid"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/worker"
)

// leaseName is the archive job's lease in the jobs bucket (key lease.=archive): "=" never appears in
// a job id, so it cannot be taken for one.
const leaseName = "=archive"

// leaseStale is how long a silent runner keeps the lease: after it (the process died mid-run) the
// next scheduled run elsewhere takes over and, the job being idempotent, finishes what was left.
const leaseStale = 2 * time.Minute

// Scheduler runs the job every Every, one runner at a time across every worker process: a run
// takes the lease (worker.Results.Claim, compare-and-set in NATS KV) and keeps it fresh; a process
// that finds it held skips its turn.
type Scheduler struct {
	Job    *Job
	Leases *worker.Results
	Every  time.Duration // archive.schedule; 0: never
	Log    *zap.Logger
}

// ErrBusy: another process is running the archive job now.
var ErrBusy = errors.New("another Signet process is renewing the archive right now")

// Loop runs the job every Every until ctx ends; the first run is one interval after the start, so
// that restarts do not rescan the archive each time.
func (s *Scheduler) Loop(ctx context.Context) {
	if s.Every <= 0 {
		return
	}
	t := time.NewTicker(s.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			sum, err := s.Once(ctx)
			switch {
			case errors.Is(err, ErrBusy):
				s.log().Info("archive renewal skipped: another process runs it")
			case err != nil:
				s.log().Warn("archive renewal", zap.Error(err), zap.Int("renewed", sum.Renewed), zap.Int("failed", sum.Failed))
			default:
				s.log().Info("archive renewal done", zap.Int("documents", sum.Documents), zap.Int("renewed", sum.Renewed), zap.Int("recorded", sum.Recorded))
			}
		}
	}
}

func (s *Scheduler) log() *zap.Logger {
	if s.Log != nil {
		return s.Log
	}
	return zap.NewNop()
}

// Once runs the job now under the lease; ErrBusy when another process holds it.
func (s *Scheduler) Once(ctx context.Context) (Summary, error) {
	holder := fmt.Sprintf("archive pid %d %s", os.Getpid(), nuid.Next())
	lease, err := s.Leases.Claim(ctx, leaseName, holder, leaseStale)
	if errors.Is(err, worker.ErrBusy) {
		return Summary{}, ErrBusy
	}
	if err != nil {
		return Summary{}, err
	}
	ctx, lost := context.WithCancel(ctx)
	defer lost()
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(leaseStale / 4)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if err := lease.Refresh(ctx); errors.Is(err, worker.ErrBusy) {
					s.log().Warn("another process took the archive lease over while NATS was out of reach; stopping here")
					lost()
					return
				}
			}
		}
	}()
	sum, err := s.Job.Run(ctx)
	close(done)
	lease.Release(context.WithoutCancel(ctx))
	return sum, err
}
