package external

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// BucketInvitations holds the invitations; only this package opens it (docs/architecture.md: a
// one-package bucket is named beside its code).
const BucketInvitations = "signet_external_invitations"

// State is where an invitation is.
type State string

const (
	Pending  State = "pending"  // link sent; the code is not verified yet
	Verified State = "verified" // the code is verified; the page is open in the party's browser
	Queued   State = "queued"   // confirmed: the seal's job is queued
	Signed   State = "signed"   // the job is delivered, signed
	Failed   State = "failed"   // the job is delivered, not signed
	Declined State = "declined" // the party declined, with a reason
	Expired  State = "expired"  // nobody finished before Expires
	Locked   State = "locked"   // too many wrong codes: the originator must invite again
	// Withdrawn: the route engine ended it (party removed, route cancelled, document changed).
	Withdrawn State = "withdrawn"
)

// Ended says whether nothing more can happen to an invitation but telling the route engine.
func (s State) Ended() bool {
	return s == Signed || s == Failed || s == Declined || s == Expired || s == Locked || s == Withdrawn
}

// Channel is how the link and the code reach the party.
type Channel string

const (
	ChannelEmail Channel = "email"
	ChannelSMS   Channel = "sms"
)

// Evidence is what the page observed when the party proved the code and when they confirmed: it goes
// into the signature's /Reason (signed) and the audit trail.
type Evidence struct {
	IP        string    `json:"ip,omitempty"`
	UserAgent string    `json:"ua,omitempty"`
	At        time.Time `json:"at"`
}

// Invitation is one external party's invitation to sign one revision of a document.
type Invitation struct {
	ID      string `json:"id"`
	RouteID string `json:"route_id"`
	StepID  string `json:"step_id"`
	PartyID string `json:"party_id"`
	Name    string `json:"name"`
	Email   string `json:"email,omitempty"`
	Phone   string `json:"phone,omitempty"` // E.164, "+79991234567"
	// DocumentKey is the object in Signet's storage holding the revision to sign; it must be under
	// contracts.IncomingPrefix, the part of the storage a job may name (worker/fetch_batch.go).
	DocumentKey string    `json:"document_key"`
	FileName    string    `json:"file_name,omitempty"`
	Language    string    `json:"language,omitempty"`
	TimeZone    string    `json:"time_zone,omitempty"`
	Channel     Channel   `json:"channel"`
	Created     time.Time `json:"created"`
	Expires     time.Time `json:"expires"`

	State State     `json:"state"`
	Since time.Time `json:"since"`
	// LinkHash is the SHA-256 of the link's secret (token.go); the link itself is never stored.
	LinkHash string `json:"link_hash"`
	// LinkUsed: the link was spent on a verified code; the page goes on only with the session.
	LinkUsed bool `json:"link_used,omitempty"`
	// The current code (code.go): its keyed hash, when it was sent and until when it holds.
	CodeHash    string    `json:"code_hash,omitempty"`
	CodeSent    time.Time `json:"code_sent,omitempty"`
	CodeExpires time.Time `json:"code_expires,omitempty"`
	CodesSent   int       `json:"codes_sent,omitempty"`
	Failures    int       `json:"failures,omitempty"`
	// SessionHash is the SHA-256 of the page's session secret, given to the browser that proved the code.
	SessionHash string    `json:"session_hash,omitempty"`
	Verified    *Evidence `json:"verified,omitempty"` // the code's verification
	Confirmed   *Evidence `json:"confirmed,omitempty"`
	// JobID is the seal job's id: given by the caller at Invite (the route engine's party job) or
	// set at confirmation (see the function JobID).
	JobID  string `json:"job_id,omitempty"`
	Reason string `json:"reason,omitempty"` // the party's, on decline; the worker's, on failure
	// Told: Done has been told of the end; the sweeper tells it until it is.
	Told bool `json:"told,omitempty"`
}

// Address is the channel's address: the e-mail or the phone number.
func (inv *Invitation) Address() string {
	if inv.Channel == ChannelSMS {
		return inv.Phone
	}
	return inv.Email
}

// Errors the page maps to what it says.
var (
	ErrNotFound  = errors.New("no such invitation: the link is wrong or was cut; open it from the message again")
	ErrExpired   = errors.New("this invitation has expired; ask the sender for a new one")
	ErrUsed      = errors.New("this link has been used already; ask the sender for a new one if you did not use it")
	ErrLocked    = errors.New("too many wrong codes: this invitation is locked; ask the sender for a new one")
	ErrEnded     = errors.New("this invitation is finished: the document was signed or declined")
	ErrWithdrawn = errors.New("the sender withdrew this invitation")
	ErrSession   = errors.New("this page is not open for you any more; open the link from the message again")
	ErrCodeWrong = errors.New("wrong code; check the last message and type its code")
	ErrCodeStale = errors.New("the code has expired (codes hold 5 minutes); ask for a new one")
	ErrNoCode    = errors.New("no code has been sent yet; ask for one")
	ErrThrottled = errors.New("a code was sent moments ago; wait a minute before asking again")
	ErrTooMany   = errors.New("as many codes as allowed have been sent for this invitation; ask the sender for a new one")
	ErrChanged   = errors.New("the invitation changed meanwhile; try again")
	// ErrBusy: another party's signature of the same document is being made (Service.Hold); the
	// party confirms again in a moment, nothing was consumed.
	ErrBusy = errors.New("another signature of this document is being made right now; confirm again in a moment")
	// errJobClaimed: another Invite claimed the same seal job meanwhile.
	errJobClaimed = errors.New("another invitation claimed this seal job meanwhile")
)

