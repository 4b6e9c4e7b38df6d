package worker

import (
	"context"
	"crypto"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/keyring"
)

// chipKey is a key whose every signature waits for the test to let it through, recording the order
// in which the signatures reached it.
type chipKey struct {
	mu    sync.Mutex
	order []string
	in    chan string   // the digest of each signature as it starts
	out   chan struct{} // one per signature allowed to finish
}

func (k *chipKey) Public() crypto.PublicKey { return nil }

func (k *chipKey) Sign(_ io.Reader, digest []byte, _ crypto.SignerOpts) ([]byte, error) {
	k.mu.Lock()
	k.order = append(k.order, string(digest))
	k.mu.Unlock()
	k.in <- string(digest)
	<-k.out
	return digest, nil
}

func newChip() *chipKey {
	return &chipKey{in: make(chan string, 16), out: make(chan struct{})}
}

// queuedAt waits until the token's gate holds n waiters in all.
func queuedAt(t *testing.T, g *gate, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		g.mu.Lock()
		got := g.queued(background)
		g.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d signatures queued at the token, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// On a token with one slot, the signatures that wait are served interactive first, then batch, each
// in arrival order: a robot job that arrives behind three batch jobs signs right after the one in
// progress.
func TestTokenGateInteractiveOvertakesBatch(t *testing.T) {
	ctx := context.Background()
	chip := newChip()
	ts := NewTokens(func(string) keyring.Limits { return keyring.Limits{Concurrency: 1, Hardware: true} })
	cred := &keyring.Credential{Token: "card", Key: chip}
	sign := func(kind contracts.JobKind, name string, done *sync.WaitGroup) {
		done.Add(1)
		go func() {
			defer done.Done()
			if _, err := ts.Key(ctx, cred, kind).Sign(nil, []byte(name), crypto.SHA256); err != nil {
				t.Error(err)
			}
		}()
	}
	var wg sync.WaitGroup
	sign(contracts.KindBatch, "batch-0", &wg)
	if got := <-chip.in; got != "batch-0" {
		t.Fatalf("first signature %q", got)
	}
	g := ts.gate("card", "")
	for i, name := range []string{"batch-1", "batch-2", "batch-3"} {
		sign(contracts.KindBatch, name, &wg)
		queuedAt(t, g, i+1)
	}
	sign(contracts.KindRobot, "robot-1", &wg)
	queuedAt(t, g, 4)
	sign(contracts.KindPlacement, "button-1", &wg)
	queuedAt(t, g, 5)
	for i := range 6 {
		chip.out <- struct{}{}
		if i < 5 {
			<-chip.in // the next signature has reached the token
		}
	}
	wg.Wait()
	want := []string{"batch-0", "robot-1", "button-1", "batch-1", "batch-2", "batch-3"}
	for i := range want {
		if chip.order[i] != want[i] {
			t.Fatalf("signatures reached the token in the order %v, want %v", chip.order, want)
		}
	}
	if r := ts.Rates(); len(r) != 1 || r[0].Signed != 6 || r[0].Rate <= 0 {
		t.Fatalf("rates = %+v, want one token with 6 signatures and a measured rate", r)
	}
}

// A job cancelled while it waits for the token (drain deadline, job timeout) leaves the queue and
// takes no slot: the next signature still gets the token.
func TestTokenGateCancelledWaiterLeaves(t *testing.T) {
	chip := newChip()
	ts := NewTokens(func(string) keyring.Limits { return keyring.Limits{Concurrency: 1} })
	cred := &keyring.Credential{Token: "card", Key: chip}
	first := make(chan error, 1)
	go func() {
		_, err := ts.Key(context.Background(), cred, contracts.KindBatch).Sign(nil, []byte("holder"), nil)
		first <- err
	}()
	<-chip.in
	ctx, cancel := context.WithCancel(context.Background())
	waited := make(chan error, 1)
	go func() {
		_, err := ts.Key(ctx, cred, contracts.KindRobot).Sign(nil, []byte("gone"), nil)
		waited <- err
	}()
	g := ts.gate("card", "")
	queuedAt(t, g, 1)
	cancel()
	if err := <-waited; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v", err)
	}
	queuedAt(t, g, 0)
	chip.out <- struct{}{}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	next := make(chan error, 1)
	go func() {
		_, err := ts.Key(context.Background(), cred, contracts.KindBatch).Sign(nil, []byte("next"), nil)
		next <- err
	}()
	if got := <-chip.in; got != "next" {
		t.Fatalf("signature after the cancelled one: %q", got)
	}
	chip.out <- struct{}{}
	if err := <-next; err != nil {
		t.Fatal(err)
	}
}

// Limits with a concurrency of 2 let two signatures in at once; the third waits.
func TestTokenGateConcurrency(t *testing.T) {
	chip := newChip()
	ts := NewTokens(func(string) keyring.Limits { return keyring.Limits{Concurrency: 2} })
	cred := &keyring.Credential{Token: "hsm", Key: chip}
	done := make(chan struct{}, 3)
	for _, n := range []string{"a", "b", "c"} {
		go func() {
			_, _ = ts.Key(context.Background(), cred, contracts.KindBatch).Sign(nil, []byte(n), nil)
			done <- struct{}{}
		}()
	}
	<-chip.in
	<-chip.in
	queuedAt(t, ts.gate("hsm", ""), 1)
	for range 3 {
		chip.out <- struct{}{}
	}
	for range 3 {
		<-done
	}
}

// rate_per_sec paces the signatures even with a slot free: at one an hour, the first signs at once and
// the second waits for its turn with the slot in hand, never reaching the key; cancelled, it gives the
// slot back.
func TestTokenGatePace(t *testing.T) {
	chip := newChip()
	ts := NewTokens(func(string) keyring.Limits { return keyring.Limits{Concurrency: 2, RatePerSec: 1.0 / 3600} })
	cred := &keyring.Credential{Token: "paced", Key: chip}
	first := make(chan error, 1)
	go func() {
		_, err := ts.Key(context.Background(), cred, contracts.KindRobot).Sign(nil, []byte("first"), nil)
		first <- err
	}()
	<-chip.in
	chip.out <- struct{}{}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	second := make(chan error, 1)
	go func() {
		_, err := ts.Key(ctx, cred, contracts.KindRobot).Sign(nil, []byte("second"), nil)
		second <- err
	}()
	g := ts.gate("paced", "")
	deadline := time.Now().Add(10 * time.Second)
	for {
		g.mu.Lock()
		free := g.free
		g.mu.Unlock()
		if free == 1 { // the second holds a slot and waits for the pace
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second signature took no slot (%d free)", free)
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-second; !errors.Is(err, context.Canceled) {
		t.Fatalf("paced signature cancelled: %v", err)
	}
	g.mu.Lock()
	free := g.free
	g.mu.Unlock()
	if free != 2 || len(chip.order) != 1 {
		t.Fatalf("after the cancel: %d slots free, %d signatures reached the key; want 2 and 1", free, len(chip.order))
	}
}
