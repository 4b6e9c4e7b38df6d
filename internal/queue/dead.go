package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
)

// Headers of a dead letter, beside contracts.HeaderReason. They say where the message came from, so
// that `signet dlq retry` can put it back.
const (
	HeaderDeadSubject    = "Signet-Dead-Subject"    // the subject it was published to, e.g. signet.sign.interactive
	HeaderDeadStream     = "Signet-Dead-Stream"     // SIGN or CALLBACK
	HeaderDeadSeq        = "Signet-Dead-Seq"        // its sequence in that stream
	HeaderDeadJob        = "Signet-Dead-Job"        // the job id
	HeaderDeadDeliveries = "Signet-Dead-Deliveries" // how often it was delivered
)

// Letter is one message in DEAD.
type Letter struct {
	Seq        uint64 // sequence in DEAD
	Time       time.Time
	Subject    string // the original subject
	Stream     string // the original stream
	OrigSeq    uint64 // the sequence in the original stream
	JobID      string
	Reason     string
	Deliveries uint64
	Data       []byte
}

// Dead describes a message to move to DEAD.
type Dead struct {
	Subject    string // original subject
	Stream     string // original stream
	Seq        uint64 // sequence in the original stream (0 when unknown)
	JobID      string
	Reason     string
	Deliveries uint64
	Data       []byte
}

// deadSubject is the DEAD subject for a message from stream.
func deadSubject(stream string) string {
	if stream == contracts.StreamCallback {
		return contracts.SubjectDeadCallback
	}
	return contracts.SubjectDeadSign
}

// MoveToDead copies a message to DEAD with its reason. Its Nats-Msg-Id is derived from the original
// stream and sequence, so the copy made by a worker on the last delivery and the one made from the
// MAX_DELIVERIES advisory, or two made by a redelivery, are one letter.
func MoveToDead(ctx context.Context, js jetstream.JetStream, d Dead) error {
	h := nats.Header{}
	h.Set(contracts.HeaderReason, d.Reason)
	h.Set(HeaderDeadSubject, d.Subject)
	h.Set(HeaderDeadStream, d.Stream)
	h.Set(HeaderDeadJob, d.JobID)
	h.Set(HeaderDeadDeliveries, strconv.FormatUint(d.Deliveries, 10))
	if d.Seq > 0 {
		h.Set(HeaderDeadSeq, strconv.FormatUint(d.Seq, 10))
		h.Set(contracts.HeaderMsgID, fmt.Sprintf("dead-%s-%d", d.Stream, d.Seq))
	} else if d.JobID != "" {
		h.Set(contracts.HeaderMsgID, fmt.Sprintf("dead-%s-%s", d.Stream, d.JobID))
	}
	_, err := js.PublishMsg(ctx, &nats.Msg{Subject: deadSubject(d.Stream), Data: d.Data, Header: h},
		jetstream.WithExpectStream(contracts.StreamDead))
	if err != nil {
		return fmt.Errorf("moving %s message %d (job %s) to DEAD: %w", d.Stream, d.Seq, d.JobID, err)
	}
	return nil
}

// JobIDOf reads the job id of a SignJob ("id") or a Callback ("job_id") without validating the rest:
// a dead letter may be a message that does not decode.
func JobIDOf(data []byte) string {
	var v struct {
		ID    string `json:"id"`
		JobID string `json:"job_id"`
	}
	if json.Unmarshal(data, &v) != nil {
		return ""
	}
	if v.JobID != "" {
		return v.JobID
	}
	return v.ID
}

