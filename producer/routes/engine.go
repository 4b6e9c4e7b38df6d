package routes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/producer/identity"
	"github.com/signet-b24/signet/producer/requests"
	"github.com/signet-b24/signet/storage"
)

// Requests is what the engine needs of producer/requests: a party's request in their inbox, its
// withdrawal when the party is no longer asked, and a reminder.
type Requests interface {
	Create(ctx context.Context, r *requests.Request) error
	Withdraw(ctx context.Context, id, reason string) error
	Remind(ctx context.Context, id string) error
}

// Users finds the Signet user behind a party (identity.Service).
type Users interface {
	GetUser(ctx context.Context, login string) (*identity.User, error)
	UserByBitrixID(ctx context.Context, memberID string, bitrixUserID int) (*identity.User, error)
}

// Bitrix24 calls the route's portal: the deal's timeline, the workflow's robot, notifications.
type Bitrix24 interface {
	Call(ctx context.Context, memberID, method string, params map[string]any, out any) error
}

// Auditor records an audit event (internal/audit.Writer).
type Auditor interface {
	Record(ctx context.Context, e contracts.AuditEvent) error
}

// Externals invites an external party (producer/external): by link and code, to a page that shows
// the document and makes their signature a seal by the company's credential. It is called once per
// external party when its step begins, and again by the sweeper while it fails (an SMTP or SMS
// outage): it must be idempotent for one ExternalInvite.JobID.
//
// To sign, the external side calls Engine.Hold with the party's job id (ExternalInvite.JobID): it
// returns the key of the revision to seal, held for that job alone; the external side then queues
// its seal job with that id and the route advances when the job's outcome is delivered, as for an
// internal party. A decline (or an approval, in an approve-only step) is told with Engine.PartyDone.
type Externals interface {
	Invite(ctx context.Context, inv ExternalInvite) error
}

// ExternalWithdrawer is an Externals that can also end a party's invitation when the party is no
// longer asked (another party of an "any" step acted, the route ended): their link then says so
// instead of leading to a signature Hold would refuse.
type ExternalWithdrawer interface {
	Withdraw(ctx context.Context, jobID, reason string) error
}

// ExternalInvite is what the external side needs to invite one party.
type ExternalInvite struct {
	RouteID, StepID, PartyID string
	// JobID is the id the seal job must carry.
	JobID              string
	Name, Email, Phone string
	// DocumentKey is the revision current when the step began (for the page's viewer); Hold gives
	// the one to seal.
	DocumentKey string
	Action      Action
	Language    string
	Deadline    time.Time
}

// Engine runs routes.
type Engine struct {
	Store *Store
	// Jobs is contracts.BucketJobs (outcomes and results of the parties' jobs); nil: opened through
	// JS when first needed (an intake may start before the workers made it).
	Jobs     jetstream.KeyValue
	JS       jetstream.JetStream
	jobsMu   sync.Mutex
	Docs     storage.Store // the revisions
	Requests Requests
	Users    Users
	// Externals is nil until external signing is configured: a route with an external party is
	// then refused at start.
	Externals Externals
	Bitrix    Bitrix24 // nil: no timeline comments or workflow completion (a route from the CLI)
	// Mirroring is what the settings say of mirroring a route's end in Bitrix24 (mirror_disk.go).
	Mirroring MirrorConfig
	Audit     Auditor
	// LinkTTL bounds the final document's link told to the workflow (default 7 days).
	LinkTTL time.Duration
	// Seal seals the final revision and the certificate of completion (completion.go); nil: the
	// route completes on the last party's revision. PublicURL is where the QR code points.
	Seal      Sealer
	PublicURL string
	// Mail sends the final link to the parties with an e-mail (nil: none are mailed);
	// FinalLinkTTL is routes.final_link_ttl, DeleteAfter routes.delete_after (0: files kept).
	Mail         Mailer
	FinalLinkTTL time.Duration
	DeleteAfter  time.Duration
	// finalLinks hands the final link deliver made to tell in the same process (route id → link):
	// the record keeps only the token's hash.
	finalLinks sync.Map
	Log        *zap.Logger
	Now        func() time.Time
}

