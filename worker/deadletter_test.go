package worker

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/jobkey"
	"github.com/signet-b24/signet/internal/queue"
)

// deadRig is a pool that can tell a genuine job from a forged one and read the jobs bucket: what the
// dead-letter side needs of the signer.
type deadRig struct {
	*queueRig
	p       *Pool
	results *Results
	intake  *contracts.JobSigner
}

func newDeadRig(t *testing.T, ackWait time.Duration, maxDeliver int) *deadRig {
	t.Helper()
	q := newQueueRig(t, ackWait, maxDeliver)
	results, err := OpenResults(q.ctx, q.js, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	intake, err := jobkey.Generate(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p := q.pool(ackWait, maxDeliver)
	p.Signer = &Signer{Results: results, JobKeys: contracts.NewJobKeys(intake.Public())}
	return &deadRig{queueRig: q, p: p, results: results, intake: intake}
}

// job is a robot job; signed by the trusted intake when genuine.
func (d *deadRig) job(id string, genuine bool) []byte {
	d.t.Helper()
	j := &contracts.SignJob{ID: id, Kind: contracts.KindRobot, Created: time.Now().UTC(),
		Portal:     contracts.Portal{MemberID: "3d906b2a32030386ccc7274d2313a01b", Domain: "bel.bitrix24.ru"},
		Document:   contracts.Document{DiskFileID: 17, EntityTypeID: 2, EntityID: 1188},
		Signer:     contracts.Signer{Login: "mary", BitrixUserID: 7, Authorization: "otp"},
		Credential: "pkcs11:token=acme;object=mary-2026",
		Reply:      contracts.Reply{EventToken: "681c|A1|x.y", WorkflowID: "681c"}}
	if genuine {
		d.intake.Sign(j, time.Now())
	}
	data, err := j.Marshal()
	if err != nil {
		d.t.Fatal(err)
	}
	return data
}

func (d *deadRig) callback(id string) []byte {
	d.t.Helper()
	data, err := contracts.NewCallback(&contracts.SignJob{ID: id, Kind: contracts.KindRobot,
		Portal: contracts.Portal{MemberID: "3d906b2a32030386ccc7274d2313a01b"}}, nil, "the PDF is encrypted", time.Now().UTC()).Marshal()
	if err != nil {
		d.t.Fatal(err)
	}
	return data
}

// queued is the one callback in CALLBACK, or nil.
func (d *deadRig) queued() *contracts.Callback {
	d.t.Helper()
	s, err := d.js.Stream(d.ctx, contracts.StreamCallback)
	if err != nil {
		d.t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(d.ctx, contracts.SubjectCallback)
	if err != nil {
		return nil
	}
	cb, err := contracts.DecodeCallback(m.Data)
	if err != nil {
		d.t.Fatal(err)
	}
	return cb
}

// A message that exhausted its deliveries (every worker that took it died or hung) is dealt with by
// what it is: a genuine job's workflow is told and the job goes to DEAD; a job signed on an earlier
// delivery has its result sent instead; a forged or unreadable one goes to DEAD without a word to any
// portal; a callback another copy delivered is only removed. In every case it leaves its stream.
func TestOnMaxDeliveries(t *testing.T) {
	for _, tc := range []struct {
		name    string
		stream  string
		prepare func(d *deadRig) (data []byte)
		dead    bool
		// callback is the outcome queued for the workflow ("" for none).
		callback contracts.Outcome
	}{
		{"a genuine job never signed", contracts.StreamSign, func(d *deadRig) []byte { return d.job("j-1", true) },
			true, contracts.OutcomeFailed},
		{"a genuine job signed, its ack lost", contracts.StreamSign, func(d *deadRig) []byte {
			if _, err := d.results.RecordSigned(d.ctx, "j-1", &contracts.Signed{PDFKey: "signed/j-1.pdf", SHA256After: "ab"}); err != nil {
				d.t.Fatal(err)
			}
			return d.job("j-1", true)
		}, false, contracts.OutcomeSigned},
		{"a forged job", contracts.StreamSign, func(d *deadRig) []byte { return d.job("j-1", false) }, true, ""},
		{"an unreadable job", contracts.StreamSign, func(d *deadRig) []byte { return []byte(`{"id":"j-1","v":99}`) }, true, ""},
		{"a callback never delivered", contracts.StreamCallback, func(d *deadRig) []byte { return d.callback("j-1") }, true, ""},
		{"a callback another copy delivered", contracts.StreamCallback, func(d *deadRig) []byte {
			cb, err := contracts.DecodeCallback(d.callback("j-1"))
			if err != nil {
				d.t.Fatal(err)
			}
			if err := d.results.SaveOutcome(d.ctx, cb, ""); err != nil {
				d.t.Fatal(err)
			}
			return d.callback("j-1")
		}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDeadRig(t, 30*time.Second, 3)
			subject := contracts.SubjectSignInteractive
			if tc.stream == contracts.StreamCallback {
				subject = contracts.SubjectCallback
			}
			data := tc.prepare(d)
			seq := d.publish(subject, "j-1", data)
			if err := d.p.onMaxDeliveries(d.ctx, queue.MaxDeliveries{Stream: tc.stream, Consumer: "c", StreamSeq: seq, Deliveries: 3}); err != nil {
				t.Fatal(err)
			}
			if n := d.msgs(tc.stream); n != 0 {
				t.Fatalf("%s still holds %d messages", tc.stream, n)
			}
			letters := d.dead()
			if tc.dead != (len(letters) == 1) {
				t.Fatalf("DEAD holds %d letters, want dead=%v", len(letters), tc.dead)
			}
			if tc.dead {
				l := letters[0]
				if l.Stream != tc.stream || l.OrigSeq != seq || l.Deliveries != 3 || string(l.Data) != string(data) || !strings.Contains(l.Reason, "gave up after 3 deliveries") {
					t.Fatalf("letter %+v: want stream %s, seq %d, 3 deliveries, the message, and why", l, tc.stream, seq)
				}
			}
			if tc.stream == contracts.StreamSign {
				cb := d.queued()
				switch {
				case tc.callback == "" && cb != nil:
					t.Fatalf("a callback was queued (%s) for a job the workflow must not hear of", cb.Outcome)
				case tc.callback != "" && (cb == nil || cb.Outcome != tc.callback || cb.JobID != "j-1"):
					t.Fatalf("callback %+v, want %s for j-1", cb, tc.callback)
				case tc.callback == contracts.OutcomeFailed && !strings.Contains(cb.Error, "gave up after 3 deliveries"):
					t.Fatalf("the workflow is told %q, not why", cb.Error)
				}
			}
		})
	}
}

// A message already settled (or moved by another worker) is left alone.
func TestOnMaxDeliveriesSettledAlready(t *testing.T) {
	d := newDeadRig(t, 30*time.Second, 3)
	seq := d.publish(contracts.SubjectSignInteractive, "j-1", d.job("j-1", true))
	if err := d.fetch(contracts.ConsumerSignInteractive, 10*time.Second).DoubleAck(d.ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.p.onMaxDeliveries(d.ctx, queue.MaxDeliveries{Stream: contracts.StreamSign, StreamSeq: seq, Deliveries: 3}); err != nil {
		t.Fatal(err)
	}
	if n := len(d.dead()); n != 0 {
		t.Fatalf("DEAD holds %d letters for a settled message", n)
	}
	if cb := d.queued(); cb != nil {
		t.Fatalf("a callback was queued for a settled message: %+v", cb)
	}
}

// Pool.dead copies a message with where it came from and why; Pool.unreadable does so for one that
// does not decode and marks the failure permanent.
func TestDead(t *testing.T) {
	for _, tc := range []struct {
		name  string
		data  string
		move  func(p *Pool, ctx context.Context, msg jetstream.Msg) error
		jobID string
	}{
		{"a job that failed for good", `{"id":"j-1"}`, func(p *Pool, ctx context.Context, msg jetstream.Msg) error {
			return p.dead(ctx, msg, "j-1", "document x.pdf of job j-1: the PDF is encrypted")
		}, "j-1"},
		{"a message that does not decode", `{"id":"j-2","v":99}`, func(p *Pool, ctx context.Context, msg jetstream.Msg) error {
			if err := p.unreadable(ctx, msg, contracts.ErrInvalid); !IsPermanent(err) {
				return fmt.Errorf("unreadable returned %v, want a permanent failure", err)
			}
			return nil
		}, "j-2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDeadRig(t, 30*time.Second, 3)
			seq := d.publish(contracts.SubjectSignInteractive, tc.jobID, []byte(tc.data))
			msg := d.fetch(contracts.ConsumerSignInteractive, 10*time.Second)
			if err := tc.move(d.p, d.ctx, msg); err != nil {
				t.Fatal(err)
			}
			letters := d.dead()
			if len(letters) != 1 {
				t.Fatalf("DEAD holds %d letters, want 1", len(letters))
			}
			l := letters[0]
			if l.Stream != contracts.StreamSign || l.Subject != contracts.SubjectSignInteractive || l.OrigSeq != seq ||
				l.Deliveries != 1 || l.JobID != tc.jobID || l.Reason == "" || string(l.Data) != tc.data {
				t.Fatalf("letter %+v: want SIGN seq %d on %s, 1 delivery, job %s, a reason and the message", l, seq, contracts.SubjectSignInteractive, tc.jobID)
			}
			// A second copy (a redelivery, or the advisory) is the same letter.
			if err := tc.move(d.p, d.ctx, msg); err != nil {
				t.Fatal(err)
			}
			if n := len(d.dead()); n != 1 {
				t.Fatalf("DEAD holds %d letters after a second copy, want 1", n)
			}
		})
	}
}

// The two ways an exhausted message reaches DEAD with real deliveries: the MAX_DELIVERIES advisory,
// heard by one worker of the cluster, and the sweep, for when nobody heard it.
func TestExhaustedDeliveries(t *testing.T) {
	for _, tc := range []struct {
		name string
		// before: the listener must be there when JetStream gives up (an advisory is sent once); the
		// sweep looks at once when it starts, then every StrandedSweep.
		before bool
		watch  func(d *deadRig) (stop func())
	}{
		{"the advisory", true, func(d *deadRig) func() {
			stop, err := d.p.watchMaxDeliveries()
			if err != nil {
				d.t.Fatal(err)
			}
			return stop
		}},
		{"the sweep", false, func(d *deadRig) func() {
			ctx, cancel := context.WithCancel(d.ctx)
			done := make(chan struct{})
			go func() { defer close(done); d.p.sweepStranded(ctx) }()
			return func() { cancel(); <-done }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Two deliveries, a second's AckWait each: the worker that takes it "hangs" (never acks).
			d := newDeadRig(t, time.Second, 2)
			advisories := d.advisories("MAX_DELIVERIES", contracts.ConsumerSignInteractive)
			if tc.before {
				defer tc.watch(d)()
			}
			d.publish(contracts.SubjectSignInteractive, "j-1", d.job("j-1", false))
			d.fetch(contracts.ConsumerSignInteractive, 10*time.Second)
			d.fetch(contracts.ConsumerSignInteractive, 30*time.Second)
			// JetStream notices the exhausted message when a worker pulls after its last AckWait ran out.
			d.waitFor("the MAX_DELIVERIES advisory", func() bool {
				if m := d.next(contracts.ConsumerSignInteractive, time.Second); m != nil {
					t.Fatal("delivered a third time with MaxDeliver 2")
				}
				_, err := advisories.NextMsg(10 * time.Millisecond)
				return err == nil
			})
			if !tc.before {
				defer tc.watch(d)()
			}
			d.waitFor("the message in DEAD and gone from SIGN", func() bool {
				return len(d.dead()) == 1 && d.msgs(contracts.StreamSign) == 0
			})
		})
	}
}
