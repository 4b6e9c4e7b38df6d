package contracts

import "time"

// FailureKind says why a job ended unsigned, in a word the callback worker can put in the portal's
// language (issue 18, must 3: "error messages returned to workflows"). The set is closed: each kind is
// one place where a job fails for good, and the catalogue words it (worker/failure_text.go). The
// English Go error stays in Callback.Error, for the operator's log, the audit trail and a reader that
// does not know the kind.
type FailureKind string

// The kinds the worker finds (worker/failure.go); the fields of Failure each one fills are named.
const (
	FailureNotPDF                 FailureKind = "not_pdf"
	FailureEncrypted              FailureKind = "encrypted"
	FailureDamaged                FailureKind = "damaged" // corrupt, truncated, or a structure that cannot take a signature
	FailureCertified              FailureKind = "certified"
	FailureAlreadySigned          FailureKind = "already_signed"
	FailureTooLarge               FailureKind = "too_large"      // Limit (bytes)
	FailureDecodingLimit          FailureKind = "decoding_limit" // the PDF expands past pdf.max_* when decoded
	FailureTimestampRefused       FailureKind = "timestamp_refused"
	FailureRevoked                FailureKind = "revoked"             // Credential, Signer
	FailureExpiredCertificate     FailureKind = "expired_certificate" // Credential, Signer
	FailureCertificateNotYetValid FailureKind = "certificate_not_yet_valid"
	FailureCredentialUnknown      FailureKind = "credential_unknown"  // Credential, Signer
	FailureCredentialDisabled     FailureKind = "credential_disabled" // Credential, Signer
	FailureDownloadFailed         FailureKind = "download_failed"
	FailureFileRemoved            FailureKind = "file_removed"   // DiskFileID, or Item, Field and FileID
	FailureNoFile                 FailureKind = "no_file"        // Item, Field
	FailureNoField                FailureKind = "no_field"       // Item, Field
	FailureNotFileField           FailureKind = "not_file_field" // Item, Field
	FailureURLOutsidePortal       FailureKind = "url_outside_portal"
	FailureUnauthorised           FailureKind = "unauthorised" // the job's authorisation expired (security.job_ttl)
	FailureGaveUp                 FailureKind = "gave_up"      // Attempts: each failed in a way that passes
	FailureStalled                FailureKind = "stalled"      // Attempts: deliveries no worker answered
	FailureOther                  FailureKind = "other"
)

// The kinds the intake finds when it refuses a robot call (producer/refusal.go). The intake words its
// refusals from the catalogue too: Reason is their key (refusal.*) and Args its arguments.
const (
	FailureUnknownSigner       FailureKind = "unknown_signer"
	FailureSignerDisabled      FailureKind = "signer_disabled"
	FailureNotEnrolled         FailureKind = "not_enrolled"
	FailureWrongCode           FailureKind = "wrong_code"
	FailureCodeReused          FailureKind = "code_reused"
	FailureCodeFormat          FailureKind = "code_format"
	FailureLockedOut           FailureKind = "locked_out"
	FailureCredentialNotMapped FailureKind = "credential_not_mapped"
	FailureWrongRobot          FailureKind = "wrong_robot"
	FailureInvalidProperty     FailureKind = "invalid_property" // Property
	// A request to sign that ends unsigned (issue 19): the signer's words are Callback.Error; an
	// expired request has its Deadline.
	FailureDeclined FailureKind = "declined"
	FailureExpired  FailureKind = "expired"
)

// FailureKinds is the closed set, in the order docs/bitrix24.md lists them.
var FailureKinds = []FailureKind{
	FailureNotPDF, FailureEncrypted, FailureDamaged, FailureCertified, FailureAlreadySigned, FailureTooLarge,
	FailureDecodingLimit, FailureTimestampRefused, FailureRevoked, FailureExpiredCertificate, FailureCertificateNotYetValid,
	FailureCredentialUnknown, FailureCredentialDisabled, FailureDownloadFailed, FailureFileRemoved, FailureNoFile,
	FailureNoField, FailureNotFileField, FailureURLOutsidePortal, FailureUnauthorised, FailureGaveUp, FailureStalled,
	FailureUnknownSigner, FailureSignerDisabled, FailureNotEnrolled, FailureWrongCode, FailureCodeReused,
	FailureCodeFormat, FailureLockedOut, FailureCredentialNotMapped, FailureWrongRobot, FailureInvalidProperty,
	FailureDeclined, FailureExpired, FailureOther,
}

// Failure is a failure's kind and the facts its words need. Only the fields its kind names are set;
// every one is optional, so that a kind worded without one still reads (the words then leave it out).
type Failure struct {
	Kind FailureKind `json:"kind"`
	// Item is the CRM item (deal) and Field its file field code, FileID the file in it.
	Item   int    `json:"item,omitempty"`
	Field  string `json:"field,omitempty"`
	FileID int    `json:"file_id,omitempty"`
	// DiskFileID is a Disk file that is gone.
	DiskFileID int `json:"disk_file_id,omitempty"`
	// Limit is the size limit, in bytes, the document is over.
	Limit int64 `json:"limit,omitempty"`
	// Attempts is how often the job was tried before Signet gave up.
	Attempts int `json:"attempts,omitempty"`
	// Signer is the signer's login, Credential the certificate's PKCS#11 URI.
	Signer     string `json:"signer,omitempty"`
	Credential string `json:"credential,omitempty"`
	// Property is the robot property that is wrong.
	Property string `json:"property,omitempty"`
	// Reason and Args are the intake's own words for a refusal: a refusal.* catalogue key and its
	// arguments (the reader checks that the key is one).
	Reason string   `json:"reason,omitempty"`
	Args   []string `json:"args,omitempty"`
	// Deadline is when an expired request to sign was due.
	Deadline time.Time `json:"deadline,omitzero"`
}

// Known reports whether this Signet knows the kind. A callback written by a newer Signet may carry a
// kind this one does not: its reader falls back to Callback.Error, the text it carried before kinds.
func (k FailureKind) Known() bool {
	for _, x := range FailureKinds {
		if x == k {
			return true
		}
	}
	return false
}