// jobs is the jobs bucket, opened on first use.
func (e *Engine) jobs(ctx context.Context) (jetstream.KeyValue, error) {
	e.jobsMu.Lock()
	defer e.jobsMu.Unlock()
	if e.Jobs != nil {
		return e.Jobs, nil
	}
	if e.JS == nil {
		return nil, fmt.Errorf("no jobs bucket to read the parties' outcomes from")
	}
	kv, err := e.JS.KeyValue(ctx, contracts.BucketJobs)
	if err != nil {
		return nil, fmt.Errorf("the jobs bucket %s, where the parties' outcomes are: %w", contracts.BucketJobs, err)
	}
	e.Jobs = kv
	return kv, nil
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now().UTC()
	}
	return time.Now().UTC()
}

func (e *Engine) log() *zap.Logger {
	if e.Log != nil {
		return e.Log
	}
	return zap.NewNop()
}

// RevisionKey is where revision n of route id is stored: under contracts.IncomingPrefix, the one
// part of the storage a job may name.
func RevisionKey(routeID string, n int) string {
	return contracts.IncomingPrefix + "routes/" + routeID + "/" + strconv.Itoa(n) + ".pdf"
}

// maxPDF bounds the document a route starts with.
const maxPDF = 64 << 20

// Start stores the document as revision 0, checks and stores the route and begins its first step.
// r.ID is made when empty; Deadline defaults to 14 days.
func (e *Engine) Start(ctx context.Context, r *Route, pdf io.Reader) (*Route, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if r.hasExternal() && e.Externals == nil {
		return nil, ErrNoExternals
	}
	now := e.now()
	if r.ID == "" {
		r.ID = NewID()
	}
	if !validID(r.ID) {
		return nil, fmt.Errorf("route id %q: use the id Signet makes", r.ID)
	}
	switch {
	case r.Deadline.IsZero():
		r.Deadline = now.Add(14 * 24 * time.Hour)
	case !r.Deadline.After(now) || r.Deadline.Sub(now) > MaxDeadline:
		return nil, fmt.Errorf("the deadline must be in the future and at most %d days away", int(MaxDeadline.Hours()/24))
	}
	if r.Originator == "" {
		return nil, fmt.Errorf("a route needs its originator (the Signet login who starts it)")
	}
	// Every internal party must be a Signet user with a certificate, now: a route that would stop at
	// its third step for a typo in a login is refused at once.
	for i := range r.Steps {
		for j := range r.Steps[i].Parties {
			if err := e.resolve(ctx, r, &r.Steps[i].Parties[j], r.Steps[i].Action); err != nil {
				return nil, fmt.Errorf("step %d, party %d: %w", i+1, j+1, err)
			}
		}
	}
	data, err := io.ReadAll(io.LimitReader(pdf, maxPDF+1))
	if err != nil {
		return nil, fmt.Errorf("reading the document: %w", err)
	}
	if len(data) > maxPDF || !strings.HasPrefix(string(data[:min(len(data), 5)]), "%PDF-") {
		return nil, fmt.Errorf("the document must be a PDF of at most %d MiB", maxPDF>>20)
	}
	sum := sha256.Sum256(data)
	r.Document.SHA256 = hex.EncodeToString(sum[:])
	r.RevisionKey, r.RevisionSHA256 = RevisionKey(r.ID, 0), r.Document.SHA256
	if _, err := e.Docs.Put(ctx, r.RevisionKey, strings.NewReader(string(data)), int64(len(data)), "application/pdf", r.Document.SHA256); err != nil {
		return nil, fmt.Errorf("storing the document: %w; try again", err)
	}
	r.State, r.Created, r.Since, r.Current, r.Revision, r.Holder, r.Told = Running, now, now, 0, 0, "", false
	r.Mirrored = nil
	if err := e.Store.create(ctx, r); err != nil {
		return nil, err
	}
	e.audit(ctx, r, nil, "started", contracts.AuditOK, "", fmt.Sprintf("%d steps, deadline %s", len(r.Steps), r.Deadline.Format(time.RFC3339)))
	e.comment(ctx, r, "route.comment.started", r.Originator, len(r.Steps))
	return e.begin(ctx, r.ID)
}

