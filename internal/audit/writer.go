// Package audit is Signet's tamper-evident audit trail: every step of every document (request
// accepted or refused, OTP checks, signing, storing, callbacks, dead letters, admin changes) is one
// event in the JetStream stream AUDIT, each carrying the SHA-256 of the one before it, and a
// checkpoint signed with the service key on the token every N events or T seconds.
//
// A chain per writer, tied by checkpoints (issue 22 must 5). Each Writer (one per process) appends
// to a chain of its own: event.Chain names it, Seq is the event's place in it, PrevHash the hash of
// the chain's event before it. Only that writer appends to it, so an append needs no
// expected-last-sequence and never loses a race to another process: before, every intake and worker
// appended to one chain with Nats-Expected-Last-Sequence and re-read the head whenever another
// process got there first, so all of them took turns on one global lock. Every CheckpointEvery
// events or CheckpointInterval (and after a chain's first event) the writer appends a checkpoint to
// its chain: its chain's head and the hash of the checkpoint stored before it by any writer, signed
// with the service key when the writer holds it. Checkpoints alone are published with
// Nats-Expected-Last-Subject-Sequence on their one subject, so they form a single chain of their own
// that ties every writer's chain together; they are one message in a hundred, and only they can ever
// retry. Verify checks each chain and the checkpoint chain (verify.go); a trail written before, one
// shared chain, still verifies, and Options.SharedChain still writes it.
//
// The package must never write a secret, an OTP or a download URL into an event, and never delete
// or rewrite an event: the trail only grows.
package audit

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
)

// Recorder is what intake and worker call; it is cheap and safe for concurrent use.
type Recorder interface {
	Record(ctx context.Context, e contracts.AuditEvent) error
}

// Appender is a Recorder that also returns the stored event: the worker puts its ID into the result,
// and so into the deal's timeline entry. *Writer is one.
type Appender interface {
	Recorder
	Append(ctx context.Context, e contracts.AuditEvent) (*contracts.AuditEvent, error)
}

// Options shape a Writer. Zero values take the defaults.
type Options struct {
	// Stream is the audit stream (default contracts.StreamAudit).
	Stream string
	// CheckpointEvery: a checkpoint follows every this many events written by this writer (default 100).
	CheckpointEvery int
	// CheckpointInterval: a checkpoint follows the first event written this long after the last
	// checkpoint, and Run writes one every interval while events keep coming (default 1 minute).
	CheckpointInterval time.Duration
	// MaxAttempts bounds the retries of one append that keeps losing the race for the head: an event
	// on the shared chain, a checkpoint on the checkpoint chain (default 50).
	MaxAttempts int
	// Chain names this writer's chain (default: a random id). Only one Writer may append to a chain:
	// leave it empty unless a test needs a fixed name.
	Chain string
	// SharedChain writes the one chain every writer shares, as Signet did before issue 22: each
	// append expects the stream's last sequence and retries when another process appended first. For
	// comparing (BenchmarkAppendThreeProcesses) and for a trail that older processes still write.
	SharedChain bool
	Now         func() time.Time
	Log         *zap.Logger
}

// Writer appends events to the chain. A process has one; several processes may write at once.
type Writer struct {
	js     jetstream.JetStream
	signer crypto.Signer
	keyID  string
	opts   Options

	mu       sync.Mutex
	head     head      // shared chain: the stream's last event as this writer last saw it
	own      head      // own chain: its last event (seq is its place in the chain)
	chain    string    // own chain's name
	lost     bool      // an append failed without knowing whether it was stored: start a new chain
	since    int       // events this writer appended since its last checkpoint
	lastCkpt time.Time // when this writer last wrote a checkpoint (or started)
	stats    Stats
}

