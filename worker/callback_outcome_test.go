package worker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
	"github.com/signet-b24/signet/storage"
)

// A fresh delivery records a successful callback's steps only in its outcome (issue 22); a
// redelivery after it (the ack was lost) finds the outcome and calls the portal no more: one version
// on the Disk file, one timeline comment, one bizproc.event.send, as the emulated portal counts them.
func TestRedeliveryAfterOutcomeRepeatsNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	portal := startPortal(t, emulator.Config{})
	client := adminClient(ctx, t, portal, bitrix24.ClientConfig{})
	ns := natstest.Start(t)
	results, store := resultsAndStore(ctx, t, ns.JS, "", storage.Options{PublicURL: "https://signet.example.com",
		LinkSecret: []byte("0123456789abcdef0123456789abcdef")})
	original, err := os.ReadFile(filepath.Join("..", "testdata", "pdf", "invoice.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	const deal = 601
	disk, _ := portal.AddDealFile(deal, "invoice.pdf", original)
	signed := append(append([]byte{}, original...), []byte("\n% signed\n")...)
	sum := sha256.Sum256(signed)
	if _, err := store.Put(ctx, "signed/test/outcome.pdf", bytes.NewReader(signed), int64(len(signed)), "application/pdf", ""); err != nil {
		t.Fatal(err)
	}
	tok, _ := portal.NewRobotCall("signet_sign_pdf", deal, nil)
	cb := &contracts.Callback{JobID: "job-outcome", Kind: contracts.KindRobot, Portal: contracts.Portal{MemberID: portal.MemberID()},
		Document: contracts.Document{DiskFileID: disk, EntityTypeID: 2, EntityID: deal, FileName: "invoice.pdf"},
		Signer:   contracts.Signer{Login: "mary"}, Reply: contracts.Reply{EventToken: tok}, Outcome: contracts.OutcomeSigned,
		Signed: &contracts.Signed{PDFKey: "signed/test/outcome.pdf", SHA256After: hex.EncodeToString(sum[:]), Size: int64(len(signed)),
			SignedAt: time.Now().UTC()}}
	caller := &Caller{Portal: client, Store: store, Results: results, LinkTTL: time.Hour, Log: zap.NewNop()}

	if err := caller.deliver(ctx, cb, false, true); err != nil {
		t.Fatal(err)
	}
	if o, err := results.DeliveredOutcome(ctx, cb.JobID); err != nil || o == nil || o.Outcome != contracts.OutcomeSigned {
		t.Fatalf("outcome after the fresh delivery: %+v, %v; want signed", o, err)
	}
	before := len(portal.Calls())
	if err := caller.Deliver(ctx, cb, true); err != nil {
		t.Fatal(err)
	}
	if calls := portal.Calls()[before:]; len(calls) != 0 {
		t.Errorf("the redelivery of a delivered callback called the portal %d times (first %s), want none", len(calls), calls[0].Method)
	}
	if v := portal.FileVersions(disk); len(v) != 2 {
		t.Errorf("the Disk file has %d versions, want 2 (original + signed)", len(v))
	}
	if c := portal.TimelineComments(deal); len(c) != 1 {
		t.Errorf("%d timeline comments, want 1", len(c))
	}
	if e := portal.EventsSent()[tok]; len(e) != 1 {
		t.Errorf("%d bizproc.event.send accepted, want 1", len(e))
	}
}
