package batch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/metrics"
	"github.com/signet-b24/signet/producer/identity"
	"github.com/signet-b24/signet/storage"
)

// Identity is what enqueueing needs from the identity service: a grant made with the signer's OTP,
// and the one authorisation check, which spends one document of the grant per job.
type Identity interface {
	CreateGrant(ctx context.Context, login, code, credentialURI string, max int, ttl time.Duration) (*identity.Grant, error)
	GetGrant(ctx context.Context, id string) (*identity.Grant, error)
	Authorize(ctx context.Context, login, code, grantID, credentialURI string) (*identity.Decision, error)
}

// Enqueuer publishes batches.
type Enqueuer struct {
	JS       jetstream.JetStream
	KV       jetstream.KeyValue // the batches bucket (OpenBucket)
	Store    storage.Store
	Identity Identity
	Log      *zap.Logger
	Now      func() time.Time
	// JobKey signs each job's authorisation (the intake's key, security.job_signing_key_file);
	// without one nothing is queued.
	JobKey *contracts.JobSigner
}

// Request is one batch to enqueue.
type Request struct {
	Login      string
	Credential string
	Manifest   *Manifest
	// OTP is asked only when a new grant is needed (not when a crashed run is resumed under its grant).
	OTP func() (string, error)
	// GrantTTL is the grant's validity (0: the identity service's default, 12 h).
	GrantTTL time.Duration
	// Stamp is the default for documents whose row does not say.
	Stamp contracts.Stamp
	// Language and TimeZone of every job's stamp and evidence page (contracts.SignJob; issue 18):
	// the language of the shell that enqueues and signing.time_zone.
	Language, TimeZone string
	// Progress is called after each document is published (and once at the start).
	Progress func(Progress)
}

// Progress of an enqueue.
type Progress struct {
	BatchID   string
	Total     int
	Published int // documents queued so far, including those of an earlier run
	Resumed   int // documents found published by an earlier run
	Duplicate int // publishes JetStream dropped as already queued
	Uploaded  int64
}

// Summary is what Enqueue did.
type Summary struct {
	Progress
	GrantUsed, GrantMax int
	Elapsed             time.Duration
}

