package audit

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/queue"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
)

// startAudit runs an embedded JetStream with Signet's AUDIT stream as provisioned in production.
func startAudit(t testing.TB) *natstest.Server {
	t.Helper()
	s := natstest.Start(t)
	s.CreateStreams(t, queue.Streams(queue.Settings{}), contracts.StreamAudit)
	return s
}

// startTamperableAudit is startAudit without deny_delete: the AUDIT that someone with the server's
// store files in hand can change (the live stream refuses deletes, internal/queue's
// TestAttackPurgeOrDeleteAudit); the hash chain must still show what was removed.
func startTamperableAudit(t *testing.T) *natstest.Server {
	t.Helper()
	s := natstest.Start(t)
	streams := queue.Streams(queue.Settings{})
	for i := range streams {
		streams[i].DenyDelete, streams[i].DenyPurge = false, false
	}
	s.CreateStreams(t, streams, contracts.StreamAudit)
	return s
}

// process is a separate connection with its own Writer: what a second intake or worker process is.
func process(t testing.TB, s *natstest.Server, key crypto.Signer, opts Options) *Writer {
	t.Helper()
	nc, err := nats.Connect(s.Srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return NewWriter(js, key, opts)
}

var (
	keyOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

func serviceKey(t testing.TB) *rsa.PrivateKey {
	keyOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			t.Fatal(err)
		}
	})
	return rsaKey
}

func event(i int) contracts.AuditEvent {
	return contracts.AuditEvent{Action: contracts.AuditJobSigned, Portal: "3d906b2a", Login: "mary", BitrixUserID: 7,
		JobID: fmt.Sprintf("r%04d", i), SHA256Before: strings.Repeat("a", 64), SHA256After: strings.Repeat("b", 64),
		Credential: "pkcs11:token=acme;object=mary-2026", CertSerial: "01:02", Outcome: contracts.AuditOK}
}

