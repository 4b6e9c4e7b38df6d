package worker

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/keyring"
	"github.com/signet-b24/signet/keyring/softhsm"
)

// A worker keeps a record per configured token in the jobs bucket — online with its sessions, or
// offline with the reason — from its start, before it has signed anything, and deletes them when it
// stops cleanly: `signet status` reads these instead of any /metrics (issue 21 must 3), and a record
// left behind is a worker that was killed.
func TestTokenRecordsFromStartToCleanStop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mod, pinFile := testToken(t, "card")
	kr, err := keyring.Open(ctx, []keyring.TokenConfig{
		{Name: "card", Module: mod, Label: "card", PinFile: pinFile, MaxSessions: 3},
		{Name: "usb", Module: mod, Label: "not-plugged-in", PinFile: pinFile},
	}, zap.NewNop())
	var oe *keyring.OpenError
	if err != nil && !errors.As(err, &oe) {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kr.Close() })
	ns := natstest.Start(t)
	results, err := OpenResults(ctx, ns.JS, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := ns.JS.KeyValue(ctx, contracts.BucketJobs)
	if err != nil {
		t.Fatal(err)
	}
	records := func() map[string]contracts.TokenRate {
		out := map[string]contracts.TokenRate{}
		keys, err := kv.ListKeysFiltered(ctx, contracts.TokenRatePrefix+">")
		if err != nil {
			t.Fatal(err)
		}
		for k := range keys.Keys() {
			e, err := kv.Get(ctx, k)
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			var tr contracts.TokenRate
			if err := json.Unmarshal(e.Value(), &tr); err != nil {
				t.Fatal(err)
			}
			out[tr.Token] = tr
		}
		return out
	}

	pool := &Pool{Log: zap.NewNop(), Signer: &Signer{Keys: kr, Results: results, Tokens: NewTokens(kr.Limits)}}
	pctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); pool.publishTokenRates(pctx) }()
	var got map[string]contracts.TokenRate
	deadline := time.Now().Add(10 * time.Second)
	for got = records(); len(got) < 2 && time.Now().Before(deadline); got = records() {
		time.Sleep(50 * time.Millisecond)
	}
	card, usb := got["card"], got["usb"]
	if card.State != contracts.TokenOnline || card.MaxSessions != 3 || card.Worker == "" || time.Since(card.Updated) > time.Minute {
		t.Errorf("the online token's record: %+v", card)
	}
	if usb.State != contracts.TokenOffline || usb.Err == "" || usb.Worker != card.Worker {
		t.Errorf("the offline token's record: %+v", usb)
	}
	stop()
	<-done
	if left := records(); len(left) != 0 {
		t.Errorf("records left after a clean stop: %+v", left)
	}
}

// testToken initialises a SoftHSM token with the given label in a temporary directory and returns the
// module and a PIN file (skipped without SoftHSM, failed under SIGNET_TEST_STRICT).
func testToken(t *testing.T, label string) (module, pinFile string) {
	t.Helper()
	mod, err := softhsm.Module()
	if err != nil {
		if testenv.Strict() {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	dir := t.TempDir()
	if mod, err = softhsm.Init(filepath.Join(dir, "hsm"), label, "so-4711", "user-4711"); err != nil {
		t.Fatal(err)
	}
	pinFile = filepath.Join(dir, "user.pin")
	if err := os.WriteFile(pinFile, []byte("user-4711\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return mod, pinFile
}
