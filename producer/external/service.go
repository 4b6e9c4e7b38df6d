package external

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/audit"
	"github.com/signet-b24/signet/internal/sms"
	"github.com/signet-b24/signet/storage"
)

// Mailer sends one plain-text e-mail (*mail.Sender is one).
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

// Done is told how a party's invitation ended: signed or failed when the seal's job is delivered,
// declined (with the party's reason), expired, or failed with a reason when it locked. The route
// engine (producer/routes) implements it; a call that fails is made again by the sweeper.
type Done interface {
	PartyDone(ctx context.Context, routeID, stepID, partyID string, outcome contracts.Outcome, reason string) error
}

// DoneFunc is a func as a Done.
type DoneFunc func(ctx context.Context, routeID, stepID, partyID string, outcome contracts.Outcome, reason string) error

// PartyDone implements Done.
func (f DoneFunc) PartyDone(ctx context.Context, routeID, stepID, partyID string, outcome contracts.Outcome, reason string) error {
	return f(ctx, routeID, stepID, partyID, outcome, reason)
}

// DefaultLinkTTL is how long a link holds when external.link_ttl is not set (issue 20: 14 days).
const DefaultLinkTTL = 14 * 24 * time.Hour

// MaxReason bounds a decline reason; MaxName a party's name.
const (
	MaxReason = 500
	MaxName   = 200
)

// keepEnded is how long an ended invitation stays (its page says how it ended).
const keepEnded = 7 * 24 * time.Hour

// Service is the domain of external signers.
type Service struct {
	JS       jetstream.JetStream
	Replicas int
	// Store is Signet's artefact storage: the page's document is read from it.
	Store storage.Store
	// Mail sends e-mail invitations and codes; SMS text ones. Nil: that channel is refused.
	Mail Mailer
	SMS  sms.Provider
	// JobKey signs the seal's jobs like any intake job's; SealCredential (external.seal_credential)
	// is the PKCS#11 URI of the company's seal.
	JobKey         *contracts.JobSigner
	SealCredential string
	// PublicURL is where the party's browser reaches Signet: links are PublicURL + PagePath + token.
	PublicURL string
	// Key keys the codes' hashes (at least 16 bytes; the intake's form key).
	Key []byte
	// LinkTTL (external.link_ttl; 0: DefaultLinkTTL) and MaxFailures (external.code_attempts; 0:
	// DefaultMaxFailures).
	LinkTTL     time.Duration
	MaxFailures int
	Done        Done
	// Hold, when set, is asked for the revision to seal just before a routed invitation's seal job
	// is built (Engine.Hold of producer/routes): a parallel step's party signs the latest revision,
	// never at the same time as another party. It returns ErrBusy while another signature is being
	// made. Release gives the hold back when the job was not queued after all. Both nil: the
	// invitation's DocumentKey is sealed as it is.
	Hold    func(ctx context.Context, routeID, jobID string) (documentKey string, err error)
	Release func(ctx context.Context, routeID, jobID string) error
	Audit   audit.Recorder
	Log     *zap.Logger
	Now     func() time.Time

	st *store
}

// PagePath is where the page answers (web/external.go).
const PagePath = "/x/"

// Start opens (creating) the invitations bucket; call it once before anything else.
func (s *Service) Start(ctx context.Context) error {
	if len(s.Key) < 16 {
		return errors.New("external signers: no key for the codes (the intake's form key)")
	}
	st, err := openStore(ctx, s.JS, s.Replicas)
	if err != nil {
		return err
	}
	s.st = st
	return nil
}

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

func (s *Service) maxFailures() int {
	if s.MaxFailures > 0 {
		return s.MaxFailures
	}
	return DefaultMaxFailures
}

// clean drops control characters and cuts s to n bytes on a rune boundary: names and reasons go
// into PDFs, mails and the audit trail.
func clean(s string, n int) string {
	s = strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s))
	if len(s) > n {
		s = s[:n]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}

