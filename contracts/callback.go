package contracts

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Outcome of a job.
type Outcome string

const (
	OutcomeSigned Outcome = "signed"
	OutcomeFailed Outcome = "failed"
	// OutcomeDeclined and OutcomeExpired end a request to sign (issue 19, must 1) that its signer
	// declined with a reason (Callback.Error), or that nobody signed before its deadline. Neither
	// carries a signature; the workflow hears them as its robot's outcome.
	OutcomeDeclined Outcome = "declined"
	OutcomeExpired  Outcome = "expired"
)

// Unsigned reports whether the outcome ends a job without a signature.
func (o Outcome) Unsigned() bool {
	return o == OutcomeFailed || o == OutcomeDeclined || o == OutcomeExpired
}

// Delivered is a job's outcome once its callback was delivered (or, for a local batch job, once its
// result was recorded): the worker writes it in the jobs bucket under DeliveredKey; the Sign dialog's
// status endpoint and `signet batch status` read it.
type Delivered struct {
	Outcome Outcome `json:"outcome"`
	// Error is why the job was not signed, or why the signed file could not replace the original.
	Error string `json:"error,omitempty"`
	// Failure is Error's kind (Callback.Failure), for a reader that words it in its own language.
	Failure   *Failure  `json:"failure,omitempty"`
	Delivered time.Time `json:"delivered"`
}

// DeliveredKey is the jobs-bucket key of a job's Delivered record ("out.<job id>", beside the
// worker's "res." and "cb." records).
func DeliveredKey(jobID string) string { return "out." + jobID }

// SignedFileKey is the jobs-bucket key that marks a CRM item's file as Signet's signed output (issue 19,
// must 3): the worker writes it when a write-back is done (in the replace mode the file that replaced the
// original, in the link mode the original the link was written for), and the bulk page reads it so a
// rerun of a selection signs nothing twice. The portal's member_id is hashed (keys allow only
// [-/_=.a-zA-Z0-9]); then the entity type, the item and the file.
func SignedFileKey(memberID string, entityTypeID, entityID, fileID int) string {
	h := sha256.Sum256([]byte(memberID))
	return fmt.Sprintf("sfile.%s.%d.%d.%d", hex.EncodeToString(h[:12]), entityTypeID, entityID, fileID)
}

// ResultKey is the jobs-bucket key of a signed job's Signed record ("res.<job id>"): where its
// signed PDF is stored. A signing route (producer/routes) reads it to take the next revision.
func ResultKey(jobID string) string { return "res." + jobID }

// Signed describes the stored result of a signed job.
type Signed struct {
	PDFKey             string    `json:"pdf_key"`
	CMSKey             string    `json:"cms_key"`
	ReportKey          string    `json:"report_key"`
	SHA256Before       string    `json:"sha256_before"`
	SHA256After        string    `json:"sha256_after"`
	Size               int64     `json:"size"`
	CertificateSubject string    `json:"certificate_subject"`
	CertificateSerial  string    `json:"certificate_serial"`
	SignedAt           time.Time `json:"signed_at"`
	FieldName          string    `json:"field_name"`
	FileName           string    `json:"file_name,omitempty"`
	// AuditID is the id of the job_signed audit event; the deal's timeline entry quotes it.
	AuditID string `json:"audit_id,omitempty"`
}

// Callback is the result of one job on its way back to Bitrix24. It repeats what the callback worker
// needs from the job, so that a callback never needs the job again and never causes a re-sign.
type Callback struct {
	V        int      `json:"v"`
	JobID    string   `json:"job_id"`
	Kind     JobKind  `json:"kind"`
	BatchID  string   `json:"batch_id,omitempty"`
	Portal   Portal   `json:"portal"`
	Document Document `json:"document"`
	Signer   Signer   `json:"signer"`
	Reply    Reply    `json:"reply"`
	Outcome  Outcome  `json:"outcome"`
	// Error is the reason a person can act on, when Outcome is failed: the worker's English Go error
	// (the operator's language), or the intake's refusal or the signer's words in the portal's language.
	Error string `json:"error,omitempty"`
	// Failure is the same reason as a kind with its facts, which the callback worker words in the
	// portal's language (issue 18, must 3). Optional, so no Version bump (contracts/version.go): a
	// reader older than it ignores the field (decode does not refuse unknown fields) and tells Error,
	// as it did; a callback without it (queued by an older Signet) is told by Error here too.
	Failure *Failure  `json:"failure,omitempty"`
	Signed  *Signed   `json:"signed,omitempty"`
	Time    time.Time `json:"time"`
	// TimeZone is the job's (SignJob.TimeZone): the timeline comment shows the signing time in it.
	TimeZone string `json:"time_zone,omitempty"`
}

// NewCallback is job's result on its way back: signed, or failed for reason when signed is nil. The
// job's fields that the callback worker needs are copied here and nowhere else (the worker's result,
// the intake's refusal), so that a field added to both types cannot be forgotten on one path.
func NewCallback(job *SignJob, signed *Signed, reason string, at time.Time) *Callback {
	cb := &Callback{
		JobID: job.ID, Kind: job.Kind, BatchID: job.BatchID, Portal: job.Portal, Document: job.Document,
		Signer: job.Signer, Reply: job.Reply, Signed: signed, Error: reason, Time: at, Outcome: OutcomeSigned,
		TimeZone: job.TimeZone,
	}
	if signed == nil {
		cb.Outcome = OutcomeFailed
	}
	return cb
}

// Validate checks the fields the callback worker relies on.
func (c *Callback) Validate() error {
	switch {
	case c.JobID == "":
		return fmt.Errorf("callback: %w: no job id", ErrInvalid)
	case c.Outcome != OutcomeSigned && !c.Outcome.Unsigned():
		return fmt.Errorf("callback %s: %w: unknown outcome %q", c.JobID, ErrInvalid, c.Outcome)
	case c.Outcome == OutcomeSigned && c.Signed == nil:
		return fmt.Errorf("callback %s: %w: signed without a result", c.JobID, ErrInvalid)
	}
	return nil
}

// Marshal writes the callback with the current Version.
func (c *Callback) Marshal() ([]byte, error) {
	c.V = Version
	return json.Marshal(c)
}

// DecodeCallback reads a callback, rejecting unknown versions and invalid callbacks.
func DecodeCallback(data []byte) (*Callback, error) {
	var c Callback
	if err := decode("callback", data, &c, func() int { return c.V }); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}
