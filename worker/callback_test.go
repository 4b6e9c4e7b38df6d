package worker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
	"github.com/signet-b24/signet/storage"
)

// A redelivered callback whose signed version already reached the Disk file (the upload ran, its
// answer was lost) does not upload it again; one that did not reach it is uploaded once. The same for
// a CRM file field, where a second update would append a second signed copy. The Disk file's history
// and the field's files, read from the emulated portal, are what counts.
func TestRedeliveredCallbackDoesNotUploadTwice(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	portal := startPortal(t, emulator.Config{})
	client := adminClient(ctx, t, portal, bitrix24.ClientConfig{})

	ns := natstest.Start(t)
	results, store := resultsAndStore(ctx, t, ns.JS, "", storage.Options{})
	original, err := os.ReadFile(filepath.Join("..", "testdata", "pdf", "invoice.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	caller := &Caller{Portal: client, Store: store, Results: results, LinkTTL: time.Hour, Log: zap.NewNop()}

	// job makes a Disk file holding the original and stores a "signed" version of it (the bytes do
	// not need to be a signature here: only which version reaches the portal, and how often, matters).
	job := func(deal int) *contracts.Callback {
		disk, _ := portal.AddDealFile(deal, "invoice.pdf", original)
		signed := append(append([]byte{}, original...), []byte("\n% signed for deal "+strconv.Itoa(deal)+"\n")...)
		sum := sha256.Sum256(signed)
		key := "signed/test/deal-" + strconv.Itoa(deal) + ".pdf"
		if _, err := store.Put(ctx, key, bytes.NewReader(signed), int64(len(signed)), "application/pdf", ""); err != nil {
			t.Fatal(err)
		}
		return &contracts.Callback{JobID: "job-" + strconv.Itoa(deal), Kind: contracts.KindRobot,
			Portal:   contracts.Portal{MemberID: portal.MemberID()},
			Document: contracts.Document{DiskFileID: disk, FileName: "invoice.pdf"},
			Outcome:  contracts.OutcomeSigned,
			Signed:   &contracts.Signed{PDFKey: key, SHA256After: hex.EncodeToString(sum[:]), Size: int64(len(signed))}}
	}

	// The first delivery uploaded, then lost the answer; the redelivery must find the version there.
	lost := job(1)
	if err := caller.uploadVersion(ctx, lost); err != nil {
		t.Fatal(err)
	}
	if err := caller.Deliver(ctx, lost, true); err != nil {
		t.Fatal(err)
	}
	if v := portal.FileVersions(lost.Document.DiskFileID); len(v) != 2 {
		t.Errorf("after a lost answer and a redelivery the Disk file has %d versions, want 2 (original + signed)", len(v))
	}
	if steps, err := results.Steps(ctx, lost.JobID); err != nil || !steps.Uploaded {
		t.Errorf("steps after the redelivery: %+v, %v; want uploaded", steps, err)
	}

	// A redelivery after a failure before the upload: the signed version goes up, once.
	never := job(2)
	if err := caller.Deliver(ctx, never, true); err != nil {
		t.Fatal(err)
	}
	v := portal.FileVersions(never.Document.DiskFileID)
	if len(v) != 2 {
		t.Fatalf("the Disk file has %d versions, want 2", len(v))
	}
	if sum := sha256.Sum256(v[1]); hex.EncodeToString(sum[:]) != never.Signed.SHA256After {
		t.Error("the new version is not the signed PDF")
	}

	// A CRM multiple file field: the update that replaced the original ran and its answer was lost.
	// The redelivery finds the signed file in the field and adds no second copy; the other file stays.
	crm := func(deal int) (*contracts.Callback, int) {
		_, _ = portal.AddDealFile(deal, "other.pdf", []byte("%PDF-1.4 another file of the deal"))
		cb := job(deal) // adds invoice.pdf to the deal's file field too
		var other, target int
		for id, name := range portal.DealFiles(deal) {
			if name == "other.pdf" {
				other = id
			} else {
				target = id
			}
		}
		cb.Document = contracts.Document{EntityTypeID: 2, EntityID: deal, FileField: emulator.DealFileField, FileID: target, FileName: "invoice.pdf"}
		return cb, other
	}
	checkField := func(deal, other int, cb *contracts.Callback) {
		t.Helper()
		files := portal.DealFiles(deal)
		if len(files) != 2 || files[other] != "other.pdf" {
			t.Fatalf("deal %d's file field holds %v; want other.pdf (id %d) and one signed file", deal, files, other)
		}
		for id := range files {
			if id == other {
				continue
			}
			if sum := sha256.Sum256(portal.CRMFileData(id)); hex.EncodeToString(sum[:]) != cb.Signed.SHA256After {
				t.Errorf("deal %d: file %d is not the signed PDF", deal, id)
			}
			// The workflow's signedFileId is that file (issue 19), found again after a lost answer.
			if st, err := results.Steps(ctx, cb.JobID); err != nil || st.SignedFileID != id {
				t.Errorf("deal %d: recorded signed file %d (%v), want %d", deal, st.SignedFileID, err, id)
			}
		}
	}
	crmLost, other := crm(3)
	if _, err := caller.replaceCRMFile(ctx, crmLost, false); err != nil {
		t.Fatal(err)
	}
	if err := caller.Deliver(ctx, crmLost, true); err != nil {
		t.Fatal(err)
	}
	checkField(3, other, crmLost)

	// A redelivery after a failure before the update: the original is replaced, once.
	crmNever, other := crm(4)
	if err := caller.Deliver(ctx, crmNever, true); err != nil {
		t.Fatal(err)
	}
	checkField(4, other, crmNever)
}