func (e *Enqueuer) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// Enqueue publishes every document of the request that is not yet published. It is safe to run again
// after a crash or an error: it resumes at the first document not recorded as published, and any
// document published but not yet recorded is dropped by JetStream as a duplicate.
func (e *Enqueuer) Enqueue(ctx context.Context, req Request) (*Summary, error) {
	if e.Log == nil {
		e.Log = zap.NewNop()
	}
	if req.Login == "" || req.Credential == "" {
		return nil, errors.New("a batch needs the signer's login and a credential (pkcs11: URI)")
	}
	if e.JobKey == nil {
		return nil, errors.New("no job signing key (security.job_signing_key_file): workers refuse unsigned jobs; run `signet enqueue` where the intake's key is, nothing was queued")
	}
	m := req.Manifest
	for i := range m.Documents {
		if d := &m.Documents[i]; d.Path != "" {
			if st, err := os.Stat(d.Path); err != nil {
				return nil, fmt.Errorf("document %d (%s): %w; fix the manifest, nothing was queued", i+1, d.Path, err)
			} else if !st.Mode().IsRegular() {
				return nil, fmt.Errorf("document %d (%s) is not a regular file; nothing was queued", i+1, d.Path)
			}
		}
	}
	start := e.now()
	id := ID(req.Login, req.Credential, m)
	log := e.Log.With(zap.String("batch_id", id), zap.String("login", req.Login))
	rec, err := GetRecord(ctx, e.KV, id)
	if errors.Is(err, ErrUnknownBatch) {
		rec = &Record{ID: id, Login: req.Login, Credential: req.Credential, Source: m.Source, Total: len(m.Documents), Created: start.UTC()}
		if len(m.Documents) <= maxNames {
			for i := range m.Documents {
				rec.Names = append(rec.Names, m.Documents[i].Name())
			}
		}
		if rec.DocKey, err = newDocKey(); err != nil {
			return nil, err
		}
		if rec, err = createRecord(ctx, e.KV, rec); err != nil {
			return nil, fmt.Errorf("batch %s: storing its record: %w", id, err)
		}
	} else if err != nil {
		return nil, err
	}
	if rec.DocKey == "" {
		// A record written before job ids carried a tag: its documents not yet published get tagged ids.
		if rec.DocKey, err = newDocKey(); err != nil {
			return nil, err
		}
	}
	published, err := getPublished(ctx, e.KV, id)
	if err != nil {
		return nil, fmt.Errorf("batch %s: reading its progress: %w", id, err)
	}
	p := Progress{BatchID: id, Total: rec.Total, Published: published, Resumed: published}
	report := func() {
		if req.Progress != nil {
			req.Progress(p)
		}
	}
	if published >= rec.Total {
		report()
		return e.summary(ctx, p, rec, start), nil
	}

	// A grant that covers the rest, or a new one for the rest (one OTP).
	left := rec.Total - published
	var g *identity.Grant
	if rec.GrantID != "" {
		g, err = e.Identity.GetGrant(ctx, rec.GrantID)
		if err != nil || g.Revoked || g.Max-g.Used < left || !e.now().Add(time.Minute).Before(g.Expires) {
			g = nil
		}
	}
	if g == nil {
		if req.OTP == nil {
			return nil, errors.New("a batch grant is needed and no OTP was given")
		}
		code, err := req.OTP()
		if err != nil {
			return nil, err
		}
		g, err = e.Identity.CreateGrant(ctx, req.Login, strings.TrimSpace(code), req.Credential, left, req.GrantTTL)
		if err != nil {
			return nil, fmt.Errorf("batch grant for %q: %w", req.Login, err)
		}
		rec.GrantID = g.ID
		log.Info("batch grant obtained", zap.String("grant", shortGrant(g.ID)), zap.Int("documents", left), zap.Time("expires", g.Expires))
	}
	if err := putRecord(ctx, e.KV, rec); err != nil {
		return nil, fmt.Errorf("batch %s: storing its record: %w", id, err)
	}
	report()

	for n := published; n < rec.Total; n++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("batch %s stopped after %d of %d documents; run the same command again to resume: %w", id, p.Published, rec.Total, err)
		}
		job, size, err := e.job(ctx, rec, n, &m.Documents[n], req.Stamp)
		if err != nil {
			return nil, fmt.Errorf("batch %s, document %d (%s): %w; run the same command again to resume", id, n+1, m.Documents[n].Name(), err)
		}
		p.Uploaded += size
		job.Language, job.TimeZone = req.Language, req.TimeZone
		d, err := e.Identity.Authorize(ctx, rec.Login, "", rec.GrantID, rec.Credential)
		if err != nil {
			return nil, redactGrant(fmt.Errorf("batch %s, document %d (%s) refused: %w", id, n+1, m.Documents[n].Name(), err), rec.GrantID)
		}
		metrics.GrantDocumentsTotal.Inc()
		job.Signer = contracts.Signer{Login: d.Login, Authorization: d.Method, GrantID: d.GrantID}
		dup, err := e.publish(ctx, job)
		if err != nil {
			metrics.IntakeTotal.WithLabelValues("batch", "error").Inc()
			return nil, fmt.Errorf("batch %s, document %d: %w; run the same command again to resume", id, n+1, err)
		}
		result := "queued"
		if dup {
			p.Duplicate++
			result = "duplicate"
		}
		metrics.IntakeTotal.WithLabelValues("batch", result).Inc()
		p.Published = n + 1
		if err := putPublished(ctx, e.KV, id, p.Published); err != nil {
			return nil, fmt.Errorf("batch %s: recording progress: %w", id, err)
		}
		report()
	}
	log.Info("batch enqueued", zap.Int("documents", rec.Total), zap.Int("resumed_at", published), zap.Int("duplicates", p.Duplicate))
	return e.summary(ctx, p, rec, start), nil
}

