package worker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"go.uber.org/zap"
)

// Lease is one worker's claim on signing a job. JetStream alone cannot rule out two workers signing
// the same job at once: when NATS restarts, or a worker cannot reach it for longer than AckWait, the
// job is redelivered while its first worker is still signing, and the second signature would replace
// the first one's PDF in storage after the first result was recorded. The lease (key lease.<job> in
// the jobs bucket, compare-and-set) makes the second worker wait instead.
type Lease struct {
	r      *Results
	key    string
	holder []byte
	rev    uint64
}

// Claim takes the job's lease for holder (unique per attempt). A lease not refreshed for stale is
// taken over (its worker died); a fresher one returns ErrBusy.
func (r *Results) Claim(ctx context.Context, jobID, holder string, stale time.Duration) (*Lease, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	l := &Lease{r: r, key: "lease." + jobID, holder: []byte(holder)}
	for range 2 {
		rev, err := r.kv.Create(ctx, l.key, l.holder)
		if err == nil {
			l.rev = rev
			return l, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, fmt.Errorf("job %s: taking its lease: %w", jobID, err)
		}
		e, err := r.kv.Get(ctx, l.key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // released in between: try again
		}
		if err != nil {
			return nil, fmt.Errorf("job %s: reading its lease: %w", jobID, err)
		}
		if age := time.Since(e.Created()); age < stale {
			return nil, fmt.Errorf("job %s: %w (lease refreshed %s ago)", jobID, ErrBusy, age.Round(time.Millisecond))
		}
		rev, err = r.kv.Update(ctx, l.key, l.holder, e.Revision())
		if err != nil {
			return nil, fmt.Errorf("job %s: %w (its stale lease was taken over by another worker)", jobID, ErrBusy)
		}
		l.rev = rev
		return l, nil
	}
	return nil, fmt.Errorf("job %s: %w", jobID, ErrBusy)
}

// Refresh renews the lease. It returns ErrBusy when another worker took it over (this one was silent
// for longer than the stale time); other errors (NATS unreachable) leave the lease as it was.
func (l *Lease) Refresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	rev, err := l.r.kv.Update(ctx, l.key, l.holder, l.rev)
	if err == nil {
		l.rev = rev
		return nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return err
	}
	// Our last refresh may have been stored although its answer was lost: still ours if it says so.
	e, gerr := l.r.kv.Get(ctx, l.key)
	if gerr == nil && string(e.Value()) == string(l.holder) {
		l.rev = e.Revision()
		return nil
	}
	return ErrBusy
}

// Release gives the lease up, unless another worker holds it by now.
func (l *Lease) Release(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	_ = l.r.kv.Delete(ctx, l.key, jetstream.LastRevision(l.rev))
}

// leaseHolder names one attempt at a job: process and a random id.
func leaseHolder() string {
	return fmt.Sprintf("pid %d %s", os.Getpid(), nuid.Next())
}

// hold takes the lease named key (a job id, or "cb-" and a job id for its callback) and keeps it
// fresh until release is called. The returned context ends if another worker takes the lease over
// (this one was cut off from NATS for longer than the stale time), so that only one does the work.
func (p *Pool) hold(ctx context.Context, key string, log *zap.Logger) (context.Context, func(), error) {
	lease, err := p.Signer.Results.Claim(ctx, key, leaseHolder(), 2*p.ackWait())
	if err != nil {
		return ctx, nil, err
	}
	ctx, lost := context.WithCancel(ctx)
	stopLease := p.keepLease(ctx, lease, lost, log)
	return ctx, func() {
		stopLease()
		lease.Release(context.WithoutCancel(ctx))
		lost()
	}, nil
}

// keepLease refreshes the lease with the heartbeat; if another worker took it over (this one was cut
// off from NATS for longer than the stale time), the job is cancelled so that only one signs.
func (p *Pool) keepLease(ctx context.Context, l *Lease, lost context.CancelFunc, log *zap.Logger) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(max(p.ackWait()/3, 100*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if err := l.Refresh(ctx); errors.Is(err, ErrBusy) {
					log.Warn("another worker took this job over while NATS was out of reach; stopping here")
					lost()
					return
				}
			}
		}
	}()
	return func() { close(done) }
}