// The shared chain (before issue 22, still written by Options.SharedChain): three processes with four
// goroutines each write at once; the stream holds one linear chain with checkpoints, and every
// checkpoint verifies with the service key.
func TestOneChainWithSeveralWritingProcesses(t *testing.T) {
	s := startAudit(t)
	ctx := context.Background()
	key := serviceKey(t)
	var wg sync.WaitGroup
	errs := make(chan error, 120)
	for p := range 3 {
		w := process(t, s, key, Options{CheckpointEvery: 7, SharedChain: true})
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 10 {
					if err := w.Record(ctx, event(p*100+g*10+i)); err != nil {
						errs <- err
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rep, err := Verify(ctx, s.JS, contracts.StreamAudit, VerifyOptions{Keys: []crypto.PublicKey{key.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("chain broken: %s", rep.Problem)
	}
	if rep.Events-rep.Checkpoints != 120 {
		t.Fatalf("%d events besides checkpoints, want 120", rep.Events-rep.Checkpoints)
	}
	// Each process checkpoints after every 7 of its own 40 events: at least 5 each.
	if rep.Checkpoints < 15 || rep.VerifiedCkpts != rep.Checkpoints {
		t.Fatalf("checkpoints: %d written, %d verified; want at least 15, all verified", rep.Checkpoints, rep.VerifiedCkpts)
	}
	if rep.FirstSeq != 1 || rep.LastSeq != uint64(rep.Events) {
		t.Fatalf("sequences %d..%d for %d events", rep.FirstSeq, rep.LastSeq, rep.Events)
	}

	// One document's story is read through its subject, not a scan.
	story, err := Story(ctx, s.JS, contracts.StreamAudit, "r0105")
	if err != nil {
		t.Fatal(err)
	}
	if len(story) != 1 || story[0].JobID != "r0105" || story[0].ID != EventID(story[0].Seq, story[0].Hash) {
		t.Fatalf("story of r0105: %+v", story)
	}
}

// Append returns the stored event with the id the deal's timeline quotes, and a clean shutdown of
// Run leaves the tail signed.
func TestAppendReturnsIDAndRunSignsTheTail(t *testing.T) {
	s := startAudit(t)
	ctx := context.Background()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	w := NewWriter(s.JS, ec, Options{CheckpointEvery: 1000, CheckpointInterval: time.Hour, SharedChain: true})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- w.Run(runCtx) }()
	var last *contracts.AuditEvent
	for i := range 3 {
		e, err := w.Append(ctx, event(i))
		if err != nil {
			t.Fatal(err)
		}
		last = e
	}
	if last.Seq != 3 || !strings.HasPrefix(last.ID, "3-") || len(last.Hash) != 64 {
		t.Fatalf("stored event: seq %d id %q hash %q", last.Seq, last.ID, last.Hash)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(ctx, s.JS, contracts.StreamAudit, VerifyOptions{Keys: []crypto.PublicKey{ec.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Checkpoints != 1 || rep.VerifiedCkpts != 1 || rep.Unsigned != 0 || rep.LastVerifiedCkpt != 4 {
		t.Fatalf("after Run: %+v", rep)
	}
}

// tamper edits a copy of the messages; copyStream stores them in a new stream, as an auditor would
// copy AUDIT before checking it.
type tamper func(t *testing.T, msgs []Raw) []Raw

func copyStream(t *testing.T, js jetstream.JetStream, name string, msgs []Raw) {
	t.Helper()
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{strings.ToLower(name) + ".>"}}); err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if _, err := js.Publish(ctx, strings.ToLower(name)+".e", m.Data); err != nil {
			t.Fatal(err)
		}
	}
}

func rewrite(t *testing.T, m Raw, edit func(e map[string]any)) Raw {
	t.Helper()
	var e map[string]any
	if err := json.Unmarshal(m.Data, &e); err != nil {
		t.Fatal(err)
	}
	edit(e)
	data, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return Raw{StreamSeq: m.StreamSeq, Data: data}
}

// relink recomputes prev_hash from index i on: what someone who edits an event must do to keep
// the links, and what only a checkpoint signature can catch.
func relink(t *testing.T, msgs []Raw, from int) []Raw {
	for i := from; i < len(msgs); i++ {
		prev, err := Decode(msgs[i-1].StreamSeq, msgs[i-1].Data)
		if err != nil {
			t.Fatal(err)
		}
		msgs[i] = rewrite(t, msgs[i], func(e map[string]any) {
			e["prev_hash"] = prev.Hash
			if ck, ok := e["checkpoint"].(map[string]any); ok {
				ck["head_hash"] = prev.Hash
			}
		})
	}
	return msgs
}

func TestVerifyFindsTheFirstBrokenLink(t *testing.T) {
	s := startTamperableAudit(t)
	ctx := context.Background()
	key := serviceKey(t)
	// Events 1–5, checkpoint 6, events 7–11, checkpoint 12, events 13–14.
	w := NewWriter(s.JS, key, Options{CheckpointEvery: 5, SharedChain: true})
	for i := range 12 {
		if err := w.Record(ctx, event(i)); err != nil {
			t.Fatal(err)
		}
	}
	var orig []Raw
	if err := Scan(ctx, s.JS, contracts.StreamAudit, Query{}, func(r Raw) error { orig = append(orig, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(orig) != 14 {
		t.Fatalf("%d messages, want 14", len(orig))
	}
	trusted := VerifyOptions{Keys: []crypto.PublicKey{key.Public()}}
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

	cases := []struct {
		name   string
		tamper tamper
		seq    uint64
		kind   ProblemKind
	}{
		{"untouched copy", func(t *testing.T, m []Raw) []Raw { return m }, 0, ""},
		{"login edited in event 4", func(t *testing.T, m []Raw) []Raw {
			m[3] = rewrite(t, m[3], func(e map[string]any) { e["login"] = "john" })
			return m
		}, 5, BrokenLink},
		{"event 1 deleted", func(t *testing.T, m []Raw) []Raw { return m[1:] }, 2, Missing},
		{"event 8 deleted", func(t *testing.T, m []Raw) []Raw { return append(m[:7:7], m[8:]...) }, 9, Missing},
		{"events 3 and 4 swapped", func(t *testing.T, m []Raw) []Raw {
			m[2], m[3] = m[3], m[2]
			return m
		}, 4, Missing},
		{"events 3 and 4 swapped and renumbered", func(t *testing.T, m []Raw) []Raw {
			m[2], m[3] = m[3], m[2]
			m[2] = rewrite(t, m[2], func(e map[string]any) { e["seq"] = 3 })
			m[3] = rewrite(t, m[3], func(e map[string]any) { e["seq"] = 4 })
			return m
		}, 3, BrokenLink},
		{"event 2 repeated", func(t *testing.T, m []Raw) []Raw {
			return append(m[:2:2], append([]Raw{m[1]}, m[2:]...)...)
		}, 2, OutOfOrder},
		{"event 9 edited and every link after it recomputed", func(t *testing.T, m []Raw) []Raw {
			m[8] = rewrite(t, m[8], func(e map[string]any) { e["sha256_after"] = strings.Repeat("c", 64) })
			return relink(t, m, 9)
		}, 12, BadCheckpoint},
		{"checkpoint signature replaced", func(t *testing.T, m []Raw) []Raw {
			m[5] = rewrite(t, m[5], func(e map[string]any) {
				ck := e["checkpoint"].(map[string]any)
				sig, _ := base64.StdEncoding.DecodeString(ck["signature"].(string))
				sig[10] ^= 0xff
				ck["signature"] = base64.StdEncoding.EncodeToString(sig)
			})
			return relink(t, m, 6)
		}, 6, BadCheckpoint},
		{"chain re-signed with another key", func(t *testing.T, m []Raw) []Raw {
			m[5] = rewrite(t, m[5], func(e map[string]any) {
				ck := e["checkpoint"].(map[string]any)
				id, _ := KeyID(otherKey.Public())
				ck["key_id"] = id
			})
			return relink(t, m, 6)
		}, 6, BadCheckpoint},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msgs := c.tamper(t, append([]Raw(nil), orig...))
			name := fmt.Sprintf("AUDITCOPY%d", i)
			copyStream(t, s.JS, name, msgs)
			rep, err := Verify(ctx, s.JS, name, trusted)
			if err != nil {
				t.Fatal(err)
			}
			if c.kind == "" {
				if !rep.OK() || rep.Events != 14 || rep.VerifiedCkpts != 2 || rep.Unsigned != 2 {
					t.Fatalf("untouched copy: %+v %v", rep, rep.Problem)
				}
				return
			}
			if rep.OK() {
				t.Fatalf("tampering not detected: %+v", rep)
			}
			if rep.Problem.Seq != c.seq || rep.Problem.Kind != c.kind {
				t.Fatalf("got %s; want %s at event %d", rep.Problem, c.kind, c.seq)
			}
			// The same messages as a raw export file tell the same story.
			var file bytes.Buffer
			for _, m := range msgs {
				file.Write(m.Data)
				file.WriteByte('\n')
			}
			frep, err := VerifyLines(&file, trusted)
			if err != nil {
				t.Fatal(err)
			}
			if frep.Problem == nil || frep.Problem.String() != rep.Problem.String() || frep.Problem.Chain != rep.Problem.Chain {
				t.Fatalf("file: %v; stream: %v", frep.Problem, rep.Problem)
			}
		})
	}

	// Deleting the newest events of the live stream leaves no gap to see, but the stream counts them.
	st, _ := s.JS.Stream(ctx, contracts.StreamAudit)
	if err := st.DeleteMsg(ctx, 14); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(ctx, s.JS, contracts.StreamAudit, trusted)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || rep.Problem.Kind != Missing || rep.Problem.Seq != 14 {
		t.Fatalf("deleted the last event: %+v %v", rep, rep.Problem)
	}
	// And the writer refuses to chain onto a deleted head rather than start a second chain.
	if err := NewWriter(s.JS, nil, Options{SharedChain: true}).Record(ctx, event(99)); err == nil || !strings.Contains(err.Error(), "signet audit verify") {
		t.Fatalf("append after the head was deleted: %v", err)
	}
	// A deleted message in the middle is a gap.
	if err := st.DeleteMsg(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if rep, err = Verify(ctx, s.JS, contracts.StreamAudit, trusted); err != nil {
		t.Fatal(err)
	}
	if rep.OK() || rep.Problem.Kind != Missing || rep.Problem.Seq != 11 {
		t.Fatalf("deleted event 10: %+v %v", rep, rep.Problem)
	}
}
