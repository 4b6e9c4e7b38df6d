package producer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
)

// BucketCalls holds one record per robot call, keyed by its job id (RobotJobID: member_id and
// event_token): the claim a call takes before it is authorised, and then the result it was given. A
// repeat of the call (Bitrix24 retrying, or two copies at once) finds the record and is answered like
// the first, without a second OTP check, so that one robot execution ends in exactly one result.
const BucketCalls = "signet_robot_calls"

const (
	// callsTTL: how long a call is remembered; far beyond any retry of the same event_token.
	callsTTL = 7 * 24 * time.Hour
	// claimHold bounds the work of the copy that holds a claim (lookups, the OTP check, the publish);
	// claimStale is when a pending claim is taken to be left by a copy that crashed, so Bitrix24's
	// retry is not blocked forever. claimHold < claimStale: a slow copy gives up before it is replaced.
	claimHold  = 30 * time.Second
	claimStale = time.Minute
	// releaseWithin bounds giving a claim up after a fault: it runs after the call's budget may be
	// spent, and the answer waits for it.
	releaseWithin = time.Second
	// repeatWait is how long a repeat waits for the copy in progress to finish before answering 503.
	repeatWait = 3 * time.Second
)

// Call states.
const (
	callPending    = "pending"    // a copy is being authorised
	callAuthorized = "authorized" // authorised: Job is the job to publish (dropped once Sent)
	callRefused    = "refused"    // refused for Reason; the refusal goes to the workflow once
	callRequested  = "requested"  // became a request to sign (producer/requests); its end completes the robot
)

// callRecord is the value of a call's key.
type callRecord struct {
	State  string             `json:"state"`
	Since  time.Time          `json:"since"`
	Job    *contracts.SignJob `json:"job,omitempty"`
	Reason string             `json:"reason,omitempty"`
	// Failure is the refusal's kind (refusalFailure), sent with Reason.
	Failure *contracts.Failure `json:"failure,omitempty"`
	// Sent: the job (or the refusal) was accepted by JetStream; a repeat sends nothing more.
	Sent bool `json:"sent,omitempty"`
}

// errCallBusy: another copy of the call is being handled right now (answered 503, nothing sent).
var errCallBusy = errors.New("the same robot call is being handled by another request")

// errClaimLost: this copy's claim was taken over (it had been pending past claimStale); it stops
// without sending anything, the copy that took over answers.
var errClaimLost = errors.New("the claim on this robot call was taken over by a later copy")

// callClaim is a copy's hold on a call's record: the revision it last wrote.
type callClaim struct {
	kv  jetstream.KeyValue
	key string
	rev uint64
}

// calls returns the bucket, creating it on first use as replicated as the SIGN stream it guards.
func (in *Intake) calls(ctx context.Context) (jetstream.KeyValue, error) {
	// Opened by one call at a time, but a call waits for the one opening it only as long as its own
	// deadline: while JetStream has no leader the opening call waits out its budget, and a plain
	// mutex would stack the others' waits behind it past Bitrix24's patience (issue 21 follow-up).
	in.callsMu.Lock()
	if in.callsOpen == nil {
		in.callsOpen = make(chan struct{}, 1)
	}
	kv, open := in.callsKV, in.callsOpen
	in.callsMu.Unlock()
	if kv != nil {
		return kv, nil
	}
	select {
	case open <- struct{}{}:
		defer func() { <-open }()
	case <-ctx.Done():
		return nil, fmt.Errorf("robot calls bucket: waiting for another call opening it: %w", ctx.Err())
	}
	return in.openCalls(ctx)
}

