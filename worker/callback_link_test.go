package worker

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/storage"
)

// linkRig is the link mode on real parts: JetStream (the jobs bucket), local storage making Signet's
// /files/ links, and the emulated portal with n deals, each with one file in its file field.
type linkRig struct {
	*callbackRig
	portal *emulator.Portal
	signed []byte // the signed PDF every job stored (a real one: pdfsig judges it)
	deals  []int
	files  map[int]int // deal → its file's id
}

func newLinkRig(t *testing.T, n, maxDeliver int) *linkRig {
	t.Helper()
	r := newCallbackRig(t, maxDeliver)
	var err error
	r.results, r.store = resultsAndStore(r.ctx, t, r.js, "", storage.Options{PublicURL: "http://signet.example", LinkSecret: bytes.Repeat([]byte("k"), 32)})
	signed, err := os.ReadFile(filepath.Join("..", "testdata", "pdf", "pdfsig-signed.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	lr := &linkRig{callbackRig: r, portal: startPortal(t, emulator.Config{}), signed: signed, files: map[int]int{}}
	for i := range n {
		id := lr.portal.AddItem(emulator.EntityDeal, map[string]any{"title": fmt.Sprintf("invoice-%d.pdf", i)})
		lr.portal.AddDealFile(id, fmt.Sprintf("invoice-%d.pdf", i), []byte("%PDF-1.4 unsigned original"))
		for fid := range lr.portal.DealFiles(id) { // the file's id in the CRM field (AddDealFile answers the Disk one)
			lr.files[id] = fid
		}
		lr.deals = append(lr.deals, id)
	}
	return lr
}

// caller is a worker's callback side with a Batcher, the link fields and a long gathering wait (the
// first 50 go at once, full; only the last, smaller set waits it out).
func (lr *linkRig) caller(client *bitrix24.Client) *Caller {
	return &Caller{Portal: client, Batch: bitrix24.NewBatcher(client, 0), Store: lr.store, Results: lr.results,
		LinkTTL: 24 * time.Hour, Log: zap.NewNop(), LinkField: "ufCrmSignetLink", StatusField: "ufCrmSignetStatus", LinkWait: 3 * time.Second}
}

// callback is the link-mode callback of a signed bulk job for deal, its signed PDF stored.
func (lr *linkRig) callback(deal int) *contracts.Callback {
	lr.t.Helper()
	jobID := fmt.Sprintf("bulk-%s.%d", lr.portal.MemberID(), deal)
	key := "signed/" + jobID + ".pdf"
	obj, err := lr.store.Put(lr.ctx, key, bytes.NewReader(lr.signed), int64(len(lr.signed)), "application/pdf", "")
	if err != nil {
		lr.t.Fatal(err)
	}
	return &contracts.Callback{JobID: jobID, Kind: contracts.KindBatch, BatchID: "b1", Outcome: contracts.OutcomeSigned,
		Portal:   contracts.Portal{MemberID: lr.portal.MemberID()},
		Document: contracts.Document{EntityTypeID: emulator.EntityDeal, EntityID: deal, FileField: emulator.DealFileField, FileID: lr.files[deal]},
		Signer:   contracts.Signer{Login: "mary"}, Reply: contracts.Reply{WriteBack: contracts.WriteBackLink},
		Signed: &contracts.Signed{PDFKey: key, SHA256After: obj.SHA256, Size: obj.Size, SignedAt: time.Now().UTC(),
			CertificateSubject: "CN=Mary", CertificateSerial: "01", FileName: "invoice.pdf"}}
}

// deliverAll delivers the callbacks at once, as a worker's callback slots would, and returns each
// one's error.
func deliverAll(ctx context.Context, c *Caller, cbs []*contracts.Callback, redelivered bool) []error {
	errs := make([]error, len(cbs))
	var wg sync.WaitGroup
	for i, cb := range cbs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.Deliver(ctx, cb, redelivered)
		}()
	}
	wg.Wait()
	return errs
}

// linkWrites counts the batch requests that carried crm.item.update and the updates executed.
func linkWrites(p *emulator.Portal) (batches, updates int) {
	for _, c := range p.Calls() {
		switch {
		case c.Method == "batch" && strings.Contains(fmt.Sprint(c.Params["cmd"]), "crm.item.update"):
			batches++
		case c.Method == "crm.item.update" && c.ErrorCode == "":
			updates++
		}
	}
	return batches, updates
}

