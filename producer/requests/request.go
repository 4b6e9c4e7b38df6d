package requests

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/internal/kvrecord"

	"github.com/signet-b24/signet/contracts"
)

// State of a request. Pending is the only state a request leaves by a person's act; every change is
// a compare-and-set on the request's key.
type State string

const (
	Pending  State = "pending"  // waits for its signer
	Signing  State = "signing"  // a Sign call holds it while its job is authorised and published
	Queued   State = "queued"   // its job is on the SIGN stream; the worker completes the robot
	Declined State = "declined" // the signer declined; Reason is theirs
	Expired  State = "expired"  // nobody signed before Deadline
)

// Request is one document waiting for one signer.
type Request struct {
	// ID is the job id the request becomes (producer.RobotJobID of the robot call), so the request,
	// its job and its robot completion are one key everywhere.
	ID       string    `json:"id"`
	State    State     `json:"state"`
	Created  time.Time `json:"created"`
	Deadline time.Time `json:"deadline"`
	// Since is when State was entered (a Signing hold older than holdStale is given up).
	Since time.Time `json:"since"`
	// Job is the job prepared from the robot call: document, signer (login and Bitrix24 id),
	// credential (the one named, or the signer's default), stamp options, reply, language and zone.
	// It carries no authorisation: that is made when the signer signs.
	Job contracts.SignJob `json:"job"`
	// DocumentGeneratorID names a document-generator document, resolved to its PDF when signed
	// (its links carry short-lived tokens).
	DocumentGeneratorID int `json:"document_generator_id,omitempty"`
	// Title is what the signer is shown: the file name, or the document's description.
	Title string `json:"title"`
	// Reason is the signer's reason when Declined, the deadline's words when Expired.
	Reason string `json:"reason,omitempty"`
	// Sent: the end of the request (its job, its decline or expiry) was accepted by JetStream.
	Sent bool `json:"sent,omitempty"`
	// GrantRef names the batch grant that signed it (contracts.GrantRef: the first characters, never
	// the whole id, which authorises).
	GrantRef string `json:"grant_ref,omitempty"`
}

// Mine reports whether the request is login's to act on.
func (r *Request) Mine(login string) bool { return strings.EqualFold(r.Job.Signer.Login, login) }

// Errors the inbox shows; each says what to do.
var (
	ErrNotFound   = errors.New("no such request to sign; it may have been removed after it ended")
	ErrNotYours   = errors.New("this request is for another signer")
	ErrNotPending = errors.New("this request is no longer waiting: it was signed, declined or it expired")
	ErrMixed      = errors.New("the selected requests use different certificates; select the requests of one certificate and sign them together")
	ErrExists     = errors.New("a request with this id exists already")
	ErrChanged    = errors.New("the request changed meanwhile; look at it again")
)

// Store keeps requests in contracts.BucketRequests, one key per request ("req.<id>").
type Store struct {
	kv jetstream.KeyValue
	// records are the requests, "req.<id>" (internal/kvrecord).
	records kvrecord.Records[Request]
}

// MaxDeadline bounds a request's deadline; the bucket keeps a finished request a week after it.
const MaxDeadline = 90 * 24 * time.Hour

// OpenStore opens (creating on first use) the requests bucket.
func OpenStore(ctx context.Context, js jetstream.JetStream, replicas int) (*Store, error) {
	kv, err := js.KeyValue(ctx, contracts.BucketRequests)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      contracts.BucketRequests,
			Description: "Requests to sign that wait for their signer (issue 19), by job id",
			History:     1,
			TTL:         MaxDeadline + 7*24*time.Hour,
			Replicas:    max(replicas, 1),
			Storage:     jetstream.FileStorage,
		})
	}
	if err != nil {
		return nil, fmt.Errorf("requests bucket %s: %w", contracts.BucketRequests, err)
	}
	return &Store{kv: kv, records: kvrecord.Records[Request]{KV: kv, Prefix: "req", Noun: "request", NotFound: ErrNotFound, Changed: ErrChanged, Exists: ErrExists}}, nil
}

func key(id string) string { return "req." + id }

// validID: request ids are job ids (r + 32 hex digits); anything else is never a key.
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Create stores a new request; ErrExists when its id is taken.
func (s *Store) Create(ctx context.Context, r *Request) error {
	if !validID(r.ID) {
		return fmt.Errorf("request %q: %w", r.ID, ErrNotFound)
	}
	return s.records.Create(ctx, r.ID, r)
}

// Get returns a request and its revision.
func (s *Store) Get(ctx context.Context, id string) (*Request, uint64, error) {
	if !validID(id) {
		return nil, 0, ErrNotFound
	}
	return s.records.Get(ctx, id)
}

// update writes r over revision rev; ErrChanged when someone wrote in between.
func (s *Store) update(ctx context.Context, r *Request, rev uint64) (uint64, error) {
	return s.records.Update(ctx, r.ID, r, rev)
}

// All returns every stored request (the sweeper's and List's walk).
func (s *Store) All(ctx context.Context) ([]*Request, error) { return s.records.All(ctx) }