func (e *Enqueuer) summary(ctx context.Context, p Progress, rec *Record, start time.Time) *Summary {
	s := &Summary{Progress: p, Elapsed: e.now().Sub(start)}
	if rec.GrantID != "" {
		if g, err := e.Identity.GetGrant(ctx, rec.GrantID); err == nil {
			s.GrantUsed, s.GrantMax = g.Used, g.Max
		}
	}
	return s
}

// job builds document n's SignJob, uploading a local file first (idempotently: the same bytes under
// the same key are stored once).
func (e *Enqueuer) job(ctx context.Context, rec *Record, n int, d *Document, def contracts.Stamp) (*contracts.SignJob, int64, error) {
	job := &contracts.SignJob{
		ID: rec.JobID(n), Kind: contracts.KindBatch, BatchID: rec.ID, Created: rec.Created,
		Credential: rec.Credential, Stamp: def,
		Document: contracts.Document{FileName: d.FileName, EntityTypeID: d.EntityTypeID, EntityID: d.EntityID},
	}
	if d.Visible != nil {
		job.Stamp.Visible = *d.Visible
	}
	if d.Page != "" {
		job.Stamp.Page = d.Page
	}
	if d.Position != "" {
		job.Stamp.Position = d.Position
	}
	if d.Reason != "" {
		job.Stamp.Reason = d.Reason
	}
	if d.Location != "" {
		job.Stamp.Location = d.Location
	}
	var size int64
	switch {
	case d.Path != "":
		key := IncomingKey(rec.ID, n)
		f, err := os.Open(d.Path)
		if err != nil {
			return nil, 0, err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return nil, 0, err
		}
		if _, err := e.Store.Put(ctx, key, f, st.Size(), "application/pdf", ""); err != nil {
			return nil, 0, fmt.Errorf("uploading to the artefact storage: %w", err)
		}
		size = st.Size()
		job.Document.URL = contracts.SharedStoragePrefix + key
		if job.Document.FileName == "" {
			job.Document.FileName = d.Name()
		}
	case d.Key != "":
		if err := storage.ValidateKey(d.Key); err != nil {
			return nil, 0, err
		}
		job.Document.URL = contracts.SharedStoragePrefix + d.Key
	default:
		job.Portal = contracts.Portal{MemberID: d.Portal}
		job.Document.DiskFileID, job.Document.URL = d.DiskFileID, d.URL
		job.Document.FileField, job.Document.FileID = d.FileField, d.FileID
		job.Reply.WriteBack = contracts.WriteBack(d.WriteBack)
		if d.FileField != "" {
			job.Document.Source = contracts.SourceFileField
		}
	}
	return job, size, job.Validate()
}

// publish signs the job's authorisation and queues it; its Nats-Msg-Id is the job id.
func (e *Enqueuer) publish(ctx context.Context, job *contracts.SignJob) (duplicate bool, err error) {
	e.JobKey.Sign(job, e.now())
	data, err := job.Marshal()
	if err != nil {
		return false, err
	}
	ack, err := e.JS.PublishMsg(ctx, &nats.Msg{
		Subject: contracts.SubjectSignBatch, Data: data,
		Header: nats.Header{contracts.HeaderMsgID: []string{job.ID}},
	}, jetstream.WithExpectStream(contracts.StreamSign))
	if err != nil {
		return false, fmt.Errorf("queueing job %s: %w", job.ID, err)
	}
	return ack.Duplicate, nil
}

// redactGrant shortens every occurrence of the grant id in err's text (the identity service names the
// grant in its refusals; the id is a bearer credential for the documents left), keeping errors.Is.
func redactGrant(err error, grantID string) error {
	if err == nil || grantID == "" || !strings.Contains(err.Error(), grantID) {
		return err
	}
	return &redacted{msg: strings.ReplaceAll(err.Error(), grantID, shortGrant(grantID)), err: err}
}

type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }
