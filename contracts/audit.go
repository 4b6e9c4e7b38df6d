package contracts

import (
	"encoding/json"
	"fmt"
	"time"
)

// Audit actions. The action is the third token of the event's subject (see AuditSubject).
const (
	AuditRequestAccepted = "request_accepted"
	AuditRequestRefused  = "request_refused"
	AuditOTPVerified     = "otp_verified"
	AuditOTPNotRequired  = "otp_not_required"
	AuditOTPFailed       = "otp_failed"
	AuditOTPLockout      = "otp_lockout"
	AuditJobSigned       = "job_signed"
	AuditJobStored       = "job_stored"
	AuditJobFailed       = "job_failed"
	AuditJobDead         = "job_dead_lettered"
	AuditCalledBack      = "called_back"
	AuditCallbackFailed  = "callback_failed"
	AuditAdminChange     = "admin_change"
	AuditEnrolment       = "enrolment"
	AuditGrantIssued     = "grant_issued"
	AuditGrantRevoked    = "grant_revoked"
	AuditGrantUsed       = "grant_used"
	// AuditArchiveRenewed: the archive job wrote a re-extended revision (PAdES B-LTA) of a stored
	// signed document beside the old one (worker/archive).
	AuditArchiveRenewed = "archive_renewed"
	// AuditRouteChanged: a signing route moved (issue 20, must 3): started, a party acted, a step
	// ended, the route ended. JobID is the route's id, so the route's story is one filter.
	AuditRouteChanged = "route_changed"
	// AuditChainCheckpoint is written by the audit writer itself: a signature over the chain head.
	AuditChainCheckpoint = "checkpoint"
)

// AuditJobRefused: a worker refused a job that carries no valid authorisation from a trusted intake
// (forged or altered on NATS); it is dead-lettered and the portal is not called.
const AuditJobRefused = "job_refused"

// Audit outcomes: what happened, in one word a report can group by.
const (
	AuditOK      = "ok"
	AuditRefused = "refused"
	AuditError   = "error"
)

// AuditEvent is one step in a document's story. PrevHash chains it to the event before it in the AUDIT
// stream (the hash chain is built by the audit writer, internal/audit): Seq is the event's own stream
// sequence (written into the event, so that a deleted event leaves a visible gap even in a copy), Hash
// the SHA-256 of the message bytes as stored, ID "<seq>-<first 8 hex of Hash>" — the id a person
// quotes (it is in the deal's timeline entry). Hash and ID are not stored: readers compute them.
type AuditEvent struct {
	ID           string    `json:"id,omitempty"`
	Seq          uint64    `json:"seq,omitempty"`
	V            int       `json:"v"`
	Time         time.Time `json:"time"`
	Action       string    `json:"action"`
	Portal       string    `json:"portal,omitempty"` // member_id
	BitrixUserID int       `json:"bitrix_user_id,omitempty"`
	Login        string    `json:"login,omitempty"`
	JobID        string    `json:"job_id,omitempty"`
	BatchID      string    `json:"batch_id,omitempty"`
	SHA256Before string    `json:"sha256_before,omitempty"`
	SHA256After  string    `json:"sha256_after,omitempty"`
	Credential   string    `json:"credential,omitempty"`
	CertSerial   string    `json:"cert_serial,omitempty"`
	CertSubject  string    `json:"cert_subject,omitempty"`
	Outcome      string    `json:"outcome,omitempty"`
	Reason       string    `json:"reason,omitempty"`
	// Detail is free text for admin changes, enrolments and grants (never a secret or an OTP).
	Detail     string           `json:"detail,omitempty"`
	Checkpoint *AuditCheckpoint `json:"checkpoint,omitempty"`
	// Chain names the writer's own chain (issue 22): Seq is then the event's place in that chain and
	// PrevHash the hash of the chain's event before it. Empty: the one shared chain of older trails,
	// where Seq is the stream sequence.
	Chain    string `json:"chain,omitempty"`
	PrevHash string `json:"prev_hash,omitempty"`
	Hash     string `json:"hash,omitempty"`
}

// AuditCheckpoint is a signature by Signet's service key over the chain head it follows: the bytes
// signed are AuditCheckpointMessage(HeadSeq, HeadHash), hashed with SHA-256.
type AuditCheckpoint struct {
	HeadSeq  uint64 `json:"head_seq"`
	HeadHash string `json:"head_hash"`
	// KeyID is the hex SHA-256 of the service key's SubjectPublicKeyInfo.
	KeyID string `json:"key_id"`
	// Signature is base64 (PKCS#1 v1.5 for RSA keys, ASN.1 for ECDSA). A writer without the service
	// key (the intake, a CLI command) writes checkpoints without KeyID and Signature: they still tie
	// its chain into the checkpoint chain, and the next signed checkpoint covers them.
	Signature string `json:"signature"`
	// PrevCheckpoint is the SHA-256 of the checkpoint stored before this one (any writer's; empty for
	// the first): the checkpoints of all chains form one chain of their own (internal/audit).
	PrevCheckpoint string `json:"prev_checkpoint,omitempty"`
}

// AuditCheckpointMessage is what a checkpoint signs.
func AuditCheckpointMessage(seq uint64, hash string) []byte {
	return fmt.Appendf(nil, "signet-audit-checkpoint/v1 %d %s", seq, hash)
}

// AuditChainCheckpointMessage is what a checkpoint of a writer's own chain signs: that chain's head
// and the checkpoint stored before it.
func AuditChainCheckpointMessage(chain string, seq uint64, hash, prevCheckpoint string) []byte {
	return fmt.Appendf(nil, "signet-audit-checkpoint/v2 %s %d %s %s", chain, seq, hash, prevCheckpoint)
}

// Marshal writes the event with the current Version.
func (e *AuditEvent) Marshal() ([]byte, error) {
	e.V = Version
	return json.Marshal(e)
}

// DecodeAuditEvent reads an audit event, rejecting unknown versions.
func DecodeAuditEvent(data []byte) (*AuditEvent, error) {
	var e AuditEvent
	if err := decode("audit event", data, &e, func() int { return e.V }); err != nil {
		return nil, err
	}
	if e.Action == "" {
		return nil, fmt.Errorf("audit event: %w: no action", ErrInvalid)
	}
	return &e, nil
}

// AuditEventSubject is the subject an event is published on: signet.audit.<action>.<job>, so that one
// document's story is read with the filter signet.audit.*.<job> (AuditJobFilter) instead of a scan of
// the whole trail. Events without a job use the token "none".
func AuditEventSubject(action, jobID string) string {
	return AuditSubject(action) + "." + auditToken(jobID)
}

// AuditJobFilter is the subject filter of every event of one job.
func AuditJobFilter(jobID string) string { return "signet.audit.*." + auditToken(jobID) }

// auditToken makes a job id a single subject token. Ids are [A-Za-z0-9_-] in practice; anything else
// becomes '_' (readers compare JobID after filtering, so a collision only costs a skipped message).
func auditToken(id string) string {
	if id == "" {
		return "none"
	}
	b := []byte(id)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}