// openCalls opens (or creates) the bucket; calls holds callsOpen around it.
func (in *Intake) openCalls(ctx context.Context) (jetstream.KeyValue, error) {
	in.callsMu.Lock()
	kv := in.callsKV
	in.callsMu.Unlock()
	if kv != nil {
		return kv, nil
	}
	kv, err := in.JS.KeyValue(ctx, BucketCalls)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		replicas := 1
		if s, serr := in.JS.Stream(ctx, contracts.StreamSign); serr == nil {
			replicas = max(s.CachedInfo().Config.Replicas, 1)
		}
		kv, err = in.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      BucketCalls,
			Description: "Per robot call (job id): the claim taken before authorising it, and the result it was given",
			History:     1,
			TTL:         callsTTL,
			Replicas:    replicas,
			Storage:     jetstream.FileStorage,
		})
	}
	if err != nil {
		return nil, fmt.Errorf("robot calls bucket: %w", err)
	}
	in.callsMu.Lock()
	in.callsKV = kv
	in.callsMu.Unlock()
	return kv, nil
}

// claimCall takes the call's key for this copy (prev == nil), or returns the record a previous copy
// left (prev != nil, with a claim on that revision, so the repeat can finish what the first copy
// could not send). A stale pending claim is taken over; a copy in progress is waited for briefly, then
// errCallBusy.
func (in *Intake) claimCall(ctx context.Context, jobID string) (claim *callClaim, prev *callRecord, err error) {
	kv, err := in.calls(ctx)
	if err != nil {
		return nil, nil, err
	}
	key := "call." + jobID
	mine, _ := json.Marshal(callRecord{State: callPending, Since: in.now().UTC()})
	deadline := time.Now().Add(repeatWait)
	for {
		rev, err := kv.Create(ctx, key, mine)
		if err == nil {
			return &callClaim{kv: kv, key: key, rev: rev}, nil, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, nil, fmt.Errorf("claiming robot call %s: %w", jobID, err)
		}
		e, err := kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			continue // released between Create and Get
		}
		if err != nil {
			return nil, nil, fmt.Errorf("reading robot call %s: %w", jobID, err)
		}
		var rec callRecord
		if err := json.Unmarshal(e.Value(), &rec); err != nil {
			return nil, nil, fmt.Errorf("robot call %s: record unreadable: %w", jobID, err)
		}
		if rec.State != callPending {
			return &callClaim{kv: kv, key: key, rev: e.Revision()}, &rec, nil
		}
		if in.now().Sub(rec.Since) >= claimStale {
			rev, err := kv.Update(ctx, key, mine, e.Revision())
			if err == nil {
				return &callClaim{kv: kv, key: key, rev: rev}, nil, nil
			}
			if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
				return nil, nil, fmt.Errorf("taking over robot call %s: %w", jobID, err)
			}
			continue
		}
		if time.Now().After(deadline) {
			return nil, nil, errCallBusy
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// set moves the claimed record on, only from the revision this copy wrote last.
func (c *callClaim) set(ctx context.Context, rec callRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	rev, err := c.kv.Update(ctx, c.key, data, c.rev)
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return errClaimLost
	}
	if err != nil {
		return fmt.Errorf("recording robot call %s: %w", c.key, err)
	}
	c.rev = rev
	return nil
}

// release gives a pending claim up after a transient fault, so that Bitrix24's retry starts afresh;
// if NATS is unreachable the claim goes stale instead (claimStale).
func (c *callClaim) release(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseWithin)
	defer cancel()
	_ = c.kv.Delete(ctx, c.key, jetstream.LastRevision(c.rev))
}

// callsState is embedded in Intake: the bucket, opened once, and the time a robot call is given.
type callsState struct {
	callsMu   sync.Mutex
	callsKV   jetstream.KeyValue
	callsOpen chan struct{} // held by the call opening the bucket
	// callBudget replaces claimHold as the robot call's budget (tests: a short one).
	callBudget time.Duration
}

// callDeadline is how long a robot call may take from its arrival to its answer: every lookup,
// the claim, the OTP check and the publish share it, so a JetStream without a leader (or a portal
// that does not answer) turns into a 503 "try again" in time rather than a call held until the
// proxy or Bitrix24's queue server gives up. It is claimHold, below claimStale.
func (in *Intake) callDeadline() time.Duration {
	if in.callBudget > 0 {
		return in.callBudget
	}
	return claimHold
}