// Invite stores the invitation and sends its link. inv's ID, state, hashes and times are set here;
// the caller gives the route, step and party, the person, the document and the language, and may
// give Expires (earlier than the link's TTL: the route's deadline) and JobID, the id the seal job
// must carry (the route engine's party job, see JobID). A link that could not be sent leaves
// nothing behind: the caller invites again (and tells its originator).
//
// With a JobID, Invite is idempotent (the route engine's sweeper invites again while a call fails,
// producer/routes.Externals): while an invitation for that job is live, or ended in a way the route
// engine hears of (signed, failed, declined), that one is returned and its link is not sent again;
// a new one is made only when the old expired, locked or was withdrawn.
func (s *Service) Invite(ctx context.Context, inv Invitation) (*Invitation, error) {
	if inv.JobID == "" {
		return s.invite(ctx, inv, nil)
	}
	for range 8 {
		old, claim, err := s.st.byJob(ctx, inv.JobID)
		if err != nil {
			return nil, err
		}
		if old != nil && !old.reinvitable() {
			return old, nil
		}
		got, err := s.invite(ctx, inv, claim)
		if !errors.Is(err, errJobClaimed) {
			return got, err
		}
		// Another Invite for the same job claimed it meanwhile: return what it made.
	}
	return nil, ErrChanged
}

// reinvitable says whether a new invitation may replace this one for the same seal job: it ended
// without a job and without an outcome the route engine must hear.
func (inv *Invitation) reinvitable() bool {
	return inv.State == Expired || inv.State == Locked || inv.State == Withdrawn
}

// invite makes one invitation; claim, for a caller-given JobID, points the job's index at it.
func (s *Service) invite(ctx context.Context, inv Invitation, claim func(ctx context.Context, id string) error) (*Invitation, error) {
	now := s.now()
	inv.Name = clean(inv.Name, MaxName)
	switch {
	case inv.RouteID == "" || inv.PartyID == "":
		return nil, errors.New("an invitation needs its route and party")
	case inv.Name == "":
		return nil, errors.New("an external party needs a name: it is written into the signature")
	case !strings.HasPrefix(inv.DocumentKey, contracts.IncomingPrefix) || storage.ValidateKey(inv.DocumentKey) != nil:
		return nil, fmt.Errorf("the document to sign must be an object under %s in Signet's storage, not %q", contracts.IncomingPrefix, inv.DocumentKey)
	case s.SealCredential == "":
		return nil, errors.New("external.seal_credential is empty: name the company's seal credential before inviting external signers")
	}
	switch {
	case inv.Email != "":
		a, err := mail.ParseAddress(inv.Email)
		if err != nil {
			return nil, fmt.Errorf("%q is not an e-mail address: %w", inv.Email, err)
		}
		if s.Mail == nil {
			return nil, errors.New("e-mail is not configured (mail.smtp_host): invite by SMS, or set it up")
		}
		inv.Email, inv.Channel = a.Address, ChannelEmail
	case inv.Phone != "":
		if !sms.ValidPhone(inv.Phone) {
			return nil, fmt.Errorf("%q is not a phone number in international form (+79991234567)", inv.Phone)
		}
		if s.SMS == nil {
			return nil, sms.ErrNoProvider
		}
		inv.Channel = ChannelSMS
	default:
		return nil, errors.New("an external party needs an e-mail address or a phone number")
	}
	ttl := s.LinkTTL
	if ttl <= 0 {
		ttl = DefaultLinkTTL
	}
	secret := newSecret()
	expires := now.Add(ttl)
	if inv.Expires.After(now) && inv.Expires.Before(expires) {
		expires = inv.Expires
	}
	inv.ID, inv.Created, inv.Expires = newID(), now, expires
	inv.State, inv.Since, inv.LinkHash = Pending, now, hashSecret(secret)
	if err := s.st.create(ctx, &inv); err != nil {
		return nil, fmt.Errorf("storing the invitation: %w", err)
	}
	if claim != nil {
		if err := claim(ctx, inv.ID); err != nil {
			_ = s.st.delete(ctx, inv.ID)
			return nil, err
		}
	}
	link := strings.TrimRight(s.PublicURL, "/") + PagePath + inv.ID + "." + secret
	if err := s.sendLink(ctx, &inv, link, false); err != nil {
		_ = s.st.delete(ctx, inv.ID)
		s.record(ctx, &inv, ActionInvited, contracts.AuditError, err.Error())
		return nil, err
	}
	s.record(ctx, &inv, ActionInvited, contracts.AuditOK, "")
	return &inv, nil
}

