package contracts

import (
	"encoding/json"
	"fmt"
	"time"
)

// JobKind says where a job came from; it chooses the subject and the consumer.
type JobKind string

const (
	KindRobot     JobKind = "robot"     // a business-process robot "Sign PDF"
	KindPlacement JobKind = "placement" // the Sign button in the deal card
	KindBatch     JobKind = "batch"     // bulk overnight signing under a batch grant
)

// Subject returns the SIGN subject for jobs of this kind.
func (k JobKind) Subject() string {
	if k == KindBatch {
		return SubjectSignBatch
	}
	return SubjectSignInteractive
}

// CallbackSubject returns the CALLBACK subject for results of jobs of this kind: interactive ones
// (robots, the Sign button) on SubjectCallback, batch ones on their own (ConsumerCallbackBatch).
func (k JobKind) CallbackSubject() string {
	if k == KindBatch {
		return SubjectCallbackBatch
	}
	return SubjectCallback
}

// Portal identifies the Bitrix24 portal a job belongs to. member_id is the stable key (it survives a
// domain change); the domain is carried for messages and links.
type Portal struct {
	MemberID string `json:"member_id"`
	Domain   string `json:"domain"`
}

// Document says which PDF to sign and where its signed version goes.
type Document struct {
	// URL of the PDF on the portal's own host (a robot file property, a Disk DOWNLOAD_URL), or for a
	// batch document `signet enqueue` uploaded, SharedStoragePrefix and the object's key. It may carry
	// an auth= token: never log it.
	URL string `json:"url,omitempty"`
	// DiskFileID is the Bitrix24 Disk file id when the document is a Disk file; the signed PDF then
	// becomes its new version (disk.file.uploadVersion).
	DiskFileID int `json:"disk_file_id,omitempty"`
	// FileField is a CRM item's "file" field (e.g. UF_CRM_1739432938 or ufCrm_1739432938) holding the
	// PDF; FileID the file in it (0: the field's newest file). The worker reads it with crm.item.get and
	// the signed PDF replaces that file with crm.item.update, keeping the field's other files.
	FileField string `json:"file_field,omitempty"`
	FileID    int    `json:"file_id,omitempty"`
	FileName  string `json:"file_name,omitempty"`
	// Source says which form of the robot's document property named the file (issue 19, must 4):
	// SourceDisk, SourceFileField, SourceDocumentGenerator or SourceURL; the workflow is told it.
	Source string `json:"source,omitempty"`
	// DocumentID is Bitrix24's document id of the workflow, e.g. ["crm","CCrmDocumentDeal","DEAL_1188"].
	DocumentID []string `json:"document_id,omitempty"`
	// EntityTypeID and EntityID name the CRM item (2 and the deal id for deals).
	EntityTypeID int `json:"entity_type_id,omitempty"`
	EntityID     int `json:"entity_id,omitempty"`
}

// Document sources (Document.Source).
const (
	SourceDisk              = "disk"
	SourceFileField         = "file_field"
	SourceDocumentGenerator = "document_generator"
	SourceURL               = "url"
)

// SharedStoragePrefix begins a Document.URL that names an object in Signet's own artefact storage
// instead of a file on a portal: "signet-store:incoming/<batch>/<n>.pdf". `signet enqueue` uploads a
// folder's PDFs there because the workers that sign them may run on other machines than the enqueue:
// the storage is what both sides share. Only batch jobs may carry it, and a worker reads only keys
// under incoming/ with it.
const SharedStoragePrefix = "signet-store:"

// IncomingPrefix is the part of Signet's storage a batch job may read through SharedStoragePrefix:
// `signet enqueue` uploads there, and a job can never name a signed file, evidence or a staging object.
const IncomingPrefix = "incoming/"

// Signer is the person the signature is made for.
type Signer struct {
	Login        string `json:"login"`
	BitrixUserID int    `json:"bitrix_user_id,omitempty"`
	// Authorization is how the request was authorised: "otp", "otp-not-required" or "grant".
	Authorization string `json:"authorization"`
	GrantID       string `json:"grant_id,omitempty"`
}

// Stamp are the options of the visible signature ("signet").
type Stamp struct {
	Visible  bool   `json:"visible"`
	Page     string `json:"page,omitempty"`     // "first" or "last"
	Position string `json:"position,omitempty"` // top-left … bottom-right
	Reason   string `json:"reason,omitempty"`
	Location string `json:"location,omitempty"`
	// Evidence: before the first signature, stamp the document id on every page and append a
	// certificate of completion with a QR code to the verification page.
	Evidence bool `json:"evidence,omitempty"`
	// Image is the picture drawn in the signet (issue 19, must 6): the signer's signature image and/or
	// the company stamp, as the intake re-encoded it (a PNG of at most MaxStampImage bytes,
	// pades.SanitiseImage). It travels in the job, covered by the job's signature, so a worker draws
	// exactly what the signer saw and needs no store of its own.
	Image []byte `json:"image,omitempty"`
}

// MaxStampImage bounds Stamp.Image: a re-encoded signature or stamp picture is a few tens of
// kilobytes, and the job must stay far below NATS's 1 MiB message limit.
const MaxStampImage = 256 << 10

