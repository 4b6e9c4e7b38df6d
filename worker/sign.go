package worker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/audit"
	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/internal/metrics"
	"github.com/signet-b24/signet/keyring"
	"github.com/signet-b24/signet/pades"
	"github.com/signet-b24/signet/storage"
	"github.com/signet-b24/signet/worker/evidence"
)

// Keys resolves a credential URI to a key and its certificate (the keyring).
type Keys interface {
	Credential(ctx context.Context, uri string) (*keyring.Credential, error)
}

// Portal is what signing and calling back need from Bitrix24 (the REST client).
type Portal interface {
	Call(ctx context.Context, memberID, method string, params map[string]any, out any) error
	Download(ctx context.Context, memberID, fileURL string, maxBytes int64, w io.Writer) (int64, error)
	EventSend(ctx context.Context, memberID, eventToken string, returnValues map[string]any, logMessage string) error
}

// Policy says whether an administrator disabled a credential after the job was queued.
type Policy interface {
	Disabled(ctx context.Context, credentialURI string) (bool, error)
}

// Signer signs one job: fetch the PDF, sign it, store the artefacts, record the result.
type Signer struct {
	Keys   Keys
	Policy Policy
	// Audit records the signature (its event id goes into the result and the deal's timeline).
	Audit audit.Appender
	// PublicURL is where the verification page of a self-proving document lives.
	PublicURL   string
	Portal      Portal
	Batch       Batcher // nil: lookups (disk.file.get, crm.item.get) go one by one
	Store       storage.Store
	Results     *Results
	TempDir     string
	MaxPDFBytes int64
	// TSA, when set (signing.tsa_url), adds an RFC 3161 signature timestamp to every signature
	// (PAdES B-T, issue 17 must 2); an outage is retried, a refusal is permanent (errors.go).
	TSA pades.Timestamper
	// Level lt or lta (signing.level) extends every signed document to PAdES B-LT or B-LTA
	// (extend.go, issue 17 must 4 and 5); anything else leaves it as signed.
	Level pades.Level
	// Revocations, when set, lists the certificates the internal CA revoked: a job whose credential
	// is among them is refused before the key signs (revoked.go, issue 17 must 3).
	Revocations RevocationLister
	// Tokens, when set, schedules the signatures on each token: its concurrency and pace, and
	// interactive jobs before batch ones (tokens.go, issue 21 must 5). Nil: straight to the key.
	Tokens *Tokens
	Now    func() time.Time
	Log    *zap.Logger
	// JobKeys are the intakes' public keys; a job not signed by one of them is never signed here
	// (authorise.go). Nil trusts no job.
	JobKeys *contracts.JobKeys
}

// Report is the signing report stored beside the signed PDF as <job>.json.
type Report struct {
	JobID              string    `json:"job_id"`
	BatchID            string    `json:"batch_id,omitempty"`
	Kind               string    `json:"kind"`
	Portal             string    `json:"portal"`
	Domain             string    `json:"domain,omitempty"`
	DocumentID         []string  `json:"document_id,omitempty"`
	EntityTypeID       int       `json:"entity_type_id,omitempty"`
	EntityID           int       `json:"entity_id,omitempty"`
	DiskFileID         int       `json:"disk_file_id,omitempty"`
	FileName           string    `json:"file_name,omitempty"`
	Signer             string    `json:"signer"`
	BitrixUserID       int       `json:"bitrix_user_id,omitempty"`
	Authorization      string    `json:"authorization"`
	GrantID            string    `json:"grant_id,omitempty"`
	Credential         string    `json:"credential"`
	CertificateSubject string    `json:"certificate_subject"`
	CertificateIssuer  string    `json:"certificate_issuer"`
	CertificateSerial  string    `json:"certificate_serial"`
	SignedAt           time.Time `json:"signed_at"`
	SubFilter          string    `json:"sub_filter"`
	FieldName          string    `json:"field_name"`
	SHA256Before       string    `json:"sha256_before"`
	SHA256After        string    `json:"sha256_after"`
	Size               int64     `json:"size"`
}

