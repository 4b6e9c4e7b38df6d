package worker

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap/zaptest"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/queue"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
)

// queueRig is a real, embedded JetStream with Signet's streams and consumers as every process
// provisions them (queue.Provision), for the unit tests of the pool's parts: consume, settle, lease,
// dead letters.
type queueRig struct {
	t   *testing.T
	ctx context.Context
	nc  *nats.Conn
	js  jetstream.JetStream
}

// newQueueRig provisions the streams with the consumers' AckWait and MaxDeliver.
func newQueueRig(t *testing.T, ackWait time.Duration, maxDeliver int) *queueRig {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	ns := natstest.Start(t)
	if err := queue.Provision(ctx, ns.JS, queue.Settings{Replicas: 1, AckWait: ackWait, MaxDeliver: maxDeliver, MaxAckPending: 16}); err != nil {
		t.Fatal(err)
	}
	return &queueRig{t: t, ctx: ctx, nc: ns.NC, js: ns.JS}
}

// pool is a Pool on the rig with what settling and dead letters need; tests add the rest.
func (q *queueRig) pool(ackWait time.Duration, maxDeliver int) *Pool {
	return &Pool{JS: q.js, AckWait: ackWait, MaxDeliver: maxDeliver, Log: zaptest.NewLogger(q.t)}
}

// publish puts data on subject with id as its Nats-Msg-Id and returns its stream sequence.
func (q *queueRig) publish(subject, id string, data []byte) uint64 {
	q.t.Helper()
	ack, err := q.js.PublishMsg(q.ctx, &nats.Msg{Subject: subject, Data: data, Header: nats.Header{contracts.HeaderMsgID: []string{id}}})
	if err != nil {
		q.t.Fatal(err)
	}
	return ack.Sequence
}

// fetch takes the next message of a consumer of SIGN or CALLBACK, as a worker would; none within
// wait fails the test.
func (q *queueRig) fetch(consumer string, wait time.Duration) jetstream.Msg {
	q.t.Helper()
	msg := q.next(consumer, wait)
	if msg == nil {
		q.t.Fatalf("consumer %s delivered nothing within %s", consumer, wait)
	}
	return msg
}

// next is the next message of consumer, or nil when none comes within wait.
func (q *queueRig) next(consumer string, wait time.Duration) jetstream.Msg {
	q.t.Helper()
	stream := contracts.StreamSign
	if consumer == contracts.ConsumerCallback {
		stream = contracts.StreamCallback
	}
	c, err := q.js.Consumer(q.ctx, stream, consumer)
	if err != nil {
		q.t.Fatal(err)
	}
	b, err := c.Fetch(1, jetstream.FetchMaxWait(wait))
	if err != nil {
		q.t.Fatal(err)
	}
	for m := range b.Messages() {
		return m
	}
	return nil
}

// msgs is how many messages stream holds.
func (q *queueRig) msgs(stream string) uint64 {
	q.t.Helper()
	s, err := q.js.Stream(q.ctx, stream)
	if err != nil {
		q.t.Fatal(err)
	}
	info, err := s.Info(q.ctx)
	if err != nil {
		q.t.Fatal(err)
	}
	return info.State.Msgs
}

// dead lists DEAD, letter by letter (queue.ListDead waits out a 2 s fetch on every call).
func (q *queueRig) dead() []queue.Letter {
	q.t.Helper()
	s, err := q.js.Stream(q.ctx, contracts.StreamDead)
	if err != nil {
		q.t.Fatal(err)
	}
	info, err := s.Info(q.ctx)
	if err != nil {
		q.t.Fatal(err)
	}
	var letters []queue.Letter
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		l, err := queue.GetDead(q.ctx, q.js, seq)
		if err != nil {
			q.t.Fatal(err)
		}
		letters = append(letters, *l)
	}
	return letters
}

// advisories subscribes to one kind of JetStream consumer advisory ("MSG_NAKED", "MSG_TERMINATED",
// "MAX_DELIVERIES") of a SIGN consumer: how the server itself reports what a worker did.
func (q *queueRig) advisories(kind, consumer string) *nats.Subscription {
	q.t.Helper()
	sub, err := q.nc.SubscribeSync("$JS.EVENT.ADVISORY.CONSUMER." + kind + "." + contracts.StreamSign + "." + consumer)
	if err != nil {
		q.t.Fatal(err)
	}
	if err := q.nc.Flush(); err != nil {
		q.t.Fatal(err)
	}
	q.t.Cleanup(func() { _ = sub.Unsubscribe() })
	return sub
}

// advisory is the next advisory of sub, decoded; none within 10 s fails the test.
func (q *queueRig) advisory(sub *nats.Subscription) (a struct {
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
	Reason     string `json:"reason"`
}) {
	q.t.Helper()
	m, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		q.t.Fatalf("no advisory on %s: %v", sub.Subject, err)
	}
	if err := json.Unmarshal(m.Data, &a); err != nil {
		q.t.Fatal(err)
	}
	return a
}

// waitFor polls cond until it holds; a minute without fails the test (a liveness bound, not a timing).
func (q *queueRig) waitFor(what string, cond func() bool) {
	q.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			q.t.Fatalf("still waiting for %s after a minute", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