// store is the invitations bucket.
type store struct{ kv jetstream.KeyValue }

func openStore(ctx context.Context, js jetstream.JetStream, replicas int) (*store, error) {
	kv, err := js.KeyValue(ctx, BucketInvitations)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		// Made here only where this process provisions (the demo, a single process); in a secured
		// deployment `signet setup` made it and the intake may only read and write it.
		kv, err = js.CreateKeyValue(ctx, invitationsConfig(replicas))
	}
	if err != nil {
		return nil, fmt.Errorf("external invitations bucket %s: %w", BucketInvitations, err)
	}
	return &store{kv: kv}, nil
}

func invitationsConfig(replicas int) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      BucketInvitations,
		Description: "External signers' invitations: link and code hashes, state, evidence (producer/external)",
		History:     1,
		Replicas:    max(replicas, 1),
		Storage:     jetstream.FileStorage,
	}
}

// Provision creates or updates the invitations bucket: `signet setup` (and a provisioning server)
// calls it, so that the intake itself never changes the bucket's settings (issue 21, must 3).
func Provision(ctx context.Context, js jetstream.JetStream, replicas int) error {
	if _, err := js.CreateOrUpdateKeyValue(ctx, invitationsConfig(replicas)); err != nil {
		return fmt.Errorf("external invitations bucket %s: %w", BucketInvitations, err)
	}
	return nil
}

func (s *store) create(ctx context.Context, inv *Invitation) error {
	b, err := json.Marshal(inv)
	if err != nil {
		return err
	}
	_, err = s.kv.Create(ctx, inv.ID, b)
	return err
}

func (s *store) get(ctx context.Context, id string) (*Invitation, uint64, error) {
	e, err := s.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, err
	}
	var inv Invitation
	if err := json.Unmarshal(e.Value(), &inv); err != nil {
		return nil, 0, fmt.Errorf("invitation %s unreadable: %w", id, err)
	}
	return &inv, e.Revision(), nil
}

// update applies fn to the stored invitation and writes it back if nobody changed it meanwhile,
// trying again a few times. fn's error is returned as it is, with the invitation as fn left it
// (an attempt counter must be stored even when the call fails: keep, when true, stores it anyway).
func (s *store) update(ctx context.Context, id string, fn func(*Invitation) (keep bool, err error)) (*Invitation, error) {
	for range 8 {
		inv, rev, err := s.get(ctx, id)
		if err != nil {
			return nil, err
		}
		keep, ferr := fn(inv)
		if ferr != nil && !keep {
			return inv, ferr
		}
		b, err := json.Marshal(inv)
		if err != nil {
			return nil, err
		}
		if _, err := s.kv.Update(ctx, id, b, rev); err != nil {
			if errors.Is(err, jetstream.ErrKeyExists) {
				continue
			}
			return nil, err
		}
		return inv, ferr
	}
	return nil, ErrChanged
}

// jobIndexPrefix starts the keys that index an invitation by its caller-given seal job id (Invite's
// idempotency): "job.<SHA-256 of the job id, hex>" holds the invitation's id. A hash, because a job
// id may hold characters a key may not.
const jobIndexPrefix = "job."

func jobIndexKey(jobID string) string {
	sum := sha256.Sum256([]byte(jobID))
	return jobIndexPrefix + hex.EncodeToString(sum[:])
}

// byJob returns the invitation the index names for jobID (nil when none, or when it is gone) and
// a claim that points the index at a new invitation if nobody changed it meanwhile (errJobClaimed).
func (s *store) byJob(ctx context.Context, jobID string) (*Invitation, func(context.Context, string) error, error) {
	key := jobIndexKey(jobID)
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, func(ctx context.Context, id string) error {
			_, err := s.kv.Create(ctx, key, []byte(id))
			if errors.Is(err, jetstream.ErrKeyExists) {
				return errJobClaimed
			}
			return err
		}, nil
	}
	if err != nil {
		return nil, nil, err
	}
	rev := e.Revision()
	claim := func(ctx context.Context, id string) error {
		_, err := s.kv.Update(ctx, key, []byte(id), rev)
		if errors.Is(err, jetstream.ErrKeyExists) {
			return errJobClaimed
		}
		return err
	}
	inv, _, err := s.get(ctx, string(e.Value()))
	if errors.Is(err, ErrNotFound) {
		return nil, claim, nil // its link was never sent, or it ended long ago
	}
	if err != nil {
		return nil, nil, err
	}
	return inv, claim, nil
}

// dropJob removes jobID's index entry if it still names invitation id (the sweeper removing it).
func (s *store) dropJob(ctx context.Context, jobID, id string) {
	key := jobIndexKey(jobID)
	if e, err := s.kv.Get(ctx, key); err == nil && string(e.Value()) == id {
		_ = s.kv.Delete(ctx, key, jetstream.LastRevision(e.Revision()))
	}
}

// all lists every invitation (the sweeper's walk; the bucket holds the open ones and a week of ended ones).
func (s *store) all(ctx context.Context) ([]*Invitation, error) {
	lister, err := s.kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var out []*Invitation
	for k := range lister.Keys() {
		if strings.HasPrefix(k, jobIndexPrefix) {
			continue
		}
		inv, _, err := s.get(ctx, k)
		if err != nil {
			continue
		}
		out = append(out, inv)
	}
	return out, nil
}

func (s *store) delete(ctx context.Context, id string) error { return s.kv.Delete(ctx, id) }
