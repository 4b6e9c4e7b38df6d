package external

import (
	"context"
	"errors"
	"strings"

	"github.com/signet-b24/signet/contracts"
)

// What the route engine does to an invitation besides creating it (issue 20, must 3 and 7): remind
// the party, and withdraw the invitation when the party is removed, the route is cancelled or the
// document changed.

// Remind sends the party a new link to a pending invitation (the reminder of a route's step). The
// old link stops working: only one secret is ever stored, and the new one is sent and forgotten.
func (s *Service) Remind(ctx context.Context, id string) error {
	secret := newSecret()
	inv, err := s.st.update(ctx, id, func(inv *Invitation) (bool, error) {
		if inv.State != Pending || inv.LinkUsed {
			return false, ErrEnded
		}
		if !s.now().Before(inv.Expires) {
			return false, ErrExpired
		}
		inv.LinkHash = hashSecret(secret)
		return false, nil
	})
	if err != nil {
		return err
	}
	link := strings.TrimRight(s.PublicURL, "/") + PagePath + inv.ID + "." + secret
	if err := s.sendLink(ctx, inv, link, true); err != nil {
		s.record(ctx, inv, ActionReminded, contracts.AuditError, err.Error())
		return err
	}
	s.record(ctx, inv, ActionReminded, contracts.AuditOK, "")
	return nil
}

// Withdraw ends an invitation that is not signed yet, for the reason the route engine gives; its
// link and session stop working. The route engine asked, so it is not told back. ErrEnded when the
// invitation ended already or its seal's job is queued (that job finishes, and is told as usual).
func (s *Service) Withdraw(ctx context.Context, id, reason string) error {
	reason = clean(reason, MaxReason)
	now := s.now()
	inv, err := s.st.update(ctx, id, func(inv *Invitation) (bool, error) {
		if inv.State.Ended() || inv.State == Queued {
			return false, ErrEnded
		}
		inv.State, inv.Since, inv.Reason, inv.Told = Withdrawn, now, reason, true
		inv.CodeHash, inv.SessionHash = "", ""
		return false, nil
	})
	if err != nil {
		return err
	}
	s.record(ctx, inv, ActionWithdrawn, contracts.AuditOK, "reason: "+reason)
	return nil
}

// WithdrawJob withdraws the invitation made for a caller-given seal job id (the route engine's
// party, producer/routes.ExternalWithdrawer); nil when there is none or it ended already.
func (s *Service) WithdrawJob(ctx context.Context, jobID, reason string) error {
	inv, _, err := s.st.byJob(ctx, jobID)
	if err != nil || inv == nil {
		return err
	}
	if err := s.Withdraw(ctx, inv.ID, reason); err != nil && !errors.Is(err, ErrEnded) {
		return err
	}
	return nil
}