// resolve checks an internal party and fills its login and certificate.
func (e *Engine) resolve(ctx context.Context, r *Route, p *Party, action Action) error {
	if p.Kind == KindExternal {
		return nil
	}
	var (
		u   *identity.User
		err error
	)
	if p.Kind == KindBitrix24 && p.Login == "" {
		if r.Portal.MemberID == "" {
			return fmt.Errorf("a Bitrix24 user needs a route started from a portal; give a Signet login instead")
		}
		u, err = e.Users.UserByBitrixID(ctx, r.Portal.MemberID, p.BitrixUserID)
	} else {
		u, err = e.Users.GetUser(ctx, p.Login)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", p.Who(), err)
	}
	if u.Disabled {
		return fmt.Errorf("%s is disabled in Signet; ask the administrator", u.Login)
	}
	p.Login = u.Login
	if p.BitrixUserID == 0 && r.Portal.MemberID != "" {
		p.BitrixUserID = u.BitrixIDs[r.Portal.MemberID]
	}
	if action == ActionApprove {
		return nil
	}
	if p.Credential == "" {
		p.Credential = u.DefaultCredential
	}
	if p.Credential == "" {
		return fmt.Errorf("%s has no default certificate; give one or ask the administrator to set it", u.Login)
	}
	if !strings.HasPrefix(strings.ToLower(p.Credential), "pkcs11:") || strings.Contains(strings.ToLower(p.Credential), "pin-value") {
		return fmt.Errorf("certificate of %s: give the PKCS#11 URI without a PIN", u.Login)
	}
	return nil
}

// begin asks the parties of the current step, once: a party is asked when it goes from idle to
// waiting, by compare-and-set, so two processes never ask twice.
func (e *Engine) begin(ctx context.Context, id string) (*Route, error) {
	var asked []Party
	r, changed, err := e.Store.change(ctx, id, func(r *Route) (bool, error) {
		asked = asked[:0]
		if r.State.Ended() {
			return false, nil
		}
		now := e.now()
		st := &r.Steps[r.Current]
		for j := range st.Parties {
			p := &st.Parties[j]
			if p.State != PartyIdle {
				continue
			}
			p.State, p.Since, p.JobID = PartyWaiting, now, JobID(r.ID, st.ID, p.ID)
			asked = append(asked, *p)
		}
		return len(asked) > 0, nil
	})
	if err != nil || !changed {
		return r, err
	}
	st := r.Steps[r.Current]
	for i := range asked {
		p := &asked[i]
		e.audit(ctx, r, p, "asked", contracts.AuditOK, "", "step "+st.ID+": "+string(st.Action))
		e.reach(ctx, r, &st, p)
	}
	return e.Store.mustGet(ctx, r.ID)
}

// reach asks one party and records whether they were reached. One who was not (the requests
// bucket, the mail or SMS provider out of reach) stays waiting with the reason on the route page,
// and the sweeper asks again: an outage is visible to the originator and never a silent stop.
func (e *Engine) reach(ctx context.Context, r *Route, st *Step, p *Party) {
	err := e.ask(ctx, r, st, p)
	why := ""
	if err != nil {
		why = clip("not reached yet, Signet tries again: "+err.Error(), MaxReason)
		e.log().Warn("route: a party was not reached; the sweeper tries again", zap.String("route", r.ID), zap.String("party", p.ID), zap.Error(err))
	}
	if _, _, cerr := e.Store.change(ctx, r.ID, func(r *Route) (bool, error) {
		_, q := r.Party(st.ID, p.ID)
		if q == nil || q.State != PartyWaiting || q.Unreached == (err != nil) && q.Reason == why {
			return false, nil
		}
		q.Unreached, q.Reason = err != nil, why
		return true, nil
	}); cerr != nil {
		e.log().Warn("route: whether a party was reached is not recorded", zap.String("route", r.ID), zap.Error(cerr))
	}
}

// ask puts the act before one party: a request in the inbox for an internal signer, an invitation
// for an external one. An internal approver acts on the route page (its notification links there).
func (e *Engine) ask(ctx context.Context, r *Route, st *Step, p *Party) error {
	if p.Kind == KindExternal {
		return e.Externals.Invite(ctx, ExternalInvite{
			RouteID: r.ID, StepID: st.ID, PartyID: p.ID, JobID: p.JobID, Name: p.Name, Email: p.Email, Phone: p.Phone,
			DocumentKey: r.RevisionKey, Action: st.Action, Language: r.Language, Deadline: r.Deadline,
		})
	}
	if st.Action == ActionApprove {
		e.notifyApprover(ctx, r, p)
		return nil
	}
	job := e.job(r, p)
	err := e.Requests.Create(ctx, &requests.Request{ID: p.JobID, Job: job, Created: e.now(), Deadline: r.Deadline, Title: r.title()})
	if errors.Is(err, requests.ErrExists) {
		return nil
	}
	return err
}

