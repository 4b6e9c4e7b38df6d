package external

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
)

// Audit actions of an external party's invitation (issue 20, must 2: every step is in the trail).
// Every event carries the seal's job id (JobID, known from the invitation on), so the document's story
// (audit.Story, /verify/{id}) tells the invitation, the code and the confirmation before the signature;
// Detail names the invitation, Login the route's party ("external:<party>"). No event carries the
// link, the session or the code.
const (
	ActionInvited      = "external_invited"
	ActionCodeSent     = "external_code_sent"
	ActionCodeVerified = "external_code_verified"
	ActionCodeFailed   = "external_code_failed"
	ActionLocked       = "external_locked"
	ActionConfirmed    = "external_confirmed"
	ActionDeclined     = "external_declined"
	ActionExpired      = "external_expired"
	ActionEnded        = "external_ended"
	ActionReminded     = "external_reminded"
	ActionWithdrawn    = "external_withdrawn"
)

// Login is how an external party is named where Signet names signers (the job, the trail).
func Login(inv *Invitation) string { return "external:" + inv.PartyID }

func (s *Service) record(ctx context.Context, inv *Invitation, action, outcome, detail string) {
	if s.Audit == nil || inv == nil {
		return
	}
	e := contracts.AuditEvent{
		Time: s.now(), Action: action, Outcome: outcome, Login: Login(inv), JobID: JobID(inv),
		Detail: fmt.Sprintf("invitation %s, route %s, step %s, party %s (%s) by %s to %s", inv.ID, inv.RouteID, inv.StepID, inv.PartyID,
			inv.Name, inv.Channel, inv.Address()),
	}
	if outcome != contracts.AuditOK {
		e.Reason = detail
	} else if detail != "" {
		e.Detail += "; " + detail
	}
	if err := s.Audit.Record(ctx, e); err != nil {
		s.log().Error("audit event not recorded", zap.String("action", action), zap.String("invitation", inv.ID), zap.Error(err))
	}
}

// evidenceDetail is the evidence as the trail and the signature's reason word it.
func evidenceDetail(ev Evidence) string {
	return fmt.Sprintf("IP %s, browser %q", orDash(ev.IP), clean(ev.UserAgent, 200))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
