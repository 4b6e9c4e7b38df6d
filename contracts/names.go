package contracts

// Streams. Names are upper case so that `nats stream ls` and `nats consumer report` read clearly.
const (
	// StreamSign is the work queue of sign jobs (WorkQueue retention: a job is removed once acked).
	StreamSign = "SIGN"
	// StreamCallback holds results on their way back to Bitrix24.
	StreamCallback = "CALLBACK"
	// StreamAudit is the append-only, hash-chained audit trail.
	StreamAudit = "AUDIT"
	// StreamDead holds jobs and callbacks that will never succeed, with their reason.
	StreamDead = "DEAD"
)

// Subjects. Interactive jobs (robot calls, the Sign button) and batch jobs have their own subjects and
// consumers, so that a night batch never delays a person waiting in a deal card.
const (
	SubjectSignAll         = "signet.sign.>"
	SubjectSignInteractive = "signet.sign.interactive"
	SubjectSignBatch       = "signet.sign.batch"
	SubjectCallbackAll     = "signet.callback.>"
	SubjectCallback        = "signet.callback.result"
	SubjectCallbackBatch   = "signet.callback.batch"
	SubjectAuditAll        = "signet.audit.>"
	SubjectDeadAll         = "signet.dead.>"
	SubjectDeadSign        = "signet.dead.sign"
	SubjectDeadCallback    = "signet.dead.callback"
	// SubjectKeysAll is the key-administration service every worker answers (scatter-gather): the
	// tokens' state, every credential, an operation on a credential named by URI. Only the intake's
	// NATS user may request it (deploy/nats); the request names the administrator, whom the worker
	// records in the audit trail (keyring/keyadmin, issue 21 must 4).
	SubjectKeysAll = "signet.keys.all"
	// SubjectKeysTokenPrefix + hex(token name) reaches one worker holding that token (queue group
	// QueueKeys): making a key and certificate on it, listing it.
	SubjectKeysTokenPrefix = "signet.keys.token."
	// SubjectKeysAny covers the service's subjects, for permissions.
	SubjectKeysAny = "signet.keys.>"
	// QueueKeys is the queue group of the token subjects: one worker answers.
	QueueKeys = "signet-keys"
)

// AuditSubject is the subject of one audit event; the action is its last token so that consumers can
// filter, e.g. signet.audit.job_signed.
func AuditSubject(action string) string { return "signet.audit." + action }

// Durable consumer names.
const (
	ConsumerSignInteractive = "sign-interactive"
	ConsumerSignBatch       = "sign-batch"
	ConsumerCallback        = "callback"
	// ConsumerCallbackBatch takes the callbacks of batch jobs, so that one portal's night batch does
	// not hold up another portal's robots and Sign buttons (issue 21 must 2): each waits for its own
	// portal's Bitrix24 budget, and in one queue the thousands of a batch would stand in front.
	ConsumerCallbackBatch = "callback-batch"
)

// Message headers.
const (
	// HeaderMsgID is JetStream's de-duplication header; Signet sets it to the job id.
	HeaderMsgID = "Nats-Msg-Id"
	// HeaderReason says why a message was moved to DEAD.
	HeaderReason = "Signet-Dead-Reason"
)

// KV buckets that hold Signet's state.
const (
	BucketPortals = "signet_portals"
	BucketJobs    = "signet_jobs"
	// BucketBudget holds each Bitrix24 portal's shared REST budget and OVERLOAD pause
	// (bitrix24/budget): rate.<member_id> and pause.<member_id>.
	BucketBudget = "signet_b24_budget"
	// BucketRequests holds the requests to sign that wait for their signer (producer/requests): one
	// key per request, named by its job id, so a request and the job it becomes are one thing.
	BucketRequests = "signet_requests"
	// BucketSecrets holds what every intake must share and nobody may read in the clear: the Sign
	// dialog's form key, the download-link key, the admin API token and the local administrators'
	// password hashes, each sealed under security.secret_keys_file (issue 21 must 1).
	BucketSecrets = "signet_secrets"
)