func (r *Route) title() string {
	if r.Title != "" {
		return r.Title
	}
	return r.Document.FileName
}

// job is the party's sign job, without its document: Gate.Submit names the revision the party signs
// when they sign. It is a batch job (KindBatch) because its document is in Signet's storage (the
// only kind a worker reads from there); BatchID is the route, so its artefacts are filed together.
func (e *Engine) job(r *Route, p *Party) contracts.SignJob {
	return contracts.SignJob{
		ID: p.JobID, Kind: contracts.KindBatch, BatchID: r.ID, Created: e.now(), Portal: r.Portal,
		Document: contracts.Document{
			URL: contracts.SharedStoragePrefix + r.RevisionKey, FileName: r.Document.FileName, Source: contracts.SourceURL,
			DocumentID: r.Document.DocumentID, EntityTypeID: r.Document.EntityTypeID, EntityID: r.Document.EntityID,
		},
		Signer:     contracts.Signer{Login: p.Login, BitrixUserID: p.BitrixUserID},
		Credential: p.Credential,
		Stamp:      contracts.Stamp{Reason: clip(r.title(), 200)},
		Reply:      contracts.Reply{NotifyUserID: p.BitrixUserID},
		Language:   r.Language, TimeZone: r.TimeZone,
	}
}

// Hold gives the document of route routeID to job jobID (a party's signature about to be queued):
// it returns the key of the latest revision, which the job must sign. Only one job holds a route's
// document at a time; ErrBusy while another does (its signature is being made). A hold by the same
// job is given again (a retried submit).
func (e *Engine) Hold(ctx context.Context, routeID, jobID string) (string, error) {
	var key string
	_, _, err := e.Store.change(ctx, routeID, func(r *Route) (bool, error) {
		st, p := r.PartyByJob(jobID)
		switch {
		case r.State.Ended():
			return false, ErrEnded
		case p == nil || st.ID != r.Steps[r.Current].ID:
			return false, ErrNotYourTurn
		case r.Holder == jobID:
			key = r.RevisionKey
			return false, nil
		case r.Holder != "" && e.now().Sub(r.HolderSince) < holdStale:
			return false, ErrBusy
		case p.State != PartyWaiting:
			return false, ErrNotYourTurn
		}
		r.Holder, r.HolderSince, key = jobID, e.now(), r.RevisionKey
		p.State, p.Since = PartySigning, e.now()
		return true, nil
	})
	return key, err
}

// holdStale: a hold whose job never ended (its publish failed and nobody released it) is given up
// after this. It is as long as a job's authorisation lives (security.job_ttl, 24 h by default): a
// job still in the queue ends by then, signed or refused as expired. A job that signed an older
// revision after all is refused by its SHA-256 (signed), never filed over a newer one.
const holdStale = 24 * time.Hour

// Release gives up jobID's hold when its job was not queued after all (the party may sign again).
func (e *Engine) Release(ctx context.Context, routeID, jobID string) error {
	_, _, err := e.Store.change(ctx, routeID, func(r *Route) (bool, error) {
		if r.Holder != jobID {
			return false, nil
		}
		r.Holder = ""
		if _, p := r.PartyByJob(jobID); p != nil && p.State == PartySigning {
			p.State = PartyWaiting
		}
		return true, nil
	})
	return err
}

// WaitHold waits until route routeID's document is free (or ctx ends): the latest revision is then
// the one the next party signs.
func (e *Engine) WaitHold(ctx context.Context, routeID string) error {
	r, rev, err := e.Store.Get(ctx, routeID)
	if err != nil || r.Holder == "" {
		return err
	}
	return e.Store.waitChange(ctx, routeID, rev)
}