// Issue 19, must 3: 120 link-mode callbacks of one portal write the link and the status of their
// items in 3 batch requests (50 + 50 + 20), leave the items' files as they were, and each link opens
// the signed PDF, which pdfsig accepts. Delivered again (a redelivery), they write nothing.
func TestLinkModeWritesLinksFiftyToABatch(t *testing.T) {
	pdfsig := testenv.RequireTool(t, "pdfsig")
	lr := newLinkRig(t, 120, 0)
	c := lr.caller(adminClient(lr.ctx, t, lr.portal, bitrix24.ClientConfig{RatePerSec: 1000, Burst: 1000}))
	var cbs []*contracts.Callback
	for _, d := range lr.deals {
		cbs = append(cbs, lr.callback(d))
	}
	for i, err := range deliverAll(lr.ctx, c, cbs, false) {
		if err != nil {
			t.Fatalf("callback %s: %v", cbs[i].JobID, err)
		}
	}
	batches, updates := linkWrites(lr.portal)
	if batches != 3 || updates != 120 {
		t.Fatalf("%d batch requests carried %d crm.item.update; want 3 and 120 (50 to a batch)", batches, updates)
	}
	dir := t.TempDir()
	for i, d := range lr.deals {
		if files := lr.portal.DealFiles(d); len(files) != 1 || string(lr.portal.CRMFileData(lr.files[d])) != "%PDF-1.4 unsigned original" {
			t.Fatalf("deal %d: its file field changed (%v): the link mode must not touch it", d, files)
		}
		if st, _ := lr.portal.DealField(d, "ufCrmSignetStatus").(string); !strings.Contains(st, "mary") {
			t.Errorf("deal %d: status field %q, want who signed", d, st)
		}
		link, _ := lr.portal.DealField(d, "ufCrmSignetLink").(string)
		if i%40 != 0 { // opening three links with pdfsig is enough; each was checked to be there
			if link == "" {
				t.Errorf("deal %d: no link written", d)
			}
			continue
		}
		u, err := url.Parse(link)
		if err != nil || !strings.HasPrefix(u.Path, storage.LinkPath) {
			t.Fatalf("deal %d: link %q is not one of Signet's /files/ links", d, link)
		}
		rc, _, err := storage.OpenLink(lr.ctx, lr.store, strings.TrimPrefix(u.Path, storage.LinkPath), u.Query().Get("expires"), u.Query().Get("sig"))
		if err != nil {
			t.Fatalf("deal %d: the link does not open: %v", d, err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		pdf := filepath.Join(dir, fmt.Sprintf("%d.pdf", d))
		if err := os.WriteFile(pdf, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if out, _ := exec.Command(pdfsig, pdf).CombinedOutput(); !strings.Contains(string(out), "Signer Certificate Common Name") || !strings.Contains(string(out), "Total document signed") {
			t.Errorf("deal %d: the linked file is not the signed PDF:\n%s", d, out)
		}
	}
	for _, cb := range cbs {
		if o, err := lr.results.DeliveredOutcome(lr.ctx, cb.JobID); err != nil || o == nil || o.Outcome != contracts.OutcomeSigned || o.Error != "" {
			t.Fatalf("job %s: delivered %+v (%v), want signed without error", cb.JobID, o, err)
		}
		if ok, err := lr.results.SignedFile(lr.ctx, lr.portal.MemberID(), emulator.EntityDeal, cb.Document.EntityID, cb.Document.FileID); err != nil || !ok {
			t.Fatalf("job %s: the item's file is not recorded as signed (%v): a rerun would sign it again", cb.JobID, err)
		}
	}

	// A redelivery of every callback: the steps are recorded, nothing is written again.
	for i, err := range deliverAll(lr.ctx, c, cbs, true) {
		if err != nil {
			t.Fatalf("redelivered callback %s: %v", cbs[i].JobID, err)
		}
	}
	if b, u := linkWrites(lr.portal); b != batches || u != updates {
		t.Fatalf("a redelivery wrote again: %d batch requests and %d updates, were %d and %d", b, u, batches, updates)
	}
}

// A failed command is retried alone: one item the portal cannot update (deleted meanwhile) is refused
// for good and recorded as such, its 49 neighbours in the same batch request are written once. A portal
// outage (HTTP 500 to the batch request) is retried, and an OVERLOAD_LIMIT block answers each callback
// with a pause, which the callback consumer waits out without counting an attempt (handle_callback.go),
// never dead-lettered.
func TestLinkModeRetriesFailuresAloneAndWaitsOutOutages(t *testing.T) {
	lr := newLinkRig(t, 50, 0)
	client := adminClient(lr.ctx, t, lr.portal, bitrix24.ClientConfig{RatePerSec: 1000, Burst: 1000, OverloadPause: time.Second})
	c := lr.caller(client)
	var cbs []*contracts.Callback
	for _, d := range lr.deals {
		cbs = append(cbs, lr.callback(d))
	}
	gone := cbs[7]
	gone.Document.EntityID = 999999 // an item that does not exist (any more)

	// 1. An outage: the batch request answers 500; nothing is written, every callback is retried.
	lr.portal.SetFailure(emulator.Failure{Calls: 1, Method: "batch", Status: 500, Code: "INTERNAL_SERVER_ERROR", Description: "Internal error"})
	for i, err := range deliverAll(lr.ctx, c, cbs, false) {
		if err == nil || IsPermanent(err) {
			t.Fatalf("callback %s during an outage: %v, want an error to retry", cbs[i].JobID, err)
		}
	}
	// 2. OVERLOAD_LIMIT: a pause, not a failure.
	lr.portal.SetFailure(emulator.Failure{Calls: 1, Method: "batch", Status: 503, Code: bitrix24.ErrCodeOverloadLimit, Description: "Portal overloaded"})
	for i, err := range deliverAll(lr.ctx, c, cbs, true) {
		if _, paused := bitrix24.PausedUntil(err); !paused || IsPermanent(err) {
			t.Fatalf("callback %s during an OVERLOAD_LIMIT block: %v, want a pause to wait out", cbs[i].JobID, err)
		}
	}
	lr.waitFor("the pause to end", func() bool { return client.PausedUntil(lr.portal.MemberID()).IsZero() })
	// 3. The portal is back: every callback is delivered, the missing item's refused alone.
	for i, err := range deliverAll(lr.ctx, c, cbs, true) {
		if err != nil {
			t.Fatalf("callback %s after the outage: %v", cbs[i].JobID, err)
		}
	}
	_, updates := linkWrites(lr.portal)
	if updates != len(cbs)-1 {
		t.Fatalf("%d items updated, want %d (all but the missing one, once each)", updates, len(cbs)-1)
	}
	o, err := lr.results.DeliveredOutcome(lr.ctx, gone.JobID)
	if err != nil || o == nil || !strings.Contains(o.Error, "could not be written") {
		t.Fatalf("the missing item's job: delivered %+v (%v), want signed with the write-back refusal", o, err)
	}
	// The refused one is not retried: delivering everything again writes nothing.
	before := len(lr.portal.Calls())
	deliverAll(lr.ctx, c, cbs, true)
	if after := len(lr.portal.Calls()); after != before {
		t.Fatalf("%d more REST calls after every callback was delivered", after-before)
	}
}

// Issue 19 must 3 with issue 21 must 2: link-mode callbacks in a worker's callback consumer (64 in
// hand) meet three OVERLOAD_LIMIT blocks in a row with worker.max_deliver 2. They wait each pause out,
// none is dead-lettered, and every item gets its link once.
func TestLinkModeCallbacksWaitOutOverloadInTheConsumer(t *testing.T) {
	const maxDeliver = 2
	lr := newLinkRig(t, 60, maxDeliver)
	client := lr.client("worker", bitrix24.ClientConfig{RatePerSec: 1000, Burst: 1000, OverloadPause: 1500 * time.Millisecond}, lr.portal)
	p := &Pool{JS: lr.js, AckWait: 5 * time.Second, MaxDeliver: maxDeliver, Log: zap.NewNop(), Signer: &Signer{Results: lr.results}, Caller: lr.caller(client)}
	hard, stopHard := context.WithCancel(context.WithoutCancel(lr.ctx))
	soft, stop := context.WithCancel(lr.ctx)
	done := make(chan error, 1)
	go func() {
		done <- p.consume(soft, hard, contracts.StreamCallback, contracts.ConsumerCallbackBatch, 64, p.handleCallback)
	}()
	t.Cleanup(func() { stop(); <-done; stopHard() })

	lr.portal.SetFailure(emulator.Failure{Calls: 3, Status: 503, Code: bitrix24.ErrCodeOverloadLimit, Description: "Portal overloaded"})
	for _, d := range lr.deals {
		cb := lr.callback(d)
		data, err := cb.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		lr.publish(contracts.KindBatch.CallbackSubject(), "cb-"+cb.JobID, data)
	}
	lr.waitFor("every item's link", func() bool {
		for _, d := range lr.deals {
			if lr.portal.DealField(d, "ufCrmSignetLink") == nil {
				return false
			}
		}
		return true
	})
	lr.waitFor("every callback acked", func() bool { return lr.msgs(contracts.StreamCallback) == 0 })
	if dead := lr.dead(); len(dead) != 0 {
		t.Fatalf("%d callbacks dead-lettered during the pauses: %+v", len(dead), dead)
	}
	overloads := 0
	for _, c := range lr.portal.Calls() {
		if c.ErrorCode == bitrix24.ErrCodeOverloadLimit {
			overloads++
		}
	}
	if _, updates := linkWrites(lr.portal); updates != len(lr.deals) || overloads != 3 {
		t.Fatalf("%d items updated after %d OVERLOAD_LIMIT answers; want %d, once each, after 3", updates, overloads, len(lr.deals))
	}
}
