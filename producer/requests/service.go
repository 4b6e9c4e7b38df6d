package requests

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/producer/identity"
)

// Queue is what the service needs from the intake: it authorises, audits, signs and publishes.
type Queue interface {
	// Submit authorises the request's job with the batch grant (spending one document of it) and
	// publishes it, with the request's id as its Nats-Msg-Id.
	Submit(ctx context.Context, r *Request, grantID string) error
	// End publishes the unsigned end of a request (declined or expired) for the workflow, with
	// "cb-<id>" as its Nats-Msg-Id; it words reason (the signer's, or "" for none or an expiry) in
	// the portal's language.
	End(ctx context.Context, r *Request, outcome contracts.Outcome, reason string) error
}

// Grants makes the grant one code creates for a selected set (identity.Service.CreateGrant).
type Grants interface {
	CreateGrant(ctx context.Context, login, code, credentialURI string, max int, ttl time.Duration) (*identity.Grant, error)
}

// Notifier tells a signer of a new request. The intake's Bitrix24 notification is one; an e-mail
// notifier (once Signet has an SMTP setting) is another, added to Service.Notifiers.
type Notifier interface {
	NotifyRequest(ctx context.Context, r *Request) error
}

// Service is the domain of requests to sign: what the robot creates, what the inbox calls, what
// the sweeper ends.
type Service struct {
	Store  *Store
	Queue  Queue
	Grants Grants
	// Notifiers are told of each new request; a failure is logged, the request stands (the inbox
	// shows it whatever the notification did).
	Notifiers []Notifier
	// GrantTTL bounds the grant one Sign call makes (default 10 minutes): it is spent at once.
	GrantTTL time.Duration
	Log      *zap.Logger
	Now      func() time.Time
}

// holdStale: a Signing hold older than this was left by a process that stopped; the sweeper puts
// the request back to Pending. Publishing takes seconds.
const holdStale = 2 * time.Minute

// keepEnded is how long an ended request stays in the bucket (the inbox may show what was done).
const keepEnded = 7 * 24 * time.Hour

// MaxReason bounds a decline reason: it goes to the workflow's return values and log.
const MaxReason = 500

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) log() *zap.Logger {
	if s.Log != nil {
		return s.Log
	}
	return zap.NewNop()
}

// Create stores a new pending request and tells its signer; ErrExists when it is stored already (a
// repeat of the robot call), and then nobody is told twice.
func (s *Service) Create(ctx context.Context, r *Request) error {
	now := s.now()
	if r.Created.IsZero() {
		r.Created = now
	}
	r.State, r.Since = Pending, now
	if err := s.Store.Create(ctx, r); err != nil {
		return err
	}
	for _, n := range s.Notifiers {
		if err := n.NotifyRequest(ctx, r); err != nil {
			s.log().Warn("the signer was not notified of a request to sign; it waits in their inbox", zap.String("request", r.ID), zap.Error(err))
		}
	}
	return nil
}