// JobDone advances the route of a party's job whose outcome d was delivered: the signature becomes
// the next revision, or the decline or failure ends the route. Safe to call more than once and
// from every process: each change is a compare-and-set.
func (e *Engine) JobDone(ctx context.Context, jobID string, d *contracts.Delivered) error {
	id := RouteOfJob(jobID)
	if id == "" {
		return nil
	}
	if handled, err := e.sealDone(ctx, jobID, d); handled {
		return err
	}
	r, _, err := e.Store.Get(ctx, id)
	if err != nil {
		return err
	}
	_, p := r.PartyByJob(jobID)
	if p == nil || (p.State != PartyWaiting && p.State != PartySigning) {
		return nil // told already, or withdrawn
	}
	switch d.Outcome {
	case contracts.OutcomeSigned:
		return e.signed(ctx, r, jobID)
	case contracts.OutcomeDeclined:
		return e.act(ctx, id, jobID, PartyDeclined, d.Error, "inbox")
	case contracts.OutcomeExpired:
		// The requests' sweeper ended the party's request at the route's deadline before the
		// route's own sweeper did: the route expires, it did not fail.
		_, err := e.end(ctx, id, Expired, "the deadline "+r.Deadline.Format(time.RFC3339)+" passed")
		return err
	default:
		return e.act(ctx, id, jobID, PartyFailed, d.Error, "")
	}
}

// signed files a party's signed output as the route's next revision and marks the party signed.
func (e *Engine) signed(ctx context.Context, r *Route, jobID string) error {
	jobs, err := e.jobs(ctx)
	if err != nil {
		return err
	}
	ent, err := jobs.Get(ctx, contracts.ResultKey(jobID))
	if err != nil {
		return fmt.Errorf("route %s: the result of job %s: %w", r.ID, jobID, err)
	}
	var s contracts.Signed
	if err := jsonUnmarshal(ent.Value(), &s); err != nil {
		return fmt.Errorf("route %s: the result of job %s: %w", r.ID, jobID, err)
	}
	// The next revision is a copy of the signed output under the route's prefix, made before the
	// route says so: a reader of RevisionKey always finds it. Put is idempotent for the same bytes.
	rc, obj, err := e.Docs.Get(ctx, s.PDFKey)
	if err != nil {
		return fmt.Errorf("route %s: reading the signed document of job %s: %w", r.ID, jobID, err)
	}
	next := RevisionKey(r.ID, r.Revision+1)
	_, err = e.Docs.Put(ctx, next, rc, obj.Size, "application/pdf", s.SHA256After)
	_ = rc.Close()
	if err != nil {
		return fmt.Errorf("route %s: storing revision %d: %w", r.ID, r.Revision+1, err)
	}
	var who Party
	r, changed, err := e.Store.change(ctx, r.ID, func(r *Route) (bool, error) {
		_, p := r.PartyByJob(jobID)
		if r.State.Ended() || p == nil || (p.State != PartyWaiting && p.State != PartySigning) {
			return false, nil
		}
		if (r.Holder != "" && r.Holder != jobID) || (s.SHA256Before != "" && r.RevisionSHA256 != "" && !strings.EqualFold(s.SHA256Before, r.RevisionSHA256)) {
			// This job signed another revision than the route's latest (another job holds the
			// document, or filed its signature first): its output would drop a signature, so it is
			// never the route's. It cannot happen through Gate; a party's job queued another way fails.
			p.State, p.At, p.Reason = PartyFailed, e.now(), "signed another revision than the route's latest; start the route again"
			if r.Holder == jobID {
				r.Holder = ""
			}
			who = *p
			return true, nil
		}
		p.State, p.At, p.CertSubject, p.CertSerial = PartySigned, s.SignedAt, s.CertificateSubject, s.CertificateSerial
		if p.From == "" {
			p.From = "inbox"
		}
		r.Holder, r.Revision, r.RevisionKey, r.RevisionSHA256 = "", r.Revision+1, next, s.SHA256After
		who = *p
		return true, nil
	})
	if err != nil || !changed {
		return err
	}
	if who.State == PartyFailed {
		e.audit(ctx, r, &who, "failed", contracts.AuditError, who.Reason, "")
		_, err := e.end(ctx, r.ID, Failed, who.Reason)
		return err
	}
	e.audit(ctx, r, &who, "signed", contracts.AuditOK, "", "revision "+strconv.Itoa(r.Revision)+" sha256 "+s.SHA256After)
	return e.afterAct(ctx, r.ID)
}

