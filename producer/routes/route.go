package routes

import (
	"errors"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/signet-b24/signet/contracts"
)

// Kind of a party (issue 20, must 1).
type Kind string

const (
	KindSignet   Kind = "signet"   // a Signet user, by login
	KindBitrix24 Kind = "bitrix24" // a Bitrix24 user of the route's portal, linked to a Signet user
	KindExternal Kind = "external" // a person outside the company: name, e-mail and/or phone
)

// Need says how many parties of a step must act.
type Need string

const (
	NeedAll Need = "all" // every party
	NeedAny Need = "any" // the first one; the others are withdrawn
)

// Action says what a party does.
type Action string

const (
	ActionSign    Action = "sign"    // a PAdES signature with the party's own certificate
	ActionApprove Action = "approve" // approve or decline, without a signature (recorded in audit)
)

// State of a route.
type State string

const (
	Running   State = "running"
	Completed State = "completed" // every step done; Final is the signed document
	Declined  State = "declined"  // a party declined; Reason is theirs
	Cancelled State = "cancelled" // the originator cancelled
	Expired   State = "expired"   // Deadline passed
	Failed    State = "failed"    // a party's job failed; Reason says why
	Changed   State = "changed"   // the document changed in Bitrix24 mid-route; Reason says how
)

// Ended reports whether the route is over.
func (s State) Ended() bool { return s != Running }

// PartyState of one party.
type PartyState string

const (
	PartyIdle      PartyState = "idle"      // its step has not begun
	PartyWaiting   PartyState = "waiting"   // asked; not acted yet
	PartySigning   PartyState = "signing"   // holds the document; its job is queued
	PartySigned    PartyState = "signed"    // its signature is in the document
	PartyApproved  PartyState = "approved"  // approved (approve-only step)
	PartyDeclined  PartyState = "declined"  // declined with Reason
	PartyFailed    PartyState = "failed"    // its job failed
	PartyWithdrawn PartyState = "withdrawn" // no longer asked: another party of an "any" step acted, or the route ended
	PartyRemoved   PartyState = "removed"   // taken out of the route mid-route (RemoveParty); Reason says by whom
)

// Outcome is what an external party's handler reports through Engine.PartyDone.
type Outcome string

const (
	OutcomeSigned   Outcome = "signed"
	OutcomeApproved Outcome = "approved"
	OutcomeDeclined Outcome = "declined"
	// OutcomeFailed: the party can no longer sign (their link locked after too many wrong codes, or
	// their seal job failed); the route fails with the reason. OutcomeExpired: their link expired
	// unanswered; the route expires.
	OutcomeFailed  Outcome = "failed"
	OutcomeExpired Outcome = "expired"
)

// Party is one person asked to act on a step.
type Party struct {
	ID   string `json:"id"`
	Kind Kind   `json:"kind"`
	// Login is the Signet user (KindSignet, or the user a KindBitrix24 party is linked to).
	Login        string `json:"login,omitempty"`
	BitrixUserID int    `json:"bitrix_user_id,omitempty"`
	// Name, Email and Phone reach an external party.
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
	// Credential is the signing certificate (RFC 7512 URI); empty: the user's default.
	Credential string `json:"credential,omitempty"`

	State PartyState `json:"state"`
	// JobID is the job of the party's signature and its request in the inbox.
	JobID string    `json:"job_id,omitempty"`
	Since time.Time `json:"since,omitempty"`
	// At is when the party acted; From where (the address or channel the act came from).
	At     time.Time `json:"at,omitempty"`
	From   string    `json:"from,omitempty"`
	Reason string    `json:"reason,omitempty"`
	// CertSubject and CertSerial are the certificate of the party's signature.
	CertSubject string `json:"cert_subject,omitempty"`
	CertSerial  string `json:"cert_serial,omitempty"`
	Reminded    bool   `json:"reminded,omitempty"`
	// Unreached: asking the party failed (Reason says why); the sweeper asks again.
	Unreached bool `json:"unreached,omitempty"`
}

// Who names the party for people (never a secret).
func (p *Party) Who() string {
	switch {
	case p.Kind == KindExternal && p.Name != "":
		return p.Name
	case p.Login != "":
		return p.Login
	case p.BitrixUserID != 0:
		return "user " + strconv.Itoa(p.BitrixUserID)
	}
	return p.ID
}

