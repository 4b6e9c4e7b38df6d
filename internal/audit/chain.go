package audit

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
)

// A writer's own chain (issue 22 must 5). The writer is the only one appending to it, so it keeps
// the head in memory and publishes without any expected sequence: three workers append at once
// without ever waiting for one another. What ties the chains together is the checkpoint chain:
// every checkpoint names the checkpoint stored before it and is published with
// Nats-Expected-Last-Subject-Sequence on the checkpoint subject, so checkpoints (and only they) are
// linear across the whole trail.

// checkpointSubject is where every checkpoint is published, a shared-chain one included
// (contracts.AuditEventSubject of a checkpoint, which has no job).
var checkpointSubject = contracts.AuditEventSubject(contracts.AuditChainCheckpoint, "")

// appendOwn appends e (or, with ckpt, the checkpoint it carries) to this writer's chain.
func (w *Writer) appendOwn(ctx context.Context, e contracts.AuditEvent, opts []jetstream.PublishOpt) (*contracts.AuditEvent, error) {
	if w.lost {
		// The last append failed without saying whether it was stored; appending after it could
		// fork the chain, so the writer starts a new one (its old one ends where the stream says).
		old := w.chain
		w.chain, w.own, w.lost = newChainID(), head{}, false
		w.opts.Log.Warn("audit: the last append failed unconfirmed; continuing on a new chain",
			zap.String("ended_chain", old), zap.String("chain", w.chain))
	}
	e.ID, e.Hash = "", ""
	e.Chain, e.Seq, e.PrevHash = w.chain, w.own.seq+1, w.own.hash
	data, err := e.Marshal()
	if err != nil {
		return nil, err
	}
	_, err = w.js.PublishMsg(ctx, &nats.Msg{Subject: contracts.AuditEventSubject(e.Action, e.JobID), Data: data},
		append([]jetstream.PublishOpt{jetstream.WithExpectStream(w.opts.Stream)}, opts...)...)
	if err != nil {
		// A refusal (an API error) or no stream answering stored nothing; any other failure (a
		// timeout, a lost connection) may have stored the event.
		var apiErr *jetstream.APIError
		if !errors.As(err, &apiErr) && !errors.Is(err, jetstream.ErrNoStreamResponse) {
			w.lost = true
		}
		return nil, fmt.Errorf("appending %s to the audit trail: %w", e.Action, err)
	}
	sum := sha256.Sum256(data)
	e.Hash = hex.EncodeToString(sum[:])
	e.ID = ChainEventID(e.Chain, e.Seq, e.Hash)
	w.own = head{known: true, seq: e.Seq, hash: e.Hash, checkpoint: e.Action == contracts.AuditChainCheckpoint}
	return &e, nil
}

// checkpointOwn appends a checkpoint of this writer's chain: its head and the last checkpoint in
// the stream, signed when the writer holds the service key. When another writer's checkpoint was
// stored first, it reads that one and tries again (the only retry in this scheme).
func (w *Writer) checkpointOwn(ctx context.Context) (*contracts.AuditEvent, error) {
	if w.own.seq == 0 || w.own.checkpoint {
		w.since, w.lastCkpt = 0, w.opts.Now()
		return nil, nil
	}
	s, err := w.js.Stream(ctx, w.opts.Stream)
	if err != nil {
		return nil, fmt.Errorf("audit stream %s: %w", w.opts.Stream, err)
	}
	for attempt := 0; attempt < w.opts.MaxAttempts; attempt++ {
		var prevSeq uint64
		var prevHash string
		m, err := s.GetLastMsgForSubject(ctx, checkpointSubject)
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
		case err != nil:
			return nil, fmt.Errorf("reading the last audit checkpoint: %w", err)
		default:
			sum := sha256.Sum256(m.Data)
			prevSeq, prevHash = m.Sequence, hex.EncodeToString(sum[:])
		}
		c := &contracts.AuditCheckpoint{HeadSeq: w.own.seq, HeadHash: w.own.hash, PrevCheckpoint: prevHash}
		if w.signer != nil {
			digest := sha256.Sum256(contracts.AuditChainCheckpointMessage(w.chain, c.HeadSeq, c.HeadHash, c.PrevCheckpoint))
			sig, err := w.signer.Sign(rand.Reader, digest[:], crypto.SHA256)
			if err != nil {
				return nil, fmt.Errorf("signing the audit checkpoint of chain %s at event %d: %w", w.chain, c.HeadSeq, err)
			}
			c.KeyID, c.Signature = w.keyID, base64.StdEncoding.EncodeToString(sig)
		}
		stored, err := w.appendOwn(ctx, contracts.AuditEvent{Time: w.opts.Now().UTC(), Action: contracts.AuditChainCheckpoint,
			Outcome: contracts.AuditOK, Checkpoint: c}, []jetstream.PublishOpt{jetstream.WithExpectLastSequencePerSubject(prevSeq)})
		var apiErr *jetstream.APIError
		switch {
		case err == nil:
			w.since, w.lastCkpt = 0, w.opts.Now()
			w.stats.Checkpoints++
			return stored, nil
		case errors.As(err, &apiErr) && apiErr.ErrorCode == errWrongLastSequence:
			w.stats.CheckpointRetries++ // another writer's checkpoint came first: name it instead
		default:
			return nil, err
		}
	}
	return nil, fmt.Errorf("audit checkpoint: lost the race for the checkpoint chain %d times; too many writers at once", w.opts.MaxAttempts)
}