func letterFrom(seq uint64, t time.Time, subject string, h nats.Header, data []byte) Letter {
	l := Letter{Seq: seq, Time: t, Data: data,
		Subject: h.Get(HeaderDeadSubject), Stream: h.Get(HeaderDeadStream), JobID: h.Get(HeaderDeadJob),
		Reason: h.Get(contracts.HeaderReason)}
	l.OrigSeq, _ = strconv.ParseUint(h.Get(HeaderDeadSeq), 10, 64)
	l.Deliveries, _ = strconv.ParseUint(h.Get(HeaderDeadDeliveries), 10, 64)
	if l.JobID == "" {
		l.JobID = JobIDOf(data)
	}
	if l.Stream == "" {
		l.Stream = contracts.StreamSign
		if subject == contracts.SubjectDeadCallback {
			l.Stream = contracts.StreamCallback
		}
	}
	if l.Subject == "" && l.Stream == contracts.StreamCallback {
		l.Subject = contracts.SubjectCallback
	}
	return l
}

// ListDead returns every letter in DEAD, oldest first. It answers as soon as it has read them: the
// stream's state says whether there is anything to read and where it ends, and each pull asks only for
// what is there (no-wait), so an empty or small DEAD is not held for a pull's wait (`signet dlq list`).
func ListDead(ctx context.Context, js jetstream.JetStream) ([]Letter, error) {
	st, err := js.Stream(ctx, contracts.StreamDead)
	if err != nil {
		return nil, fmt.Errorf("stream DEAD: %w", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("stream DEAD: %w", err)
	}
	if info.State.Msgs == 0 {
		return nil, nil
	}
	end := info.State.LastSeq
	cons, done, err := Reader(ctx, js, contracts.StreamDead, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, fmt.Errorf("reading DEAD: %w", err)
	}
	defer done()
	out := make([]Letter, 0, min(info.State.Msgs, 1000))
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("reading DEAD: %w", err)
		}
		batch, err := cons.FetchNoWait(100)
		if err != nil {
			return nil, fmt.Errorf("reading DEAD: %w", err)
		}
		n, last := 0, false
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				return nil, err
			}
			out = append(out, letterFrom(md.Sequence.Stream, md.Timestamp, m.Subject(), m.Headers(), m.Data()))
			last = md.NumPending == 0 || md.Sequence.Stream >= end
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, jetstream.ErrNoMessages) {
			return nil, fmt.Errorf("reading DEAD: %w", err)
		}
		if last || n == 0 {
			return out, nil
		}
	}
}

// GetDead returns the letter with sequence seq in DEAD.
func GetDead(ctx context.Context, js jetstream.JetStream, seq uint64) (*Letter, error) {
	st, err := js.Stream(ctx, contracts.StreamDead)
	if err != nil {
		return nil, fmt.Errorf("stream DEAD: %w", err)
	}
	m, err := st.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("no message %d in DEAD; `signet dlq list` shows the sequences", seq)
	}
	if err != nil {
		return nil, fmt.Errorf("reading message %d of DEAD: %w", seq, err)
	}
	l := letterFrom(m.Sequence, m.Time, m.Subject, m.Header, m.Data)
	return &l, nil
}

// Republish puts a dead letter back on its original subject under a new Nats-Msg-Id (the old one is
// still in the duplicate window and would be dropped), then deletes it from DEAD.
func Republish(ctx context.Context, js jetstream.JetStream, l *Letter) error {
	if l.Subject == "" {
		return fmt.Errorf("DEAD message %d has no original subject; it cannot be retried, only shown or purged", l.Seq)
	}
	stream := l.Stream
	if stream == "" {
		stream = contracts.StreamSign
	}
	id := fmt.Sprintf("%s-retry-%d", l.JobID, l.Seq)
	if stream == contracts.StreamCallback {
		id = "cb-" + id
	}
	_, err := js.PublishMsg(ctx, &nats.Msg{Subject: l.Subject, Data: l.Data,
		Header: nats.Header{contracts.HeaderMsgID: []string{id}}}, jetstream.WithExpectStream(stream))
	if err != nil {
		return fmt.Errorf("republishing DEAD message %d to %s: %w", l.Seq, l.Subject, err)
	}
	return DeleteDead(ctx, js, l.Seq)
}

