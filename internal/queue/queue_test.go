package queue

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
)

func TestBackOff(t *testing.T) {
	for _, c := range []struct {
		ackWait    time.Duration
		maxDeliver int
		want       []time.Duration
	}{
		{30 * time.Second, 5, []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 5 * time.Minute}},
		{3 * time.Second, 3, []time.Duration{3 * time.Second, 6 * time.Second, 12 * time.Second}},
		{10 * time.Minute, 2, []time.Duration{10 * time.Minute, 10 * time.Minute}}, // never below AckWait
	} {
		got := BackOff(c.ackWait, c.maxDeliver)
		if len(got) != len(c.want) {
			t.Fatalf("BackOff(%s, %d) = %v, want %v", c.ackWait, c.maxDeliver, got, c.want)
		}
		for i := range got {
			if got[i] != c.want[i] || got[i] < c.ackWait {
				t.Fatalf("BackOff(%s, %d) = %v, want %v", c.ackWait, c.maxDeliver, got, c.want)
			}
		}
	}
	if n := len(BackOff(time.Second, -1)); n != 10 {
		t.Fatalf("unlimited MaxDeliver: %d steps, want 10", n)
	}
}

func TestRetryDelay(t *testing.T) {
	for d, want := range map[uint64]time.Duration{1: 2 * time.Second, 2: 4 * time.Second, 5: 32 * time.Second, 9: 5 * time.Minute, 50: 5 * time.Minute} {
		if got := RetryDelay(d); got != want {
			t.Errorf("RetryDelay(%d) = %s, want %s", d, got, want)
		}
	}
}

