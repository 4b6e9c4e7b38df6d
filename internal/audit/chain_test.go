package audit

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-b24/signet/contracts"
)

// Three processes, four goroutines each, write at once, each on its own chain: no append ever
// retries, every chain and the checkpoint chain verify, the unsigned writer's checkpoints (an intake
// holds no service key) are covered by the signed ones.
func TestAChainPerWriterNeverRetries(t *testing.T) {
	s := startAudit(t)
	ctx := context.Background()
	key := serviceKey(t)
	var writers []*Writer
	var wg sync.WaitGroup
	errs := make(chan error, 120)
	for p := range 3 {
		signer := crypto.Signer(key)
		if p == 0 {
			signer = nil // the intake
		}
		w := process(t, s, signer, Options{CheckpointEvery: 7})
		writers = append(writers, w)
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
	var ckptRetries uint64
	for i, w := range writers {
		st := w.Stats()
		if st.Events != 40 || st.Retries != 0 {
			t.Fatalf("writer %d: %+v; want 40 events and no retry", i, st)
		}
		ckptRetries += st.CheckpointRetries
	}
	t.Logf("checkpoint retries: %d", ckptRetries)
	rep, err := Verify(ctx, s.JS, contracts.StreamAudit, VerifyOptions{Keys: []crypto.PublicKey{key.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("trail broken: %s", rep.Problem)
	}
	if rep.Chains != 3 || rep.Events-rep.Checkpoints-rep.Ties != 120 {
		t.Fatalf("%d chains, %d events besides checkpoints; want 3 and 120", rep.Chains, rep.Events-rep.Checkpoints-rep.Ties)
	}
	// Each writer checkpoints after its first event and every 7 of its 40.
	if rep.Ties < 6 || rep.Checkpoints < 12 || rep.VerifiedCkpts != rep.Checkpoints {
		t.Fatalf("%d unsigned and %d signed checkpoints, %d verified", rep.Ties, rep.Checkpoints, rep.VerifiedCkpts)
	}
	story, err := Story(ctx, s.JS, contracts.StreamAudit, "r0105")
	if err != nil {
		t.Fatal(err)
	}
	if len(story) != 1 || story[0].Chain != writers[1].Chain() || story[0].ID != ChainEventID(story[0].Chain, story[0].Seq, story[0].Hash) {
		t.Fatalf("story of r0105: %+v", story)
	}
}

// One document's steps are written by three processes (intake, worker, callback worker), each on
// its own chain; its story (what the trail page shows) is still in the order and time they happened.
func TestAStoryAcrossChainsIsInTimeOrder(t *testing.T) {
	s := startAudit(t)
	ctx := context.Background()
	clock := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); clock = clock.Add(time.Second); return clock }
	intake := process(t, s, nil, Options{Now: now})
	worker := process(t, s, serviceKey(t), Options{Now: now})
	callbacks := process(t, s, serviceKey(t), Options{Now: now})
	steps := []struct {
		w      *Writer
		action string
	}{{intake, contracts.AuditRequestAccepted}, {intake, contracts.AuditOTPVerified}, {worker, contracts.AuditJobSigned},
		{worker, contracts.AuditJobStored}, {callbacks, contracts.AuditCalledBack}}
	for _, st := range steps {
		// Other documents' events in between, from every writer.
		for _, w := range []*Writer{callbacks, worker, intake} {
			if err := w.Record(ctx, event(len(st.action))); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.w.Record(ctx, contracts.AuditEvent{Action: st.action, JobID: "doc-1", Portal: "p1"}); err != nil {
			t.Fatal(err)
		}
	}
	story, err := Story(ctx, s.JS, contracts.StreamAudit, "doc-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(story) != len(steps) {
		t.Fatalf("story has %d events, want %d", len(story), len(steps))
	}
	for i, e := range story {
		if e.Action != steps[i].action || e.Chain != steps[i].w.Chain() || (i > 0 && !e.Time.After(story[i-1].Time)) {
			t.Fatalf("step %d: %s on chain %s at %s; want %s on %s, after %s", i, e.Action, e.Chain, e.Time, steps[i].action, steps[i].w.Chain(), story[max(i-1, 0)].Time)
		}
	}
}

// A trail written as one shared chain by older processes, then continued with a chain per writer
// (an upgrade), verifies as one trail: the first new checkpoint names the last shared one.
func TestASharedTrailContinuedByWriterChainsVerifies(t *testing.T) {
	s := startAudit(t)
	ctx := context.Background()
	key := serviceKey(t)
	old := process(t, s, key, Options{SharedChain: true, CheckpointEvery: 3})
	for i := range 7 {
		if err := old.Record(ctx, event(i)); err != nil {
			t.Fatal(err)
		}
	}
	if rep, err := Verify(ctx, s.JS, contracts.StreamAudit, VerifyOptions{Keys: []crypto.PublicKey{key.Public()}}); err != nil || !rep.OK() || rep.Chains != 0 {
		t.Fatalf("the shared trail: %v %+v", err, rep)
	}
	a, b := process(t, s, key, Options{CheckpointEvery: 2}), process(t, s, nil, Options{CheckpointEvery: 2})
	for i := range 6 {
		if err := a.Record(ctx, event(10+i)); err != nil {
			t.Fatal(err)
		}
		if err := b.Record(ctx, event(20+i)); err != nil {
			t.Fatal(err)
		}
		if i == 3 { // an older process still writing during the upgrade
			if err := old.Record(ctx, event(30)); err != nil {
				t.Fatal(err)
			}
		}
	}
	rep, err := Verify(ctx, s.JS, contracts.StreamAudit, VerifyOptions{Keys: []crypto.PublicKey{key.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Chains != 2 || rep.Events-rep.Checkpoints-rep.Ties != 20 {
		t.Fatalf("after the upgrade: %+v %v", rep, rep.Problem)
	}
	var first *contracts.AuditEvent
	_ = Scan(ctx, s.JS, contracts.StreamAudit, Query{}, func(r Raw) error {
		e, _ := Decode(r.StreamSeq, r.Data)
		if first == nil && e.Chain != "" && e.Checkpoint != nil {
			first = e
		}
		return nil
	})
	if first == nil || first.Checkpoint.PrevCheckpoint == "" {
		t.Fatalf("the first checkpoint of a writer's chain does not name the shared chain's last one: %+v", first)
	}
}

// relinkAll recomputes, from index from on, every link an editor has to recompute to hide an edit:
// each chain's prev_hash, each checkpoint's head and the checkpoint before it. Only a signature is
// beyond reach.
func relinkAll(t *testing.T, msgs []Raw, from int) []Raw {
	t.Helper()
	heads := map[string]*contracts.AuditEvent{}
	var lastCkpt string
	for i := range msgs {
		if i >= from {
			msgs[i] = rewrite(t, msgs[i], func(e map[string]any) {
				chain, _ := e["chain"].(string)
				if h := heads[chain]; h != nil {
					e["prev_hash"] = h.Hash
				}
				if ck, ok := e["checkpoint"].(map[string]any); ok {
					ck["head_hash"] = heads[chain].Hash
					ck["prev_checkpoint"] = lastCkpt
				}
			})
		}
		e, err := Decode(msgs[i].StreamSeq, msgs[i].Data)
		if err != nil {
			t.Fatal(err)
		}
		heads[e.Chain] = e
		if e.Checkpoint != nil {
			lastCkpt = e.Hash
		}
	}
	return msgs
}

// Two writers, the worker (signed checkpoints) and the intake (unsigned), interleaved; every way of
// tampering with a copy is found, in the stream and in a raw export alike.
func TestVerifyFindsTamperingInWriterChains(t *testing.T) {
	s := startTamperableAudit(t)
	ctx := context.Background()
	key := serviceKey(t)
	worker := NewWriter(s.JS, key, Options{Chain: "worker", CheckpointEvery: 3, CheckpointInterval: time.Hour})
	intake := NewWriter(s.JS, nil, Options{Chain: "intake", CheckpointEvery: 3, CheckpointInterval: time.Hour})
	for i := range 7 {
		if err := intake.Record(ctx, event(i)); err != nil {
			t.Fatal(err)
		}
		if err := worker.Record(ctx, event(100+i)); err != nil {
			t.Fatal(err)
		}
	}
	// And a tail that no checkpoint covers yet.
	if err := intake.Record(ctx, event(50)); err != nil {
		t.Fatal(err)
	}
	if err := worker.Record(ctx, event(150)); err != nil {
		t.Fatal(err)
	}
	var orig []Raw
	if err := Scan(ctx, s.JS, contracts.StreamAudit, Query{}, func(r Raw) error { orig = append(orig, r); return nil }); err != nil {
		t.Fatal(err)
	}
	// Where things are: the index of each event by chain and place, and of each checkpoint.
	at := map[string]int{}
	var layout []string
	for i, m := range orig {
		e, _ := Decode(m.StreamSeq, m.Data)
		name := fmt.Sprintf("%s:%d", e.Chain, e.Seq)
		at[name] = i
		if e.Checkpoint != nil {
			name += "(ckpt)"
		}
		layout = append(layout, name)
	}
	t.Logf("layout: %s", strings.Join(layout, " "))
	// intake:1 intake:2(ckpt) worker:1 worker:2(ckpt) intake:3 worker:3 intake:4 worker:4 intake:5
	// intake:6(ckpt) … worker:9 worker:10(ckpt) intake:11 worker:11
	if len(orig) != 16+6 {
		t.Fatalf("%d messages; layout %s", len(orig), layout)
	}
	lastSigned := -1
	for i, m := range orig {
		if e, _ := Decode(m.StreamSeq, m.Data); e.Checkpoint != nil && e.Checkpoint.Signature != "" {
			lastSigned = i
		}
	}
	trusted := VerifyOptions{Keys: []crypto.PublicKey{key.Public()}}
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cut := func(m []Raw, i int) []Raw { return append(m[:i:i], m[i+1:]...) }

	cases := []struct {
		name   string
		tamper tamper
		chain  string
		kind   ProblemKind
	}{
		{"untouched copy", func(t *testing.T, m []Raw) []Raw { return m }, "", ""},
		{"the intake's event 3 edited", func(t *testing.T, m []Raw) []Raw {
			i := at["intake:3"]
			m[i] = rewrite(t, m[i], func(e map[string]any) { e["login"] = "john" })
			return m
		}, "intake", BrokenLink},
		{"the worker's event 4 deleted", func(t *testing.T, m []Raw) []Raw { return cut(m, at["worker:4"]) }, "worker", Missing},
		{"the intake's first event deleted", func(t *testing.T, m []Raw) []Raw { return cut(m, at["intake:1"]) }, "intake", Missing},
		{"the worker's events 3 and 4 swapped", func(t *testing.T, m []Raw) []Raw {
			m[at["worker:3"]], m[at["worker:4"]] = m[at["worker:4"]], m[at["worker:3"]]
			return m
		}, "worker", Missing},
		{"the worker's event 5 repeated", func(t *testing.T, m []Raw) []Raw {
			i := at["worker:5"]
			return append(m[:i+1:i+1], append([]Raw{m[i]}, m[i+1:]...)...)
		}, "worker", OutOfOrder},
		{"a checkpoint deleted and its chain renumbered", func(t *testing.T, m []Raw) []Raw {
			i := at["intake:2"]
			m = cut(m, i)
			for j := i; j < len(m); j++ {
				if e, _ := Decode(m[j].StreamSeq, m[j].Data); e.Chain == "intake" {
					m[j] = rewrite(t, m[j], func(x map[string]any) { x["seq"] = e.Seq - 1 })
				}
			}
			return relinkAll(t, m, i)
		}, "", BadCheckpoint},
		{"the whole intake chain deleted", func(t *testing.T, m []Raw) []Raw {
			var keep []Raw
			for _, r := range m {
				if e, _ := Decode(r.StreamSeq, r.Data); e.Chain != "intake" {
					keep = append(keep, r)
				}
			}
			return keep
		}, "worker", BadCheckpoint},
		{"the intake's event 4 edited and every link after it recomputed", func(t *testing.T, m []Raw) []Raw {
			i := at["intake:4"]
			m[i] = rewrite(t, m[i], func(e map[string]any) { e["sha256_after"] = strings.Repeat("c", 64) })
			return relinkAll(t, m, i+1)
		}, "worker", BadCheckpoint},
		{"a signature replaced", func(t *testing.T, m []Raw) []Raw {
			i := at["worker:2"]
			m[i] = rewrite(t, m[i], func(e map[string]any) {
				ck := e["checkpoint"].(map[string]any)
				sig, _ := base64.StdEncoding.DecodeString(ck["signature"].(string))
				sig[10] ^= 0xff
				ck["signature"] = base64.StdEncoding.EncodeToString(sig)
			})
			return relinkAll(t, m, i+1)
		}, "worker", BadCheckpoint},
		{"re-signed with another key", func(t *testing.T, m []Raw) []Raw {
			i := at["worker:2"]
			m[i] = rewrite(t, m[i], func(e map[string]any) {
				id, _ := KeyID(otherKey.Public())
				e["checkpoint"].(map[string]any)["key_id"] = id
			})
			return relinkAll(t, m, i+1)
		}, "worker", BadCheckpoint},
		{"the intake's event 4 edited, links recomputed and the later signatures removed", func(t *testing.T, m []Raw) []Raw {
			i := at["intake:4"]
			m[i] = rewrite(t, m[i], func(e map[string]any) { e["sha256_after"] = strings.Repeat("c", 64) })
			for j := i + 1; j < len(m); j++ {
				m[j] = rewrite(t, m[j], func(e map[string]any) {
					if ck, ok := e["checkpoint"].(map[string]any); ok {
						delete(ck, "signature")
						delete(ck, "key_id")
					}
				})
			}
			return relinkAll(t, m, i+1)
		}, "worker", BadCheckpoint},
		// What a copy cannot show: the tail after the last signed checkpoint cut off (the live
		// stream shows it: see below).
		{"the tail after the last signed checkpoint cut off (not detectable in a copy)", func(t *testing.T, m []Raw) []Raw {
			return m[:lastSigned+1]
		}, "", ""},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msgs := c.tamper(t, append([]Raw(nil), orig...))
			name := fmt.Sprintf("CHAINCOPY%d", i)
			copyStream(t, s.JS, name, msgs)
			rep, err := Verify(ctx, s.JS, name, trusted)
			if err != nil {
				t.Fatal(err)
			}
			if c.kind == "" {
				if !rep.OK() || rep.Chains != 2 || rep.VerifiedCkpts != rep.Checkpoints || rep.Checkpoints == 0 || rep.Unsigned != len(msgs)-lastSigned-1 {
					t.Fatalf("%+v %v", rep, rep.Problem)
				}
				return
			}
			if rep.OK() {
				t.Fatalf("tampering not detected: %+v", rep)
			}
			if rep.Problem.Kind != c.kind || (c.chain != "" && rep.Problem.Chain != c.chain) {
				t.Fatalf("got %s (chain %q); want %s on chain %q", rep.Problem, rep.Problem.Chain, c.kind, c.chain)
			}
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

	// The live stream counts what was cut from its end.
	st, _ := s.JS.Stream(ctx, contracts.StreamAudit)
	if err := st.DeleteMsg(ctx, uint64(len(orig))); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(ctx, s.JS, contracts.StreamAudit, trusted)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || rep.Problem.Kind != Missing {
		t.Fatalf("deleted the newest event: %+v %v", rep, rep.Problem)
	}
}

// An append that fails without saying whether it was stored (here: its context ended) must not fork
// the chain: the writer continues on a new chain, ties it at once, and the trail verifies whether or
// not the failed event reached the stream.
func TestAnUnconfirmedAppendStartsANewChain(t *testing.T) {
	s := startAudit(t)
	ctx := context.Background()
	key := serviceKey(t)
	w := NewWriter(s.JS, key, Options{CheckpointEvery: 100, CheckpointInterval: time.Hour})
	for i := range 3 {
		if err := w.Record(ctx, event(i)); err != nil {
			t.Fatal(err)
		}
	}
	first := w.Chain()
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := w.Record(done, event(3)); err == nil {
		t.Fatal("an append with an ended context succeeded")
	}
	stored, err := w.Append(ctx, event(4))
	if err != nil {
		t.Fatal(err)
	}
	if stored.Chain == first || stored.Seq != 1 {
		t.Fatalf("after an unconfirmed append: chain %s event %d; want a new chain from 1 (was %s)", stored.Chain, stored.Seq, first)
	}
	rep, err := Verify(ctx, s.JS, contracts.StreamAudit, VerifyOptions{Keys: []crypto.PublicKey{key.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Chains != 2 {
		t.Fatalf("%+v %v", rep, rep.Problem)
	}
}

// A clean shutdown of Run leaves the writer's chain covered: a signed checkpoint after its last event;
// a writer without the key (the intake) leaves an unsigned one that ties its chain in.
func TestRunTiesTheChainAtShutdown(t *testing.T) {
	s := startAudit(t)
	ctx := context.Background()
	key := serviceKey(t)
	for _, signer := range []crypto.Signer{nil, key} {
		w := process(t, s, signer, Options{CheckpointEvery: 1000, CheckpointInterval: time.Hour})
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error)
		go func() { done <- w.Run(runCtx) }()
		for i := range 3 {
			if err := w.Record(ctx, event(i)); err != nil {
				t.Fatal(err)
			}
		}
		stop()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if st := w.Stats(); st.Checkpoints != 2 { // after the first event, at shutdown
			t.Fatalf("signer %v: %+v; want 2 checkpoints", signer != nil, st)
		}
	}
	rep, err := Verify(ctx, s.JS, contracts.StreamAudit, VerifyOptions{Keys: []crypto.PublicKey{key.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Chains != 2 || rep.Ties != 2 || rep.VerifiedCkpts != 2 || rep.Unsigned != 0 {
		t.Fatalf("%+v %v", rep, rep.Problem)
	}
}

// The events a signature does not cover yet are counted per chain: an intake's events after its
// last checkpoint stay uncovered even when a worker signs a checkpoint after them.
func TestUnsignedCountsEachChainsUncoveredTail(t *testing.T) {
	s := startAudit(t)
	ctx := context.Background()
	key := serviceKey(t)
	intake := NewWriter(s.JS, nil, Options{CheckpointEvery: 100, CheckpointInterval: time.Hour})
	worker := NewWriter(s.JS, key, Options{CheckpointEvery: 100, CheckpointInterval: time.Hour})
	for i := range 3 { // event, checkpoint, event, event
		if err := intake.Record(ctx, event(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := worker.Record(ctx, event(9)); err != nil { // event, signed checkpoint
		t.Fatal(err)
	}
	rep, err := Verify(ctx, s.JS, contracts.StreamAudit, VerifyOptions{Keys: []crypto.PublicKey{key.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.VerifiedCkpts != 1 || rep.Unsigned != 2 {
		t.Fatalf("%+v %v; want the intake's last 2 events uncovered", rep, rep.Problem)
	}
}
