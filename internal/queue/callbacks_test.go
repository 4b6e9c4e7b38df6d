package queue

import (
	"context"
	"testing"
	"time"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
)

// The callback consumers deliver without limit and without BackOff (CallbackMaxDeliver), and a
// cluster provisioned before (callback with MaxDeliver 10 and BackOff) is updated in place by the next
// provisioning, keeping its messages.
func TestCallbackConsumersUnlimitedAndUpdatedInPlace(t *testing.T) {
	ns := natstest.Start(t)
	ctx := context.Background()
	s := Settings{Replicas: 1, AckWait: 5 * time.Second, MaxDeliver: 10, MaxAckPending: 64}
	// What an earlier Signet provisioned: the stream, and the callback consumer like a sign consumer.
	ns.CreateStreams(t, Streams(s), contracts.StreamCallback)
	old := Consumers(s)[contracts.StreamSign][0]
	old.Durable, old.Name, old.FilterSubject = contracts.ConsumerCallback, "", contracts.SubjectCallback
	if _, err := ns.JS.CreateConsumer(ctx, contracts.StreamCallback, old); err != nil {
		t.Fatal(err)
	}
	if _, err := ns.JS.Publish(ctx, contracts.SubjectCallback, []byte(`{"job_id":"waiting"}`)); err != nil {
		t.Fatal(err)
	}
	if err := Provision(ctx, ns.JS, s); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{contracts.ConsumerCallback, contracts.ConsumerCallbackBatch} {
		c, err := ns.JS.Consumer(ctx, contracts.StreamCallback, name)
		if err != nil {
			t.Fatal(err)
		}
		info := c.CachedInfo()
		if cc := info.Config; cc.MaxDeliver != CallbackMaxDeliver || len(cc.BackOff) != 0 || cc.AckWait != 5*time.Second {
			t.Errorf("consumer %s: MaxDeliver %d BackOff %v AckWait %v, want unlimited, none, 5s", name, cc.MaxDeliver, cc.BackOff, cc.AckWait)
		}
		if name == contracts.ConsumerCallback && info.NumPending != 1 {
			t.Errorf("the waiting callback was lost in the update: %d pending", info.NumPending)
		}
	}
	// A sign consumer keeps its bounded deliveries and BackOff.
	c, err := ns.JS.Consumer(ctx, contracts.StreamSign, contracts.ConsumerSignBatch)
	if err != nil {
		t.Fatal(err)
	}
	if cc := c.CachedInfo().Config; cc.MaxDeliver != 10 || len(cc.BackOff) != 10 {
		t.Errorf("sign-batch: MaxDeliver %d, %d BackOff steps; want 10 and 10", cc.MaxDeliver, len(cc.BackOff))
	}
}
