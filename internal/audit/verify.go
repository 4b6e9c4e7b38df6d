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
	// Seq is the event's sequence on the shared chain, which is its place in the stream; for an
	// event of a writer's own chain (or an unreadable one), its place in the stream as read.
	Seq      uint64
	Chain    string // the writer's chain the event is on ("" for the shared chain)
	ChainSeq uint64 // the event's place in that chain
	Kind     ProblemKind
	Detail   string // in English
	// Key, Format and Args are Detail's wording (problems.go), for printing it in another language:
	// the catalogue's cli.audit.problem.<Key>, and cli.audit.problem.inChain before it on a chain.
	Key    string
	Format string
	Args   []any
}

func (p *Problem) String() string { return fmt.Sprintf("event %d: %s: %s", p.Seq, p.Kind, p.Detail) }

// Report is what Verify found.
type Report struct {
	Events           int    // events read, checkpoints included
	FirstSeq         uint64 // sequence of the first event read
	LastSeq          uint64
	HeadHash         string // hash of the last event read
	Head             string // id of the last event read
	Chains           int    // writers' own chains (issue 22); the shared chain is not counted
	Checkpoints      int    // signed checkpoints
	Ties             int    // unsigned checkpoints, written by processes without the service key
	VerifiedCkpts    int    // checkpoints whose signature verified with a given key
	LastVerifiedCkpt uint64 // place in the stream of the last verified checkpoint
	// Unsigned is the number of events no verified checkpoint covers yet: on the shared chain those
	// after its last verified checkpoint; on a writer's chain those after its last checkpoint that a
	// verified one follows in the checkpoint chain. Their chains protect their order, but nothing yet
	// proves they were not all rewritten (or cut off) together.
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
			v.rep.Problem = problem(v.rep.LastSeq+1, "", 0, Missing, msgTailDeleted, last, v.lastStreamSeq, last-v.lastStreamSeq)
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
	for n := v.start; sc.Scan(); n++ {
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
	// pos is the place in the stream of the message being read, counted from start: a deleted
	// message shifts every later one, in the live stream and in a copy alike.
	pos      uint64
	prevHash string // hash of the message before (the shared chain's link)
	chains   map[string]*chainState
	// dirty: the chains that wrote a checkpoint since the last verified one, which will cover them.
	dirty map[string]*chainState
	// sharedSince: events of the shared chain since its last verified checkpoint.
	sharedSince int
	// signed: the chains whose writer signed a checkpoint; an unsigned one after that is a stripped
	// signature (a process holds the service key or not for its chain's whole life).
	signed map[string]bool
	// lastCkptHash is the hash of the last checkpoint read (of any chain): the next one must name it.
	lastCkptHash string
	sawCkpt      bool
	// lastStreamSeq is the stream sequence of the last message read.
	lastStreamSeq uint64
}

func newVerifier(opts VerifyOptions) (*verifier, error) {
	v := &verifier{keys: map[string]crypto.PublicKey{}, start: max(opts.Start, 1), chains: map[string]*chainState{}, dirty: map[string]*chainState{}, signed: map[string]bool{}}
	v.pos = v.start - 1
	for _, k := range opts.Keys {
		id, err := KeyID(k)
		if err != nil {
			return nil, err
		}
		v.keys[id] = k
	}
	return v, nil
}

// add checks one message against what came before; false stops the walk at the first problem.
func (v *verifier) add(r Raw) bool {
	v.pos++
	e, err := Decode(r.StreamSeq, r.Data)
	if err != nil {
		v.rep.Problem = problem(v.pos, "", 0, Unreadable, msgUnreadable, err.Error())
		return false
	}
	var ok bool
	if e.Chain == "" {
		ok = v.addShared(e)
	} else {
		ok = v.addOwn(e)
	}
	if !ok {
		return false
	}
	if v.rep.Events == 0 {
		v.rep.FirstSeq = v.pos
	}
	v.rep.Events++
	v.rep.LastSeq, v.rep.HeadHash, v.rep.Head = v.pos, e.Hash, e.ID
	v.lastStreamSeq = r.StreamSeq
	v.prevHash = e.Hash
	if e.Action == contracts.AuditChainCheckpoint {
		v.lastCkptHash, v.sawCkpt = e.Hash, true
	}
	return true
}

// addShared checks an event of the shared chain (every trail before issue 22, and a process that
// still writes it): its Seq is its place in the stream and PrevHash the hash of the message before,
// whichever chain that one is on.
func (v *verifier) addShared(e *contracts.AuditEvent) bool {
	fail := func(k ProblemKind, m message, a ...any) bool {
		v.rep.Problem = problem(e.Seq, "", 0, k, m, a...)
		return false
	}
	if v.pos == v.start {
		switch {
		case e.Seq < v.start:
			return fail(OutOfOrder, msgFirstBefore, e.Seq, v.start)
		case e.Seq > v.start:
			return fail(Missing, msgMissingBefore, v.start, e.Seq-1, e.Seq)
		case e.Seq == 1 && e.PrevHash != "":
			return fail(BrokenLink, msgFirstPrevHash, short(e.PrevHash))
		}
	} else {
		prev := v.pos - 1
		switch {
		case e.Seq > v.pos:
			return fail(Missing, msgMissingAfter, v.pos, e.Seq-1, prev)
		case e.Seq < v.pos:
			return fail(OutOfOrder, msgReordered, e.Seq, prev)
		case e.PrevHash != v.prevHash:
			return fail(BrokenLink, msgBrokenLink, short(e.PrevHash), short(v.prevHash), prev)
		}
	}
	v.sharedSince++
	if e.Action != contracts.AuditChainCheckpoint {
		return true
	}
	c := e.Checkpoint
	if c == nil {
		return fail(BadCheckpoint, msgNoSignature)
	}
	if v.pos == v.start || c.HeadSeq != v.pos-1 || c.HeadHash != v.prevHash {
		return fail(BadCheckpoint, msgNotBefore, c.HeadSeq, short(c.HeadHash))
	}
	m, args, verified := v.checkSignature(c, contracts.AuditCheckpointMessage(c.HeadSeq, c.HeadHash))
	if m != nil {
		return fail(BadCheckpoint, *m, args...)
	}
	if verified {
		v.sharedSince = 0
	}
	return true
}

// addOwn checks an event of a writer's own chain: its Seq follows the chain's last one and its
// PrevHash is that event's hash; a checkpoint also names the last checkpoint read, of any chain.
func (v *verifier) addOwn(e *contracts.AuditEvent) bool {
	fail := func(k ProblemKind, m message, a ...any) bool {
		v.rep.Problem = problem(v.pos, e.Chain, e.Seq, k, m, a...)
		return false
	}
	partial := v.start > 1
	h := v.chains[e.Chain]
	switch {
	case h == nil && e.Seq == 1 && e.PrevHash != "":
		return fail(BrokenLink, msgChainFirstPrev, short(e.PrevHash))
	case h == nil && e.Seq != 1 && !partial:
		return fail(Missing, msgChainBegins, e.Seq, e.Seq-1)
	case h == nil:
		// A new chain (or, in a partial copy, one whose start is trusted as given).
	case e.Seq > h.seq+1:
		return fail(Missing, msgChainMissing, h.seq+1, e.Seq-1, h.seq)
	case e.Seq <= h.seq:
		return fail(OutOfOrder, msgChainReordered, h.seq)
	case e.PrevHash != h.hash:
		return fail(BrokenLink, msgChainBrokenLink,
			short(e.PrevHash), short(h.hash), h.seq)
	}
	if h == nil {
		h = &chainState{covered: e.Seq - 1}
		v.chains[e.Chain] = h
		v.rep.Chains++
	}
	if e.Action == contracts.AuditChainCheckpoint {
		c := e.Checkpoint
		switch {
		case c == nil:
			return fail(BadCheckpoint, msgNoHead)
		case c.HeadSeq != h.seq || c.HeadHash != h.hash || h.seq == 0:
			return fail(BadCheckpoint, msgChainNotHead, c.HeadSeq, short(c.HeadHash))
		case c.PrevCheckpoint != v.lastCkptHash && !(partial && !v.sawCkpt):
			return fail(BadCheckpoint, msgPrevCheckpoint,
				short(c.PrevCheckpoint), short(v.lastCkptHash))
		}
		if c.Signature == "" && c.KeyID == "" {
			if v.signed[e.Chain] {
				return fail(BadCheckpoint, msgSignatureRemoved)
			}
			v.rep.Ties++
			h.lastCkpt, v.dirty[e.Chain] = e.Seq, h
		} else {
			v.signed[e.Chain] = true
			m, args, verified := v.checkSignature(c, contracts.AuditChainCheckpointMessage(e.Chain, c.HeadSeq, c.HeadHash, c.PrevCheckpoint))
			if m != nil {
				return fail(BadCheckpoint, *m, args...)
			}
			h.lastCkpt, v.dirty[e.Chain] = e.Seq, h
			if verified {
				// The checkpoints form one chain: a verified one covers every checkpoint before it,
				// and each of those its own chain up to itself.
				for name, d := range v.dirty {
					d.covered = d.lastCkpt
					delete(v.dirty, name)
				}
			}
		}
	}
	h.seq, h.hash = e.Seq, e.Hash
	return true
}

// chainState is what the walk knows of one writer's chain.
type chainState struct {
	seq      uint64 // its last event
	hash     string
	lastCkpt uint64 // its last checkpoint
	covered  uint64 // its events up to here are covered by a verified checkpoint
}

// checkSignature counts a signed checkpoint and checks it against the trusted keys; it returns what
// is wrong (or nil), and whether the signature was verified (not without keys).
func (v *verifier) checkSignature(c *contracts.AuditCheckpoint, msg []byte) (*message, []any, bool) {
	v.rep.Checkpoints++
	if len(v.keys) == 0 {
		return nil, nil, false
	}
	key, ok := v.keys[c.KeyID]
	if !ok {
		return &msgUntrustedKey, []any{short(c.KeyID)}, false
	}
	sig, err := base64.StdEncoding.DecodeString(c.Signature)
	if err != nil || !verifySignature(key, msg, sig) {
		return &msgBadSignature, []any{c.HeadSeq, short(c.KeyID)}, false
	}
	v.rep.VerifiedCkpts++
	v.rep.LastVerifiedCkpt = v.pos
	return nil, nil, true
}

func (v *verifier) report() *Report {
	r := v.rep
	r.Unsigned = v.sharedSince
	for _, h := range v.chains {
		r.Unsigned += int(h.seq - h.covered)
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
		return "—"
	}
	return h
}
