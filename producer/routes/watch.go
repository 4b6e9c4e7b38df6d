package routes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
)

// Watch hears every job outcome the worker records (contracts.DeliveredKey, in the jobs bucket) and
// advances the route of each route party's job, until ctx ends. One watcher per process serves
// every route; what it misses while the process is down, the sweeper finds.
func (e *Engine) Watch(ctx context.Context) error {
	jobs, err := e.jobs(ctx)
	if err != nil {
		return err
	}
	w, err := jobs.Watch(ctx, contracts.DeliveredKey("*"), jetstream.UpdatesOnly())
	if err != nil {
		return fmt.Errorf("watching job outcomes: %w", err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ent, ok := <-w.Updates():
			if !ok {
				return errors.New("the watch of job outcomes ended; the sweeper goes on")
			}
			if ent == nil || ent.Operation() != jetstream.KeyValuePut {
				continue
			}
			e.outcome(ctx, strings.TrimPrefix(ent.Key(), "out."), ent.Value())
		}
	}
}

func (e *Engine) outcome(ctx context.Context, jobID string, data []byte) {
	if RouteOfJob(jobID) == "" {
		return
	}
	var d contracts.Delivered
	if err := jsonUnmarshal(data, &d); err != nil {
		e.log().Warn("route: a job outcome that cannot be read", zap.String("job_id", jobID), zap.Error(err))
		return
	}
	if err := e.JobDone(ctx, jobID, &d); err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrEnded) && !errors.Is(err, ErrNotYourTurn) {
		e.log().Warn("route: a party's outcome not applied yet; the sweeper tries again", zap.String("job_id", jobID), zap.Error(err))
	}
}

// Sweep does, for every route, what no event triggers: it expires routes past their deadline,
// applies job outcomes the watcher missed, reminds parties who waited RemindAfter, and tells ended
// routes not told yet. Safe to run anywhere: every change is a compare-and-set.
func (e *Engine) Sweep(ctx context.Context) error {
	all, err := e.Store.All(ctx)
	if err != nil {
		return err
	}
	now := e.now()
	jobs, _ := e.jobs(ctx) // nil until the workers made it: no outcome to find yet
	var errs []error
	for _, r := range all {
		if r.mirrorDue(now) {
			e.runMirror(ctx, r.ID)
		}
		if r.State.Ended() {
			if !r.Told {
				errs = append(errs, e.tell(ctx, r.ID))
			}
			errs = append(errs, e.sweepEnded(ctx, r))
			continue
		}
		if r.Completion != nil {
			errs = append(errs, e.sweepCompletion(ctx, r))
			continue
		}
		if !now.Before(r.Deadline) {
			_, err := e.end(ctx, r.ID, Expired, "the deadline "+r.Deadline.Format(time.RFC3339)+" passed")
			errs = append(errs, err)
			continue
		}
		st := r.Steps[r.Current]
		for _, p := range st.Parties {
			if p.State != PartyWaiting && p.State != PartySigning {
				continue
			}
			if jobs != nil && p.JobID != "" {
				if ent, err := jobs.Get(ctx, contracts.DeliveredKey(p.JobID)); err == nil {
					e.outcome(ctx, p.JobID, ent.Value())
					continue
				}
			}
			if p.State == PartyWaiting && p.Unreached {
				e.reach(ctx, r, &st, &p)
				continue
			}
			if p.State == PartyWaiting && r.RemindAfter > 0 && !p.Reminded && now.Sub(p.Since) >= r.RemindAfter {
				errs = append(errs, e.remind(ctx, r.ID, st.ID, p.ID))
			}
		}
	}
	return errors.Join(errs...)
}

// remind reminds one waiting party once (the reminder is marked first, so two sweepers never send
// two).
func (e *Engine) remind(ctx context.Context, routeID, stepID, partyID string) error {
	r, changed, err := e.Store.change(ctx, routeID, func(r *Route) (bool, error) {
		_, p := r.Party(stepID, partyID)
		if r.State.Ended() || p == nil || p.State != PartyWaiting || p.Reminded {
			return false, nil
		}
		p.Reminded = true
		return true, nil
	})
	if err != nil || !changed {
		return err
	}
	_, p := r.Party(stepID, partyID)
	e.audit(ctx, r, p, "reminded", contracts.AuditOK, "", "")
	switch {
	case p.Kind == KindExternal:
		return nil // the external side reminds by its own channel (its invitation holds the deadline)
	case r.Steps[r.Current].Action == ActionApprove:
		e.notifyApprover(ctx, r, p)
		return nil
	}
	return e.Requests.Remind(ctx, p.JobID)
}

// sweepLease is the sweeper's lease key in the routes bucket: one runner at a time across every
// intake, as worker/archive's scheduler holds its lease in the jobs bucket.
const sweepLease = "lease.sweep"

// leaseStale is how long a silent sweeper keeps the lease.
const leaseStale = 2 * time.Minute

// Run watches job outcomes and sweeps every interval until ctx ends. The sweep runs under a lease
// (compare-and-set in the routes bucket): a process that finds it held skips its turn.
func (e *Engine) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = time.Minute
	}
	go func() {
		for ctx.Err() == nil {
			if err := e.Watch(ctx); err != nil {
				e.log().Warn("route watcher", zap.Error(err))
			}
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Second):
			}
		}
	}()
	holder := []byte(fmt.Sprintf("routes pid %d %s", os.Getpid(), nuid.Next()))
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if ok, err := e.claim(ctx, holder); err != nil {
			e.log().Warn("route sweeper lease", zap.Error(err))
		} else if ok {
			if err := e.Sweep(ctx); err != nil && ctx.Err() == nil {
				e.log().Warn("route sweeper", zap.Error(err))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// claim takes or renews the sweeper's lease for holder; false when another process holds it fresh.
func (e *Engine) claim(ctx context.Context, holder []byte) (bool, error) {
	kv := e.Store.kv
	if _, err := kv.Create(ctx, sweepLease, holder); err == nil {
		return true, nil
	} else if !errors.Is(err, jetstream.ErrKeyExists) {
		return false, err
	}
	ent, err := kv.Get(ctx, sweepLease)
	if err != nil {
		return false, err
	}
	if string(ent.Value()) != string(holder) && time.Since(ent.Created()) < leaseStale {
		return false, nil
	}
	if _, err := kv.Update(ctx, sweepLease, holder, ent.Revision()); err != nil {
		return false, nil // another process renewed or took it in between
	}
	return true, nil
}
