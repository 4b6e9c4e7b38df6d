package producer

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24/portals"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/audit"
	"github.com/signet-b24/signet/internal/routes"
	"github.com/signet-b24/signet/producer/identity"
	"github.com/signet-b24/signet/producer/requests"
	sigroutes "github.com/signet-b24/signet/producer/routes"
)

// Identity is what the intake needs from the identity service: who the signer is, and the one
// authorisation check (OTP, OTP not required, or batch grant) that every intake path goes through.
type Identity interface {
	UserByBitrixID(ctx context.Context, memberID string, bitrixUserID int) (*identity.User, error)
	Authorize(ctx context.Context, login, code, grantID, credentialURI string) (*identity.Decision, error)
	// CredentialPortal names the portal (member_id) a credential is assigned to; "" is Signet-wide.
	CredentialPortal(ctx context.Context, credentialURI string) (string, error)
}

// Intake receives sign requests and turns them into SignJobs.
type Intake struct {
	callsState // the robot calls bucket, opened on first use (calls.go)

	JS       jetstream.JetStream
	Portals  *portals.Registry
	Identity Identity
	// Domains are the portal domains allowed to install Signet.
	Domains []string
	// RobotCode is the CODE of Signet's robot; calls for another code are refused.
	RobotCode string
	// Bitrix calls the portals: robot and Sign-button registration at install, and the Sign dialog's
	// user and file lookups. Nil: installs are stored without registering anything.
	Bitrix Bitrix
	// Prover confirms an install's access token with the portal (nil: Bitrix if it can, else a plain
	// client); InstallWindow bounds a token-less ONAPPINSTALL after the installation page (install.go).
	Prover        InstallProver
	InstallWindow time.Duration
	// PublicURL is where Bitrix24 and browsers reach Signet; handler URLs are built from it.
	PublicURL string
	// FormKey signs the Sign dialog's form tokens (CSRF); 32 random bytes, e.g. from <data_dir>.
	FormKey []byte
	// Links makes a download link for a stored signed PDF (the Sign dialog shows it); nil shows none.
	Links func(ctx context.Context, key string) (string, error)
	// Certificate finds the certificate of a credential, so that the Sign dialog names it by person,
	// issuer and validity (issue 19, must 6); nil, or an error, names it by token and label.
	Certificate func(ctx context.Context, uri string) (*x509.Certificate, error)
	// JobKey signs each job's authorisation, which workers verify before touching a key. Nil: no job
	// is queued (the intake refuses to publish an unsigned job).
	JobKey *contracts.JobSigner
	// TimeZone (signing.time_zone, an IANA name; "" is UTC) is a job's zone when the signer's
	// Bitrix24 TIME_ZONE is not known (locale.go).
	TimeZone string
	zones    zoneCache
	// Requests is where a robot call whose signer needs a code and got none becomes a request to
	// sign (issue 19); nil: such a call is refused for want of a code, as before requests existed.
	Requests *requests.Service
	// RequestDeadline (requests.deadline) is how long a request waits when the robot names no
	// deadline; 0: DefaultRequestDeadline.
	RequestDeadline time.Duration
	// Bulk is what the bulk-signing page needs (bulkpage.go); nil: the page says Signet is not set up for it.
	Bulk *BulkSigning
	// Routes runs signing routes (issue 20): the robot "signet_route" starts them and the route page
	// shows them; nil: that robot is refused and the page says routes are off.
	RouteEngine *sigroutes.Engine
	// Audit receives the intake's events: requests accepted and refused, OTP outcomes.
	Audit identity.Recorder
	Log   *zap.Logger
	Now   func() time.Time
}

// Routes mounts the Bitrix24 endpoints.
func (in *Intake) Routes(mux routes.Mux) {
	mux.HandleFunc("POST /bitrix24/robot", in.handleRobot)
	mux.HandleFunc("POST /bitrix24/install", in.handleInstall)
	in.placementRoutes(mux)
	in.inboxRoutes(mux)
	in.bulkRoutes(mux)
	mux.HandleFunc("POST "+RouteRobotPath, in.handleRouteRobot)
	in.routePageRoutes(mux)
}

func (in *Intake) now() time.Time {
	if in.Now != nil {
		return in.Now()
	}
	return time.Now()
}

