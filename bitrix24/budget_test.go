package bitrix24_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/budget"
	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
)

// processes are n Signet processes' views of a portal, as n hosts would have them: each its own REST
// client, its own NATS connection and its own budget handle on the shared bucket (ns nil: no shared
// budget, a limiter per process as before issue 21).
func processes(t *testing.T, p *emulator.Portal, ns *natstest.Server, n int, ccfg bitrix24.ClientConfig) []*bitrix24.Client {
	t.Helper()
	out := make([]*bitrix24.Client, n)
	for i := range out {
		cfg := ccfg
		cfg.ClientID, cfg.ClientSecret, cfg.OAuthURL, cfg.AllowPrivate = p.ClientID(), p.ClientSecret(), p.OAuthURL(), true
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
		if ns != nil {
			nc, err := nats.Connect(ns.Srv.ClientURL())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(nc.Close)
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			kv, err := budget.Lookup(context.Background(), js)
			if err != nil {
				t.Fatal(err)
			}
			b, err := budget.New(kv, budget.Config{RatePerSec: cfg.RatePerSec, Burst: cfg.Burst, ProcessID: fmt.Sprintf("host%d", i)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(b.Close)
			cfg.Budget = b
		}
		out[i] = bitrix24.NewClient(cfg, mustStore(t, p))
	}
	return out
}

// startPortal is an emulated portal (the client setup makes with it is not used).
func startPortal(t *testing.T, cfg emulator.Config) *emulator.Portal {
	p, _, _ := setup(t, cfg, bitrix24.ClientConfig{})
	return p
}

// hammer has every client make calls REST calls from 10 goroutines each and returns the errors.
func hammer(t *testing.T, clients []*bitrix24.Client, memberID string, calls int) []error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	for _, c := range clients {
		per := make(chan struct{}, calls)
		for range calls {
			per <- struct{}{}
		}
		close(per)
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range per {
					if err := c.Call(ctx(t), memberID, "app.info", nil, nil); err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
					}
				}
			}()
		}
	}
	wg.Wait()
	return errs
}

func rejected(p *emulator.Portal) (accepted, limited int) {
	for _, c := range p.Calls() {
		switch c.ErrorCode {
		case "":
			accepted++
		case bitrix24.ErrCodeQueryLimitExceeded:
			limited++
		}
	}
	return accepted, limited
}

// Issue 21 must 2: three processes on one portal, each configured with the portal's plan, together
// never exceed it: the strict emulator (reference §8.1 leaky bucket) refuses nothing. The same three
// with a limiter each (the old behaviour) overrun it, which is what makes the first half mean
// something.
func TestSharedBudgetThreeProcessesStayUnderThePlan(t *testing.T) {
	if testing.Short() {
		t.Skip("takes ~10 s")
	}
	// 10/s rather than the standard plan's 2/s to keep the test short; the one request of margin is then
	// 100 ms of scheduling delay on a loaded machine.
	plan := emulator.Config{RatePerSec: 10, Burst: 10}
	ccfg := bitrix24.ClientConfig{RatePerSec: 10, Burst: 10}
	ns := natstest.Start(t)
	if _, err := budget.Provision(context.Background(), ns.JS, 1); err != nil {
		t.Fatal(err)
	}

	p := startPortal(t, plan)
	t0 := time.Now()
	if errs := hammer(t, processes(t, p, ns, 3, ccfg), p.MemberID(), 20); len(errs) > 0 {
		t.Fatalf("%d calls failed, first: %v", len(errs), errs[0])
	}
	took := time.Since(t0)
	accepted, limited := rejected(p)
	if limited != 0 {
		t.Fatalf("the portal refused %d of %d requests with QUERY_LIMIT_EXCEEDED: the three processes together exceeded its plan", limited, accepted+limited)
	}
	if accepted != 60 {
		t.Fatalf("portal executed %d calls, want 60", accepted)
	}
	t.Logf("60 calls from three processes took %v", took)

	// Control: a limiter per process, no shared budget.
	p2 := startPortal(t, plan)
	_ = hammer(t, processes(t, p2, nil, 3, ccfg), p2.MemberID(), 20)
	if _, limited := rejected(p2); limited == 0 {
		t.Fatal("without the shared budget three processes should overrun the portal; the test proves nothing")
	}
}

