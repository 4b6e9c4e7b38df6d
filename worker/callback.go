package worker

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/portals"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/storage"
)

// Batcher combines small REST commands of many callbacks into batch requests (bitrix24.Batcher).
type Batcher interface {
	Do(ctx context.Context, memberID string, cmds []bitrix24.BatchCommand) ([]bitrix24.BatchResult, error)
}

// Caller delivers a job's result to Bitrix24:
//  1. the signed PDF replaces the original — a new version of the Disk file (disk.file.uploadVersion),
//     or the file in the CRM item's file field (crm.item.update, the field's other files kept as
//     {"id":N}); a document given as a URL has nothing to replace;
//  2. the deal's timeline records the signature (crm.timeline.comment.add);
//  3. the waiting robot completes (bizproc.event.send), with signed=N and errorText on failure, and on
//     failure the requester is told (im.notify.system.add).
//
// Uploads are single calls (never inside batch, see bitrix24.Batcher); steps 2 and 3 of many jobs go
// through Batch in shared batch requests. Each step is recorded in the jobs bucket when done, so a
// redelivered callback repeats none that succeeded, and a callback never signs.
type Caller struct {
	Portal  Portal
	Batch   Batcher // nil: small commands go one by one (tests, tools)
	Store   storage.Store
	Results *Results
	LinkTTL time.Duration
	Log     *zap.Logger
	// Portals gives the portal's recorded language, in which the timeline comment, the workflow log
	// and the notification are written (issue 18, must 2: "in messages to a portal, the portal's
	// language"). nil, or a portal without one: English.
	Portals PortalLanguages
	// LinkField and StatusField are the item fields of the link-only write-back (callback_link.go,
	// bitrix24.link_field and bitrix24.status_field); LinkWait bounds how long a portal's first link
	// write waits for others to share its batch request (0: DefaultLinkWait).
	LinkField, StatusField string
	LinkWait               time.Duration

	linksOnce sync.Once
	gatherer  *linkGatherer
}

// PortalLanguages is what the callbacks need of bitrix24/portals: a portal's record, for its language.
type PortalLanguages interface {
	Get(ctx context.Context, memberID string) (*portals.Portal, uint64, error)
}

// lang is the Localizer of the portal's language. A registry that cannot answer now costs nothing but
// the language: the message goes out in English rather than waiting.
func (c *Caller) lang(ctx context.Context, memberID string) *i18n.Localizer {
	if c.Portals != nil {
		if p, _, err := c.Portals.Get(ctx, memberID); err == nil {
			return i18n.For(i18n.FromBitrix24(p.Language))
		}
	}
	return i18n.For(i18n.Fallback)
}

// Return values of the robot (RETURN_PROPERTIES registered with bizproc.robot.add).
const (
	RetSigned             = "signed"
	RetSignedFileURL      = "signedFileUrl"
	RetDocumentSHA256     = "documentSha256"
	RetCertificateSubject = "certificateSubject"
	RetCertificateSerial  = "certificateSerial"
	RetSignedAt           = "signedAt"
	RetErrorText          = "errorText"
	// Issue 19, must 4: what a process designer branches on. RetOutcome is signed, declined, expired
	// or failed; RetOutcomeReason says why it is not signed (the signer's words for declined).
	RetOutcome        = "outcome"
	RetOutcomeReason  = "outcomeReason"
	RetSignedFileID   = "signedFileId"
	RetSigner         = "signer"
	RetDocumentSource = "documentSource"
)

// documentReturns are the return values every outcome carries: who was asked to sign and which form
// of the document property was used (contracts.Document.Source).
func documentReturns(cb *contracts.Callback, outcome contracts.Outcome) map[string]any {
	signer := cb.Signer.Login
	if cb.Signer.BitrixUserID > 0 {
		signer = fmt.Sprintf("user_%d", cb.Signer.BitrixUserID)
	}
	return map[string]any{RetOutcome: string(outcome), RetSigner: signer, RetDocumentSource: cb.Document.Source}
}