// Reply says how the result goes back to Bitrix24.
type Reply struct {
	// EventToken completes the waiting robot with bizproc.event.send; empty for placement and batch jobs.
	EventToken string `json:"event_token,omitempty"`
	WorkflowID string `json:"workflow_id,omitempty"`
	// NotifyUserID is told of a failure with im.notify.system.add.
	NotifyUserID int `json:"notify_user_id,omitempty"`
	// WriteBack is where a bulk job's signed PDF goes (issue 19, must 3): WriteBackReplace (empty: the
	// default) puts it back into the CRM item, one upload per document; WriteBackLink keeps it in
	// Signet's storage and writes only a link and the status into the item, 50 items a `batch`.
	WriteBack WriteBack `json:"write_back,omitempty"`
}

// WriteBack is how a signed document reaches its CRM item.
type WriteBack string

const (
	WriteBackReplace WriteBack = ""
	WriteBackLink    WriteBack = "link"
)

// SignJob is one document to sign. Its ID is the idempotency key: the Nats-Msg-Id of its publish, the
// name of its stored artefacts, and the key of its result, so that a redelivered or re-published job is
// never signed twice.
type SignJob struct {
	V          int       `json:"v"`
	ID         string    `json:"id"`
	Kind       JobKind   `json:"kind"`
	BatchID    string    `json:"batch_id,omitempty"`
	Created    time.Time `json:"created"`
	Portal     Portal    `json:"portal"`
	Document   Document  `json:"document"`
	Signer     Signer    `json:"signer"`
	Credential string    `json:"credential"` // RFC 7512 PKCS#11 URI of the key, without PIN
	Stamp      Stamp     `json:"stamp"`
	Reply      Reply     `json:"reply"`
	// Language ("ru", a language of the catalogue) and TimeZone (an IANA name, "Europe/Moscow") are
	// how people read what the worker draws for this job: the visible stamp, the Document-ID stripe
	// and the certificate of completion (issue 18, must 3 and 4). The intake sets them: the portal's
	// language or the Sign dialog's LANG, the signer's Bitrix24 TIME_ZONE or signing.time_zone.
	// Empty: English, UTC. The signature's own time (/M, CMS) is UTC whatever they say.
	Language string `json:"language,omitempty"`
	TimeZone string `json:"time_zone,omitempty"`
	// Auth is the intake's signature over the job (jobauth.go); a worker refuses a job without a
	// valid, unexpired one before it touches a key or downloads anything.
	Auth *JobAuth `json:"auth,omitempty"`
}

// Validate checks the fields every worker relies on.
func (j *SignJob) Validate() error {
	switch {
	case j.ID == "":
		return fmt.Errorf("sign job: %w: no id", ErrInvalid)
	case j.Kind != KindRobot && j.Kind != KindPlacement && j.Kind != KindBatch:
		return fmt.Errorf("sign job %s: %w: unknown kind %q", j.ID, ErrInvalid, j.Kind)
	case j.Document.URL == "" && j.Document.DiskFileID == 0 && j.Document.FileField == "":
		return fmt.Errorf("sign job %s: %w: no document URL, Disk file id or CRM file field", j.ID, ErrInvalid)
	case j.Credential == "":
		return fmt.Errorf("sign job %s: %w: no credential", j.ID, ErrInvalid)
	case j.Portal.MemberID == "" && j.Kind != KindBatch:
		return fmt.Errorf("sign job %s: %w: no portal member_id", j.ID, ErrInvalid)
	case len(j.Stamp.Image) > MaxStampImage:
		return fmt.Errorf("sign job %s: %w: stamp image over %d bytes", j.ID, ErrInvalid, MaxStampImage)
	case len(j.Language) > 35 || len(j.TimeZone) > 64:
		return fmt.Errorf("sign job %s: %w: language or time zone longer than any BCP 47 tag or IANA zone name", j.ID, ErrInvalid)
	case j.Reply.WriteBack != WriteBackReplace && j.Reply.WriteBack != WriteBackLink:
		return fmt.Errorf("sign job %s: %w: unknown write-back mode %q", j.ID, ErrInvalid, j.Reply.WriteBack)
	case j.Reply.WriteBack == WriteBackLink && j.Document.FileField == "":
		return fmt.Errorf("sign job %s: %w: a link-only write-back needs a CRM item's file field", j.ID, ErrInvalid)
	}
	return nil
}

// Marshal writes the job with the current Version.
func (j *SignJob) Marshal() ([]byte, error) {
	j.V = Version
	return json.Marshal(j)
}

// DecodeSignJob reads a job, rejecting unknown versions and invalid jobs.
func DecodeSignJob(data []byte) (*SignJob, error) {
	var j SignJob
	if err := decode("sign job", data, &j, func() int { return j.V }); err != nil {
		return nil, err
	}
	if err := j.Validate(); err != nil {
		return nil, err
	}
	return &j, nil
}

// GrantRef names a batch grant in messages, logs, reports and audit events by the first characters of
// its id: the whole id authorises signing, so it is shown once, to the person who created the grant.
func GrantRef(id string) string {
	if len(id) <= 7 {
		return id
	}
	return id[:7] + "…"
}