func (s *Signer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Sign makes the job's signed PDF and records it, or returns the result recorded by an earlier
// delivery. The error is permanent when retrying cannot help.
func (s *Signer) Sign(ctx context.Context, job *contracts.SignJob) (*contracts.Signed, error) {
	if err := s.authentic(job); err != nil {
		return nil, err
	}
	if done, err := s.Results.Signed(ctx, job.ID); err != nil {
		return nil, fmt.Errorf("job %s: reading the results bucket: %w", job.ID, err)
	} else if done != nil {
		return done, nil
	}
	// A genuine job that waited too long: refused before the key is touched (a result stored by an
	// earlier delivery, above, still goes out).
	if err := s.unexpired(job); err != nil {
		return nil, err
	}
	cred, err := s.Keys.Credential(ctx, job.Credential)
	if err != nil {
		// A credential the keyring cannot give never works, unless the token is only offline or
		// busy: classify takes the mark off then.
		if err = classify(Permanent(err)); IsPermanent(err) {
			return nil, Permanentf("credential %s: %w", job.Credential, err)
		}
		return nil, fmt.Errorf("job %s: %w", job.ID, err)
	}
	if err := s.usable(ctx, job, cred); err != nil {
		return nil, err
	}
	if s.Policy != nil {
		disabled, err := s.Policy.Disabled(ctx, job.Credential)
		if err != nil {
			return nil, fmt.Errorf("job %s: reading the credential policy: %w", job.ID, err)
		}
		if disabled {
			return nil, Permanentf("credential %s was %w; map another certificate to %s", job.Credential, ErrCredentialDisabled, job.Signer.Login)
		}
	}

	doc := &spool{tempDir: s.TempDir, prefix: job.ID}
	defer doc.close()
	t0 := time.Now()
	name, err := s.fetch(ctx, job, doc)
	if err != nil {
		return nil, err
	}
	metrics.StageSeconds.WithLabelValues("download").Observe(time.Since(t0).Seconds())

	now := s.now().UTC()
	// What people read (the stamp, the stripe, the completion page) is in the job's language and the
	// signer's zone (issue 18); the intake checked the zone, and a worker that cannot load it writes
	// UTC rather than fail a signature over a label.
	zone, zerr := i18n.LoadZone(job.TimeZone)
	if zerr != nil {
		s.Log.Warn("job's time zone unknown here; the stamp shows UTC", zap.String("job_id", job.ID), zap.String("time_zone", job.TimeZone))
		zone = time.UTC
	}
	opts := pades.Options{
		Language: job.Language,
		Zone:     zone,
		Time:     now,
		Name:     cred.Certificate.Subject.CommonName,
		Reason:   job.Stamp.Reason,
		Location: job.Stamp.Location,
		Visible:  job.Stamp.Visible,
		Position: pades.Position(job.Stamp.Position),
		Image:    job.Stamp.Image,
		TSA:      s.TSA,
	}
	if job.Stamp.Page == "last" {
		opts.Page = -1
		if job.Stamp.Evidence {
			// evidence.Prepare appends exactly one page, the certificate of completion: the stamp goes
			// on the document's own last page, before it (issue 19, must 6).
			opts.Page = -2
		}
	}
	signer := pades.Signer{Key: s.Tokens.Key(ctx, cred, job.Kind), Certificate: cred.Certificate, Chain: cred.Chain}
	var (
		original  string
		res       *pades.Result
		signedPDF io.Reader // the signed document, to store
		size      int64
		signedAt  string // the file holding signedPDF, for the store to take over (storage.Item.File)
	)
	t0 = time.Now()
	if doc.inMemory() && !job.Stamp.Evidence {
		// The common case, a small document: signed in memory, no file touched.
		original = doc.sha256()
		var out []byte
		out, res, err = pades.Sign(ctx, doc.bytes(), signer, opts)
		signedPDF, size = bytes.NewReader(out), int64(len(out))
	} else {
		var in string
		if in, err = doc.file(); err != nil {
			return nil, fmt.Errorf("job %s: staging the document: %w", job.ID, err)
		}
		original = doc.sha256() // hashed while it was downloaded: no second pass over a large file
		src := in
		if job.Stamp.Evidence {
			// A self-proving document: the stripe and the completion page are added before the first
			// signature, which then covers them.
			if src, err = doc.path("prepared.pdf"); err != nil {
				return nil, err
			}
			release, err := s.reserveForEvidence(ctx, job, name, in)
			if err != nil {
				return nil, err
			}
			err = evidence.Prepare(ctx, in, src, evidence.Facts{DocumentID: job.ID, OriginalSHA256: original, FileName: name,
				Signer: job.Signer.Login, Certificate: cred.Certificate.Subject.String(),
				CertSerial: serialHex(cred.Certificate.SerialNumber.Bytes()), Time: now, PublicURL: s.PublicURL,
				Language: job.Language, Zone: zone})
			release()
			if err != nil {
				// classify, not Permanent: a job cancelled at the drain deadline, a full disk or a
				// file changed on disk passes; a document that cannot take the page does not.
				return nil, classify(fmt.Errorf("document %s of job %s: %w", name, job.ID, err))
			}
		}
		// The staging copy is the job's own: the update is appended to it, so a large document's
		// bytes are not copied again (issue 22, must 4).
		if res, err = pades.SignFileInPlace(ctx, src, signer, opts); err == nil {
			f, ferr := os.Open(src)
			if ferr != nil {
				return nil, ferr
			}
			defer f.Close()
			st, ferr := f.Stat()
			if ferr != nil {
				return nil, ferr
			}
			signedPDF, size, signedAt = f, st.Size(), src
		}
	}
	metrics.StageSeconds.WithLabelValues("sign").Observe(time.Since(t0).Seconds())
	if err != nil {
		return nil, documentError(err, name, job.ID, "signing job "+job.ID)
	}
	unextended := signedPDF
	if signedPDF, size, err = s.extend(ctx, job.ID, name, signedPDF, size, res); err != nil {
		return nil, err
	}
	if signedPDF != unextended {
		signedAt = "" // extended in memory: the staged file is not what is stored
	}

	group := "robot"
	switch {
	case job.BatchID != "":
		group = "batch-" + job.BatchID
	case job.Document.EntityTypeID == 2:
		group = fmt.Sprintf("deal-%d", job.Document.EntityID)
	}
	portal := job.Portal.MemberID
	if portal == "" {
		portal = "local"
	}
	pdfKey, p7sKey, reportKey := storage.ArtefactKeys(portal, job.Created, group, job.ID)
	after := hex.EncodeToString(res.SHA256After[:])
	signed := &contracts.Signed{
		PDFKey: pdfKey, CMSKey: p7sKey, ReportKey: reportKey,
		SHA256Before:       original,
		SHA256After:        after,
		CertificateSubject: cred.Certificate.Subject.String(),
		CertificateSerial:  serialHex(cred.Certificate.SerialNumber.Bytes()),
		SignedAt:           res.SigningTime.UTC(),
		FieldName:          res.FieldName,
		FileName:           name,
	}
	signed.Size = size
	report, _ := json.MarshalIndent(Report{
		JobID: job.ID, BatchID: job.BatchID, Kind: string(job.Kind), Portal: job.Portal.MemberID, Domain: job.Portal.Domain,
		DocumentID: job.Document.DocumentID, EntityTypeID: job.Document.EntityTypeID, EntityID: job.Document.EntityID,
		DiskFileID: job.Document.DiskFileID, FileName: name, Signer: job.Signer.Login, BitrixUserID: job.Signer.BitrixUserID,
		Authorization: job.Signer.Authorization, GrantID: contracts.GrantRef(job.Signer.GrantID), Credential: cred.URI,
		CertificateSubject: signed.CertificateSubject, CertificateIssuer: cred.Certificate.Issuer.String(),
		CertificateSerial: signed.CertificateSerial, SignedAt: signed.SignedAt, SubFilter: "ETSI.CAdES.detached",
		FieldName: res.FieldName, SHA256Before: signed.SHA256Before, SHA256After: after, Size: signed.Size,
	}, "", "  ")
	// The three artefacts are written at once, so that their latencies (an fsync each locally, a round
	// trip each to S3) overlap; a local store also syncs their shared directory once for all three.
	t0 = time.Now()
	_, err = storage.PutAll(ctx, s.Store, []storage.Item{
		{What: "signed PDF", Key: pdfKey, ContentType: "application/pdf", SHA256: after, R: signedPDF, Size: size, File: signedAt},
		{What: "CMS", Key: p7sKey, ContentType: "application/pkcs7-signature", SHA256: sha256Hex(res.CMS), R: bytes.NewReader(res.CMS), Size: int64(len(res.CMS))},
		{What: "report", Key: reportKey, ContentType: "application/json", SHA256: sha256Hex(report), R: bytes.NewReader(report), Size: int64(len(report))},
	})
	if err != nil {
		return nil, fmt.Errorf("job %s: %w", job.ID, err)
	}
	metrics.StageSeconds.WithLabelValues("store").Observe(time.Since(t0).Seconds())
	metrics.DocumentsBytesTotal.Add(float64(signed.Size))
	if s.Audit != nil {
		ev, err := s.Audit.Append(ctx, audit.SignedEvent(job, signed))
		if err != nil {
			return nil, fmt.Errorf("job %s: recording the signature in the audit trail: %w", job.ID, err)
		}
		signed.AuditID = ev.ID
		stored := audit.JobEvent(contracts.AuditJobStored, job)
		stored.Outcome, stored.Detail = contracts.AuditOK, pdfKey
		if err := s.Audit.Record(ctx, stored); err != nil {
			s.Log.Error("audit event not recorded", zap.String("job_id", job.ID), zap.Error(err))
		}
	}
	return s.Results.RecordSigned(ctx, job.ID, signed)
}

// reserveForEvidence holds the process decoding budget for the evidence pass: pdfcpu reads the whole
// document and decodes its streams with no budget of its own, so the census (pades.Census) counts
// what they decode to first, refusing a document over pdf.max_document_bytes, and the file (read
// whole) and what its streams decode to are held while pdfcpu runs.
func (s *Signer) reserveForEvidence(ctx context.Context, job *contracts.SignJob, name, path string) (func(), error) {
	decoded, err := pades.Census(ctx, path)
	if err != nil {
		return nil, documentError(err, name, job.ID, "job "+job.ID)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	release, err := pades.Reserve(ctx, 2*st.Size()+2*decoded)
	if err != nil {
		return nil, fmt.Errorf("job %s: waiting for the decoding budget: %w", job.ID, err)
	}
	return release, nil
}

// documentError classifies a failure of the PDF engine (errors.go) and words it for its reader: a
// document that can never be signed is named, for the workflow's log; a failure that passes (the token
// went away: the engine reports that as a key that refused to sign) names the job, for the retry's
// log line.
func documentError(err error, name, jobID, retry string) error {
	if IsPermanent(classify(err)) {
		return Permanentf("document %s of job %s: %w", name, jobID, err)
	}
	return fmt.Errorf("%s: %w", retry, err)
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func serialHex(b []byte) string {
	parts := make([]string, len(b))
	for i, x := range b {
		parts[i] = fmt.Sprintf("%02X", x)
	}
	return strings.Join(parts, ":")
}
