// Package queue provisions Signet's JetStream streams and consumers, idempotently, at the start of every
// process that uses them, and holds the one rule for retry delays. Names come from contracts.
package queue

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
)

// Settings shape the streams and consumers.
type Settings struct {
	Replicas   int
	AckWait    time.Duration
	MaxDeliver int
	// MaxAckPending bounds the jobs handed out but not yet acked, per consumer.
	MaxAckPending int
}

// DuplicateWindow is how long JetStream remembers a Nats-Msg-Id. It must outlast the longest publish
// retry of any producer (the intake retries for at most a minute; `signet enqueue` can be re-run after a
// crash), so it is longer than the 2-minute default.
const DuplicateWindow = 24 * time.Hour

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
		},
		{
			Name: contracts.StreamDead, Description: "Jobs and callbacks that failed for good, with the reason",
			Subjects: []string{contracts.SubjectDeadAll}, Retention: jetstream.LimitsPolicy,
			Storage: jetstream.FileStorage, Replicas: r, Duplicates: DuplicateWindow,
		},
	}
}

// Consumers returns the durable pull consumers by stream.
func Consumers(s Settings) map[string][]jetstream.ConsumerConfig {
	c := func(name, filter, desc string) jetstream.ConsumerConfig {
		return jetstream.ConsumerConfig{
			Durable: name, Description: desc, FilterSubject: filter,
			AckPolicy: jetstream.AckExplicitPolicy, AckWait: s.AckWait, MaxDeliver: s.MaxDeliver,
			MaxAckPending: max(s.MaxAckPending, 1), Replicas: max(s.Replicas, 1),
		}
	}
	return map[string][]jetstream.ConsumerConfig{
		contracts.StreamSign: {
			c(contracts.ConsumerSignInteractive, contracts.SubjectSignInteractive, "Robot calls and the Sign button"),
			c(contracts.ConsumerSignBatch, contracts.SubjectSignBatch, "Bulk batches"),
		},
		contracts.StreamCallback: {
			c(contracts.ConsumerCallback, contracts.SubjectCallback, "Callbacks to Bitrix24"),
		},
	}
}

// Provision creates or updates every stream and consumer.
func Provision(ctx context.Context, js jetstream.JetStream, s Settings) error {
	for _, sc := range Streams(s) {
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("stream %s: %w", sc.Name, err)
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

// RetryDelay is the NAK delay after a retry-later failure on the given delivery: 2 s doubling up to
// 5 minutes, so an outage of the portal or of S3 is ridden out without hammering it.
func RetryDelay(delivery uint64) time.Duration {
	d := 2 * time.Second
	for i := uint64(1); i < delivery && d < 5*time.Minute; i++ {
		d *= 2
	}
	return min(d, 5*time.Minute)
}