// TestProvisionIdempotent provisions twice (every process does at start) and checks what the README
// promises: work-queue SIGN and CALLBACK on file storage with a 24 h duplicate window, explicit-ack pull
// consumers with BackOff starting at AckWait and bounded MaxAckPending; a changed AckWait is applied.
func TestProvisionIdempotent(t *testing.T) {
	ns := natstest.Start(t)
	ctx := context.Background()
	s := Settings{Replicas: 1, AckWait: 5 * time.Second, MaxDeliver: 4, MaxAckPending: 64}
	for range 2 {
		if err := Provision(ctx, ns.JS, s); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{contracts.StreamSign, contracts.StreamCallback} {
		st, err := ns.JS.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		c := st.CachedInfo().Config
		if c.Retention != jetstream.WorkQueuePolicy || c.Storage != jetstream.FileStorage || c.Duplicates != DuplicateWindow {
			t.Errorf("stream %s: retention %v storage %v duplicates %s", name, c.Retention, c.Storage, c.Duplicates)
		}
	}
	cons, err := ns.JS.Consumer(ctx, contracts.StreamSign, contracts.ConsumerSignInteractive)
	if err != nil {
		t.Fatal(err)
	}
	cc := cons.CachedInfo().Config
	if cc.AckPolicy != jetstream.AckExplicitPolicy || cc.AckWait != 5*time.Second || cc.MaxDeliver != 4 ||
		cc.MaxAckPending != 64 || len(cc.BackOff) != 4 || cc.BackOff[0] != 5*time.Second || cc.MaxRequestBatch != MaxRequestBatch {
		t.Errorf("consumer config: %+v", cc)
	}
	s.AckWait = 7 * time.Second
	if err := Provision(ctx, ns.JS, s); err != nil {
		t.Fatal(err)
	}
	cons, _ = ns.JS.Consumer(ctx, contracts.StreamSign, contracts.ConsumerSignInteractive)
	if got := cons.CachedInfo().Config.AckWait; got != 7*time.Second {
		t.Errorf("AckWait after a changed provision: %s, want 7s", got)
	}
}

// TestDeadLetters moves messages to DEAD (twice for the same one: one letter), lists, gets,
// republishes under a new Nats-Msg-Id and purges.
func TestDeadLetters(t *testing.T) {
	ns := natstest.Start(t)
	ctx := context.Background()
	if err := Provision(ctx, ns.JS, Settings{AckWait: time.Second, MaxDeliver: 3, MaxAckPending: 8}); err != nil {
		t.Fatal(err)
	}
	job := []byte(`{"v":1,"id":"job-1","kind":"robot"}`)
	ack, err := ns.JS.PublishMsg(ctx, &nats.Msg{Subject: contracts.SubjectSignInteractive, Data: job,
		Header: nats.Header{contracts.HeaderMsgID: []string{"job-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	d := Dead{Subject: contracts.SubjectSignInteractive, Stream: contracts.StreamSign, Seq: ack.Sequence, JobID: "job-1",
		Reason: "document invoice.pdf is corrupt", Deliveries: 1, Data: job}
	for range 2 {
		if err := MoveToDead(ctx, ns.JS, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := MoveToDead(ctx, ns.JS, Dead{Subject: contracts.SubjectCallback, Stream: contracts.StreamCallback, Seq: 9,
		Reason: "gave up", Data: []byte(`{"job_id":"job-2"}`)}); err != nil {
		t.Fatal(err)
	}
	ls, err := ListDead(ctx, ns.JS)
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 2 || ls[0].JobID != "job-1" || ls[0].Reason != d.Reason || ls[0].Subject != contracts.SubjectSignInteractive ||
		ls[0].OrigSeq != ack.Sequence || ls[1].JobID != "job-2" || ls[1].Stream != contracts.StreamCallback {
		t.Fatalf("ListDead = %+v", ls)
	}
	l, err := GetDead(ctx, ns.JS, ls[0].Seq)
	if err != nil || string(l.Data) != string(job) {
		t.Fatalf("GetDead: %+v, %v", l, err)
	}
	if _, err := GetDead(ctx, ns.JS, 999); err == nil {
		t.Fatal("GetDead of a missing sequence: no error")
	}
	// The original publish id is still in the duplicate window; the retry must not be dropped.
	before, _ := ns.JS.Stream(ctx, contracts.StreamSign)
	info0, _ := before.Info(ctx)
	if err := Republish(ctx, ns.JS, l); err != nil {
		t.Fatal(err)
	}
	info1, _ := before.Info(ctx)
	if info1.State.LastSeq != info0.State.LastSeq+1 {
		t.Fatalf("republish was dropped: SIGN last seq %d → %d", info0.State.LastSeq, info1.State.LastSeq)
	}
	m, err := before.GetMsg(ctx, info1.State.LastSeq)
	if err != nil || m.Header.Get(contracts.HeaderMsgID) == "job-1" {
		t.Fatalf("republished message id %q, %v; want a new one", m.Header.Get(contracts.HeaderMsgID), err)
	}
	if ls, _ := ListDead(ctx, ns.JS); len(ls) != 1 {
		t.Fatalf("after a retry DEAD holds %d letters, want 1", len(ls))
	}
	if n, err := PurgeDead(ctx, ns.JS); err != nil || n != 1 {
		t.Fatalf("PurgeDead = %d, %v", n, err)
	}
	if ls, _ := ListDead(ctx, ns.JS); len(ls) != 0 {
		t.Fatalf("after purge DEAD holds %v", ls)
	}
}

// A job whose every delivery timed out while nobody listened to the MAX_DELIVERIES advisory stays in
// SIGN; Stranded finds it, and only it: not a job that was acked, not one of the other consumer that
// was never delivered.
func TestStrandedFindsExhaustedMessages(t *testing.T) {
	ns := natstest.Start(t)
	ctx := context.Background()
	if err := Provision(ctx, ns.JS, Settings{AckWait: time.Second, MaxDeliver: 2, MaxAckPending: 8}); err != nil {
		t.Fatal(err)
	}
	publish := func(subject, id string) uint64 {
		ack, err := ns.JS.PublishMsg(ctx, &nats.Msg{Subject: subject, Data: []byte(`{"v":1,"id":"` + id + `"}`),
			Header: nats.Header{contracts.HeaderMsgID: []string{id}}})
		if err != nil {
			t.Fatal(err)
		}
		return ack.Sequence
	}
	hung := publish(contracts.SubjectSignInteractive, "hung")
	publish(contracts.SubjectSignInteractive, "acked")
	publish(contracts.SubjectSignBatch, "waiting") // the batch consumer never pulls in this test

	none, err := Stranded(ctx, ns.JS)
	if err != nil || len(none) != 0 {
		t.Fatalf("before any delivery: %+v, %v", none, err)
	}
	c, err := ns.JS.Consumer(ctx, contracts.StreamSign, contracts.ConsumerSignInteractive)
	if err != nil {
		t.Fatal(err)
	}
	// Two deliveries of "hung", neither acked (a worker that dies each time); "acked" is acked.
	deliveries := 0
	deadline := time.Now().Add(15 * time.Second)
	for deliveries < 2 && time.Now().Before(deadline) {
		batch, err := c.Fetch(2, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			if JobIDOf(m.Data()) == "acked" {
				if err := m.Ack(); err != nil {
					t.Fatal(err)
				}
				continue
			}
			deliveries++
			// In a worker's hands (ack pending): never reported.
			if inFlight, err := Stranded(ctx, ns.JS); err != nil || len(inFlight) != 0 {
				t.Fatalf("a job in flight was reported stranded: %+v, %v", inFlight, err)
			}
		}
	}
	if deliveries != 2 {
		t.Fatalf("%d deliveries of the hung job, want 2", deliveries)
	}
	// JetStream notices the exhausted job (and sends its one advisory, heard by nobody here) when a
	// worker next asks for messages.
	var found []MaxDeliveries
	if err := waitFor(10*time.Second, func() bool {
		if batch, err := c.Fetch(1, jetstream.FetchMaxWait(200*time.Millisecond)); err == nil {
			for m := range batch.Messages() {
				t.Errorf("delivered again after MaxDeliver: %s", m.Data())
			}
		}
		found, err = Stranded(ctx, ns.JS)
		return err == nil && len(found) > 0
	}); err != nil {
		ci, _ := c.Info(ctx)
		t.Fatalf("the exhausted job was not found: %+v, %v; consumer ack floor %+v delivered %+v ack pending %d redelivered %d pending %d",
			found, err, ci.AckFloor, ci.Delivered, ci.NumAckPending, ci.NumRedelivered, ci.NumPending)
	}
	if len(found) != 1 || found[0].StreamSeq != hung || found[0].Stream != contracts.StreamSign ||
		found[0].Consumer != contracts.ConsumerSignInteractive || found[0].Deliveries != 2 {
		t.Fatalf("Stranded = %+v, want only seq %d of %s", found, hung, contracts.ConsumerSignInteractive)
	}
}

func waitFor(limit time.Duration, cond func() bool) error {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// A job NAKed for a later retry (the portal or S3 was down), one NAKed for an immediate retry and one
// whose AckWait ran out are waiting for their next delivery, not stranded.
func TestStrandedIgnoresJobsWaitingForRetry(t *testing.T) {
	ns := natstest.Start(t)
	ctx := context.Background()
	if err := Provision(ctx, ns.JS, Settings{AckWait: time.Second, MaxDeliver: 5, MaxAckPending: 8}); err != nil {
		t.Fatal(err)
	}
	if _, err := ns.JS.PublishMsg(ctx, &nats.Msg{Subject: contracts.SubjectSignInteractive, Data: []byte(`{"v":1,"id":"later"}`)}); err != nil {
		t.Fatal(err)
	}
	c, err := ns.JS.Consumer(ctx, contracts.StreamSign, contracts.ConsumerSignInteractive)
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.NakWithDelay(time.Minute); err != nil {
		t.Fatal(err)
	}
	// Two more: one NAKed for an immediate retry, one whose AckWait runs out; nobody pulls again, so
	// both wait for their next delivery.
	for _, id := range []string{"nak-now", "timed-out"} {
		if _, err := ns.JS.PublishMsg(ctx, &nats.Msg{Subject: contracts.SubjectSignInteractive, Data: []byte(`{"v":1,"id":"` + id + `"}`)}); err != nil {
			t.Fatal(err)
		}
		m, err := c.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if got := JobIDOf(m.Data()); got != id {
			t.Fatalf("delivered %q, want %q", got, id)
		}
		if id == "nak-now" {
			if err := m.NakWithDelay(time.Second); err != nil { // past the next Next, then due at once
				t.Fatal(err)
			}
		}
	}
	for range 3 {
		time.Sleep(time.Second) // past AckWait: only the NAK delay keeps it
		if found, err := Stranded(ctx, ns.JS); err != nil || len(found) != 0 {
			t.Fatalf("a job waiting for its retry was reported stranded: %+v, %v", found, err)
		}
	}
}
