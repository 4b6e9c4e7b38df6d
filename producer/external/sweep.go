package external

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
)

// Sweep moves every invitation on: a queued one whose job the worker delivered becomes signed or
// failed; an open one past its expiry expires; an ended one is told to the route engine until that
// succeeds, and removed a week after it ended.
func (s *Service) Sweep(ctx context.Context) error {
	all, err := s.st.all(ctx)
	if err != nil {
		return err
	}
	jobs, err := s.JS.KeyValue(ctx, contracts.BucketJobs)
	if err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) {
		return err
	}
	now := s.now()
	for _, inv := range all {
		switch {
		case inv.State == Queued && jobs != nil:
			s.delivered(ctx, jobs, inv)
		case !inv.State.Ended() && inv.State != Queued && !now.Before(inv.Expires):
			inv, err := s.st.update(ctx, inv.ID, func(i *Invitation) (bool, error) {
				if i.State.Ended() || i.State == Queued {
					return false, ErrEnded
				}
				i.State, i.Since = Expired, now
				return false, nil
			})
			if err == nil {
				s.record(ctx, inv, ActionExpired, contracts.AuditOK, "")
				s.tell(ctx, inv)
			}
		case inv.State.Ended() && !inv.Told:
			s.tell(ctx, inv)
		case inv.State.Ended() && now.Sub(inv.Since) > keepEnded:
			if inv.JobID != "" {
				s.st.dropJob(ctx, inv.JobID, inv.ID)
			}
			_ = s.st.delete(ctx, inv.ID)
		}
	}
	return nil
}

// delivered ends a queued invitation whose job the worker has delivered.
func (s *Service) delivered(ctx context.Context, jobs jetstream.KeyValue, inv *Invitation) {
	e, err := jobs.Get(ctx, contracts.DeliveredKey(inv.JobID))
	if err != nil {
		return
	}
	var d contracts.Delivered
	if json.Unmarshal(e.Value(), &d) != nil {
		return
	}
	inv, err = s.st.update(ctx, inv.ID, func(i *Invitation) (bool, error) {
		if i.State != Queued {
			return false, ErrEnded
		}
		i.State, i.Since = Signed, s.now()
		if d.Outcome != contracts.OutcomeSigned {
			i.State, i.Reason = Failed, d.Error
		}
		return false, nil
	})
	if err != nil {
		return
	}
	s.record(ctx, inv, ActionEnded, contracts.AuditOK, string(inv.State))
	s.tell(ctx, inv)
}

// Run sweeps every interval until ctx ends.
func (s *Service) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
				s.log().Warn("external invitations: sweep failed; trying again", zap.Error(err))
			}
		}
	}
}
