package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/queue"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
)

// A worker whose NATS node goes away while its slots are busy drops no delivery and loses no job.
// This is the multi-host test's known failure made small (docs/testing.md): the node the worker is
// connected to is shut down while a pull request of the worker waits at the consumer's leader on
// another node; the client reconnects, and with nats.go's Messages iterator it then asked for a full
// batch again while the first request was still alive, so two batches came for a buffer of one
// ("slow consumer, messages dropped"). Three replicated nodes in this process.
func TestConsumeReconnectDropsNothing(t *testing.T) {
	var slow atomic.Int32
	c := natstest.StartCluster(t, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrSlowConsumer) {
			slow.Add(1)
		}
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const ackWait = 2 * time.Second
	if err := queue.Provision(ctx, c.JS, queue.Settings{Replicas: 3, AckWait: ackWait, MaxDeliver: 50, MaxAckPending: 64}); err != nil {
		t.Fatal(err)
	}
	q := &queueRig{t: t, ctx: ctx, nc: c.NC, js: c.JS}
	// The consumer's leader must be another node than the client's, so that it outlives the client's.
	for range 10 {
		if consumerLeader(t, ctx, c) != c.NC.ConnectedServerName() {
			break
		}
		rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
		_, _ = c.NC.RequestWithContext(rctx, "$JS.API.CONSUMER.LEADER.STEPDOWN."+contracts.StreamSign+"."+contracts.ConsumerSignInteractive, nil)
		rcancel()
		time.Sleep(500 * time.Millisecond)
	}
	if consumerLeader(t, ctx, c) == c.NC.ConnectedServerName() {
		t.Fatalf("the consumer's leader stayed on the client's node %s after ten step-downs", c.NC.ConnectedServerName())
	}

	const n = 2
	var (
		h        handled
		inHand   atomic.Int32
		gate     = make(chan struct{})
		gateOnce sync.Once
		openGate = func() { gateOnce.Do(func() { close(gate) }) }
	)
	publishJobs(q, n)
	cs := startConsume(context.Background(), q.pool(ackWait, 50), n, func(_ context.Context, msg jetstream.Msg) error {
		inHand.Add(1)
		defer inHand.Add(-1)
		h.add(msg)
		<-gate
		return nil
	})
	defer cs.stop(t)
	defer openGate() // before the stop: the jobs in hand must be able to end
	q.waitFor("both slots busy", func() bool { return inHand.Load() == n })
	// The old loop's next pull request reaches the leader and waits there (the new one has none:
	// no slot is free).
	time.Sleep(300 * time.Millisecond)

	// The client's node goes; the client reconnects to another.
	was := c.NC.ConnectedServerName()
	down := false
	for _, s := range c.Nodes {
		if s.Name() == was {
			s.Shutdown()
			down = true
		}
	}
	if !down {
		t.Fatalf("the client's node %q is none of the cluster's", was)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !c.NC.IsConnected() || c.NC.ConnectedServerName() == was || c.NC.ConnectedServerName() == "" {
		if time.Now().After(deadline) {
			t.Fatalf("the client did not reconnect after %s went: connected %v to %q (%v)", was, c.NC.IsConnected(), c.NC.ConnectedServerName(), c.NC.Servers())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)

	const more = 8
	for i := range more {
		publishRetrying(t, ctx, c.JS, fmt.Sprintf("m-%d", i))
	}
	time.Sleep(time.Second) // deliveries arrive while both slots are still busy
	openGate()
	q.waitFor("every job acked", func() bool { return q.msgs(contracts.StreamSign) == 0 })
	if got := h.distinct(); got != n+more {
		t.Fatalf("%d distinct jobs handled, want %d", got, n+more)
	}
	if s := slow.Load(); s != 0 {
		t.Fatalf("the client dropped deliveries (slow consumer, %d time(s)): they wait for AckWait, or longer", s)
	}
}

// publishRetrying publishes one job, again after a lost reply: a node went away and the stream may
// be electing a leader, when a publish gets no answer (same Nats-Msg-Id, so never twice).
func publishRetrying(t *testing.T, ctx context.Context, js jetstream.JetStream, id string) {
	t.Helper()
	var err error
	for range 12 {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = js.PublishMsg(pctx, &nats.Msg{Subject: contracts.SubjectSignInteractive, Data: []byte(`{"id":"` + id + `"}`),
			Header: nats.Header{contracts.HeaderMsgID: []string{id}}})
		cancel()
		if err == nil {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("publishing %s: %v", id, err)
}

func consumerLeader(t *testing.T, ctx context.Context, c *natstest.Cluster) string {
	t.Helper()
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cons, err := c.JS.Consumer(rctx, contracts.StreamSign, contracts.ConsumerSignInteractive)
	if err != nil {
		return ""
	}
	if ci := cons.CachedInfo(); ci.Cluster != nil {
		return ci.Cluster.Leader
	}
	return ""
}

// distinct is how many different jobs were handled.
func (h *handled) distinct() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.n)
}
