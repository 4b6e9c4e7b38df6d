package producer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/audit"
	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/internal/metrics"
	"github.com/signet-b24/signet/keyring"
	"github.com/signet-b24/signet/producer/identity"
	"github.com/signet-b24/signet/producer/requests"
)

// The robot's side of requests to sign (issue 19, must 1): a call whose signer needs a code and got
// none becomes a requests.Request; the signer is told in Bitrix24 (im.notify.system.add,
// bitrix24-people-notes.md §1) with a link to their inbox; the intake is the requests' Queue, so a
// request's job is authorised, audited and signed with the job key on the robot's own path.

// DefaultRequestDeadline is requests.deadline's default: three days to sign.
const DefaultRequestDeadline = 72 * time.Hour

// InboxPath is where the signer's inbox is served (inbox.go); a notification links to
// InboxPath?request=<id>.
const InboxPath = "/bitrix24/inbox"

func (in *Intake) requestDeadline() time.Duration {
	if in.RequestDeadline > 0 {
		return min(in.RequestDeadline, requests.MaxDeadline)
	}
	return DefaultRequestDeadline
}

// InboxLink is the link a notification gives the signer for request id.
func (in *Intake) InboxLink(id string) string {
	return strings.TrimRight(in.PublicURL, "/") + InboxPath + "?" + url.Values{"request": {id}}.Encode()
}

// pickCredential is the robot's credential property: empty for the signer's default, a PKCS#11 URI,
// or the friendly name of one of the signer's certificates (its object label, or token/object).
func pickCredential(v string, user *identity.User) (string, error) {
	if v == "" {
		if user.DefaultCredential == "" {
			return "", &PropertyError{PropCredential, "refusal.credential.empty", []any{user.Login}}
		}
		v = user.DefaultCredential
	}
	if len(v) >= 7 && strings.EqualFold(v[:7], "pkcs11:") {
		if _, err := keyring.ParseURI(v); errors.Is(err, keyring.ErrPINInURI) {
			// keyring's one rule (keyring.ErrPINInURI): a pin-value is refused with words that never hold the PIN.
			return "", &PropertyError{PropCredential, "refusal.credential.pin", nil}
		}
		return v, nil
	}
	var names []string
	for _, c := range user.Credentials {
		u, err := keyring.ParseURI(c)
		if err != nil || u.Object == "" {
			continue
		}
		if strings.EqualFold(u.Object, v) || strings.EqualFold(u.Token+"/"+u.Object, v) {
			return c, nil
		}
		names = append(names, u.Object)
	}
	if len(names) == 0 {
		names = []string{"—"}
	}
	return "", &PropertyError{PropCredential, "refusal.credential.unknown", []any{clip(v, 64), user.Login, strings.Join(names, ", ")}}
}

// checkCredentialPortal refuses a credential assigned to another portal (docs/security/tenancy.md)
// when the call becomes a request: the signer would meet the refusal only when signing.
func (in *Intake) checkCredentialPortal(ctx context.Context, job *contracts.SignJob) error {
	owner, err := in.Identity.CredentialPortal(ctx, job.Credential)
	if err != nil {
		return err
	}
	if owner != "" && owner != job.Portal.MemberID {
		return &refusal{key: "refusal.credential.otherPortal", args: []any{job.Credential}, err: identity.ErrCredentialNotMapped}
	}
	return nil
}

// resolveGenerated points job at a document-generator document's PDF (crm.documentgenerator.document.get,
// reference §6.3: pdfUrlMachine for servers), read when the job is made because its link carries a
// short-lived token. A document that is gone, or whose PDF is not made yet, is refused.
func (in *Intake) resolveGenerated(ctx context.Context, job *contracts.SignJob, id int) error {
	if in.Bitrix == nil {
		return fmt.Errorf("document-generator document %d: the intake has no Bitrix24 client", id)
	}
	var out struct {
		Document struct {
			Title         string `json:"title"`
			PDFURLMachine string `json:"pdfUrlMachine"`
			PDFURL        string `json:"pdfUrl"`
		} `json:"document"`
	}
	err := in.Bitrix.Call(ctx, job.Portal.MemberID, "crm.documentgenerator.document.get", map[string]any{"id": id}, &out)
	var apiErr *bitrix24.Error
	if errors.As(err, &apiErr) && (apiErr.HTTPStatus == http.StatusBadRequest || apiErr.HTTPStatus == http.StatusNotFound) {
		return &PropertyError{PropDocument, "refusal.document.generatorMissing", []any{strconv.Itoa(id)}}
	}
	if err != nil {
		return fmt.Errorf("looking up document-generator document %d: %w", id, err)
	}
	link := out.Document.PDFURLMachine
	if link == "" {
		link = out.Document.PDFURL
	}
	u, err := url.Parse(link)
	if link == "" || err != nil || !strings.EqualFold(u.Host, job.Portal.Domain) {
		return &PropertyError{PropDocument, "refusal.document.generatorMissing", []any{strconv.Itoa(id)}}
	}
	job.Document.URL = link
	job.Document.FileName = strings.TrimSpace(out.Document.Title)
	if job.Document.FileName == "" {
		job.Document.FileName = fmt.Sprintf("document-%d", id)
	}
	if !strings.HasSuffix(strings.ToLower(job.Document.FileName), ".pdf") {
		job.Document.FileName += ".pdf"
	}
	return nil
}