// act records a party's act that is not a signature: approved, declined or failed.
func (e *Engine) act(ctx context.Context, routeID, jobID string, to PartyState, reason, from string) error {
	reason = clip(strings.TrimSpace(reason), MaxReason)
	var who Party
	r, changed, err := e.Store.change(ctx, routeID, func(r *Route) (bool, error) {
		st, p := r.PartyByJob(jobID)
		if r.State.Ended() {
			return false, ErrEnded
		}
		if p == nil || st.ID != r.Steps[r.Current].ID || (p.State != PartyWaiting && p.State != PartySigning) {
			return false, ErrNotYourTurn
		}
		if to == PartyApproved && st.Action != ActionApprove {
			return false, fmt.Errorf("this step asks for a signature, not an approval; sign it in your inbox")
		}
		p.State, p.At, p.Reason, p.From = to, e.now(), reason, from
		if r.Holder == jobID {
			r.Holder = ""
		}
		who = *p
		return true, nil
	})
	if err != nil || !changed {
		return err
	}
	// The deal's timeline hears every act that is not a signature (the worker comments those).
	e.comment(ctx, r, "route.comment.party", who.Who(), e.lang(r).T("routes.party."+string(to)), reason)
	switch to {
	case PartyApproved:
		e.audit(ctx, r, &who, "approved", contracts.AuditOK, "", "from "+from)
		return e.afterAct(ctx, routeID)
	case PartyDeclined:
		e.audit(ctx, r, &who, "declined", contracts.AuditRefused, reason, "from "+from)
		e.mirrorDecline(ctx, r, &who, reason)
		_, err = e.end(ctx, routeID, Declined, who.Who()+": "+reasonOr(reason))
	default:
		e.audit(ctx, r, &who, "failed", contracts.AuditError, reason, "")
		_, err = e.end(ctx, routeID, Failed, who.Who()+": "+reasonOr(reason))
	}
	return err
}

func reasonOr(s string) string {
	if s == "" {
		return "no reason given"
	}
	return s
}

// afterAct moves to the next step when the current one's rule is met, withdrawing the parties an
// "any" step no longer needs, and completes the route after the last.
func (e *Engine) afterAct(ctx context.Context, routeID string) error {
	var withdrawn []Party
	var finished, sealing bool
	r, changed, err := e.Store.change(ctx, routeID, func(r *Route) (bool, error) {
		withdrawn, finished, sealing = withdrawn[:0], false, false
		if r.State.Ended() || r.Completion != nil || !r.Steps[r.Current].done() || r.Holder != "" {
			return false, nil
		}
		st := &r.Steps[r.Current]
		for j := range st.Parties {
			if p := &st.Parties[j]; p.State == PartyWaiting {
				p.State, p.Since = PartyWithdrawn, e.now()
				withdrawn = append(withdrawn, *p)
			}
		}
		if r.Current+1 < len(r.Steps) {
			r.Current++
		} else if sealing = e.startCompletion(r); !sealing {
			r.State, r.Since, finished = Completed, e.now(), true
		}
		return true, nil
	})
	if err != nil || !changed {
		return err
	}
	for _, p := range withdrawn {
		e.withdraw(ctx, r, &p, "another party of the step acted")
	}
	if sealing {
		return e.seal(ctx, routeID)
	}
	if finished {
		e.audit(ctx, r, nil, "completed", contracts.AuditOK, "", "revision "+strconv.Itoa(r.Revision)+": "+r.RevisionKey)
		if err := e.deliver(ctx, r.ID); err != nil {
			e.log().Warn("route: the final link is not delivered yet; the sweeper tries again", zap.String("route", r.ID), zap.Error(err))
		}
		return e.tell(ctx, r.ID)
	}
	if e.checkDocument(ctx, r) {
		return nil
	}
	e.audit(ctx, r, nil, "step", contracts.AuditOK, "", "step "+r.Steps[r.Current].ID+" begins")
	e.comment(ctx, r, "route.comment.step", r.Current+1, len(r.Steps))
	if r, err = e.begin(ctx, routeID); err == nil && r.Steps[r.Current].done() {
		return e.afterAct(ctx, routeID) // every party of this step was removed: it is skipped
	}
	return err
}

// withdraw takes a party's request out of their inbox, or ends an external party's invitation.
func (e *Engine) withdraw(ctx context.Context, r *Route, p *Party, why string) {
	if p.JobID == "" {
		return
	}
	if p.Kind == KindExternal {
		if w, ok := e.Externals.(ExternalWithdrawer); ok {
			if err := w.Withdraw(ctx, p.JobID, why); err != nil {
				e.log().Warn("a withdrawn external party's link still opens their page (a signature is refused)",
					zap.String("route", r.ID), zap.String("party", p.ID), zap.Error(err))
			}
		}
		return
	}
	if err := e.Requests.Withdraw(ctx, p.JobID, why); err != nil && !errors.Is(err, requests.ErrNotFound) {
		e.log().Warn("a withdrawn party's request stays in their inbox until the route's deadline", zap.String("route", r.ID), zap.String("party", p.ID), zap.Error(err))
	}
}

