package routes

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/storage"
)

// After completion (issue 20, must 5): everyone gets the final PDF by a link valid for
// routes.final_link_ttl — every party with an e-mail by mail, the originator and the internal
// parties by a Bitrix24 notification — and routes.delete_after after the route ended the sweeper
// deletes its files (every revision and the certificate) and records it in the audit trail.
//
// The link is Signet's own (FinalPath), not a storage link: presigned S3 links hold at most seven
// days and the default here is fourteen. It carries a random token of which the route keeps only
// the SHA-256, so neither the route record nor `signet route status --json` holds a usable link.

// Mailer sends one e-mail (internal/mail.Sender).
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

// FinalPath is where the final document's link points: FinalPath/<route>/<token>, and
// FinalPath/<route>/<token>/certificate for the certificate of completion.
const FinalPath = "/routes/final/"

// DefaultFinalLinkTTL and DefaultDeleteAfter are the settings' defaults (the seeds: 14 days).
const (
	DefaultFinalLinkTTL = 14 * 24 * time.Hour
	DefaultDeleteAfter  = 30 * 24 * time.Hour
)

// ErrLinkInvalid: a final link that does not match, expired, or whose files were deleted. The
// page says the same for each, so a guess learns nothing.
var ErrLinkInvalid = errors.New("this link is not valid or has expired; ask the person who sent the document for a copy")

func (e *Engine) finalLinkTTL() time.Duration {
	if e.FinalLinkTTL > 0 {
		return e.FinalLinkTTL
	}
	return DefaultFinalLinkTTL
}

func hashToken(tok string) string {
	s := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(s[:])
}

// deliver makes the final link and sends it, once per route (Delivered is set by compare-and-set
// before anything is sent, so two processes never send twice). A failed send is logged and
// audited; the originator's notification and the route page still have the document.
func (e *Engine) deliver(ctx context.Context, routeID string) error {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	tok := hex.EncodeToString(b[:])
	r, changed, err := e.Store.change(ctx, routeID, func(r *Route) (bool, error) {
		if r.State != Completed || (r.Completion != nil && r.Completion.Delivered) {
			return false, nil
		}
		if e.Bitrix == nil && e.Mail == nil && r.Portal.MemberID != "" {
			return false, nil // a CLI process: the serving intake's sweeper delivers
		}
		if r.Completion == nil {
			r.Completion = &Completion{Since: e.now()}
		}
		r.Completion.Delivered, r.Completion.LinkHash, r.Completion.LinkExpires = true, hashToken(tok), e.now().Add(e.finalLinkTTL())
		return true, nil
	})
	if err != nil || !changed {
		return err
	}
	link := strings.TrimRight(e.PublicURL, "/") + FinalPath + r.ID + "/" + tok
	e.finalLinks.Store(r.ID, link)
	l := e.lang(r)
	until := l.DateTime(r.Completion.LinkExpires)
	subject := l.T("route.final.subject", r.title())
	body := l.T("route.final.body", r.title(), link, until, link+"/certificate")
	var sent, failed []string
	seen := map[string]bool{}
	for _, st := range r.Steps {
		for _, p := range st.Parties {
			addr := strings.ToLower(p.Email)
			if addr == "" || seen[addr] {
				continue
			}
			seen[addr] = true
			if e.Mail == nil {
				failed = append(failed, p.Who()+" (no mail configured)")
				continue
			}
			if err := e.Mail.Send(ctx, p.Email, subject, body); err != nil {
				e.log().Warn("route: the final document's link was not mailed", zap.String("route", r.ID), zap.String("party", p.ID), zap.Error(err))
				failed = append(failed, p.Who())
				continue
			}
			sent = append(sent, p.Who())
		}
	}
	notified := e.notifyFinal(ctx, r, l.T("route.final.notify", r.title(), link, until))
	detail := "link until " + r.Completion.LinkExpires.Format(time.RFC3339) + "; mailed: " + strings.Join(sent, ", ") + "; notified in Bitrix24: " + strings.Join(notified, ", ")
	outcome, reason := contracts.AuditOK, ""
	if len(failed) > 0 {
		outcome, reason = contracts.AuditError, "not mailed: "+strings.Join(failed, ", ")
	}
	e.audit(ctx, r, nil, "delivered", outcome, reason, detail)
	return nil
}

