package worker

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// The lease on a job in the jobs bucket, as two workers see it: one holds it, the other waits, a
// silent one is taken over and learns so on its next refresh, and giving it up never removes
// another worker's.
func TestLease(t *testing.T) {
	const fresh, stale = time.Hour, time.Duration(0)
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, ctx context.Context, r *Results)
	}{
		{"a free job is taken", func(t *testing.T, ctx context.Context, r *Results) {
			mustClaim(t, ctx, r, "a", fresh)
		}},
		{"a held job makes the second worker wait", func(t *testing.T, ctx context.Context, r *Results) {
			mustClaim(t, ctx, r, "a", fresh)
			mustBeBusy(t, ctx, r, fresh)
		}},
		{"a refreshed lease stays its holder's", func(t *testing.T, ctx context.Context, r *Results) {
			a := mustClaim(t, ctx, r, "a", fresh)
			for range 3 {
				if err := a.Refresh(ctx); err != nil {
					t.Fatal(err)
				}
			}
			mustBeBusy(t, ctx, r, fresh)
		}},
		{"a released lease is free", func(t *testing.T, ctx context.Context, r *Results) {
			mustClaim(t, ctx, r, "a", fresh).Release(ctx)
			mustClaim(t, ctx, r, "b", fresh)
		}},
		{"a stale lease is taken over, and its old holder told", func(t *testing.T, ctx context.Context, r *Results) {
			a := mustClaim(t, ctx, r, "a", fresh)
			b := mustClaim(t, ctx, r, "b", stale)
			if err := a.Refresh(ctx); !errors.Is(err, ErrBusy) {
				t.Fatalf("the old holder's refresh: %v, want ErrBusy", err)
			}
			if err := b.Refresh(ctx); err != nil {
				t.Fatalf("the new holder's refresh: %v", err)
			}
		}},
		{"the old holder's release leaves the new holder's lease", func(t *testing.T, ctx context.Context, r *Results) {
			a := mustClaim(t, ctx, r, "a", fresh)
			mustClaim(t, ctx, r, "b", stale)
			a.Release(ctx)
			mustBeBusy(t, ctx, r, fresh)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := newQueueRig(t, 30*time.Second, 3)
			r, err := OpenResults(q.ctx, q.js, 1, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			tc.run(t, q.ctx, r)
		})
	}
}

func mustClaim(t *testing.T, ctx context.Context, r *Results, holder string, stale time.Duration) *Lease {
	t.Helper()
	l, err := r.Claim(ctx, "j-1", holder, stale)
	if err != nil {
		t.Fatalf("%s could not take the lease: %v", holder, err)
	}
	return l
}

func mustBeBusy(t *testing.T, ctx context.Context, r *Results, stale time.Duration) {
	t.Helper()
	if l, err := r.Claim(ctx, "j-1", "another worker", stale); !errors.Is(err, ErrBusy) {
		t.Fatalf("another worker's claim: lease %v, error %v; want ErrBusy", l, err)
	}
}

// Pool.hold keeps the lease fresh while a job runs (refreshed every third of AckWait, stale after two
// AckWaits), gives it up on release, and cancels the job when another worker took it over.
func TestHold(t *testing.T) {
	q := newQueueRig(t, 30*time.Second, 3)
	r, err := OpenResults(q.ctx, q.js, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p := q.pool(time.Second, 3)
	p.Signer = &Signer{Results: r}
	log := zaptest.NewLogger(t)

	ctx, release, err := p.hold(q.ctx, "j-1", log)
	if err != nil {
		t.Fatal(err)
	}
	// Longer than the stale time (2 × AckWait): only the refreshes keep the lease from a second worker.
	time.Sleep(3 * p.AckWait)
	if _, err := r.Claim(q.ctx, "j-1", "second worker", 2*p.AckWait); !errors.Is(err, ErrBusy) {
		t.Fatalf("a second worker took a lease that was being refreshed: %v", err)
	}
	if _, _, err := p.hold(q.ctx, "j-1", log); !errors.Is(err, ErrBusy) {
		t.Fatalf("a second hold of the same job: %v, want ErrBusy", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the job was cancelled while its lease was its own")
	}
	release()
	ctx, release, err = p.hold(q.ctx, "j-1", log)
	if err != nil {
		t.Fatalf("after release the job could not be held again: %v", err)
	}
	defer release()

	// Another worker takes it over (this one was cut off from NATS for longer than the stale time).
	if _, err := r.Claim(q.ctx, "j-1", "second worker", 0); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(time.Minute):
		t.Fatal("the job went on after another worker took its lease over")
	}
}