// DeleteDead removes one letter from DEAD.
func DeleteDead(ctx context.Context, js jetstream.JetStream, seq uint64) error {
	st, err := js.Stream(ctx, contracts.StreamDead)
	if err != nil {
		return fmt.Errorf("stream DEAD: %w", err)
	}
	if err := st.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("deleting message %d from DEAD: %w", seq, err)
	}
	return nil
}

// PurgeDead deletes every letter in DEAD and returns how many there were.
func PurgeDead(ctx context.Context, js jetstream.JetStream) (uint64, error) {
	st, err := js.Stream(ctx, contracts.StreamDead)
	if err != nil {
		return 0, fmt.Errorf("stream DEAD: %w", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, err
	}
	if err := st.Purge(ctx); err != nil {
		return 0, fmt.Errorf("purging DEAD: %w", err)
	}
	return info.State.Msgs, nil
}

// MaxDeliveriesSubject is the advisory JetStream sends when a message of stream has been delivered
// MaxDeliver times without an ack (the worker died or hung every time). In a WorkQueue stream such a
// message stays, undelivered, until someone deletes it: the pool listens to this and moves it to DEAD.
func MaxDeliveriesSubject(stream string) string {
	return "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + stream + ".*"
}

// MaxDeliveries is the advisory's body (schema io.nats.jetstream.advisory.v1.max_deliver).
type MaxDeliveries struct {
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
}

// StrandedAge is how old a message that JetStream delivered but holds neither acked nor pending must
// be before Stranded reports it while other messages of its consumer are in flight: far longer than
// MaxDeliver deliveries can take (at most 10 × a 5-minute back-off step, each plus a running job's
// 10-minute ceiling).
const StrandedAge = 6 * time.Hour

// Stranded finds the messages of SIGN and CALLBACK that exhausted their deliveries but are still in
// their stream. JetStream notices an exhausted message when a worker next pulls, sends one
// MAX_DELIVERIES advisory and keeps the message (a WorkQueue stream only drops acked messages); if the
// worker that heard the advisory failed to move it to DEAD, or none heard it, the message would stay
// forever. JetStream does not move the consumer's ack floor past it either, so each one is a message
// of the consumer's subject above the ack floor and at or below the last delivered sequence that is
// not among the consumer's pending acks. Consumer info only counts those, so: with nothing pending
// every such message is stranded; otherwise only those older than StrandedAge are reported. The
// result has the shape of the advisory, for the same handler.
func Stranded(ctx context.Context, js jetstream.JetStream) ([]MaxDeliveries, error) {
	var out []MaxDeliveries
	for stream, ccs := range Consumers(Settings{}) {
		st, err := js.Stream(ctx, stream)
		if err != nil {
			return out, fmt.Errorf("stream %s: %w", stream, err)
		}
		for _, cc := range ccs {
			if cc.MaxDeliver < 0 {
				// Never exhausted (CallbackMaxDeliver); a callback waiting out a long OVERLOAD pause
				// is older than StrandedAge and must not be taken for one.
				continue
			}
			found, err := strandedOf(ctx, st, stream, cc.Durable)
			if err != nil {
				return out, err
			}
			out = append(out, found...)
		}
	}
	return out, nil
}

func strandedOf(ctx context.Context, st jetstream.Stream, stream, consumer string) ([]MaxDeliveries, error) {
	c, err := st.Consumer(ctx, consumer)
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", consumer, err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", consumer, err)
	}
	var out []MaxDeliveries
	for seq := info.AckFloor.Stream + 1; seq <= info.Delivered.Stream; {
		m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(info.Config.FilterSubject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return out, fmt.Errorf("stream %s from seq %d: %w", stream, seq, err)
		}
		if m.Sequence > info.Delivered.Stream {
			break
		}
		if info.NumAckPending == 0 || time.Since(m.Time) > StrandedAge {
			out = append(out, MaxDeliveries{Stream: stream, Consumer: consumer, StreamSeq: m.Sequence, Deliveries: uint64(info.Config.MaxDeliver)})
		}
		seq = m.Sequence + 1
	}
	return out, nil
}
