package contracts

import (
	"encoding/json"
	"fmt"
	"time"
)

// Audit actions. The action is the last token of the event's subject.
const (
	AuditRequestAccepted = "request_accepted"
	AuditRequestRefused  = "request_refused"
	AuditJobSigned       = "job_signed"
	AuditJobFailed       = "job_failed"
	AuditCalledBack      = "called_back"
)

// AuditEvent is one step in a document's story. PrevHash chains it to the event before it in the AUDIT
// stream (the hash chain is built by the audit writer).
type AuditEvent struct {
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
	Outcome      string    `json:"outcome,omitempty"`
	Reason       string    `json:"reason,omitempty"`
	PrevHash     string    `json:"prev_hash,omitempty"`
}

// Marshal writes the event with the current Version.
func (e *AuditEvent) Marshal() ([]byte, error) {
	e.V = Version
	return json.Marshal(e)
}

// DecodeAuditEvent reads an audit event, rejecting unknown versions.
func DecodeAuditEvent(data []byte) (*AuditEvent, error) {
	var e AuditEvent
	if err := decode("audit event", data, &e); err != nil {
		return nil, err
	}
	if e.Action == "" {
		return nil, fmt.Errorf("audit event: %w: no action", ErrInvalid)
	}
	return &e, nil
}
