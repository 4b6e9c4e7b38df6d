package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/i18n"
)

// The link-only write-back of a bulk job (contracts.WriteBackLink, issue 19 must 3). The signed PDF
// stays in Signet's storage, as every job's does, and the CRM item gets only two fields, set with
// crm.item.update (reference §6.2: user fields are camelCase, ufCrm…): the link to the signed PDF
// (Caller.LinkField) and who signed it and when (Caller.StatusField). The portal administrator
// creates both as user fields of the entity type (docs/bitrix24.md "Bulk signing inside Bitrix24").
// The item's file is not touched.
//
// Unlike an upload, crm.item.update without a file may go inside `batch` (reference §7 forbids only
// the upload and download endpoints), so the writes of a portal's link-mode callbacks are gathered and
// sent 50 to a `batch` request: a night of 10,000 documents is 200 requests instead of 10,000.

// DefaultLinkWait is how long the first link write of a portal waits for others to join its batch
// request before it is sent with fewer than 50.
const DefaultLinkWait = 2 * time.Second

// linkGatherer gathers crm.item.update commands of link-mode callbacks per portal, up to 50 or until
// the first has waited its bounded time, and sends each gathered set as one group through the
// Batcher (which keeps one request in flight per portal). Each command's own result goes back to its
// callback: one that failed is retried by that callback alone, never the whole batch (reference §7:
// "never blindly re-run a whole batch").
type linkGatherer struct {
	batch Batcher
	wait  time.Duration

	mu   sync.Mutex
	open map[string]*linkSet // per portal: the set still gathering
}

type linkSet struct {
	cmds    []bitrix24.BatchCommand
	replies []chan error
}

// write queues cmd in the portal's gathering set and waits for its own result. If ctx ends first the
// callback gives up waiting (the command may still be sent: setting the same two fields again later
// is harmless).
func (g *linkGatherer) write(ctx context.Context, memberID string, cmd bitrix24.BatchCommand) error {
	reply := make(chan error, 1)
	g.mu.Lock()
	set := g.open[memberID]
	if set == nil {
		set = &linkSet{}
		g.open[memberID] = set
		time.AfterFunc(g.wait, func() { g.flush(memberID, set) })
	}
	set.cmds = append(set.cmds, cmd)
	set.replies = append(set.replies, reply)
	full := len(set.cmds) >= bitrix24.MaxBatchCommands
	if full {
		delete(g.open, memberID) // the timer's flush finds it gone and does nothing
	}
	g.mu.Unlock()
	if full {
		go g.send(memberID, set)
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return fmt.Errorf("writing the link into the item: %w", ctx.Err())
	}
}

// flush sends the set when its wait is over, unless it was sent full already.
func (g *linkGatherer) flush(memberID string, set *linkSet) {
	g.mu.Lock()
	if g.open[memberID] != set {
		g.mu.Unlock()
		return
	}
	delete(g.open, memberID)
	g.mu.Unlock()
	g.send(memberID, set)
}

// send runs the set as one batch request and hands each command its result. It does not use the
// callbacks' contexts: one callback giving up must not cancel the others' writes.
func (g *linkGatherer) send(memberID string, set *linkSet) {
	ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
	defer cancel()
	res, err := g.batch.Do(ctx, memberID, set.cmds)
	for i, reply := range set.replies {
		reply <- commandResult(res, err, i, set.cmds[i].Method)
	}
}

// links returns the Caller's gatherer, made on first use.
func (c *Caller) links() *linkGatherer {
	c.linksOnce.Do(func() {
		wait := c.LinkWait
		if wait <= 0 {
			wait = DefaultLinkWait
		}
		c.gatherer = &linkGatherer{batch: c.Batch, wait: wait, open: map[string]*linkSet{}}
	})
	return c.gatherer
}

// errNoLinkField is the permanent refusal of a link-mode write when no field is configured.
var errNoLinkField = errors.New("no CRM field for the link is configured: set bitrix24.link_field to the code of a String or Link user field of the item (docs/bitrix24.md)")

// writeLink sets the item's link and status fields. The link is the signed PDF's download link
// (Store.URL: Signet's own /files/ link signed with an HMAC and an expiry, or a presigned S3 URL),
// valid for storage.link_ttl; it carries no secret beyond that signature. An error is classified:
// IsPermanent when the portal refused the update.
func (c *Caller) writeLink(ctx context.Context, cb *contracts.Callback, l *i18n.Localizer) error {
	if c.LinkField == "" {
		return Permanent(errNoLinkField)
	}
	link, err := c.Store.URL(ctx, cb.Signed.PDFKey, c.LinkTTL)
	if err != nil {
		return fmt.Errorf("download link for job %s: %w", cb.JobID, err)
	}
	fields := map[string]any{c.LinkField: link}
	if c.StatusField != "" {
		zone, zerr := i18n.LoadZone(cb.TimeZone)
		if zerr != nil {
			zone = time.UTC
		}
		fields[c.StatusField] = l.T("callback.link.status", cb.Signer.Login, l.DateTime(cb.Signed.SignedAt.In(zone)))
	}
	cmd := bitrix24.BatchCommand{Method: "crm.item.update", Params: map[string]any{
		"entityTypeId": cb.Document.EntityTypeID, "id": cb.Document.EntityID, "fields": fields,
	}}
	if c.Batch == nil { // tools and tests without a Batcher: one request per item
		return classify(c.Portal.Call(ctx, cb.Portal.MemberID, cmd.Method, cmd.Params, nil))
	}
	return classify(c.links().write(ctx, cb.Portal.MemberID, cmd))
}

// deliverLinkWrite is the link mode's step 1 of Deliver: it writes the link and the status once (the
// Uploaded step, recorded in the jobs bucket, so a redelivered callback writes nothing again) and
// records the item's file as signed for a rerun of the selection. It returns the text the workflow
// and the outcome carry when the portal refused the write.
func (c *Caller) deliverLinkWrite(ctx context.Context, cb *contracts.Callback, steps *Steps, l *i18n.Localizer) (string, error) {
	if steps.Uploaded {
		return "", nil
	}
	writeBack := ""
	if err := c.writeLink(ctx, cb, l); err != nil {
		if !IsPermanent(err) {
			return "", err
		}
		writeBack = l.T("callback.link.failed", err)
		c.Log.Warn("link write refused by the portal", zap.String("job_id", cb.JobID), zap.Error(err))
	} else if err := c.Results.RecordSignedFile(ctx, cb.Portal.MemberID, cb.Document.EntityTypeID, cb.Document.EntityID, cb.Document.FileID, cb.JobID); err != nil {
		return "", err
	}
	steps.Uploaded = true
	return writeBack, c.Results.SaveSteps(ctx, cb.JobID, *steps)
}