// Get returns an invitation by id, for the route engine (never for a page: pages prove the link).
func (s *Service) Get(ctx context.Context, id string) (*Invitation, error) {
	inv, _, err := s.st.get(ctx, id)
	return inv, err
}

// ByJob returns the invitation made for a caller-given seal job id (the newest, if the old ones
// ended), for the route engine's side; ErrNotFound when there is none.
func (s *Service) ByJob(ctx context.Context, jobID string) (*Invitation, error) {
	inv, _, err := s.st.byJob(ctx, jobID)
	if err == nil && inv == nil {
		err = ErrNotFound
	}
	return inv, err
}

// checkLink finds the invitation of a link token and says whether the link still opens it.
func (s *Service) checkLink(inv *Invitation, secret string) error {
	switch {
	case !sameHash(inv.LinkHash, secret):
		return ErrNotFound
	case inv.State == Locked:
		return ErrLocked
	case inv.State == Withdrawn:
		return ErrWithdrawn
	case inv.State == Expired || (!inv.State.Ended() && inv.State != Queued && !s.now().Before(inv.Expires)):
		return ErrExpired
	case inv.LinkUsed || inv.State != Pending:
		return ErrUsed
	}
	return nil
}

// Open returns the invitation a link opens: pending, unexpired, the link unused.
func (s *Service) Open(ctx context.Context, token string) (*Invitation, error) {
	id, secret, ok := ParseToken(token)
	if !ok {
		return nil, ErrNotFound
	}
	inv, _, err := s.st.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.checkLink(inv, secret); err != nil {
		return nil, err
	}
	return inv, nil
}

// SendCode sends a new code to the invitation's channel.
func (s *Service) SendCode(ctx context.Context, token string, ev Evidence) error {
	id, secret, ok := ParseToken(token)
	if !ok {
		return ErrNotFound
	}
	code := newCode()
	now := s.now()
	inv, err := s.st.update(ctx, id, func(inv *Invitation) (bool, error) {
		if err := s.checkLink(inv, secret); err != nil {
			return false, err
		}
		switch {
		case inv.CodesSent >= MaxCodes:
			return false, ErrTooMany
		case !inv.CodeSent.IsZero() && now.Sub(inv.CodeSent) < ResendInterval:
			return false, ErrThrottled
		}
		inv.CodeHash, inv.CodeSent, inv.CodeExpires = s.codeHash(inv.ID, code), now, now.Add(CodeTTL)
		inv.CodesSent++
		return false, nil
	})
	if err != nil {
		if inv != nil && !errors.Is(err, ErrNotFound) {
			s.record(ctx, inv, ActionCodeSent, contracts.AuditRefused, err.Error())
		}
		return err
	}
	if err := s.sendCode(ctx, inv, code); err != nil {
		// Not sent: the party may ask again at once.
		_, _ = s.st.update(ctx, id, func(inv *Invitation) (bool, error) {
			inv.CodeSent, inv.CodesSent = time.Time{}, max(inv.CodesSent-1, 0)
			return false, nil
		})
		s.record(ctx, inv, ActionCodeSent, contracts.AuditError, err.Error())
		return err
	}
	s.record(ctx, inv, ActionCodeSent, contracts.AuditOK, evidenceDetail(ev))
	return nil
}