// Stats count what a Writer did; the retries are what the shared chain costs.
type Stats struct {
	Events      uint64 // events appended (checkpoints not counted)
	Checkpoints uint64 // checkpoints appended, signed or not
	// Retries: appends of an event that lost the race for the shared chain's head and were tried
	// again. Always 0 with a chain per writer.
	Retries uint64
	// CheckpointRetries: checkpoints that lost the race for the checkpoint chain's head to another
	// writer's checkpoint and were made again.
	CheckpointRetries uint64
}

// head is the last event of the chain as this writer last saw it.
type head struct {
	known      bool
	seq        uint64
	hash       string
	checkpoint bool
}

// errWrongLastSequence is JetStream's JSStreamWrongLastSequenceErrF: another writer appended first.
const errWrongLastSequence jetstream.ErrorCode = 10071

// NewWriter returns a writer on js. signer is the service key that signs checkpoints (a credential's
// Key from the keyring); with nil, the writer's checkpoints are unsigned (they tie its chain into the
// checkpoint chain, and the next signed one covers them), and a SharedChain writer writes none.
func NewWriter(js jetstream.JetStream, signer crypto.Signer, opts Options) *Writer {
	if opts.Stream == "" {
		opts.Stream = contracts.StreamAudit
	}
	if opts.CheckpointEvery <= 0 {
		opts.CheckpointEvery = 100
	}
	if opts.CheckpointInterval <= 0 {
		opts.CheckpointInterval = time.Minute
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 50
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	w := &Writer{js: js, signer: signer, opts: opts, lastCkpt: opts.Now(), chain: opts.Chain}
	if w.chain == "" {
		w.chain = newChainID()
	}
	if signer != nil {
		w.keyID, _ = KeyID(signer.Public())
	}
	return w
}

// Record appends e to the chain (Recorder).
func (w *Writer) Record(ctx context.Context, e contracts.AuditEvent) error {
	_, err := w.Append(ctx, e)
	return err
}

// Append appends e and returns it as stored: with Chain, Seq, PrevHash, Hash and ID filled. The ID is what
// a deal's timeline entry quotes. When a checkpoint is due it is written after e; a checkpoint that
// fails is logged and tried again after the next event, it never fails the event.
func (w *Writer) Append(ctx context.Context, e contracts.AuditEvent) (*contracts.AuditEvent, error) {
	if e.Action == "" {
		return nil, errors.New("audit event without an action")
	}
	if e.Action == contracts.AuditChainCheckpoint {
		return nil, errors.New("checkpoints are written by the audit writer itself; call Checkpoint")
	}
	if e.Time.IsZero() {
		e.Time = w.opts.Now()
	}
	e.Time = e.Time.UTC()
	e = Bound(e)
	e.Chain = "" // the writer's to set
	w.mu.Lock()
	defer w.mu.Unlock()
	var stored *contracts.AuditEvent
	var err error
	if w.opts.SharedChain {
		stored, err = w.appendLocked(ctx, func(uint64, string) (contracts.AuditEvent, error) { return e, nil })
	} else {
		stored, err = w.appendOwn(ctx, e, nil)
	}
	if err != nil {
		return nil, err
	}
	w.stats.Events++
	w.since++
	// A chain's first event is tied at once: a process that writes one event and ends (a CLI
	// command) is then covered by the next signed checkpoint, as it was on the shared chain.
	first := !w.opts.SharedChain && stored.Seq == 1
	if (w.signer != nil || !w.opts.SharedChain) &&
		(first || w.since >= w.opts.CheckpointEvery || w.opts.Now().Sub(w.lastCkpt) >= w.opts.CheckpointInterval) {
		if _, err := w.checkpointLocked(ctx); err != nil {
			w.opts.Log.Warn("audit checkpoint not written; retried after the next event", zap.Error(err))
		}
	}
	return stored, nil
}

// Stats returns what this writer did so far.
func (w *Writer) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}

// Chain is the name of this writer's own chain.
func (w *Writer) Chain() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.chain
}