// Issue 21 must 2: OVERLOAD_LIMIT answered to one process pauses the others: they do not call the
// portal until the pause ends, and then they do.
func TestOverloadOnOneProcessPausesTheOthers(t *testing.T) {
	ns := natstest.Start(t)
	if _, err := budget.Provision(context.Background(), ns.JS, 1); err != nil {
		t.Fatal(err)
	}
	p := startPortal(t, emulator.Config{})
	pause := 1500 * time.Millisecond
	cs := processes(t, p, ns, 3, bitrix24.ClientConfig{OverloadPause: pause})
	mid := p.MemberID()
	for _, c := range cs {
		if err := c.Call(ctx(t), mid, "app.info", nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	p.SetFailure(emulator.Failure{Calls: 1, Status: 503, Code: bitrix24.ErrCodeOverloadLimit, Description: "Portal overloaded"})
	err := cs[0].Call(ctx(t), mid, "app.info", nil, nil)
	until, ok := bitrix24.PausedUntil(err)
	if !errors.Is(err, bitrix24.ErrPortalOverloaded) || !ok {
		t.Fatalf("OVERLOAD_LIMIT: %v", err)
	}
	n := len(p.Calls())
	// The others learn of it through the watched pause record, not by calling.
	deadline := time.Now().Add(5 * time.Second)
	for _, c := range cs[1:] {
		for c.PausedUntil(mid).IsZero() {
			if time.Now().After(deadline) {
				t.Fatal("another process did not learn of the pause")
			}
			time.Sleep(10 * time.Millisecond)
		}
		err := c.Call(ctx(t), mid, "app.info", nil, nil)
		if u, ok := bitrix24.PausedUntil(err); !ok || !u.Equal(until) {
			t.Fatalf("another process during the pause: %v (until %v, want %v)", err, u, until)
		}
	}
	if got := len(p.Calls()); got != n {
		t.Fatalf("the portal was called %d times during the pause", got-n)
	}
	if v := gaugeValue(t, "signet_bitrix24_overload", mid); v != 1 {
		t.Fatalf("signet_bitrix24_overload during the pause = %v, want 1", v)
	}
	time.Sleep(time.Until(until) + 50*time.Millisecond)
	for i, c := range cs {
		if err := c.Call(ctx(t), mid, "app.info", nil, nil); err != nil {
			t.Fatalf("after the pause: %v", err)
		}
		if i == 0 { // the process that was told clears the alert by itself
			if v := gaugeValue(t, "signet_bitrix24_overload", mid); v != 0 {
				t.Fatalf("signet_bitrix24_overload after the pause = %v, want 0", v)
			}
		}
	}
}

// A process that starts during a pause learns of it from the record (the watch's initial values).
func TestPauseReachesAProcessStartedLater(t *testing.T) {
	ns := natstest.Start(t)
	kv, err := budget.Provision(context.Background(), ns.JS, 1)
	if err != nil {
		t.Fatal(err)
	}
	first, err := budget.New(kv, budget.Config{ProcessID: "first"})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	until := time.Now().Add(time.Hour).Truncate(time.Second)
	first.Pause(context.Background(), "abc123", until)
	later, err := budget.New(kv, budget.Config{ProcessID: "later"})
	if err != nil {
		t.Fatal(err)
	}
	defer later.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !later.PausedUntil("abc123").Equal(until) {
		if time.Now().After(deadline) {
			t.Fatalf("paused until %v, want %v", later.PausedUntil("abc123"), until)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A shorter pause never shortens a longer one.
	first.Pause(context.Background(), "abc123", time.Now().Add(time.Minute))
	time.Sleep(100 * time.Millisecond)
	if !later.PausedUntil("abc123").Equal(until) {
		t.Fatal("a shorter pause replaced a longer one")
	}
	if err := later.Resume(context.Background(), "abc123"); err != nil {
		t.Fatal(err)
	}
	for !first.PausedUntil("abc123").IsZero() {
		if time.Now().After(deadline) {
			t.Fatal("Resume did not reach the other process")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// NATS gone: slots come from the local limiter at the portal's rate over the processes that shared
// it (at least budget.MinShare), never faster.
func TestBudgetFallbackWhenNATSIsGone(t *testing.T) {
	ns := natstest.Start(t)
	kv, err := budget.Provision(context.Background(), ns.JS, 1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := budget.New(kv, budget.Config{RatePerSec: 8, Burst: 4, OpTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.Pause(context.Background(), "m1", time.Now().Add(time.Hour))
	ns.Srv.Shutdown()
	ns.Srv.WaitForShutdown()
	var last time.Time
	t0 := time.Now()
	for range 5 {
		at, err := b.Reserve(context.Background(), "m1")
		if err != nil {
			t.Fatal(err)
		}
		last = at
	}
	// 8/s over MinShare 4 = 2/s, burst 1: the fifth slot 2 s after the first.
	if got := last.Sub(t0); got < 1900*time.Millisecond {
		t.Fatalf("five fallback slots span %v; faster than the portal's rate over %d processes", got, budget.MinShare)
	}
	if b.PausedUntil("m1").IsZero() {
		t.Fatal("the pause known before NATS went away must hold")
	}
}
