package ops

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/queue"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
)

func setup(t *testing.T) *natstest.Server {
	t.Helper()
	ns := natstest.Start(t)
	if err := queue.Provision(context.Background(), ns.JS, queue.Settings{AckWait: time.Minute, MaxDeliver: 3, MaxAckPending: 10}); err != nil {
		t.Fatal(err)
	}
	return ns
}

func TestRetryKeepsSignedJobs(t *testing.T) {
	ctx := context.Background()
	ns := setup(t)
	if err := queue.MoveToDead(ctx, ns.JS, queue.Dead{Subject: contracts.SubjectSignBatch, Stream: contracts.StreamSign, Seq: 7,
		JobID: "b1.0", Reason: "x", Data: []byte(`{"id":"b1.0"}`)}); err != nil {
		t.Fatal(err)
	}
	msg, err := Retry(ctx, ns.JS, func(context.Context, string) (bool, error) { return true, nil }, 1)
	if err != nil || !strings.Contains(msg, "already has a stored result") {
		t.Fatalf("retry of a signed job: %q %v", msg, err)
	}
	if ns.Msgs(t, contracts.StreamSign) != 0 {
		t.Fatal("a signed job must not be put back on SIGN")
	}
}

func TestRingKeepsTheWindowAndComputesRates(t *testing.T) {
	r := &Ring{Every: time.Second, Window: 3 * time.Second}
	t0 := time.Date(2026, 11, 22, 23, 0, 0, 0, time.UTC)
	for i := range 5 {
		r.Add(&Snapshot{Time: t0.Add(time.Duration(i) * 10 * time.Second),
			Consumers: []Consumer{{Stream: "SIGN", Name: "sign-batch", Acked: uint64(100 * i), NumPending: 500}}})
	}
	got := r.Snapshots()
	if len(got) != 3 || !got[0].Time.Equal(t0.Add(20*time.Second)) {
		t.Fatalf("kept %d snapshots from %v; want the last 3", len(got), got[0].Time)
	}
	c := got[2].Consumer("SIGN", "sign-batch")
	if c.Rate != 10 || c.Drain != 50*time.Second {
		t.Fatalf("rate %v drain %v; want 10/s and 50s", c.Rate, c.Drain)
	}
}

// History draws one line per consumer in the dashboard's order, lag from every snapshot and throughput
// from the second on (a rate needs two).
func TestHistoryIsOneLinePerConsumer(t *testing.T) {
	r := &Ring{Every: time.Second, Window: time.Minute}
	t0 := time.Date(2026, 11, 22, 23, 0, 0, 0, time.UTC)
	for i := range 3 {
		r.Add(&Snapshot{Time: t0.Add(time.Duration(i) * 10 * time.Second), Consumers: []Consumer{
			{Stream: contracts.StreamSign, Name: contracts.ConsumerSignBatch, Acked: uint64(50 * i), NumPending: uint64(100 - 10*i), NumAckPending: 2}}})
	}
	lag, rate := r.History()
	var names []string
	for _, s := range lag {
		names = append(names, s.Name)
	}
	if want := []string{contracts.ConsumerSignInteractive, contracts.ConsumerSignBatch, contracts.ConsumerCallback, contracts.ConsumerCallbackBatch}; !slices.Equal(names, want) {
		t.Fatalf("lines %v, want %v", names, want)
	}
	if b := lag[1].Points; len(b) != 3 || b[0].V != 102 || b[2].V != 82 || !b[2].T.Equal(t0.Add(20*time.Second)) {
		t.Errorf("batch lag %v", b)
	}
	if b := rate[1].Points; len(b) != 2 || b[0].V != 5 || b[1].V != 5 {
		t.Errorf("batch throughput %v, want 5/s twice", b)
	}
	if len(lag[0].Points) != 0 || len(rate[2].Points) != 0 {
		t.Errorf("consumers without samples have points: %v %v", lag[0].Points, rate[2].Points)
	}
}