// Checkpoint signs the current head of the chain with the service key and appends the signature as
// a checkpoint event. It does nothing when the head already is a checkpoint.
func (w *Writer) Checkpoint(ctx context.Context) (*contracts.AuditEvent, error) {
	if w.signer == nil && w.opts.SharedChain {
		return nil, errors.New("audit checkpoints need a service key; none is configured")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.checkpointLocked(ctx)
}

func (w *Writer) checkpointLocked(ctx context.Context) (*contracts.AuditEvent, error) {
	if !w.opts.SharedChain {
		return w.checkpointOwn(ctx)
	}
	if !w.head.known {
		if err := w.loadHead(ctx); err != nil {
			return nil, err
		}
	}
	if w.head.checkpoint || w.head.seq == 0 {
		w.since, w.lastCkpt = 0, w.opts.Now()
		return nil, nil
	}
	stored, err := w.appendLocked(ctx, func(seq uint64, hash string) (contracts.AuditEvent, error) {
		digest := sha256.Sum256(contracts.AuditCheckpointMessage(seq, hash))
		sig, err := w.signer.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			return contracts.AuditEvent{}, fmt.Errorf("signing the audit checkpoint at event %d: %w", seq, err)
		}
		return contracts.AuditEvent{Time: w.opts.Now().UTC(), Action: contracts.AuditChainCheckpoint, Outcome: contracts.AuditOK,
			Checkpoint: &contracts.AuditCheckpoint{HeadSeq: seq, HeadHash: hash, KeyID: w.keyID,
				Signature: base64.StdEncoding.EncodeToString(sig)}}, nil
	})
	if err != nil {
		return nil, err
	}
	w.since, w.lastCkpt = 0, w.opts.Now()
	w.stats.Checkpoints++
	return stored, nil
}

// Run writes a checkpoint every CheckpointInterval while new events arrived, until ctx ends; then it
// writes a last one, so a clean shutdown leaves no unsigned tail.
func (w *Writer) Run(ctx context.Context) error {
	if w.signer == nil && w.opts.SharedChain {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(w.opts.CheckpointInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			_, err := w.checkpointIfNew(fctx)
			return err
		case <-t.C:
			if _, err := w.checkpointIfNew(ctx); err != nil {
				w.opts.Log.Warn("audit checkpoint not written", zap.Error(err))
			}
		}
	}
}

func (w *Writer) checkpointIfNew(ctx context.Context) (*contracts.AuditEvent, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.since == 0 {
		return nil, nil
	}
	return w.checkpointLocked(ctx)
}

// appendLocked publishes the event build makes for the given head, expecting that head to still be
// the last message of the stream, and retries with a fresh head when another writer appended first.
func (w *Writer) appendLocked(ctx context.Context, build func(prevSeq uint64, prevHash string) (contracts.AuditEvent, error)) (*contracts.AuditEvent, error) {
	// One Nats-Msg-Id for every attempt of this append: if a publish was stored but its ack was lost,
	// the retry is recognised as a duplicate instead of appending the event twice.
	msgID := "audit-" + nuid()
	for attempt := 0; attempt < w.opts.MaxAttempts; attempt++ {
		if !w.head.known {
			if err := w.loadHead(ctx); err != nil {
				return nil, err
			}
		}
		e, err := build(w.head.seq, w.head.hash)
		if err != nil {
			return nil, err
		}
		e.ID, e.Hash = "", ""
		e.Seq, e.PrevHash = w.head.seq+1, w.head.hash
		data, err := e.Marshal()
		if err != nil {
			return nil, err
		}
		ack, err := w.js.PublishMsg(ctx, &nats.Msg{
			Subject: contracts.AuditEventSubject(e.Action, e.JobID), Data: data,
			Header: nats.Header{contracts.HeaderMsgID: []string{msgID}},
		}, jetstream.WithExpectStream(w.opts.Stream), jetstream.WithExpectLastSequence(w.head.seq))
		var apiErr *jetstream.APIError
		switch {
		case err == nil && ack.Duplicate:
			// An earlier attempt was stored; return what the stream holds.
			w.head.known = false
			return w.event(ctx, ack.Sequence)
		case err == nil:
			if ack.Sequence != e.Seq {
				w.head.known = false
				return nil, fmt.Errorf("audit event stored at sequence %d, expected %d: the AUDIT stream is not Signet's chain", ack.Sequence, e.Seq)
			}
			sum := sha256.Sum256(data)
			e.Hash = hex.EncodeToString(sum[:])
			e.ID = EventID(e.Seq, e.Hash)
			w.head = head{known: true, seq: e.Seq, hash: e.Hash, checkpoint: e.Action == contracts.AuditChainCheckpoint}
			return &e, nil
		case errors.As(err, &apiErr) && apiErr.ErrorCode == errWrongLastSequence:
			w.head.known = false // another process appended: read the new head and try again
			if e.Action != contracts.AuditChainCheckpoint {
				w.stats.Retries++
			}
		default:
			w.head.known = false
			return nil, fmt.Errorf("appending %s to the audit trail: %w", e.Action, err)
		}
	}
	return nil, fmt.Errorf("appending to the audit trail: lost the race for the chain head %d times; too many writers at once", w.opts.MaxAttempts)
}

