package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/audit"
	"github.com/signet-b24/signet/storage"
)

// Extender re-extends a signed PDF to PAdES B-LTA: validation data for what is in it, and a new
// document timestamp over the whole (pades.Extend with LevelLTA; the lead wires it in cmd/signet).
type Extender func(ctx context.Context, pdf []byte) ([]byte, error)

// DefaultRenewBefore is archive.renew_before: a year before the protecting certificate expires,
// time enough for a renewal that fails (TSA down, storage full) to be retried for months.
const DefaultRenewBefore = 8760 * time.Hour

// defaultMaxBytes caps a document read from storage for renewal.
const defaultMaxBytes = 512 << 20

// Job finds and renews the documents of one store.
type Job struct {
	Store   storage.Store // must also be a storage.Lister (both backends are)
	Extend  Extender      // nil: Status only
	Inspect Inspector     // nil: PadesInspector(nil)
	// RenewBefore is the window: a document whose protecting certificate expires sooner is renewed.
	RenewBefore time.Duration
	Audit       audit.Recorder // nil: no events
	MaxBytes    int64          // 0: 512 MiB
	Now         func() time.Time
	Log         *zap.Logger
}

// Entry is one document as the job sees it.
type Entry struct {
	Document string    `json:"document"` // key of the first revision, without .pdf
	Key      string    `json:"key"`      // key of the newest revision
	Revision int       `json:"revision"`
	Expires  time.Time `json:"expires,omitzero"`
	What     string    `json:"what,omitempty"`
	// Timestamp is the last timestamp's time (zero: none).
	Timestamp time.Time `json:"timestamp,omitzero"`
	Weak      []string  `json:"weak,omitempty"`
	// Due says the job renews it on its next run; Reason says why.
	Due    bool   `json:"due"`
	Reason string `json:"reason,omitempty"`
	// Unrecorded: the newest revision was written but its record and audit event were not (the
	// last run stopped in between); the next run records it.
	Unrecorded bool   `json:"unrecorded,omitempty"`
	Error      string `json:"error,omitempty"`
}

// Record is what a renewal wrote, stored as <doc>.r<N>.json beside the revision.
type Record struct {
	Document     string    `json:"document"`
	From         string    `json:"from"`
	To           string    `json:"to"`
	Reason       string    `json:"reason"`
	SHA256Before string    `json:"sha256_before"`
	SHA256After  string    `json:"sha256_after"`
	At           time.Time `json:"at"`
}

// Summary is what one run did.
type Summary struct {
	Documents int `json:"documents"`
	Renewed   int `json:"renewed"`
	Recorded  int `json:"recorded"` // revisions of an interrupted run recorded now
	Failed    int `json:"failed"`
}

func (j *Job) now() time.Time {
	if j.Now != nil {
		return j.Now()
	}
	return time.Now()
}

func (j *Job) log() *zap.Logger {
	if j.Log != nil {
		return j.Log
	}
	return zap.NewNop()
}

// Status lists every stored document with what protects it, soonest expiry first.
func (j *Job) Status(ctx context.Context) ([]Entry, error) {
	lister, ok := j.Store.(storage.Lister)
	if !ok {
		return nil, errors.New("this storage backend cannot list its documents; the archive job needs file:// or s3:// storage")
	}
	newest := map[string]int{}
	keys := map[string]bool{}
	err := lister.List(ctx, docPrefix, func(key string) error {
		keys[key] = true
		if doc, rev, ok := parseKey(key); ok {
			newest[doc] = max(newest[doc], rev)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing the stored documents: %w", err)
	}
	inspect := j.Inspect
	if inspect == nil {
		inspect = PadesInspector(nil)
	}
	window := j.RenewBefore
	if window <= 0 {
		window = DefaultRenewBefore
	}
	now := j.now()
	var out []Entry
	for doc, rev := range newest {
		e := Entry{Document: doc, Key: revisionKey(doc, rev), Revision: rev}
		e.Unrecorded = rev > 1 && !keys[recordKey(doc, rev)]
		pdf, err := j.read(ctx, e.Key)
		var p Protection
		if err == nil {
			p, err = inspect(ctx, pdf)
		}
		if err != nil {
			e.Error = err.Error()
			out = append(out, e)
			continue
		}
		e.Expires, e.What, e.Timestamp, e.Weak = p.Expires.UTC(), p.What, p.Timestamp.UTC(), p.Weak
		switch {
		case len(p.Weak) > 0:
			e.Due, e.Reason = true, "weak algorithms: "+strings.Join(p.Weak, ", ")
		case !p.Expires.After(now):
			e.Due, e.Reason = true, "the "+p.What+" has expired"
		case p.Expires.Sub(now) <= window:
			e.Due, e.Reason = true, fmt.Sprintf("the %s expires within %s", p.What, window)
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Entry) int {
		if c := a.Expires.Compare(b.Expires); c != 0 {
			return c
		}
		return strings.Compare(a.Document, b.Document)
	})
	return out, nil
}

func (j *Job) read(ctx context.Context, key string) ([]byte, error) {
	rc, _, err := j.Store.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	limit := j.MaxBytes
	if limit <= 0 {
		limit = defaultMaxBytes
	}
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err == nil && int64(len(b)) > limit {
		err = fmt.Errorf("%s is larger than %d bytes", key, limit)
	}
	if err == nil {
		err = rc.Close() // the store checks the SHA-256 at the end
	}
	return b, err
}

// Run renews every due document once, and records the revisions an interrupted run left
// unrecorded. One document that fails does not stop the others; the error says how many failed.
// Running it again at once does nothing more: what was renewed is no longer due.
func (j *Job) Run(ctx context.Context) (Summary, error) {
	if j.Extend == nil {
		return Summary{}, errors.New("archive: no extender configured")
	}
	entries, err := j.Status(ctx)
	if err != nil {
		return Summary{}, err
	}
	s := Summary{Documents: len(entries)}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return s, err
		}
		if e.Unrecorded {
			if err := j.recordInterrupted(ctx, e); err != nil {
				s.Failed++
				j.log().Warn("recording an interrupted renewal", zap.String("key", e.Key), zap.Error(err))
				continue
			}
			s.Recorded++
		}
		if !e.Due || e.Error != "" {
			continue
		}
		if err := j.renew(ctx, e); err != nil {
			s.Failed++
			j.log().Warn("renewing an archived document failed; the next run tries again", zap.String("key", e.Key), zap.Error(err))
			continue
		}
		s.Renewed++
	}
	if s.Failed > 0 {
		return s, fmt.Errorf("archive: %d of %d documents could not be renewed or recorded; see the log", s.Failed, s.Documents)
	}
	return s, nil
}