// List returns the requests waiting for login on the portal memberID, oldest first.
func (s *Service) List(ctx context.Context, memberID, login string) ([]*Request, error) {
	all, err := s.Store.All(ctx)
	if err != nil {
		return nil, err
	}
	var out []*Request
	for _, r := range all {
		if r.State == Pending && r.Mine(login) && r.Job.Portal.MemberID == memberID {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// InProgress returns login's requests on the portal memberID that were signed within the last
// `within` and are queued or being queued, oldest first: the inbox shows them with their estimated
// completion until their job ends (issue 21, must 5). A queued request keeps its state after its
// job ends (the worker completes the robot, not the request), so the caller asks the job.
func (s *Service) InProgress(ctx context.Context, memberID, login string, within time.Duration) ([]*Request, error) {
	all, err := s.Store.All(ctx)
	if err != nil {
		return nil, err
	}
	since := s.now().Add(-within)
	var out []*Request
	for _, r := range all {
		if (r.State == Queued || r.State == Signing) && r.Since.After(since) && r.Mine(login) && r.Job.Portal.MemberID == memberID {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Since.Before(out[j].Since) })
	return out, nil
}

// Get returns one request of login's.
func (s *Service) Get(ctx context.Context, login, id string) (*Request, error) {
	r, _, err := s.Store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if !r.Mine(login) {
		return nil, ErrNotYours
	}
	return r, nil
}

// Decline ends login's pending request with their reason, which the workflow receives.
func (s *Service) Decline(ctx context.Context, login, id, reason string) error {
	reason = strings.TrimSpace(reason)
	if len(reason) > MaxReason {
		cut := MaxReason
		for cut > 0 && !utf8.RuneStart(reason[cut]) {
			cut--
		}
		reason = reason[:cut]
	}
	r, rev, err := s.Store.Get(ctx, id)
	if err != nil {
		return err
	}
	if !r.Mine(login) {
		return ErrNotYours
	}
	if r.State != Pending {
		return ErrNotPending
	}
	r.State, r.Since, r.Reason = Declined, s.now(), reason
	if _, err := s.Store.update(ctx, r, rev); err != nil {
		if errors.Is(err, ErrChanged) {
			return ErrNotPending
		}
		return err
	}
	s.log().Info("request to sign declined", zap.String("request", r.ID), zap.String("login", r.Job.Signer.Login))
	return s.end(ctx, r, contracts.OutcomeDeclined)
}

// end publishes a declined or expired request's outcome and marks it sent; if that fails the
// sweeper sends it later (the request stays unsent).
func (s *Service) end(ctx context.Context, r *Request, outcome contracts.Outcome) error {
	if err := s.Queue.End(ctx, r, outcome, r.Reason); err != nil {
		return fmt.Errorf("request %s is %s, but the workflow is not told yet (Signet retries): %w", r.ID, r.State, err)
	}
	return s.markSent(ctx, r.ID)
}

func (s *Service) markSent(ctx context.Context, id string) error {
	for range 5 {
		cur, rev, err := s.Store.Get(ctx, id)
		if err != nil {
			return err
		}
		if cur.Sent {
			return nil
		}
		cur.Sent = true
		if _, err := s.Store.update(ctx, cur, rev); !errors.Is(err, ErrChanged) {
			return err
		}
	}
	return ErrChanged
}

// Result is what Sign did with one request.
type Result struct {
	ID  string
	Err error // nil: its job is queued
}

// Sign signs login's pending requests ids with one code: the code makes one batch grant for exactly
// len(ids) documents with their certificate (they must share one), and each request's job is
// authorised by it and queued. A wrong code queues nothing. The results say, per request, whether
// its job is queued; the worker then signs it and completes its robot. A document of the grant left
// unspent (a request declined meanwhile) dies with the grant's short life: its id is shown to nobody.
//
// The caller (the inbox) has proved that login is the person signed in (the portal's auth): this
// package trusts the login it is given.
func (s *Service) Sign(ctx context.Context, login string, ids []string, code string) ([]Result, error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("select at least one request to sign")
	}
	seen := map[string]bool{}
	var reqs []*Request
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		r, _, err := s.Store.Get(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("request %s: %w", id, err)
		}
		switch {
		case !r.Mine(login):
			return nil, fmt.Errorf("request %s: %w", id, ErrNotYours)
		case r.State != Pending:
			return nil, fmt.Errorf("request %s: %w", id, ErrNotPending)
		case !identity.SameCredential(r.Job.Credential, reqs0(reqs, r).Job.Credential):
			return nil, ErrMixed
		}
		reqs = append(reqs, r)
	}
	ttl := s.GrantTTL
	if ttl <= 0 {
		ttl = 10 * time.Minute
	}
	g, err := s.Grants.CreateGrant(ctx, login, code, reqs[0].Job.Credential, len(reqs), ttl)
	if err != nil {
		return nil, err
	}
	out := make([]Result, 0, len(reqs))
	for _, r := range reqs {
		out = append(out, Result{ID: r.ID, Err: s.signOne(ctx, r.ID, g.ID)})
	}
	return out, nil
}

func reqs0(reqs []*Request, r *Request) *Request {
	if len(reqs) == 0 {
		return r
	}
	return reqs[0]
}

// signOne holds the request (Pending → Signing), queues its job and records it Queued. A request
// that was declined or expired meanwhile is left as it is: its end was told first.
func (s *Service) signOne(ctx context.Context, id, grantID string) error {
	r, rev, err := s.Store.Get(ctx, id)
	if err != nil {
		return err
	}
	if r.State != Pending {
		return ErrNotPending
	}
	r.State, r.Since, r.GrantRef = Signing, s.now(), contracts.GrantRef(grantID)
	if rev, err = s.Store.update(ctx, r, rev); err != nil {
		if errors.Is(err, ErrChanged) {
			return ErrNotPending
		}
		return err
	}
	if err := s.Queue.Submit(ctx, r, grantID); err != nil {
		r.State, r.Since = Pending, s.now()
		if _, uerr := s.Store.update(context.WithoutCancel(ctx), r, rev); uerr != nil {
			s.log().Warn("request left held after a failed submit; the sweeper frees it", zap.String("request", id), zap.Error(uerr))
		}
		return err
	}
	r.State, r.Since, r.Sent = Queued, s.now(), true
	if _, err := s.Store.update(ctx, r, rev); err != nil {
		s.log().Warn("request queued but not recorded as queued", zap.String("request", id), zap.Error(err))
	}
	s.log().Info("request to sign queued", zap.String("request", id), zap.String("login", r.Job.Signer.Login), zap.String("grant", r.GrantRef))
	return nil
}

// Sweep ends the pending requests past their deadline (outcome expired), sends the ends that were
// recorded but not sent, and frees holds left by a stopped process. It returns how many requests
// it expired. Safe to run in every intake at once: each change is a compare-and-set.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	all, err := s.Store.All(ctx)
	if err != nil {
		return 0, err
	}
	now, n := s.now(), 0
	var errs []error
	for _, r := range all {
		switch {
		case r.State == Pending && !now.Before(r.Deadline):
			r, rev, err := s.Store.Get(ctx, r.ID) // fresh: the walk's copy may be old
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if r.State != Pending {
				continue
			}
			r.State, r.Since = Expired, now
			if _, err := s.Store.update(ctx, r, rev); err != nil {
				if !errors.Is(err, ErrChanged) {
					errs = append(errs, err)
				}
				continue
			}
			n++
			s.log().Info("request to sign expired", zap.String("request", r.ID), zap.Time("deadline", r.Deadline))
			if err := s.end(ctx, r, contracts.OutcomeExpired); err != nil {
				errs = append(errs, err)
			}
		case (r.State == Declined || r.State == Expired) && !r.Sent:
			outcome := contracts.OutcomeDeclined
			if r.State == Expired {
				outcome = contracts.OutcomeExpired
			}
			if err := s.end(ctx, r, outcome); err != nil {
				errs = append(errs, err)
			}
		case (r.State == Queued || r.State == Declined || r.State == Expired) && r.Sent && now.Sub(r.Since) >= keepEnded:
			// Ended and told: kept a while for the inbox's history, then removed so the walk stays short.
			if _, rev, err := s.Store.Get(ctx, r.ID); err == nil {
				_ = s.Store.kv.Delete(ctx, key(r.ID), jetstream.LastRevision(rev))
			}
		case r.State == Signing && now.Sub(r.Since) >= holdStale:
			r, rev, err := s.Store.Get(ctx, r.ID)
			if err != nil || r.State != Signing {
				continue
			}
			r.State, r.Since = Pending, now
			if _, err := s.Store.update(ctx, r, rev); err == nil {
				s.log().Warn("a request held by a stopped signing was put back to pending", zap.String("request", r.ID))
			}
		}
	}
	return n, errors.Join(errs...)
}

// Run sweeps every interval until ctx ends; a request therefore never waits more than its deadline
// plus one interval.
func (s *Service) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log().Error("request sweeper", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Withdraw takes a pending request out of its signer's inbox without telling a workflow: its
// asker (a signing route, producer/routes) no longer needs it and reports the end itself. It is
// recorded as expired with reason, already sent. A request no longer pending is left as it is.
func (s *Service) Withdraw(ctx context.Context, id, reason string) error {
	for range 5 {
		r, rev, err := s.Store.Get(ctx, id)
		if err != nil {
			return err
		}
		if r.State != Pending {
			return nil
		}
		r.State, r.Since, r.Reason, r.Sent = Expired, s.now(), reason, true
		if _, err := s.Store.update(ctx, r, rev); !errors.Is(err, ErrChanged) {
			return err
		}
	}
	return ErrChanged
}

// Remind tells the signer of a pending request again (the notifiers replace their first notice).
func (s *Service) Remind(ctx context.Context, id string) error {
	r, _, err := s.Store.Get(ctx, id)
	if err != nil || r.State != Pending {
		return err
	}
	var errs []error
	for _, n := range s.Notifiers {
		errs = append(errs, n.NotifyRequest(ctx, r))
	}
	return errors.Join(errs...)
}