// loadHead reads the last message of the stream: its sequence and hash.
func (w *Writer) loadHead(ctx context.Context) error {
	s, err := w.js.Stream(ctx, w.opts.Stream)
	if err != nil {
		return fmt.Errorf("audit stream %s: %w", w.opts.Stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return fmt.Errorf("audit stream %s: %w", w.opts.Stream, err)
	}
	last := info.State.LastSeq
	if last == 0 {
		w.head = head{known: true}
		return nil
	}
	m, err := s.GetMsg(ctx, last)
	if err != nil {
		return fmt.Errorf("audit chain head (event %d) is unreadable — was it deleted? Run `signet audit verify`: %w", last, err)
	}
	e, _ := contracts.DecodeAuditEvent(m.Data)
	sum := sha256.Sum256(m.Data)
	w.head = head{known: true, seq: last, hash: hex.EncodeToString(sum[:]), checkpoint: e != nil && e.Action == contracts.AuditChainCheckpoint}
	return nil
}

// event reads one stored event by sequence.
func (w *Writer) event(ctx context.Context, seq uint64) (*contracts.AuditEvent, error) {
	s, err := w.js.Stream(ctx, w.opts.Stream)
	if err != nil {
		return nil, err
	}
	m, err := s.GetMsg(ctx, seq)
	if err != nil {
		return nil, fmt.Errorf("audit event %d: %w", seq, err)
	}
	return Decode(seq, m.Data)
}

// Decode reads a stored event and fills its Hash and ID from the message bytes.
func Decode(streamSeq uint64, data []byte) (*contracts.AuditEvent, error) {
	e, err := contracts.DecodeAuditEvent(data)
	if err != nil {
		return nil, fmt.Errorf("audit event %d: %w", streamSeq, err)
	}
	sum := sha256.Sum256(data)
	e.Hash = hex.EncodeToString(sum[:])
	e.ID = EventID(e.Seq, e.Hash)
	if e.Chain != "" {
		e.ID = ChainEventID(e.Chain, e.Seq, e.Hash)
	}
	return e, nil
}

// ChainEventID is the id of an event of a writer's own chain: "<chain>:<seq>-<8 hex of the hash>".
func ChainEventID(chain string, seq uint64, hash string) string {
	return chain + ":" + EventID(seq, hash)
}

// EventID is the id a person quotes: the sequence and the first 8 hex digits of the hash.
func EventID(seq uint64, hash string) string {
	if len(hash) > 8 {
		hash = hash[:8]
	}
	return fmt.Sprintf("%d-%s", seq, hash)
}

// KeyID names a service key: the hex SHA-256 of its SubjectPublicKeyInfo.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("audit service key: %w", err)
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:]), nil
}

func newChainID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "w" + hex.EncodeToString(b)
}

func nuid() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

var _ Appender = (*Writer)(nil)