// renew extends the newest revision and writes the result as the next one, then audits and
// records it. The order makes a crash harmless: before the Put nothing happened; after it the
// revision is found as the newest and not due, and recordInterrupted finishes its bookkeeping.
func (j *Job) renew(ctx context.Context, e Entry) error {
	in, err := j.read(ctx, e.Key)
	if err != nil {
		return err
	}
	out, err := j.Extend(ctx, in)
	if err != nil {
		return fmt.Errorf("extending %s: %w", e.Key, err)
	}
	next := revisionKey(e.Document, e.Revision+1)
	// Never over an existing object: another runner (its lease lost) may have written it.
	if _, err := j.Store.Stat(ctx, next); err == nil {
		return fmt.Errorf("%s exists already; not overwritten", next)
	} else if !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	sum := sha256.Sum256(out)
	if _, err := j.Store.Put(ctx, next, bytes.NewReader(out), int64(len(out)), "application/pdf", hex.EncodeToString(sum[:])); err != nil {
		return fmt.Errorf("storing %s: %w", next, err)
	}
	before := sha256.Sum256(in)
	r := Record{Document: e.Document, From: e.Key, To: next, Reason: e.Reason,
		SHA256Before: hex.EncodeToString(before[:]), SHA256After: hex.EncodeToString(sum[:]), At: j.now().UTC()}
	return j.finish(ctx, r)
}

// recordInterrupted audits and records a revision whose run stopped after storing it.
func (j *Job) recordInterrupted(ctx context.Context, e Entry) error {
	from := revisionKey(e.Document, e.Revision-1)
	obj, err := j.Store.Stat(ctx, e.Key)
	if err != nil {
		return err
	}
	r := Record{Document: e.Document, From: from, To: e.Key, Reason: "recorded after an interrupted run", SHA256After: obj.SHA256, At: j.now().UTC()}
	if prev, err := j.Store.Stat(ctx, from); err == nil {
		r.SHA256Before = prev.SHA256
	}
	return j.finish(ctx, r)
}

// finish writes the audit event, then the record. An event may repeat after a crash between the
// two, never go missing.
func (j *Job) finish(ctx context.Context, r Record) error {
	if j.Audit != nil {
		err := j.Audit.Record(ctx, contracts.AuditEvent{Action: contracts.AuditArchiveRenewed, Outcome: contracts.AuditOK,
			JobID: jobID(r.Document), SHA256Before: r.SHA256Before, SHA256After: r.SHA256After,
			Detail: fmt.Sprintf("archive renewal (PAdES B-LTA): %s written beside %s; %s", r.To, r.From, r.Reason)})
		if err != nil {
			return fmt.Errorf("auditing the renewal of %s: %w", r.From, err)
		}
	}
	b, _ := json.MarshalIndent(r, "", "  ")
	sum := sha256.Sum256(b)
	if _, err := j.Store.Put(ctx, recordKey(r.Document, revisionOf(r.To)), bytes.NewReader(b), int64(len(b)), "application/json", hex.EncodeToString(sum[:])); err != nil {
		return fmt.Errorf("storing the record of %s: %w", r.To, err)
	}
	j.log().Info("archived document renewed", zap.String("from", r.From), zap.String("to", r.To), zap.String("reason", r.Reason))
	return nil
}

func revisionOf(key string) int {
	_, rev, _ := parseKey(key)
	return rev
}
