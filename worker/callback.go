package worker

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/storage"
)

// Caller delivers a job's result to Bitrix24: the signed PDF replaces the original Disk file
// (disk.file.uploadVersion), the deal's timeline records the signature (crm.timeline.comment.add), and
// the waiting robot completes (bizproc.event.send). Each step is recorded when done, so a redelivered
// callback repeats none that succeeded; a callback never signs.
type Caller struct {
	Portal  Portal
	Store   storage.Store
	Results *Results
	LinkTTL time.Duration
	Log     *zap.Logger
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
)

// Deliver performs the callback's remaining steps.
func (c *Caller) Deliver(ctx context.Context, cb *contracts.Callback) error {
	steps, err := c.Results.Steps(ctx, cb.JobID)
	if err != nil {
		return fmt.Errorf("callback %s: reading its steps: %w", cb.JobID, err)
	}
	member := cb.Portal.MemberID
	if member == "" {
		return nil // a local batch job: nothing to tell a portal
	}
	if cb.Outcome == contracts.OutcomeFailed {
		return c.deliverFailure(ctx, cb, steps)
	}
	s := cb.Signed
	writeBack := ""
	if cb.Document.DiskFileID != 0 && !steps.Uploaded {
		if err := c.uploadVersion(ctx, cb); err != nil {
			if !IsPermanent(err) {
				return err
			}
			writeBack = fmt.Sprintf("signed, but the new version could not be saved to Disk file %d: %v", cb.Document.DiskFileID, err)
		}
		steps.Uploaded = true
		if err := c.Results.SaveSteps(ctx, cb.JobID, steps); err != nil {
			return err
		}
	}
	if cb.Document.EntityTypeID == 2 && cb.Document.EntityID != 0 && !steps.Commented {
		comment := fmt.Sprintf("Document %s signed by %s with certificate %s, serial %s, at %s UTC. SHA-256 %s. Signet job %s.",
			fileName(cb), cb.Signer.Login, s.CertificateSubject, s.CertificateSerial, s.SignedAt.Format("2006-01-02 15:04:05"), s.SHA256After, cb.JobID)
		err := c.Portal.Call(ctx, member, "crm.timeline.comment.add", map[string]any{"fields": map[string]any{
			"ENTITY_ID": cb.Document.EntityID, "ENTITY_TYPE": "deal", "COMMENT": comment,
		}}, nil)
		if err := classifyPortal(err); err != nil && !IsPermanent(err) {
			return fmt.Errorf("timeline comment for job %s: %w", cb.JobID, err)
		} else if err != nil {
			c.Log.Warn("timeline comment refused by the portal", zap.String("job_id", cb.JobID), zap.Error(err))
		}
		steps.Commented = true
		if err := c.Results.SaveSteps(ctx, cb.JobID, steps); err != nil {
			return err
		}
	}
	if cb.Reply.EventToken != "" && !steps.Sent {
		link, err := c.Store.URL(ctx, s.PDFKey, c.LinkTTL)
		if err != nil {
			return fmt.Errorf("download link for job %s: %w", cb.JobID, err)
		}
		ret := map[string]any{
			RetSigned: "Y", RetSignedFileURL: link, RetDocumentSHA256: s.SHA256After,
			RetCertificateSubject: s.CertificateSubject, RetCertificateSerial: s.CertificateSerial,
			RetSignedAt: s.SignedAt.Format(time.RFC3339), RetErrorText: writeBack,
		}
		msg := fmt.Sprintf("Signed by %s, certificate %s, serial %s", cb.Signer.Login, s.CertificateSubject, s.CertificateSerial)
		if err := c.send(ctx, cb, ret, msg); err != nil {
			return err
		}
		steps.Sent = true
		if err := c.Results.SaveSteps(ctx, cb.JobID, steps); err != nil {
			return err
		}
	}
	return nil
}

func (c *Caller) deliverFailure(ctx context.Context, cb *contracts.Callback, steps Steps) error {
	if cb.Reply.EventToken != "" && !steps.Sent {
		ret := map[string]any{RetSigned: "N", RetErrorText: cb.Error}
		if err := c.send(ctx, cb, ret, "Not signed: "+cb.Error); err != nil {
			return err
		}
		steps.Sent = true
		if err := c.Results.SaveSteps(ctx, cb.JobID, steps); err != nil {
			return err
		}
	}
	if cb.Reply.NotifyUserID != 0 && !steps.Notified {
		err := c.Portal.Call(ctx, cb.Portal.MemberID, "im.notify.system.add", map[string]any{
			"USER_ID": cb.Reply.NotifyUserID,
			"MESSAGE": fmt.Sprintf("Signet could not sign %s: %s", fileName(cb), cb.Error),
			"TAG":     "signet-" + cb.JobID,
		}, nil)
		if err := classifyPortal(err); err != nil && !IsPermanent(err) {
			return fmt.Errorf("notifying user %d of job %s: %w", cb.Reply.NotifyUserID, cb.JobID, err)
		} else if err != nil {
			c.Log.Warn("failure notification refused by the portal", zap.String("job_id", cb.JobID), zap.Error(err))
		}
		steps.Notified = true
		return c.Results.SaveSteps(ctx, cb.JobID, steps)
	}
	return nil
}

// send completes the robot. A permanent refusal (ACCESS_DENIED for a bad token) is logged and the
// callback ends: there is nobody else to tell.
func (c *Caller) send(ctx context.Context, cb *contracts.Callback, ret map[string]any, msg string) error {
	err := classifyPortal(c.Portal.EventSend(ctx, cb.Portal.MemberID, cb.Reply.EventToken, ret, msg))
	if err != nil && !IsPermanent(err) {
		return fmt.Errorf("bizproc.event.send for job %s: %w", cb.JobID, err)
	}
	if err != nil {
		c.Log.Error("the portal refused bizproc.event.send; the workflow cannot be completed", zap.String("job_id", cb.JobID), zap.Error(err))
	}
	return nil
}

// uploadVersion replaces the Disk file with the signed PDF, read back from storage (which checks its
// SHA-256 on the way).
func (c *Caller) uploadVersion(ctx context.Context, cb *contracts.Callback) error {
	rc, _, err := c.Store.Get(ctx, cb.Signed.PDFKey)
	if err != nil {
		return fmt.Errorf("reading the signed PDF of job %s: %w", cb.JobID, err)
	}
	var b strings.Builder
	enc := base64.NewEncoder(base64.StdEncoding, &b)
	_, err = io.Copy(enc, rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	enc.Close()
	if err != nil {
		return fmt.Errorf("reading the signed PDF of job %s: %w", cb.JobID, err)
	}
	err = c.Portal.Call(ctx, cb.Portal.MemberID, "disk.file.uploadVersion", map[string]any{
		"id": cb.Document.DiskFileID, "fileContent": []string{fileName(cb), b.String()},
	}, nil)
	return classifyPortal(err)
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