// publishJob queues a job. The Nats-Msg-Id is the job id, so a Bitrix24 retry of the same robot call
// (same event_token) inside the duplicate window is dropped by JetStream instead of signed twice.
// The job is signed last, after every field is set: the authorisation covers all of them.
func (in *Intake) publishJob(ctx context.Context, job *contracts.SignJob) (duplicate bool, err error) {
	if in.JobKey == nil {
		return false, fmt.Errorf("job %s not queued: the intake has no job signing key (security.job_signing_key_file)", job.ID)
	}
	in.JobKey.Sign(job, in.now())
	data, err := job.Marshal()
	if err != nil {
		return false, err
	}
	ack, err := in.JS.PublishMsg(ctx, &nats.Msg{
		Subject: job.Kind.Subject(),
		Data:    data,
		Header:  nats.Header{contracts.HeaderMsgID: []string{job.ID}},
	}, jetstream.WithExpectStream(contracts.StreamSign))
	if err != nil {
		return false, fmt.Errorf("queueing job %s: %w", job.ID, err)
	}
	if !ack.Duplicate {
		e := audit.JobEvent(contracts.AuditRequestAccepted, job)
		e.Outcome, e.Detail = contracts.AuditOK, "authorization "+job.Signer.Authorization
		in.record(ctx, e)
	}
	return ack.Duplicate, nil
}

// record appends an audit event; a failure is logged: the trail must not turn a signature away.
func (in *Intake) record(ctx context.Context, e contracts.AuditEvent) {
	if in.Audit == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = in.now().UTC()
	}
	if err := in.Audit.Record(ctx, e); err != nil {
		in.Log.Error("audit event not recorded", zap.String("action", e.Action), zap.String("job_id", e.JobID), zap.Error(err))
	}
}

// authorize is the one check every intake path makes (identity.Authorize), with its outcome in the
// audit trail: OTP verified, not required, grant used, or refused with the reason.
func (in *Intake) authorize(ctx context.Context, job *contracts.SignJob, login, code, grantID string) (*identity.Decision, error) {
	// A credential assigned to one portal signs only for that portal's calls, whatever a mapping says
	// (docs/security/tenancy.md): a user mapped on two portals cannot carry one company's key to the other.
	if job.Credential != "" && job.Portal.MemberID != "" {
		owner, err := in.Identity.CredentialPortal(ctx, job.Credential)
		if err != nil {
			return nil, err
		}
		if owner != "" && owner != job.Portal.MemberID {
			return nil, &refusal{key: "refusal.credential.otherPortal", args: []any{job.Credential}, err: identity.ErrCredentialNotMapped}
		}
	}
	d, err := in.Identity.Authorize(ctx, login, code, grantID, job.Credential)
	e := audit.JobEvent(contracts.AuditOTPVerified, job)
	e.Login = login
	switch {
	case err == nil && d.Method == identity.MethodOTPNotRequired:
		e.Action, e.Outcome = contracts.AuditOTPNotRequired, contracts.AuditOK
	case err == nil && d.Method == identity.MethodGrant:
		e.Action, e.Outcome, e.Detail = contracts.AuditGrantUsed, contracts.AuditOK, "batch grant"
	case err == nil:
		e.Outcome = contracts.AuditOK
	case errors.Is(err, identity.ErrLockedOut):
		return nil, err // the identity service records the lockout itself
	case errors.Is(err, identity.ErrOTPInvalid), errors.Is(err, identity.ErrOTPReplayed), errors.Is(err, identity.ErrOTPFormat), errors.Is(err, identity.ErrNotEnrolled):
		e.Action, e.Outcome, e.Reason = contracts.AuditOTPFailed, contracts.AuditRefused, err.Error()
	default:
		return nil, err // refused for another reason (user, credential): recorded with the refusal
	}
	in.record(ctx, e)
	return d, err
}

// publishRefusal sends a failed result straight to the callback stream, so a workflow whose request
// was refused at intake learns why instead of waiting forever.
func (in *Intake) publishRefusal(ctx context.Context, job *contracts.SignJob, reason string, failure *contracts.Failure) error {
	return in.publishEnd(ctx, job, contracts.OutcomeFailed, reason, failure)
}

// reply writes a small JSON answer. Bitrix24 does not read a robot handler's answer; people and tests do.
func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

type answer struct {
	JobID     string `json:"job_id,omitempty"`
	Status    string `json:"status"`
	Error     string `json:"error,omitempty"`
	Duplicate bool   `json:"duplicate,omitempty"`
}