// end ends a running route in state to with reason, withdrawing every party still asked.
func (e *Engine) end(ctx context.Context, routeID string, to State, reason string) (*Route, error) {
	var withdrawn []Party
	r, changed, err := e.Store.change(ctx, routeID, func(r *Route) (bool, error) {
		withdrawn = withdrawn[:0]
		if r.State.Ended() {
			return false, nil
		}
		r.State, r.Since, r.Reason, r.Holder = to, e.now(), clip(reason, MaxReason), ""
		for i := range r.Steps {
			for j := range r.Steps[i].Parties {
				if p := &r.Steps[i].Parties[j]; p.State == PartyWaiting || p.State == PartySigning {
					p.State, p.Since = PartyWithdrawn, e.now()
					withdrawn = append(withdrawn, *p)
				}
			}
		}
		return true, nil
	})
	if err != nil || !changed {
		return r, err
	}
	for _, p := range withdrawn {
		e.withdraw(ctx, r, &p, "the route is "+string(to))
	}
	outcome := contracts.AuditRefused
	if to == Failed {
		outcome = contracts.AuditError
	}
	e.audit(ctx, r, nil, string(to), outcome, reason, "")
	return r, e.tell(ctx, r.ID)
}

// Cancel ends a running route at its originator's word. login is the person cancelling: the
// originator, or "" for an administrator (admin API, CLI), who is recorded as such.
func (e *Engine) Cancel(ctx context.Context, memberID, login, routeID, reason string) (*Route, error) {
	r, _, err := e.Store.Get(ctx, routeID)
	if err != nil {
		return nil, err
	}
	if memberID != "" && r.Portal.MemberID != memberID {
		return nil, ErrNotFound // another portal's route is never shown to exist
	}
	if login != "" && !strings.EqualFold(login, r.Originator) {
		return nil, ErrNotOriginator
	}
	if r.State.Ended() {
		return r, ErrEnded
	}
	by := login
	if by == "" {
		by = "administrator"
	}
	return e.end(ctx, routeID, Cancelled, "cancelled by "+by+": "+reasonOr(clip(strings.TrimSpace(reason), MaxReason)))
}

// Approve records an internal approver's approval or decline (approve-only steps, and declines of
// any step made on the route page). login is the person signed in on the portal memberID; from
// where they acted (their address).
func (e *Engine) Approve(ctx context.Context, memberID, login, routeID, partyID string, approve bool, reason, from string) error {
	r, _, err := e.Store.Get(ctx, routeID)
	if err != nil {
		return err
	}
	if r.Portal.MemberID != memberID {
		return ErrNotFound
	}
	st := &r.Steps[r.Current]
	_, p := r.Party(st.ID, partyID)
	if p == nil || p.Kind == KindExternal || !strings.EqualFold(p.Login, login) {
		return ErrNotYourTurn
	}
	to := PartyApproved
	if !approve {
		to = PartyDeclined
	}
	return e.act(ctx, routeID, p.JobID, to, reason, from)
}

// PartyDone is how producer/external tells an external party's act: approved (an approve-only
// step) or declined with reason; failed (their link locked, or their seal job failed: the job's
// outcome may have told it already, and then this changes nothing) or expired. A signature is told
// by its job's outcome (see Externals).
func (e *Engine) PartyDone(ctx context.Context, routeID, stepID, partyID string, outcome Outcome, reason string) error {
	r, _, err := e.Store.Get(ctx, routeID)
	if err != nil {
		return err
	}
	_, p := r.Party(stepID, partyID)
	if p == nil || p.Kind != KindExternal {
		return ErrNotYourTurn
	}
	switch outcome {
	case OutcomeApproved:
		return e.act(ctx, routeID, p.JobID, PartyApproved, reason, "external link")
	case OutcomeDeclined:
		return e.act(ctx, routeID, p.JobID, PartyDeclined, reason, "external link")
	case OutcomeFailed:
		return e.act(ctx, routeID, p.JobID, PartyFailed, reason, "external link")
	case OutcomeExpired:
		if r.State.Ended() || (p.State != PartyWaiting && p.State != PartySigning) {
			return nil // told already
		}
		_, err := e.end(ctx, routeID, Expired, p.Who()+": the link expired unanswered")
		return err
	case OutcomeSigned:
		return fmt.Errorf("a signature is recorded when its job (id %s) is delivered; queue the seal job with that id", p.JobID)
	}
	return fmt.Errorf("unknown outcome %q: use approved, declined, failed or expired", outcome)
}