// signedFileID names the portal file that now holds the signed PDF: the Disk file (its new version),
// or the new file in the CRM file field (the field code when the portal's answer did not show it).
func signedFileID(cb *contracts.Callback, steps Steps) string {
	switch {
	case cb.Document.DiskFileID != 0:
		return fmt.Sprint(cb.Document.DiskFileID)
	case cb.Document.FileField != "" && steps.SignedFileID != 0:
		return fmt.Sprint(steps.SignedFileID)
	case cb.Document.FileField != "":
		return cb.Document.FileField
	}
	return ""
}

// step is one small REST command of a callback and the flag it sets when done.
type step struct {
	name   string // for logs
	method string
	params map[string]any
	done   func(*Steps)
	// mustBeTrue: the result must be JSON true (bizproc.event.send).
	mustBeTrue bool
	// unsure, when set, records that the step may have run although no answer said so.
	unsure func(*Steps)
}

// commentMark is the part of a job's timeline comment that names it: "Signet job <id>,".
func commentMark(jobID string) string { return "Signet job " + jobID + "," }

// commentExists looks through the deal's newest timeline comments for the job's own. Only the first
// page (the 50 newest) is read: a retry follows its first attempt by seconds or minutes. A portal
// that refuses the lookup (no permission) is answered with "not found", which at worst repeats the
// comment; a portal that cannot be reached makes the callback retry later.
func (c *Caller) commentExists(ctx context.Context, cb *contracts.Callback) (bool, error) {
	var list []struct {
		Comment string `json:"COMMENT"`
	}
	err := c.Portal.Call(ctx, cb.Portal.MemberID, "crm.timeline.comment.list", map[string]any{
		"filter": map[string]any{"ENTITY_ID": cb.Document.EntityID, "ENTITY_TYPE": "deal"},
		"order":  map[string]any{"ID": "DESC"},
	}, &list)
	if err != nil {
		if IsPermanent(classify(err)) {
			c.Log.Warn("cannot list the deal's timeline comments; the comment may be repeated", zap.String("job_id", cb.JobID), zap.Error(err))
			return false, nil
		}
		return false, fmt.Errorf("looking for the timeline comment of job %s: %w", cb.JobID, err)
	}
	mark := commentMark(cb.JobID)
	for _, cm := range list {
		if strings.Contains(cm.Comment, mark) {
			return true, nil
		}
	}
	return false, nil
}

