package routes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
)

// Bad input mid-route (issue 20, must 7): a party removed while the route runs, and the document
// changed in Bitrix24 while it runs.

// RemoveParty takes a party out of a running route (the originator's or an administrator's word:
// `signet route remove-party`): its request leaves the inbox (an external party's invitation is
// withdrawn by the external side when it hears the party is removed), and the step is evaluated
// again — an "all" step whose other parties have acted is done, a step with no party left is skipped.
// A party who acted already, or whose signature is being made, cannot be removed.
func (e *Engine) RemoveParty(ctx context.Context, memberID, login, routeID, stepID, partyID, reason string) (*Route, error) {
	r, _, err := e.Store.Get(ctx, routeID)
	if err != nil {
		return nil, err
	}
	if memberID != "" && r.Portal.MemberID != memberID {
		return nil, ErrNotFound
	}
	if login != "" && !strings.EqualFold(login, r.Originator) {
		return nil, ErrNotOriginator
	}
	by := login
	if by == "" {
		by = "administrator"
	}
	why := clip("removed by "+by+": "+reasonOr(strings.TrimSpace(reason)), MaxReason)
	var who Party
	r, _, err = e.Store.change(ctx, routeID, func(r *Route) (bool, error) {
		if r.State.Ended() || r.Completion != nil {
			return false, ErrEnded
		}
		_, p := r.Party(stepID, partyID)
		switch {
		case p == nil:
			return false, fmt.Errorf("route %s has no party %s in step %s; `signet route status` lists them", routeID, partyID, stepID)
		case p.State == PartySigning:
			return false, fmt.Errorf("%s is signing right now; try again in a minute", p.Who())
		case p.State != PartyIdle && p.State != PartyWaiting:
			return false, fmt.Errorf("%s has acted already (%s); a party who acted cannot be removed", p.Who(), p.State)
		}
		p.State, p.Since, p.Reason, p.At = PartyRemoved, e.now(), why, e.now()
		who = *p
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	e.withdraw(ctx, r, &who, why)
	e.audit(ctx, r, &who, "removed", contracts.AuditOK, why, "step "+stepID)
	e.comment(ctx, r, "route.comment.party", who.Who(), e.lang(r).T("routes.party."+string(PartyRemoved)), why)
	if err := e.afterAct(ctx, routeID); err != nil {
		return nil, err
	}
	return e.Store.mustGet(ctx, routeID)
}

// documentChanged reports how the route's Bitrix24 Disk file differs from the route's original, or
// "" when it does not (or the route has no Disk file). It is asked when a step after the first
// begins: a party must never sign a document the portal's copy no longer matches.
func (e *Engine) documentChanged(ctx context.Context, r *Route) (string, error) {
	if e.Bitrix == nil || r.Portal.MemberID == "" || r.Document.DiskFileID == 0 {
		return "", nil
	}
	var f struct {
		DownloadURL string `json:"DOWNLOAD_URL"`
		Version     string `json:"GLOBAL_CONTENT_VERSION"`
		Deleted     string `json:"DELETED_TYPE"`
	}
	if err := e.Bitrix.Call(ctx, r.Portal.MemberID, "disk.file.get", map[string]any{"id": r.Document.DiskFileID}, &f); err != nil {
		if strings.Contains(err.Error(), "ERROR_NOT_FOUND") {
			return fmt.Sprintf("the Disk file %d was deleted in Bitrix24", r.Document.DiskFileID), nil
		}
		return "", err
	}
	if f.Deleted != "" && f.Deleted != "0" {
		return fmt.Sprintf("the Disk file %d was moved to the recycle bin in Bitrix24", r.Document.DiskFileID), nil
	}
	dl, ok := e.Bitrix.(interface {
		Download(ctx context.Context, memberID, fileURL string, maxBytes int64, w io.Writer) (int64, error)
	})
	if !ok || f.DownloadURL == "" {
		return "", nil // cannot be compared: the route goes on (logged by the caller)
	}
	h := sha256.New()
	if _, err := dl.Download(ctx, r.Portal.MemberID, f.DownloadURL, maxPDF, h); err != nil {
		return "", err
	}
	if sum := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(sum, r.Document.SHA256) {
		return fmt.Sprintf("the document changed in Bitrix24 after the route started (Disk file %d, version %s: SHA-256 %s, the route's original %s); start a new route with the new version",
			r.Document.DiskFileID, f.Version, sum[:16]+"…", r.Document.SHA256[:16]+"…"), nil
	}
	return "", nil
}

// checkDocument stops the route as Changed when its document changed in Bitrix24; true when it did.
// A portal that cannot be asked does not stop the route (the check is made again at the next step;
// the signatures are on Signet's own revisions either way).
func (e *Engine) checkDocument(ctx context.Context, r *Route) bool {
	why, err := e.documentChanged(ctx, r)
	if err != nil {
		e.log().Warn("route: the Disk file could not be compared with the original; the route goes on", zap.String("route", r.ID), zap.Error(err))
		return false
	}
	if why == "" {
		return false
	}
	if _, err := e.end(ctx, r.ID, Changed, why); err != nil {
		e.log().Warn("route: stopping a route whose document changed", zap.String("route", r.ID), zap.Error(err))
	}
	return true
}