// mustGet reads a route again after a change.
func (s *Store) mustGet(ctx context.Context, id string) (*Route, error) {
	r, _, err := s.Get(ctx, id)
	return r, err
}

// Get returns a route of the portal memberID ("" for an administrator: any route).
func (e *Engine) Get(ctx context.Context, memberID, routeID string) (*Route, error) {
	r, _, err := e.Store.Get(ctx, routeID)
	if err != nil {
		return nil, err
	}
	if memberID != "" && r.Portal.MemberID != memberID {
		return nil, ErrNotFound
	}
	return r, nil
}

// audit records one transition under the route's id: who (the party, or the engine), when, from
// where and with what outcome.
func (e *Engine) audit(ctx context.Context, r *Route, p *Party, what, outcome, reason, detail string) {
	if e.Audit == nil {
		return
	}
	ev := contracts.AuditEvent{
		Action: contracts.AuditRouteChanged, Time: e.now(), Portal: r.Portal.MemberID, JobID: r.ID, Outcome: outcome,
		Reason: clip(reason, MaxReason), Login: r.Originator,
	}
	d := what
	if p != nil {
		ev.Login, ev.BitrixUserID, ev.Credential = p.Login, p.BitrixUserID, p.Credential
		ev.CertSerial, ev.CertSubject = p.CertSerial, p.CertSubject
		d = what + " party " + p.ID + " (" + p.Who() + ")"
		if p.From != "" {
			d += " from " + p.From
		}
	}
	if detail != "" {
		d += "; " + detail
	}
	ev.Detail = clip(d, 1000)
	if err := e.Audit.Record(ctx, ev); err != nil {
		e.log().Error("route transition not recorded in the audit trail", zap.String("route", r.ID), zap.String("what", what), zap.Error(err))
	}
}

// clip cuts s to at most n bytes on a character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// ListFor returns the routes of portal memberID that login started or is a party of, newest first.
func (e *Engine) ListFor(ctx context.Context, memberID, login string) ([]*Route, error) {
	all, err := e.Store.All(ctx)
	if err != nil {
		return nil, err
	}
	var out []*Route
	for _, r := range all {
		if r.Portal.MemberID != memberID {
			continue
		}
		mine := strings.EqualFold(r.Originator, login)
		for _, st := range r.Steps {
			for _, p := range st.Parties {
				mine = mine || (p.Kind != KindExternal && strings.EqualFold(p.Login, login))
			}
		}
		if mine {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

// notifyApprover tells an internal approver in Bitrix24 that the route waits for them, with the
// route page's name; TAG is the party's, so a reminder replaces the first notice. A failure is
// logged: the route page shows the step whatever the notification did.
func (e *Engine) notifyApprover(ctx context.Context, r *Route, p *Party) {
	if e.Bitrix == nil || r.Portal.MemberID == "" || p.BitrixUserID == 0 {
		return
	}
	l := e.lang(r)
	if err := e.Bitrix.Call(ctx, r.Portal.MemberID, "im.notify.system.add", map[string]any{
		"USER_ID": p.BitrixUserID,
		"MESSAGE": l.T("route.notify.approve", r.title(), r.Originator, l.T("routes.menu.title")),
		"TAG":     "signet-route-" + p.JobID,
	}, nil); err != nil {
		e.log().Warn("route: the approver was not notified; the route page shows the step", zap.String("route", r.ID), zap.String("party", p.ID), zap.Error(err))
	}
}

// Document opens the latest revision of the route of a party's job (the inbox's preview: the
// request's own document may be an older revision by now); ErrNotFound for any other job.
func (e *Engine) Document(ctx context.Context, jobID string) (io.ReadCloser, error) {
	id := RouteOfJob(jobID)
	if id == "" {
		return nil, ErrNotFound
	}
	r, _, err := e.Store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if _, p := r.PartyByJob(jobID); p == nil {
		return nil, ErrNotFound
	}
	rc, _, err := e.Docs.Get(ctx, r.RevisionKey)
	return rc, err
}