// requestTitle is how the signer's inbox and notification name the document before it is fetched.
func requestTitle(job *contracts.SignJob, docGen int) string {
	d := job.Document
	switch {
	case d.FileName != "":
		return d.FileName
	case d.DiskFileID != 0:
		return "Disk file " + strconv.Itoa(d.DiskFileID)
	case d.FileField != "":
		return d.FileField
	case docGen != 0:
		return DocumentGeneratorPrefix + strconv.Itoa(docGen)
	}
	return "document.pdf"
}

// nameLookupWithin bounds asking the portal for a file's name: the name only makes the request
// readable, so a slow portal costs the call little of its budget (callDeadline).
const nameLookupWithin = 5 * time.Second

// diskFileName is the name of the request's Disk file (disk.file.get NAME, reference §4.2), kept in
// the request so the inbox and the notification name the document as the signer knows it rather
// than "Disk file 102". "" when the document is not a Disk file or the portal does not say: the
// request is still made, under requestTitle's name; a file that is gone is found when it is signed.
func (in *Intake) diskFileName(ctx context.Context, log *zap.Logger, job *contracts.SignJob) string {
	if in.Bitrix == nil || job.Document.DiskFileID == 0 || job.Document.FileName != "" {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, nameLookupWithin)
	defer cancel()
	var file struct {
		Name string `json:"NAME"`
	}
	if err := in.Bitrix.Call(ctx, job.Portal.MemberID, "disk.file.get", map[string]any{"id": job.Document.DiskFileID}, &file); err != nil {
		log.Warn("request to sign: the Disk file's name is not known; the request names its id", zap.Int("disk_file_id", job.Document.DiskFileID), zap.Error(err))
		return ""
	}
	return clip(strings.TrimSpace(file.Name), 255)
}

// createRequest turns the claimed call into a request to sign; the workflow waits for its end. A
// request stored by an earlier copy of the call (ErrExists) is that copy's, told nobody twice.
func (in *Intake) createRequest(ctx context.Context, w http.ResponseWriter, log *zap.Logger, job *contracts.SignJob, claim *callClaim, plan *callPlan) {
	now := in.now().UTC()
	title := requestTitle(job, plan.docGen)
	if name := in.diskFileName(ctx, log, job); name != "" {
		title = name
	}
	r := &requests.Request{ID: job.ID, Job: *job, Created: now, Deadline: now.Add(plan.deadline), DocumentGeneratorID: plan.docGen,
		Title: title}
	err := in.Requests.Create(ctx, r)
	if err != nil && !errors.Is(err, requests.ErrExists) {
		claim.release(ctx)
		in.unavailable(w, log, job, "could not store the request to sign", err)
		return
	}
	if err := claim.set(ctx, callRecord{State: callRequested, Since: in.now().UTC(), Sent: true}); err != nil {
		log.Warn("robot call: request stored, but the call not marked; a repeat finds the request", zap.Error(err))
	}
	e := audit.JobEvent(contracts.AuditRequestAccepted, job)
	e.Outcome, e.Detail = contracts.AuditOK, "request to sign until "+r.Deadline.Format(time.RFC3339)
	in.record(ctx, e)
	log.Info("request to sign created", zap.String("login", job.Signer.Login), zap.Time("deadline", r.Deadline))
	metrics.IntakeTotal.WithLabelValues("robot", "requested").Inc()
	reply(w, http.StatusOK, answer{JobID: job.ID, Status: "requested"})
}

// NotifyRequest tells the signer of a new request in Bitrix24, in the portal's language, with the
// deadline in the signer's zone and a link to their inbox. TAG is the request's: a repeat replaces,
// never doubles, the notification (bitrix24-people-notes.md §1). It makes Intake a requests.Notifier.
func (in *Intake) NotifyRequest(ctx context.Context, r *requests.Request) error {
	if in.Bitrix == nil || r.Job.Reply.NotifyUserID == 0 {
		return nil
	}
	l := in.portalLang(ctx, r.Job.Portal.MemberID)
	zone, err := i18n.LoadZone(r.Job.TimeZone)
	if err != nil {
		zone = time.UTC
	}
	item := ""
	if len(r.Job.Document.DocumentID) == 3 {
		item = r.Job.Document.DocumentID[2]
	}
	deadline, link := l.DateTime(r.Deadline.In(zone)), in.InboxLink(r.ID)
	return in.Bitrix.Call(ctx, r.Job.Portal.MemberID, "im.notify.system.add", map[string]any{
		"USER_ID":     r.Job.Reply.NotifyUserID,
		"MESSAGE":     l.T("request.notify", r.Title, item, deadline, link),
		"MESSAGE_OUT": l.T("request.notify.out", r.Title, item, deadline, link),
		"TAG":         "signet-request-" + r.ID,
	}, nil)
}