// Deliver performs the callback's remaining steps. redelivered says an earlier delivery of this
// callback may have got part of the way (a worker died, or an answer was lost).
func (c *Caller) Deliver(ctx context.Context, cb *contracts.Callback, redelivered bool) error {
	steps, err := c.Results.Steps(ctx, cb.JobID)
	if err != nil {
		return fmt.Errorf("callback %s: reading its steps: %w", cb.JobID, err)
	}
	member := cb.Portal.MemberID
	if member == "" {
		return c.Results.SaveOutcome(ctx, cb, "") // a local batch job: nothing to tell a portal
	}
	if cb.Outcome.Unsigned() {
		return c.deliverFailure(ctx, cb, steps)
	}
	s := cb.Signed
	l := c.lang(ctx, member)
	writeBack := ""
	if !steps.Uploaded && cb.Document.DiskFileID != 0 && redelivered {
		// An earlier delivery may have uploaded the version and lost the answer: a second upload
		// would add an identical version to the file's history.
		done, err := c.diskHasSignedVersion(ctx, cb)
		if err != nil {
			return err
		}
		if done {
			steps.Uploaded = true
			if err := c.Results.SaveSteps(ctx, cb.JobID, steps); err != nil {
				return err
			}
		}
	}
	linkOnly := cb.Reply.WriteBack == contracts.WriteBackLink
	if linkOnly {
		if writeBack, err = c.deliverLinkWrite(ctx, cb, &steps, l); err != nil {
			return err
		}
	}
	if !linkOnly && !steps.Uploaded && (cb.Document.DiskFileID != 0 || cb.Document.FileField != "") {
		var err error
		if cb.Document.DiskFileID != 0 {
			err = c.uploadVersion(ctx, cb)
		} else {
			steps.SignedFileID, err = c.replaceCRMFile(ctx, cb, redelivered)
		}
		if err != nil {
			if !IsPermanent(err) {
				return err
			}
			writeBack = writeBackText(l, err, cb.JobID)
			c.Log.Warn("write-back refused by the portal", zap.String("job_id", cb.JobID), zap.Error(err))
		}
		if err == nil && steps.SignedFileID != 0 { // a rerun of the selection skips the item (producer/bulk)
			if err := c.Results.RecordSignedFile(ctx, member, cb.Document.EntityTypeID, cb.Document.EntityID, steps.SignedFileID, cb.JobID); err != nil {
				return err
			}
		}
		steps.Uploaded = true
		if err := c.Results.SaveSteps(ctx, cb.JobID, steps); err != nil {
			return err
		}
	}
	// The link mode writes no timeline comment: the item's link and status are its record, and a
	// comment per item would double the batch requests.
	var todo []step
	if !linkOnly && cb.Document.EntityTypeID == 2 && cb.Document.EntityID != 0 && !steps.Commented && (redelivered || steps.CommentUnsure) {
		// Bitrix24 has no idempotency key for comments: look before adding a second one.
		found, err := c.commentExists(ctx, cb)
		if err != nil {
			return err
		}
		if found {
			steps.Commented = true
			if err := c.Results.SaveSteps(ctx, cb.JobID, steps); err != nil {
				return err
			}
		}
	}
	if !linkOnly && cb.Document.EntityTypeID == 2 && cb.Document.EntityID != 0 && !steps.Commented {
		// commentMark stays the same in every language: commentExists finds the comment by it.
		// The signing time in the signer's zone with its offset (issue 18, must 4); UTC for a job
		// without one, or whose zone this worker cannot load.
		zone, err := i18n.LoadZone(cb.TimeZone)
		if err != nil {
			zone = time.UTC
		}
		comment := l.T("callback.comment.signed", fileName(cb), cb.Signer.Login, s.CertificateSubject, s.CertificateSerial,
			l.DateTime(s.SignedAt.In(zone)), s.SHA256After, commentMark(cb.JobID), s.AuditID)
		todo = append(todo, step{name: "timeline comment", method: "crm.timeline.comment.add",
			params: map[string]any{"fields": map[string]any{"ENTITY_ID": cb.Document.EntityID, "ENTITY_TYPE": "deal", "COMMENT": comment}},
			done:   func(s *Steps) { s.Commented = true },
			unsure: func(s *Steps) { s.CommentUnsure = true }})
	}
	if cb.Reply.EventToken != "" && !steps.Sent {
		link, err := c.Store.URL(ctx, s.PDFKey, c.LinkTTL)
		if err != nil {
			return fmt.Errorf("download link for job %s: %w", cb.JobID, err)
		}
		ret := documentReturns(cb, contracts.OutcomeSigned)
		for k, v := range map[string]any{
			RetSigned: "Y", RetSignedFileURL: link, RetDocumentSHA256: s.SHA256After,
			RetCertificateSubject: s.CertificateSubject, RetCertificateSerial: s.CertificateSerial,
			RetSignedAt: s.SignedAt.UTC().Format(time.RFC3339), RetErrorText: writeBack, RetOutcomeReason: writeBack,
		} {
			ret[k] = v
		}
		if writeBack == "" && !linkOnly { // in the link mode the portal holds no signed file
			ret[RetSignedFileID] = signedFileID(cb, steps)
		}
		msg := l.T("callback.log.signed", cb.Signer.Login, s.CertificateSubject, s.CertificateSerial, s.SHA256After)
		todo = append(todo, eventSend(cb, ret, msg))
	}
	if err := c.run(ctx, cb, &steps, todo); err != nil {
		return err
	}
	return c.Results.SaveOutcome(ctx, cb, writeBack)
}

func eventSend(cb *contracts.Callback, ret map[string]any, msg string) step {
	return step{name: "bizproc.event.send", method: "bizproc.event.send", mustBeTrue: true,
		params: map[string]any{"EVENT_TOKEN": cb.Reply.EventToken, "RETURN_VALUES": ret, "LOG_MESSAGE": msg},
		done:   func(s *Steps) { s.Sent = true }}
}

