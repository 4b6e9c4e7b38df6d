// Package queue provisions Signet's JetStream streams and consumers, idempotently, at the start of every
// process that uses them, holds the one rule for retry delays, and owns the dead-letter stream DEAD
// (moving a message there, listing, retrying and purging it). Names come from contracts.
//
// It must never delete a message from SIGN or CALLBACK that has not first been copied to DEAD or
// settled: a WorkQueue stream is the only copy of a job.
package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
)

// Settings shape the streams and consumers.
type Settings struct {
	Replicas int
	// AckWait is how long a delivered job may go without an ack or an in-progress ack (+WPI) before
	// JetStream hands it to another worker. It is the first step of BackOff.
	AckWait time.Duration
	// MaxDeliver is the number of deliveries of one message; after the last, the message goes to DEAD.
	// Callbacks count their own attempts against it instead (CallbackMaxDeliver).
	MaxDeliver int
	// MaxAckPending bounds the jobs handed out but not yet acked, per consumer, across all workers.
	MaxAckPending int
}

// DuplicateWindow is how long JetStream remembers a Nats-Msg-Id. It must outlast the longest publish
// retry of any producer (Bitrix24 retries a robot call for minutes, the intake retries a publish for at
// most a minute, `signet enqueue` can be re-run after a crash), so it is far longer than the 2-minute
// default. The cost is memory for one id per message of the last 24 hours.
const DuplicateWindow = 24 * time.Hour

// AuditMaxMsgSize bounds one audit event. Events carry bounded values (ids, logins, reasons); the
// largest honest one, a checkpoint, is under 2 KiB.
const AuditMaxMsgSize = 64 << 10

// MaxRequestBatch caps one pull request. Workers pull at most their concurrency at a time (nats.go
// issue #1929: AckWait runs while a message waits in the client's buffer); the cap stops a
// misconfigured client from buffering hundreds.
const MaxRequestBatch = 64

// Streams returns the configuration of every stream.
func Streams(s Settings) []jetstream.StreamConfig {
	r := max(s.Replicas, 1)
	return []jetstream.StreamConfig{
		{
			Name: contracts.StreamSign, Description: "Sign jobs waiting for a worker (work queue)",
			Subjects: []string{contracts.SubjectSignAll}, Retention: jetstream.WorkQueuePolicy,
			Storage: jetstream.FileStorage, Replicas: r, Duplicates: DuplicateWindow,
		},
		{
			Name: contracts.StreamCallback, Description: "Results on their way back to Bitrix24 (work queue)",
			Subjects: []string{contracts.SubjectCallbackAll}, Retention: jetstream.WorkQueuePolicy,
			Storage: jetstream.FileStorage, Replicas: r, Duplicates: DuplicateWindow,
		},
		{
			Name: contracts.StreamAudit, Description: "Hash-chained audit trail of every step",
			Subjects: []string{contracts.SubjectAuditAll}, Retention: jetstream.LimitsPolicy,
			Storage: jetstream.FileStorage, Replicas: r, Duplicates: DuplicateWindow,
			// Append-only on the server too: no message delete, no purge (JetStream never lets
			// either be switched off again), and no event larger than an honest one can be.
			DenyDelete: true, DenyPurge: true, MaxMsgSize: AuditMaxMsgSize,
		},
		{
			Name: contracts.StreamDead, Description: "Jobs and callbacks that failed for good, with the reason (signet dlq)",
			Subjects: []string{contracts.SubjectDeadAll}, Retention: jetstream.LimitsPolicy,
			Storage: jetstream.FileStorage, Replicas: r, Duplicates: DuplicateWindow,
			MaxAge: 90 * 24 * time.Hour,
		},
	}
}

// BackOff is the redelivery schedule after an ack timeout (a worker that died or hung): AckWait, then
// doubling, at most 5 minutes, one step per delivery. JetStream uses it instead of AckWait, so every
// step is at least AckWait and the in-progress acks sent every third of AckWait keep a live job.
// (A job that fails cleanly is NAKed with RetryDelay instead; BackOff does not apply to NAKs.)
func BackOff(ackWait time.Duration, maxDeliver int) []time.Duration {
	if ackWait <= 0 {
		ackWait = 30 * time.Second
	}
	n := maxDeliver
	if n <= 0 || n > 10 {
		n = 10
	}
	steps := make([]time.Duration, n)
	d := ackWait
	for i := range steps {
		steps[i] = d
		d = min(2*d, max(5*time.Minute, ackWait))
	}
	return steps
}

// Consumers returns the durable pull consumers by stream.
func Consumers(s Settings) map[string][]jetstream.ConsumerConfig {
	c := func(name, filter, desc string) jetstream.ConsumerConfig {
		return jetstream.ConsumerConfig{
			Durable: name, Description: desc, FilterSubject: filter,
			DeliverPolicy: jetstream.DeliverAllPolicy, AckPolicy: jetstream.AckExplicitPolicy,
			AckWait: s.AckWait, BackOff: BackOff(s.AckWait, s.MaxDeliver), MaxDeliver: s.MaxDeliver,
			MaxAckPending: max(s.MaxAckPending, 1), MaxRequestBatch: MaxRequestBatch,
			Replicas: max(s.Replicas, 1),
		}
	}
	return map[string][]jetstream.ConsumerConfig{
		contracts.StreamSign: {
			c(contracts.ConsumerSignInteractive, contracts.SubjectSignInteractive, "Robot calls and the Sign button"),
			c(contracts.ConsumerSignBatch, contracts.SubjectSignBatch, "Bulk batches"),
		},
		contracts.StreamCallback: {
			callbacks(c(contracts.ConsumerCallback, contracts.SubjectCallback, "Callbacks of robots and the Sign button to Bitrix24")),
			callbacks(c(contracts.ConsumerCallbackBatch, contracts.SubjectCallbackBatch, "Callbacks of bulk batches to Bitrix24")),
		},
	}
}

