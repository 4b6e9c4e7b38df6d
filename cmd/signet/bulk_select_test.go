package main

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/producer/batch"
	"github.com/signet-b24/signet/producer/bulk"
)

// Bulk signing by a CRM filter (issue 19, must 3), below the page: the accountant's filter picks the
// WON deals of pipeline 1 on the emulated portal (crm.item.list with their own token), the selection
// becomes one batch under one grant for exactly those documents (one code), the workers sign them
// with SoftHSM and each deal's file field gets its signed PDF; the NEW deals are untouched.
func TestBulkSelectionSignsTheFilteredItems(t *testing.T) {
	e := startB24(t, emulator.Config{})
	ctx := context.Background()
	e.addUser(t, "mary", 7, false, e.cfg.Demo.Credential)
	secret := e.enrol(t, "mary")
	one := 1
	var won, other []int
	for i := range 6 {
		stage := "C1:NEW"
		if i%2 == 0 {
			stage = "C1:WON"
		}
		id := e.portal.AddItem(emulator.EntityDeal, map[string]any{"title": "act-" + strconv.Itoa(i) + ".pdf", "stageId": stage, "categoryId": one})
		e.portal.AddDealFile(id, "act-"+strconv.Itoa(i)+".pdf", demoInvoice)
		if stage == "C1:WON" {
			won = append(won, id)
		} else {
			other = append(other, id)
		}
	}
	sel, err := bulk.Select(ctx, e.a.b24, e.portal.MemberID(), e.portal.NewAuth(7).AccessToken,
		bulk.Filter{EntityTypeID: bulk.EntityDeal, CategoryID: &one, StageIDs: []string{"C1:WON"}}, emulator.DealFileField, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(sel.Items) != len(won) {
		t.Fatalf("the filter picked %d deals, want %d", len(sel.Items), len(won))
	}
	m, err := sel.Manifest("bitrix24:" + e.portal.MemberID() + ":deals:C1:WON")
	if err != nil {
		t.Fatal(err)
	}
	kv, err := batch.OpenBucket(ctx, e.a.js, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	enq := &batch.Enqueuer{JS: e.a.js, KV: kv, Store: e.a.store, Identity: e.a.identity, JobKey: e.a.jobKey}
	sum, err := enq.Enqueue(ctx, batch.Request{Login: "mary", Credential: e.cfg.Demo.Credential, Manifest: m,
		OTP: func() (string, error) { return totp.GenerateCode(secret, time.Now().Add(30*time.Second)) }})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Published != len(won) || sum.GrantMax != len(won) {
		t.Fatalf("published %d, grant for %d documents; want %d and %d", sum.Published, sum.GrantMax, len(won), len(won))
	}
	jobs, err := e.a.js.KeyValue(ctx, contracts.BucketJobs)
	if err != nil {
		t.Fatal(err)
	}
	var st *batch.Status
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if st, err = batch.ReadStatus(ctx, e.a.js, kv, jobs, sum.BatchID); err != nil {
			t.Fatal(err)
		}
		if st.Done || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !st.Done || st.Signed != len(won) || st.Failed != 0 {
		t.Fatalf("batch status %+v, want %d signed", st, len(won))
	}
	for _, id := range won {
		for _, data := range e.portal.DealFileContents(id) {
			if string(data) == string(demoInvoice) {
				t.Errorf("deal %d (WON): its file is still the unsigned one", id)
			}
		}
	}
	for _, id := range other {
		for _, data := range e.portal.DealFileContents(id) {
			if string(data) != string(demoInvoice) {
				t.Errorf("deal %d (NEW, not selected) was changed", id)
			}
		}
	}
}