// VerifyCode checks the code typed on the page opened by token. Right: the link is spent and the
// returned session value ("<id>.<secret>", the page's cookie) carries the page on. Wrong: the failure
// counts, and the last allowed failure locks the invitation.
func (s *Service) VerifyCode(ctx context.Context, token, code string, ev Evidence) (string, error) {
	id, secret, ok := ParseToken(token)
	if !ok {
		return "", ErrNotFound
	}
	code = normaliseCode(code)
	session := newSecret()
	now := s.now()
	ev.At = now
	inv, err := s.st.update(ctx, id, func(inv *Invitation) (bool, error) {
		if err := s.checkLink(inv, secret); err != nil {
			return false, err
		}
		switch {
		case inv.CodeHash == "":
			return false, ErrNoCode
		case !now.Before(inv.CodeExpires):
			return false, ErrCodeStale
		case code == "" || !hmac.Equal([]byte(inv.CodeHash), []byte(s.codeHash(inv.ID, code))):
			inv.Failures++
			if inv.Failures >= s.maxFailures() {
				inv.State, inv.Since, inv.CodeHash = Locked, now, ""
				inv.Reason = "locked after too many wrong codes"
				return true, ErrLocked
			}
			return true, ErrCodeWrong
		}
		inv.State, inv.Since, inv.LinkUsed = Verified, now, true
		inv.CodeHash, inv.SessionHash, inv.Verified = "", hashSecret(session), &ev
		return false, nil
	})
	switch {
	case err == nil:
		s.record(ctx, inv, ActionCodeVerified, contracts.AuditOK, evidenceDetail(ev))
		return inv.ID + "." + session, nil
	case errors.Is(err, ErrLocked) && inv != nil && inv.State == Locked && inv.Since.Equal(now):
		s.record(ctx, inv, ActionLocked, contracts.AuditRefused, evidenceDetail(ev))
		s.tell(ctx, inv)
	case inv != nil && !errors.Is(err, ErrNotFound):
		// A wrong, stale or missing code, and a code typed on a used, expired, locked or withdrawn
		// link (someone else holding it): each is evidence. A guessed secret is not recorded: it names
		// no invitation the guesser could show to hold.
		s.record(ctx, inv, ActionCodeFailed, contracts.AuditRefused, err.Error()+"; "+evidenceDetail(ev))
	}
	return "", err
}

// Session returns the invitation of a page's session value, whatever its state (the page shows how
// it ended); ErrSession when the value is not that invitation's.
func (s *Service) Session(ctx context.Context, session string) (*Invitation, error) {
	id, secret, ok := ParseToken(session)
	if !ok {
		return nil, ErrSession
	}
	inv, _, err := s.st.get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, ErrSession
	}
	if err != nil {
		return nil, err
	}
	if !sameHash(inv.SessionHash, secret) {
		return nil, ErrSession
	}
	return inv, nil
}

// Document opens the revision the party signs, for the page's viewer.
func (s *Service) Document(ctx context.Context, inv *Invitation) (io.ReadCloser, int64, error) {
	rc, obj, err := s.Store.Get(ctx, inv.DocumentKey)
	if err != nil {
		return nil, 0, fmt.Errorf("the document of invitation %s: %w", inv.ID, err)
	}
	return rc, obj.Size, nil
}

// Decline ends the invitation of a session with the party's reason, and tells the route engine.
func (s *Service) Decline(ctx context.Context, session, reason string, ev Evidence) (*Invitation, error) {
	id, secret, ok := ParseToken(session)
	if !ok {
		return nil, ErrSession
	}
	reason = clean(reason, MaxReason)
	now := s.now()
	ev.At = now
	inv, err := s.st.update(ctx, id, func(inv *Invitation) (bool, error) {
		if !sameHash(inv.SessionHash, secret) {
			return false, ErrSession
		}
		if inv.State != Verified {
			return false, ErrEnded
		}
		inv.State, inv.Since, inv.Reason, inv.Confirmed = Declined, now, reason, &ev
		return false, nil
	})
	if err != nil {
		return inv, err
	}
	s.record(ctx, inv, ActionDeclined, contracts.AuditOK, "reason: "+reason+"; "+evidenceDetail(ev))
	s.tell(ctx, inv)
	return inv, nil
}

// tell tells the route engine how an ended invitation ended and records that it did; when it
// fails, the sweeper tells it later.
func (s *Service) tell(ctx context.Context, inv *Invitation) {
	if s.Done == nil || !inv.State.Ended() || inv.Told {
		return
	}
	outcome := map[State]contracts.Outcome{Signed: contracts.OutcomeSigned, Failed: contracts.OutcomeFailed,
		Declined: contracts.OutcomeDeclined, Expired: contracts.OutcomeExpired, Locked: contracts.OutcomeFailed}[inv.State]
	if err := s.Done.PartyDone(ctx, inv.RouteID, inv.StepID, inv.PartyID, outcome, inv.Reason); err != nil {
		s.log().Warn("the route engine was not told of an external party's outcome; the sweeper tells it again",
			zap.String("invitation", inv.ID), zap.String("outcome", string(outcome)), zap.Error(err))
		return
	}
	_, _ = s.st.update(ctx, inv.ID, func(i *Invitation) (bool, error) {
		i.Told = true
		return false, nil
	})
}
