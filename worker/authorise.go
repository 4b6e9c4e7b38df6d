package worker

import (
	"context"
	"fmt"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/metrics"
)

// A job proves that an intake authorised it with an Ed25519 signature over all its fields
// (contracts.JobAuth). The worker checks it first, before a lease, a results lookup, a key or a
// download:
//
//   - not authentic (no signature, an unknown key, altered fields): nothing in the job can be
//     trusted, not even whom to tell, so the portal is not called (a forger must not make Signet send
//     bizproc.event.send or a notification on their behalf). The job is refused for good: a copy
//     goes to DEAD for the operator and a job_refused event, with bounded values, to the audit trail.
//   - authentic but expired (it waited longer than security.job_ttl): a genuine request that came too
//     late. Its workflow is told, like any other permanent failure.

// authentic reports whether job carries a valid signature of a trusted intake, whatever its expiry.
func (s *Signer) authentic(job *contracts.SignJob) error {
	if err := s.JobKeys.Authentic(job); err != nil {
		return Permanent(err)
	}
	return nil
}

// unexpired refuses an authentic job whose authorisation has expired.
func (s *Signer) unexpired(job *contracts.SignJob) error {
	if err := job.AuthExpired(s.now()); err != nil {
		return Permanent(err)
	}
	return nil
}

// refuseUnauthorised records the refusal of a job that is not authentic; the caller dead-letters it.
// No callback: the job's reply address is the forger's choice.
func (p *Pool) refuseUnauthorised(ctx context.Context, msg interface{ Subject() string }, job *contracts.SignJob, why error) {
	id := bounded(job.ID, 64)
	p.Log.Warn("refused a sign job without a valid authorisation; it is dead-lettered and the portal is not called",
		zap.String("job_id", id), zap.String("subject", msg.Subject()), zap.Error(why))
	// A forged job's member_id is the forger's choice: it gets no portal label of its own.
	metrics.JobsTotal.WithLabelValues(metrics.PortalOther, string(job.Kind), "refused").Inc()
	p.record(ctx, contracts.AuditEvent{
		Action: contracts.AuditJobRefused, Time: p.now().UTC(), Outcome: contracts.AuditRefused, Reason: why.Error(),
		JobID: id, Portal: bounded(job.Portal.MemberID, 64), Login: bounded(job.Signer.Login, 64), Credential: bounded(job.Credential, 256),
		Detail: fmt.Sprintf("claimed kind %q, authorisation %q; not signed, not stored, the portal was not called",
			bounded(string(job.Kind), 16), bounded(job.Signer.Authorization, 32)),
	})
}

// bounded cuts an untrusted value to at most n bytes (on a rune boundary) for logs and the audit
// trail, which must not grow by what a forger chooses.
func bounded(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}