func (c *Caller) deliverFailure(ctx context.Context, cb *contracts.Callback, steps Steps) error {
	var todo []step
	l := c.lang(ctx, cb.Portal.MemberID)
	// The failure in the portal's language, from its kind (failure_text.go); cb.Error, the English
	// detail, stays in the worker's log and the audit trail.
	why := failureText(l, cb)
	if cb.Reply.EventToken != "" && !steps.Sent {
		ret := documentReturns(cb, cb.Outcome)
		ret[RetSigned], ret[RetErrorText], ret[RetOutcomeReason] = "N", why, why
		msg := l.T("callback.log.failed", why)
		switch cb.Outcome {
		case contracts.OutcomeDeclined:
			msg = l.T("callback.log.declined", cb.Signer.Login, why)
		case contracts.OutcomeExpired:
			msg = l.T("callback.log.expired", why)
		}
		todo = append(todo, eventSend(cb, ret, msg))
	}
	// The signer who declined, or whose request expired, is not told again what they know (the
	// inbox shows it); a failure is news to them.
	if cb.Outcome == contracts.OutcomeFailed && cb.Reply.NotifyUserID != 0 && !steps.Notified {
		todo = append(todo, step{name: "failure notification", method: "im.notify.system.add",
			params: map[string]any{
				"USER_ID": cb.Reply.NotifyUserID,
				"MESSAGE": l.T("callback.notify.failed", fileName(cb), why),
				"TAG":     "signet-" + cb.JobID,
			},
			done: func(s *Steps) { s.Notified = true }})
	}
	if err := c.run(ctx, cb, &steps, todo); err != nil {
		return err
	}
	return c.Results.SaveOutcome(ctx, cb, "")
}

// run sends the steps (through the Batcher when there is one, all in one batch request in order)
// and records each that is done. A step the portal refused for good is logged and counted as done:
// retrying cannot help and nobody else can be told. A step that may succeed later makes run return
// a retryable error after the finished steps are recorded.
func (c *Caller) run(ctx context.Context, cb *contracts.Callback, steps *Steps, todo []step) error {
	if len(todo) == 0 {
		return nil
	}
	member := cb.Portal.MemberID
	results := make([]error, len(todo))
	if c.Batch != nil {
		cmds := make([]bitrix24.BatchCommand, len(todo))
		for i, st := range todo {
			cmds[i] = bitrix24.BatchCommand{Method: st.method, Params: st.params}
		}
		res, berr := c.Batch.Do(ctx, member, cmds)
		for i := range todo {
			if results[i] = commandResult(res, berr, i, todo[i].method); results[i] == nil {
				results[i] = checkTrue(todo[i], res[i].Result)
			}
		}
	} else {
		for i, st := range todo {
			var raw json.RawMessage
			if err := c.Portal.Call(ctx, member, st.method, st.params, &raw); err != nil {
				results[i] = err
				continue
			}
			results[i] = checkTrue(st, raw)
		}
	}
	var retry error
	changed := false
	for i, st := range todo {
		err := classify(results[i]) // a command not executed (halt or rate limit) is retried later
		switch {
		case err == nil:
			st.done(steps)
			changed = true
		case IsPermanent(err):
			if st.method == "bizproc.event.send" {
				c.Log.Error("the portal refused bizproc.event.send; the workflow cannot be completed", zap.String("job_id", cb.JobID), zap.Error(err))
			} else {
				c.Log.Warn("the portal refused a callback step", zap.String("job_id", cb.JobID), zap.String("step", st.name), zap.Error(err))
			}
			st.done(steps)
			changed = true
		default:
			retry = errors.Join(retry, fmt.Errorf("%s for job %s: %w", st.name, cb.JobID, err))
			// No answer from the portal (a network error, a timeout): it may have run the command. An
			// error answer (*bitrix24.Error) or "not executed" means it did not.
			var answered *bitrix24.Error
			if st.unsure != nil && !errors.Is(results[i], bitrix24.ErrBatchNotExecuted) && !errors.As(results[i], &answered) {
				st.unsure(steps)
				changed = true
			}
		}
	}
	if changed {
		if err := c.Results.SaveSteps(ctx, cb.JobID, *steps); err != nil {
			return errors.Join(retry, err)
		}
	}
	return retry
}

