package audit

import (
	"bufio"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
)

// ProblemKind says how the chain is broken.
type ProblemKind string

const (
	// Missing: events were deleted (the sequence written in the events has a gap).
	Missing ProblemKind = "missing events"
	// OutOfOrder: an event's sequence is not the one after its predecessor's (reordered or repeated).
	OutOfOrder ProblemKind = "out of order"
	// BrokenLink: prev_hash is not the SHA-256 of the event before: that event, or this one, was edited.
	BrokenLink ProblemKind = "broken link"
	// BadCheckpoint: a checkpoint's signature does not verify, names another head, or an unknown key.
	BadCheckpoint ProblemKind = "bad checkpoint"
	// Unreadable: a message is not an audit event.
	Unreadable ProblemKind = "unreadable event"
)

// Problem is the first place where the chain does not hold.
type Problem struct {
	Seq    uint64 // the event's sequence (the stream's when the event is unreadable)
	Kind   ProblemKind
	Detail string
}

func (p *Problem) String() string { return fmt.Sprintf("event %d: %s: %s", p.Seq, p.Kind, p.Detail) }

// Report is what Verify found.
type Report struct {
	Events           int    // events read, checkpoints included
	FirstSeq         uint64 // sequence of the first event read
	LastSeq          uint64
	HeadHash         string // hash of the last event read
	Checkpoints      int
	VerifiedCkpts    int    // checkpoints whose signature verified with a given key
	LastVerifiedCkpt uint64 // head sequence covered by the last verified checkpoint
	// Unsigned is the number of events after the last verified checkpoint: the chain protects their
	// order, but nothing yet proves they were not all rewritten together.
	Unsigned int
	Problem  *Problem // nil when the chain holds
}

// OK reports whether the chain holds.
func (r *Report) OK() bool { return r.Problem == nil }

// VerifyOptions say what to trust.
type VerifyOptions struct {
	// Keys are the service keys whose checkpoint signatures are accepted. With none, checkpoints are
	// counted but not checked.
	Keys []crypto.PublicKey
	// Start is the sequence the walk must begin with (default 1: the chain's first event). A later
	// start is for a partial copy whose first event is trusted as given.
	Start uint64
}

