package worker

import (
	"context"
	"crypto"
	"sync"
	"testing"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/keyring"
)

// A token's record carries the work at its gate (issue 21, must 5): the signature under way and the
// jobs waiting for the slot, people's apart from batches', which the inbox's estimate counts.
func TestTokenRecordCarriesTheWorkAtTheGate(t *testing.T) {
	ctx := context.Background()
	chip := newChip()
	ts := NewTokens(func(string) keyring.Limits { return keyring.Limits{Concurrency: 1, Hardware: true} })
	cred := &keyring.Credential{Token: "card", Key: chip}
	var wg sync.WaitGroup
	sign := func(kind contracts.JobKind, name string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := ts.Key(ctx, cred, kind).Sign(nil, []byte(name), crypto.SHA256); err != nil {
				t.Error(err)
			}
		}()
	}
	defer wg.Wait()
	p := &Pool{Signer: &Signer{Tokens: ts}}
	g := ts.gate("card", "")

	sign(contracts.KindBatch, "batch-0")
	<-chip.in
	if recs := p.tokenRecords("w/1"); len(recs) != 0 {
		t.Fatalf("a token not measured yet (no keyring to report it): %+v", recs)
	}
	sign(contracts.KindBatch, "batch-1")
	sign(contracts.KindBatch, "batch-2")
	queuedAt(t, g, 2)
	sign(contracts.KindRobot, "robot-1")
	queuedAt(t, g, 3)
	chip.out <- struct{}{} // batch-0 ends: the token is measured, and robot-1 overtakes both batches
	if got := <-chip.in; got != "robot-1" {
		t.Fatalf("after the first signature the token signs %q, want robot-1", got)
	}
	sign(contracts.KindPlacement, "placement-1")
	queuedAt(t, g, 3)

	recs := p.tokenRecords("w/1")
	if len(recs) != 1 {
		t.Fatalf("records %+v, want one for card", recs)
	}
	r := recs[0]
	if r.Token != "card" || r.Rate <= 0 || r.Signing != 1 || r.WaitingInteractive != 1 || r.WaitingBatch != 2 {
		t.Errorf("record %+v: want card measured, 1 signing, 1 person's and 2 batch jobs waiting", r)
	}
	for range 4 { // robot-1, then placement-1, batch-1, batch-2 (chip.in is buffered)
		chip.out <- struct{}{}
	}
}