// notifyFinal tells the originator and every internal party in Bitrix24; it returns who was told.
func (e *Engine) notifyFinal(ctx context.Context, r *Route, msg string) []string {
	if e.Bitrix == nil || r.Portal.MemberID == "" {
		return nil
	}
	ids := map[int]string{}
	if r.OriginatorID != 0 {
		ids[r.OriginatorID] = r.Originator
	}
	for _, st := range r.Steps {
		for _, p := range st.Parties {
			if p.Kind != KindExternal && p.BitrixUserID != 0 {
				ids[p.BitrixUserID] = p.Who()
			}
		}
	}
	var told []string
	for id, who := range ids {
		if err := e.Bitrix.Call(ctx, r.Portal.MemberID, "im.notify.system.add", map[string]any{
			"USER_ID": id, "MESSAGE": msg, "TAG": "signet-route-final-" + r.ID,
		}, nil); err != nil {
			e.log().Warn("route: a person was not notified of the final document", zap.String("route", r.ID), zap.Error(err))
			continue
		}
		told = append(told, who)
	}
	return told
}

// Final opens the final document (certificate: the sealed certificate of completion) of route
// routeID for the holder of a final link; ErrLinkInvalid for anything else.
func (e *Engine) Final(ctx context.Context, routeID, token string, certificate bool) (io.ReadCloser, string, error) {
	if !validID(routeID) || len(token) != 64 {
		return nil, "", ErrLinkInvalid
	}
	r, _, err := e.Store.Get(ctx, routeID)
	if err != nil {
		return nil, "", ErrLinkInvalid
	}
	c := r.Completion
	if r.State != Completed || c == nil || c.LinkHash == "" || !c.FilesDeleted.IsZero() || !e.now().Before(c.LinkExpires) ||
		subtle.ConstantTimeCompare([]byte(c.LinkHash), []byte(hashToken(token))) != 1 {
		return nil, "", ErrLinkInvalid
	}
	key, name := r.RevisionKey, r.Document.FileName
	if certificate {
		if key = c.CertificateSealedKey; key == "" {
			return nil, "", ErrLinkInvalid
		}
		name = "certificate-" + r.ID + ".pdf"
	}
	if name == "" {
		name = "document.pdf"
	}
	rc, _, err := e.Docs.Get(ctx, key)
	if err != nil {
		return nil, "", ErrLinkInvalid
	}
	return rc, name, nil
}

// deleteFiles removes an ended route's files once routes.delete_after has passed since it ended:
// every revision, the certificate and its sealed copy. The record stays (the route page and the
// audit trail keep its story); FilesDeleted says when.
func (e *Engine) deleteFiles(ctx context.Context, r *Route) error {
	if e.DeleteAfter <= 0 || !r.State.Ended() || e.now().Sub(r.Since) < e.DeleteAfter {
		return nil
	}
	if r.Completion != nil && !r.Completion.FilesDeleted.IsZero() {
		return nil
	}
	if r.State == Completed && (r.Completion == nil || !r.Completion.Delivered) {
		return nil // not delivered yet: the sweeper delivers first
	}
	keys := []string{CertificateKey(r.ID), contracts.IncomingPrefix + "routes/" + r.ID + "/certificate-sealed.pdf"}
	for n := 0; n <= r.Revision; n++ {
		keys = append(keys, RevisionKey(r.ID, n))
	}
	if l, ok := e.Docs.(storage.Lister); ok {
		_ = l.List(ctx, contracts.IncomingPrefix+"routes/"+r.ID+"/", func(k string) error { keys = append(keys, k); return nil })
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		if err := e.Docs.Delete(ctx, k); err != nil && !errors.Is(err, storage.ErrNotFound) {
			e.audit(ctx, r, nil, "files not deleted", contracts.AuditError, err.Error(), "the sweeper tries again")
			return err
		}
	}
	r, changed, err := e.Store.change(ctx, r.ID, func(r *Route) (bool, error) {
		if r.Completion == nil {
			r.Completion = &Completion{Since: r.Since}
		}
		if !r.Completion.FilesDeleted.IsZero() {
			return false, nil
		}
		r.Completion.FilesDeleted = e.now()
		return true, nil
	})
	if err == nil && changed {
		e.audit(ctx, r, nil, "files deleted", contracts.AuditOK, "", "routes.delete_after "+e.DeleteAfter.String()+": "+strings.Join(keys[:min(len(keys), 20)], ", "))
	}
	return err
}

// sweepEnded does for an ended route what no event triggers: the final link not delivered yet, and
// the files past routes.delete_after.
func (e *Engine) sweepEnded(ctx context.Context, r *Route) error {
	if r.State == Completed && (r.Completion == nil || !r.Completion.Delivered) {
		return e.deliver(ctx, r.ID)
	}
	return e.deleteFiles(ctx, r)
}