// Step is one stage of a route.
type Step struct {
	ID      string  `json:"id"`
	Need    Need    `json:"need"`
	Action  Action  `json:"action"`
	Parties []Party `json:"parties"`
}

// done reports whether the step's rule is met.
func (s *Step) done() bool {
	n, asked := 0, 0
	for _, p := range s.Parties {
		if p.State == PartySigned || p.State == PartyApproved {
			n++
		}
		if p.State != PartyRemoved {
			asked++
		}
	}
	if asked == 0 {
		return true // every party was removed: the step is skipped
	}
	if s.Need == NeedAny {
		return n > 0
	}
	return n == asked
}

// Document is the route's document and where Bitrix24 knows it.
type Document struct {
	FileName string `json:"file_name"`
	// SHA256 of the original.
	SHA256 string `json:"sha256"`
	// DocumentID, EntityTypeID and EntityID name the workflow's document and CRM item: the timeline
	// comments go there.
	DocumentID []string `json:"document_id,omitempty"`
	// DiskFileID is the Bitrix24 Disk file the route's document came from: the final document
	// becomes its new version when the route completes.
	DiskFileID   int `json:"disk_file_id,omitempty"`
	EntityTypeID int `json:"entity_type_id,omitempty"`
	EntityID     int `json:"entity_id,omitempty"`
}

// Route is a document and the steps it goes through.
type Route struct {
	ID     string           `json:"id"`
	Portal contracts.Portal `json:"portal"`
	// Originator started the route: a Signet login, and their Bitrix24 id when started from a portal.
	Originator   string   `json:"originator"`
	OriginatorID int      `json:"originator_id,omitempty"`
	Title        string   `json:"title"`
	Document     Document `json:"document"`
	Steps        []Step   `json:"steps"`

	State   State     `json:"state"`
	Created time.Time `json:"created"`
	Since   time.Time `json:"since"`
	// Deadline ends a running route as expired; RemindAfter is how long a party waits before one
	// reminder (0: none).
	Deadline    time.Time     `json:"deadline"`
	RemindAfter time.Duration `json:"remind_after,omitempty"`
	Reason      string        `json:"reason,omitempty"`
	// Current is the index of the running step.
	Current int `json:"current"`
	// Revision counts the signatures in the document; RevisionKey is the latest revision's key in
	// storage (the original when 0).
	Revision    int    `json:"revision"`
	RevisionKey string `json:"revision_key"`
	// RevisionSHA256 is the latest revision's SHA-256: the next signature must be made on it.
	RevisionSHA256 string `json:"revision_sha256,omitempty"`
	// Holder is the job that holds the document (its signature is being made); HolderSince when it
	// took it.
	Holder      string    `json:"holder,omitempty"`
	HolderSince time.Time `json:"holder_since,omitempty"`
	// Reply completes the workflow that started the route (robot "signet_route"), Language and
	// TimeZone are how its messages are written.
	Reply    contracts.Reply `json:"reply"`
	Language string          `json:"language,omitempty"`
	TimeZone string          `json:"time_zone,omitempty"`
	// Told: the end was reported to the workflow and the deal's timeline.
	Told bool `json:"told,omitempty"`
	// Mirror says how the route is mirrored in Bitrix24; Mirrored is each call made or to be made
	// (mirror.go).
	Mirror   Mirror       `json:"mirror,omitempty"`
	Mirrored []MirrorStep `json:"mirrored,omitempty"`
	// Completion is the seal of the final revision and the certificate of completion, once every
	// step is done (completion.go).
	Completion *Completion `json:"completion,omitempty"`
}

// Party finds a party by its step and id.
func (r *Route) Party(stepID, partyID string) (*Step, *Party) {
	for i := range r.Steps {
		if r.Steps[i].ID != stepID {
			continue
		}
		for j := range r.Steps[i].Parties {
			if r.Steps[i].Parties[j].ID == partyID {
				return &r.Steps[i], &r.Steps[i].Parties[j]
			}
		}
	}
	return nil, nil
}