// commandResult is the outcome of command i of a batch sent through the Batcher: nil when it ran
// (res[i].Result holds its answer), its own error, the request's error, or "not executed".
func commandResult(res []bitrix24.BatchResult, berr error, i int, method string) error {
	switch {
	case i < len(res) && res[i].Err == nil && res[i].Result != nil:
		return nil
	case i < len(res) && res[i].Err != nil && berr == nil:
		return res[i].Err
	case berr != nil:
		return berr
	}
	return fmt.Errorf("%w: no result for %s", bitrix24.ErrBatchNotExecuted, method)
}

// checkTrue: bizproc.event.send answers true; anything else is an unexpected answer (retried).
func checkTrue(st step, raw json.RawMessage) error {
	if !st.mustBeTrue {
		return nil
	}
	var ok bool
	if json.Unmarshal(raw, &ok) != nil || !ok {
		return fmt.Errorf("%w: %s returned %.40s", bitrix24.ErrUnexpectedAnswer, st.method, raw)
	}
	return nil
}

// signedBase64 reads the signed PDF back from storage (which checks its SHA-256 on the way).
func (c *Caller) signedBase64(ctx context.Context, cb *contracts.Callback) (string, error) {
	rc, _, err := c.Store.Get(ctx, cb.Signed.PDFKey)
	if err != nil {
		return "", fmt.Errorf("reading the signed PDF of job %s: %w", cb.JobID, err)
	}
	var b strings.Builder
	enc := base64.NewEncoder(base64.StdEncoding, &b)
	_, err = io.Copy(enc, rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	enc.Close()
	if err != nil {
		return "", fmt.Errorf("reading the signed PDF of job %s: %w", cb.JobID, err)
	}
	return b.String(), nil
}

// diskHasSignedVersion says whether the Disk file's current version is the signed PDF: same size,
// then same SHA-256 (downloaded only when the size matches).
func (c *Caller) diskHasSignedVersion(ctx context.Context, cb *contracts.Callback) (bool, error) {
	var file struct {
		Size        json.Number `json:"SIZE"`
		DownloadURL string      `json:"DOWNLOAD_URL"`
	}
	err := c.Portal.Call(ctx, cb.Portal.MemberID, "disk.file.get", map[string]any{"id": cb.Document.DiskFileID}, &file)
	if err != nil {
		if IsPermanent(classify(err)) {
			return false, nil // the upload itself will say what is wrong
		}
		return false, fmt.Errorf("looking at Disk file %d before uploading again: %w", cb.Document.DiskFileID, err)
	}
	if size, err := file.Size.Int64(); err != nil || size != cb.Signed.Size || file.DownloadURL == "" {
		return false, nil
	}
	h := sha256.New()
	if _, err := c.Portal.Download(ctx, cb.Portal.MemberID, file.DownloadURL, cb.Signed.Size, h); err != nil {
		return false, fmt.Errorf("reading Disk file %d before uploading again: %w", cb.Document.DiskFileID, err)
	}
	return hex.EncodeToString(h.Sum(nil)) == cb.Signed.SHA256After, nil
}

// uploadVersion makes the signed PDF the Disk file's new version (reference §6.1); history is kept.
func (c *Caller) uploadVersion(ctx context.Context, cb *contracts.Callback) error {
	b64, err := c.signedBase64(ctx, cb)
	if err != nil {
		return err
	}
	err = c.Portal.Call(ctx, cb.Portal.MemberID, "disk.file.uploadVersion", map[string]any{
		"id": cb.Document.DiskFileID, "fileContent": []string{fileName(cb), b64},
	}, nil)
	return classify(err)
}

func fileName(cb *contracts.Callback) string {
	if cb.Signed != nil && cb.Signed.FileName != "" {
		return cb.Signed.FileName
	}
	if cb.Document.FileName != "" {
		return cb.Document.FileName
	}
	return "document.pdf"
}
