package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
)

// opTimeout bounds one KV operation. A job's context lives up to 10 minutes; a KV request whose reply is
// lost (a stream leader killed, a reply dropped by a slow-consumer client) must fail in seconds and be
// retried, not hold the job, its heartbeats and its ack for the whole 10 minutes.
const opTimeout = 10 * time.Second

// Results records, per job, the stored result of its signature and which callback steps are done, in
// a JetStream KV bucket. It is what makes a redelivery harmless.
type Results struct {
	kv jetstream.KeyValue
}

// OpenResults creates or opens the bucket; entries live as long as the artefacts.
func OpenResults(ctx context.Context, js jetstream.JetStream, replicas int, ttl time.Duration) (*Results, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      contracts.BucketJobs,
		Description: "Per job: the stored signature result and the callback steps done",
		History:     1,
		TTL:         ttl,
		Replicas:    max(replicas, 1),
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("jobs bucket: %w", err)
	}
	return &Results{kv: kv}, nil
}

// LookupResults opens the existing bucket without changing it (for `signet dlq`, which must not
// provision anything).
func LookupResults(ctx context.Context, js jetstream.JetStream) (*Results, error) {
	kv, err := js.KeyValue(ctx, contracts.BucketJobs)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("the jobs bucket %s does not exist yet: run `signet setup` or start a server with nats.provision true", contracts.BucketJobs)
	}
	if err != nil {
		return nil, fmt.Errorf("jobs bucket: %w", err)
	}
	return &Results{kv: kv}, nil
}

// Signed returns the recorded result of a job, or nil when it has not been signed yet.
func (r *Results) Signed(ctx context.Context, jobID string) (*contracts.Signed, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	e, err := r.kv.Get(ctx, "res."+jobID)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s contracts.Signed
	if err := json.Unmarshal(e.Value(), &s); err != nil {
		return nil, fmt.Errorf("job %s: recorded result unreadable: %w", jobID, err)
	}
	return &s, nil
}

// RecordSigned stores the result of a job. Create, not Put: if another worker recorded one first (a
// redelivery raced a slow ack), the first stays and is returned, so one result is ever announced.
func (r *Results) RecordSigned(ctx context.Context, jobID string, s *contracts.Signed) (*contracts.Signed, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	data, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	if _, err := r.kv.Create(ctx, "res."+jobID, data); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return r.Signed(ctx, jobID)
		}
		return nil, err
	}
	return s, nil
}

// Steps are the callback steps done for a job.
type Steps struct {
	Uploaded  bool `json:"uploaded,omitempty"`
	Commented bool `json:"commented,omitempty"`
	Notified  bool `json:"notified,omitempty"`
	Sent      bool `json:"sent,omitempty"`
	// CommentUnsure: a request carrying the timeline comment got no answer; before adding it again,
	// the deal's timeline is searched for it.
	CommentUnsure bool `json:"comment_unsure,omitempty"`
	// SignedFileID is the CRM file that replaced the original in its field (signedFileId).
	SignedFileID int `json:"signed_file_id,omitempty"`
}

// Steps returns the callback steps recorded for a job.
func (r *Results) Steps(ctx context.Context, jobID string) (Steps, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	var s Steps
	e, err := r.kv.Get(ctx, "cb."+jobID)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(e.Value(), &s)
}

// SaveSteps records the callback steps done so far.
func (r *Results) SaveSteps(ctx context.Context, jobID string, s Steps) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	data, _ := json.Marshal(s)
	_, err := r.kv.Put(ctx, "cb."+jobID, data)
	return err
}