// CallbackMaxDeliver is the callback consumer's MaxDeliver: unlimited. A callback waits out an
// OVERLOAD_LIMIT pause of its portal (30 minutes, and Bitrix24 support may keep a portal blocked for
// hours) with one NAK per pause, delayed to the pause's end; JetStream counts that NAK as a delivery,
// so 10 deliveries would send a callback to DEAD during a long block although nothing was tried
// (issue 21 must 2). The worker counts the attempts that did try in the jobs bucket instead, against
// worker.max_deliver (worker/callback_attempts.go), and sends a callback that used them up to DEAD
// itself; an attempt is counted when it starts, so a worker that dies in it every time still ends in
// DEAD. Re-publishing a waiting callback with an attempt header was the other way: it needs a new
// Nats-Msg-Id per copy, so a crash between the publish and the ack leaves two copies (harmless, the
// steps are recorded, but noise), and it loses the stream's order.
//
// The callback consumers have no BackOff either: nats-server offsets a NAK's delay by the BackOff step
// of the delivery less AckWait (consumer.go processNak sets the timestamp to now − AckWait + delay,
// checkPending then waits the BackOff step), so from the sixth delivery on a callback NAKed until a
// pause's end would come back up to 4½ minutes late. Without BackOff an ack timeout (a worker that
// died) redelivers after AckWait, and the attempt count bounds how often.
const CallbackMaxDeliver = -1

func callbacks(cc jetstream.ConsumerConfig) jetstream.ConsumerConfig {
	cc.MaxDeliver = CallbackMaxDeliver
	cc.BackOff = nil
	return cc
}

// Provision creates or updates every stream and consumer. It is safe to run from every process at
// every start: an unchanged configuration is a no-op, a changed one is applied (JetStream refuses the
// few changes it cannot make, such as the retention of a stream, and the error says which).
func Provision(ctx context.Context, js jetstream.JetStream, s Settings) error {
	if s.AckWait <= 0 {
		s.AckWait = 30 * time.Second
	}
	for _, sc := range Streams(s) {
		var (
			st  jetstream.Stream
			err error
		)
		if sc.Name == contracts.StreamAudit {
			// Created if missing, updated only if not yet append-only: the service roles may create
			// AUDIT but have no right to change its configuration (docs/security/nats.md).
			var ok bool
			if st, ok, err = auditInPlace(ctx, js, sc); ok {
				continue
			}
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				st, err = js.CreateStream(ctx, sc)
			} else {
				st, err = js.UpdateStream(ctx, sc)
			}
		} else {
			st, err = js.CreateOrUpdateStream(ctx, sc)
		}
		if err != nil && sc.Name == contracts.StreamAudit {
			return fmt.Errorf("stream %s: the server refused to make it append-only (deny_delete, deny_purge, max_msg_size): %w; "+
				"start Signet once as the NATS admin user (nats.user admin) to upgrade it; if the server still refuses, "+
				"export it (`signet audit export`) and have the NATS operator recreate it (docs/security/nats.md)", sc.Name, err)
		}
		if err != nil {
			return fmt.Errorf("stream %s: %w", sc.Name, err)
		}
		if sc.Name == contracts.StreamAudit {
			// An older server may accept the update and ignore the flags: check what it holds.
			if c := st.CachedInfo().Config; !c.DenyDelete || !c.DenyPurge {
				return fmt.Errorf("stream %s: the server kept it deletable (deny_delete %v, deny_purge %v); upgrade nats-server to 2.10 or later", sc.Name, c.DenyDelete, c.DenyPurge)
			}
		}
	}
	for stream, ccs := range Consumers(s) {
		for _, cc := range ccs {
			if _, err := js.CreateOrUpdateConsumer(ctx, stream, cc); err != nil {
				return fmt.Errorf("consumer %s on %s: %w", cc.Durable, stream, err)
			}
		}
	}
	return nil
}

// auditInPlace reports whether AUDIT exists (err ErrStreamNotFound if not) with the settings that
// make it append-only.
func auditInPlace(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig) (jetstream.Stream, bool, error) {
	st, err := js.Stream(ctx, want.Name)
	if err != nil {
		return nil, false, err
	}
	c := st.CachedInfo().Config
	return st, c.DenyDelete && c.DenyPurge && c.MaxMsgSize == want.MaxMsgSize && c.Replicas == want.Replicas &&
		c.Duplicates == want.Duplicates && slices.Equal(c.Subjects, want.Subjects), nil
}

// RetryDelay is the NAK delay after a retry-later failure on the given delivery: 2 s doubling up to
// 5 minutes, so an outage of the portal or of S3 is ridden out without hammering it.
func RetryDelay(delivery uint64) time.Duration {
	d := 2 * time.Second
	for i := uint64(1); i < delivery && d < 5*time.Minute; i++ {
		d *= 2
	}
	return min(d, 5*time.Minute)
}