// Verify walks the whole of stream (normally contracts.StreamAudit, or a copy of it) and reports the
// first broken link, missing sequence or bad checkpoint signature. The error is for failures to read;
// a broken chain is a Report with a Problem.
func Verify(ctx context.Context, js jetstream.JetStream, stream string, opts VerifyOptions) (*Report, error) {
	v, err := newVerifier(opts)
	if err != nil {
		return nil, err
	}
	err = Scan(ctx, js, stream, Query{}, func(r Raw) error {
		if !v.add(r) {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	if v.rep.Problem == nil {
		// Deleting the newest events leaves no gap in what is read; the stream still counts them.
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return nil, err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return nil, err
		}
		if last := info.State.LastSeq; last > v.lastStreamSeq {
			v.rep.Problem = &Problem{Seq: v.rep.LastSeq + 1, Kind: Missing, Detail: fmt.Sprintf(
				"the stream holds messages up to sequence %d but the last event in it is at %d: the newest %d were deleted",
				last, v.lastStreamSeq, last-v.lastStreamSeq)}
		}
	}
	return v.report(), nil
}

// VerifyLines verifies a raw export (`signet audit export --raw`): one stored message per line.
func VerifyLines(r io.Reader, opts VerifyOptions) (*Report, error) {
	v, err := newVerifier(opts)
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	for n := uint64(1); sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		if !v.add(Raw{StreamSeq: n, Data: append([]byte(nil), sc.Bytes()...)}) {
			break
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return v.report(), nil
}

var errStop = errors.New("stop")

type verifier struct {
	keys  map[string]crypto.PublicKey
	rep   Report
	start uint64
	prev  *contracts.AuditEvent
	// lastCkptSeq is the sequence of the last verified checkpoint event.
	lastCkptSeq uint64
	// lastStreamSeq is the stream sequence of the last message read.
	lastStreamSeq uint64
}

func newVerifier(opts VerifyOptions) (*verifier, error) {
	v := &verifier{keys: map[string]crypto.PublicKey{}, start: max(opts.Start, 1)}
	for _, k := range opts.Keys {
		id, err := KeyID(k)
		if err != nil {
			return nil, err
		}
		v.keys[id] = k
	}
	return v, nil
}

// add checks one message against the one before; false stops the walk at the first problem.
func (v *verifier) add(r Raw) bool {
	e, err := Decode(r.StreamSeq, r.Data)
	if err != nil {
		v.rep.Problem = &Problem{Seq: r.StreamSeq, Kind: Unreadable, Detail: err.Error()}
		return false
	}
	fail := func(k ProblemKind, format string, a ...any) bool {
		v.rep.Problem = &Problem{Seq: e.Seq, Kind: k, Detail: fmt.Sprintf(format, a...)}
		return false
	}
	if v.prev == nil {
		v.rep.FirstSeq = e.Seq
		switch {
		case e.Seq < v.start:
			return fail(OutOfOrder, "the first event read is %d; the walk was to start at %d", e.Seq, v.start)
		case e.Seq > v.start:
			return fail(Missing, "events %d to %d are missing (deleted) before event %d", v.start, e.Seq-1, e.Seq)
		case e.Seq == 1 && e.PrevHash != "":
			return fail(BrokenLink, "the first event has prev_hash %s; the chain starts with an empty one", short(e.PrevHash))
		}
	} else {
		switch {
		case e.Seq > v.prev.Seq+1:
			return fail(Missing, "events %d to %d are missing (deleted or moved) after event %d", v.prev.Seq+1, e.Seq-1, v.prev.Seq)
		case e.Seq <= v.prev.Seq:
			return fail(OutOfOrder, "event %d follows event %d; the chain was reordered or an event repeated", e.Seq, v.prev.Seq)
		case e.PrevHash != v.prev.Hash:
			return fail(BrokenLink, "prev_hash %s is not the SHA-256 %s of event %d: event %d or this one was edited",
				short(e.PrevHash), short(v.prev.Hash), v.prev.Seq, v.prev.Seq)
		}
	}
	if e.Action == contracts.AuditChainCheckpoint {
		v.rep.Checkpoints++
		c := e.Checkpoint
		if c == nil {
			return fail(BadCheckpoint, "a checkpoint without a signature")
		}
		if v.prev == nil || c.HeadSeq != v.prev.Seq || c.HeadHash != v.prev.Hash {
			return fail(BadCheckpoint, "the checkpoint signs event %d (%s), not the event before it", c.HeadSeq, short(c.HeadHash))
		}
		if len(v.keys) > 0 {
			key, ok := v.keys[c.KeyID]
			if !ok {
				return fail(BadCheckpoint, "signed by key %s, which is not a trusted service key", short(c.KeyID))
			}
			sig, err := base64.StdEncoding.DecodeString(c.Signature)
			if err != nil || !verifySignature(key, contracts.AuditCheckpointMessage(c.HeadSeq, c.HeadHash), sig) {
				return fail(BadCheckpoint, "the signature over event %d does not verify with key %s", c.HeadSeq, short(c.KeyID))
			}
			v.rep.VerifiedCkpts++
			v.rep.LastVerifiedCkpt = c.HeadSeq
			v.lastCkptSeq = e.Seq
		}
	}
	v.rep.Events++
	v.rep.LastSeq, v.rep.HeadHash = e.Seq, e.Hash
	v.lastStreamSeq = r.StreamSeq
	v.prev = e
	return true
}

func (v *verifier) report() *Report {
	r := v.rep
	r.Unsigned = r.Events
	if r.VerifiedCkpts > 0 {
		r.Unsigned = int(r.LastSeq - v.lastCkptSeq)
	}
	return &r
}

func verifySignature(pub crypto.PublicKey, msg, sig []byte) bool {
	digest := sha256.Sum256(msg)
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, digest[:], sig) == nil || rsa.VerifyPSS(k, crypto.SHA256, digest[:], sig, nil) == nil
	case *ecdsa.PublicKey:
		return ecdsa.VerifyASN1(k, digest[:], sig)
	case ed25519.PublicKey:
		return ed25519.Verify(k, msg, sig)
	}
	return false
}

// ParseKeys reads service keys from PEM: CERTIFICATE blocks (the service credential's certificate,
// as `signet admin cert list` shows it) or PUBLIC KEY blocks.
func ParseKeys(pemData []byte) ([]crypto.PublicKey, error) {
	var keys []crypto.PublicKey
	for {
		var b *pem.Block
		b, pemData = pem.Decode(pemData)
		if b == nil {
			break
		}
		switch b.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("service key certificate: %w", err)
			}
			keys = append(keys, c.PublicKey)
		case "PUBLIC KEY":
			k, err := x509.ParsePKIXPublicKey(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("service public key: %w", err)
			}
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("no CERTIFICATE or PUBLIC KEY in the PEM data")
	}
	return keys, nil
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	if h == "" {
		return "(empty)"
	}
	return h
}
