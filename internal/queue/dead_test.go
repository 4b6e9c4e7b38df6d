package queue

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
)

// maxLeftReaders is how many replaced reader consumers a test tolerates waiting for readerIdle.
const maxLeftReaders = 5

func provisioned(t testing.TB) jetstream.JetStream {
	t.Helper()
	ns := natstest.Start(t)
	if err := Provision(context.Background(), ns.JS, Settings{AckWait: time.Second, MaxDeliver: 3, MaxAckPending: 8}); err != nil {
		t.Fatal(err)
	}
	return ns.JS
}

func bury(t testing.TB, js jetstream.JetStream, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		id := "job-" + strconv.Itoa(i)
		if err := MoveToDead(context.Background(), js, Dead{Subject: contracts.SubjectCallback, Stream: contracts.StreamCallback,
			Seq: uint64(i + 1), JobID: id, Reason: "gave up", Data: []byte(`{"job_id":"` + id + `"}`)}); err != nil {
			t.Fatal(err)
		}
	}
}

// An empty DEAD lists nothing and no error (`signet dlq list` prints "DEAD is empty"), also after its
// letters were purged.
func TestListDeadEmpty(t *testing.T) {
	ctx := context.Background()
	js := provisioned(t)
	if ls, err := ListDead(ctx, js); err != nil || len(ls) != 0 {
		t.Fatalf("empty DEAD: %+v, %v", ls, err)
	}
	bury(t, js, 0, 3)
	if n, err := PurgeDead(ctx, js); err != nil || n != 3 {
		t.Fatalf("PurgeDead = %d, %v", n, err)
	}
	if ls, err := ListDead(ctx, js); err != nil || len(ls) != 0 {
		t.Fatalf("purged DEAD: %+v, %v", ls, err)
	}
}

// More letters than one pull takes (100) are all listed, in order, each once.
func TestListDeadReadsEveryPull(t *testing.T) {
	js := provisioned(t)
	bury(t, js, 0, 250)
	ls, err := ListDead(context.Background(), js)
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 250 {
		t.Fatalf("listed %d letters, want 250", len(ls))
	}
	for i, l := range ls {
		if want := "job-" + strconv.Itoa(i); l.JobID != want || l.Seq != uint64(i+1) {
			t.Fatalf("letter %d: job %s seq %d, want %s seq %d", i, l.JobID, l.Seq, want, i+1)
		}
	}
}

// BenchmarkListDead: a DEAD of a few letters answers at once (it was held 2 s by a pull's wait).
func BenchmarkListDead(b *testing.B) {
	js := provisioned(b)
	bury(b, js, 0, 3)
	for b.Loop() {
		if ls, err := ListDead(context.Background(), js); err != nil || len(ls) != 3 {
			b.Fatalf("%d letters, %v", len(ls), err)
		}
	}
}

// Every `signet dlq list` (and the /ops page's list) deletes the consumer it read DEAD with: a
// stream holds at most 1,000, and left idle for nats.go's five minutes they ran out.
func TestListDeadLeavesNoConsumer(t *testing.T) {
	js := provisioned(t)
	bury(t, js, 0, 3)
	for i := range 1100 {
		if ls, err := ListDead(context.Background(), js); err != nil || len(ls) != 3 {
			t.Fatalf("list %d: %d letters, %v", i+1, len(ls), err)
		}
	}
	st, err := js.Stream(context.Background(), contracts.StreamDead)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Each list deletes its consumer; under a loaded machine nats.go's ordered consumer may have
	// replaced one mid-read, and the replaced one goes by readerIdle. What matters is that 1,100
	// lists do not pile up towards the stream's 1,000 (a reader that never deletes leaves 1,100).
	if info.State.Consumers > maxLeftReaders {
		t.Errorf("%d consumers left on DEAD after 1,100 lists (at most %d may wait for the idle threshold)", info.State.Consumers, maxLeftReaders)
	}
}