// portalLang is the Localizer of a portal's recorded language (English when unknown).
func (in *Intake) portalLang(ctx context.Context, memberID string) *i18n.Localizer {
	if in.Portals != nil {
		if p, _, err := in.Portals.Get(ctx, memberID); err == nil {
			return i18n.For(i18n.FromBitrix24(p.Language))
		}
	}
	return i18n.For(i18n.Fallback)
}

// RequestQueue is the intake as the requests' Queue.
func (in *Intake) RequestQueue() requests.Queue { return requestQueue{in} }

type requestQueue struct{ in *Intake }

// Submit authorises the request's job with the grant (audited like every intake path) and queues it.
func (q requestQueue) Submit(ctx context.Context, r *requests.Request, grantID string) error {
	in := q.in
	job := r.Job
	job.Document.DocumentID = append([]string(nil), r.Job.Document.DocumentID...)
	if r.DocumentGeneratorID != 0 {
		if err := in.resolveGenerated(ctx, &job, r.DocumentGeneratorID); err != nil {
			return err
		}
	}
	d, err := in.authorize(ctx, &job, job.Signer.Login, "", grantID)
	if err != nil {
		return err
	}
	job.Signer.Authorization, job.Signer.GrantID = d.Method, d.GrantID
	dup, err := in.publishJob(ctx, &job)
	if err != nil {
		return err
	}
	in.Log.Info("sign job queued from a request to sign", zap.String("job_id", job.ID), zap.String("login", job.Signer.Login), zap.Bool("duplicate", dup))
	metrics.IntakeTotal.WithLabelValues("request", intakeResult(dup)).Inc()
	return nil
}

// End tells the workflow that the request ends unsigned, in the portal's language.
func (q requestQueue) End(ctx context.Context, r *requests.Request, outcome contracts.Outcome, reason string) error {
	in := q.in
	l := in.portalLang(ctx, r.Job.Portal.MemberID)
	switch {
	case outcome == contracts.OutcomeExpired:
		zone, err := i18n.LoadZone(r.Job.TimeZone)
		if err != nil {
			zone = time.UTC
		}
		deadline := l.DateTime(r.Deadline.In(zone))
		reason = l.T("request.expired", deadline)
		// The signer's "please sign" is replaced (same TAG), so it does not stay asking for what can
		// no longer be done.
		if in.Bitrix != nil && r.Job.Reply.NotifyUserID != 0 {
			item := ""
			if len(r.Job.Document.DocumentID) == 3 {
				item = r.Job.Document.DocumentID[2]
			}
			if err := in.Bitrix.Call(ctx, r.Job.Portal.MemberID, "im.notify.system.add", map[string]any{
				"USER_ID": r.Job.Reply.NotifyUserID, "MESSAGE": l.T("request.notify.expired", r.Title, item, deadline),
				"TAG": "signet-request-" + r.ID,
			}, nil); err != nil {
				in.Log.Warn("the signer's notification of an expired request was not replaced", zap.String("request", r.ID), zap.Error(err))
			}
		}
	case reason == "":
		reason = l.T("request.noReason")
	}
	e := audit.JobEvent(contracts.AuditRequestRefused, &r.Job)
	e.Outcome, e.Reason = contracts.AuditRefused, string(outcome)+": "+reason
	in.record(ctx, e)
	f := &contracts.Failure{Kind: contracts.FailureDeclined, Signer: r.Job.Signer.Login}
	if outcome == contracts.OutcomeExpired {
		f = &contracts.Failure{Kind: contracts.FailureExpired, Deadline: r.Deadline.UTC()}
	}
	return in.publishEnd(ctx, &r.Job, outcome, reason, f)
}

// publishEnd sends an unsigned end (a refusal at intake, a declined or expired request) straight to
// the callback stream, so the workflow learns why instead of waiting forever: reason in the portal's
// language, and failure its kind, which the callback worker words. "cb-<job id>" makes a repeat a
// duplicate JetStream drops; the worker completes a robot once per job id after that.
func (in *Intake) publishEnd(ctx context.Context, job *contracts.SignJob, outcome contracts.Outcome, reason string, failure *contracts.Failure) error {
	cb := contracts.NewCallback(job, nil, reason, in.now())
	cb.Outcome, cb.Failure = outcome, failure
	data, err := cb.Marshal()
	if err != nil {
		return err
	}
	_, err = in.JS.PublishMsg(ctx, &nats.Msg{
		Subject: contracts.SubjectCallback,
		Data:    data,
		Header:  nats.Header{contracts.HeaderMsgID: []string{"cb-" + job.ID}},
	}, jetstream.WithExpectStream(contracts.StreamCallback))
	if err != nil {
		return fmt.Errorf("queueing the %s end of job %s: %w", outcome, job.ID, err)
	}
	return nil
}
