package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/queue"
)

// Raw is one message of an audit stream as stored: its stream sequence and its bytes.
type Raw struct {
	StreamSeq uint64
	Data      []byte
}

// Query selects messages of a stream for Scan. The zero Query is the whole stream.
type Query struct {
	// Subject filters by subject (e.g. contracts.AuditJobFilter(job)); empty = every message.
	Subject string
	// Since starts at the first message stored at or after this time (JetStream's DeliverByStartTime).
	Since time.Time
}

// Scan calls fn for each message of stream that q selects, in stream order, and stops at the
// message that was last when Scan started. It reads through an ordered consumer, which needs no
// durable state and sees no message twice.
func Scan(ctx context.Context, js jetstream.JetStream, stream string, q Query, fn func(Raw) error) error {
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if q.Subject != "" {
		cfg.FilterSubjects = []string{q.Subject}
	}
	if !q.Since.IsZero() {
		t := q.Since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &t
	}
	cons, done, err := queue.Reader(ctx, js, stream, cfg)
	if err != nil {
		return fmt.Errorf("reading stream %s: %w", stream, err)
	}
	defer done()
	info, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("reading stream %s: %w", stream, err)
	}
	if info.NumPending == 0 {
		return nil
	}
	for {
		batch, err := cons.Fetch(256, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return fmt.Errorf("reading stream %s: %w", stream, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				return err
			}
			if err := fn(Raw{StreamSeq: md.Sequence.Stream, Data: m.Data()}); err != nil {
				return err
			}
			if md.NumPending == 0 {
				return nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return fmt.Errorf("reading stream %s: %w", stream, err)
		}
		if n == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
}

// Events returns the events of stream that q selects and keep accepts (nil keeps all), decoded
// with their Hash and ID.
func Events(ctx context.Context, js jetstream.JetStream, stream string, q Query, keep func(*contracts.AuditEvent) bool) ([]*contracts.AuditEvent, error) {
	var out []*contracts.AuditEvent
	err := Scan(ctx, js, stream, q, func(r Raw) error {
		e, err := Decode(r.StreamSeq, r.Data)
		if err != nil {
			return err
		}
		if keep == nil || keep(e) {
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// Story returns every event of one job (one document), oldest first.
func Story(ctx context.Context, js jetstream.JetStream, stream, jobID string) ([]*contracts.AuditEvent, error) {
	return Events(ctx, js, stream, Query{Subject: contracts.AuditJobFilter(jobID)},
		func(e *contracts.AuditEvent) bool { return e.JobID == jobID })
}