// PartyByJob finds the party whose job is jobID.
func (r *Route) PartyByJob(jobID string) (*Step, *Party) {
	for i := range r.Steps {
		for j := range r.Steps[i].Parties {
			if p := &r.Steps[i].Parties[j]; p.JobID == jobID {
				return &r.Steps[i], p
			}
		}
	}
	return nil, nil
}

// Errors a caller shows; each says what to do.
var (
	ErrNotFound      = errors.New("no such route; check its id")
	ErrEnded         = errors.New("the route has ended; start a new one")
	ErrNotOriginator = errors.New("only the person who started the route may cancel it")
	ErrNotYourTurn   = errors.New("this route is not waiting for you now: your step has not begun, you acted already, or you are not one of its parties")
	ErrChanged       = errors.New("the route changed meanwhile; look at it again")
	ErrNoExternals   = errors.New("this route has an external party, but this Signet has no external signing configured; ask the administrator, or give only internal parties")
	ErrBusy          = errors.New("another party is signing this document right now; try again in a minute")
)

// Limits of a route: it travels in one KV record and its parties are shown on one page.
const (
	MaxSteps    = 20
	MaxParties  = 20
	MaxDeadline = 90 * 24 * time.Hour
	MaxReason   = 500
	maxText     = 200
)

// Validate checks a route given by a caller before it starts, and fills the ids it lacks.
func (r *Route) Validate() error {
	if len(r.Steps) == 0 {
		return fmt.Errorf("a route needs at least one step")
	}
	if len(r.Steps) > MaxSteps {
		return fmt.Errorf("a route has at most %d steps", MaxSteps)
	}
	if utf8.RuneCountInString(r.Title) > maxText {
		return fmt.Errorf("the route's title is longer than %d characters", maxText)
	}
	if err := r.Mirror.validate(); err != nil {
		return err
	}
	for i := range r.Steps {
		s := &r.Steps[i]
		s.ID = "s" + strconv.Itoa(i+1)
		if s.Need == "" {
			s.Need = NeedAll
		}
		if s.Action == "" {
			s.Action = ActionSign
		}
		if s.Need != NeedAll && s.Need != NeedAny {
			return fmt.Errorf("step %d: need is %q; use \"all\" or \"any\"", i+1, s.Need)
		}
		if s.Action != ActionSign && s.Action != ActionApprove {
			return fmt.Errorf("step %d: action is %q; use \"sign\" or \"approve\"", i+1, s.Action)
		}
		if len(s.Parties) == 0 || len(s.Parties) > MaxParties {
			return fmt.Errorf("step %d: give between 1 and %d parties", i+1, MaxParties)
		}
		for j := range s.Parties {
			p := &s.Parties[j]
			p.ID, p.State = "p"+strconv.Itoa(j+1), PartyIdle
			if err := p.validate(); err != nil {
				return fmt.Errorf("step %d, party %d: %w", i+1, j+1, err)
			}
		}
	}
	return nil
}

func (p *Party) validate() error {
	for _, f := range []string{p.Login, p.Name, p.Email, p.Phone, p.Credential} {
		if utf8.RuneCountInString(f) > maxText || strings.ContainsAny(f, "\r\n") {
			return fmt.Errorf("a field is longer than %d characters or has a line break", maxText)
		}
	}
	switch p.Kind {
	case KindSignet:
		if p.Login == "" {
			return fmt.Errorf("a Signet user needs a login")
		}
	case KindBitrix24:
		if p.BitrixUserID <= 0 && p.Login == "" {
			return fmt.Errorf("a Bitrix24 user needs their user id")
		}
	case KindExternal:
		if p.Name == "" || (p.Email == "" && p.Phone == "") {
			return fmt.Errorf("an external person needs a name and an e-mail or a phone")
		}
		if p.Email != "" {
			if _, err := mail.ParseAddress(p.Email); err != nil {
				return fmt.Errorf("e-mail %q is not an address", p.Email)
			}
		}
	default:
		return fmt.Errorf("kind is %q; use \"signet\", \"bitrix24\" or \"external\"", p.Kind)
	}
	return nil
}

// hasExternal reports whether any party is external.
func (r *Route) hasExternal() bool {
	for _, s := range r.Steps {
		for _, p := range s.Parties {
			if p.Kind == KindExternal {
				return true
			}
		}
	}
	return false
}
