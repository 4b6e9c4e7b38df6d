package budget_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/signet-b24/signet/bitrix24/budget"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
)

// The slots three processes take from one portal's shared record, 20 goroutines each, conform to the
// portal's leaky bucket (reference §8.1): any n consecutive send times t_i ≤ … ≤ t_j fit in a bucket of
// burst − 1 (the margin) draining rate per second, i.e. n ≤ burst − 1 + rate·(t_j − t_i). The send
// times are what Reserve returns, so this checks the algorithm, not the machine's speed.
func TestSlotsOfEveryProcessFitThePortalsBucket(t *testing.T) {
	const rate, burst, processes, each = 20.0, 10, 3, 30
	ns := natstest.Start(t)
	kv, err := budget.Provision(context.Background(), ns.JS, 1)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		slots []time.Time
		wg    sync.WaitGroup
	)
	for p := range processes {
		b, err := budget.New(kv, budget.Config{RatePerSec: rate, Burst: burst, ProcessID: fmt.Sprintf("p%d", p)})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each / 10 {
					at, err := b.Reserve(context.Background(), "portal1")
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					slots = append(slots, at)
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if len(slots) != processes*each {
		t.Fatalf("%d slots, want %d", len(slots), processes*each)
	}
	slices.SortFunc(slots, func(a, b time.Time) int { return a.Compare(b) })
	for i := range slots {
		for j := i; j < len(slots); j++ {
			n := float64(j - i + 1)
			if allowed := burst - 1 + rate*slots[j].Sub(slots[i]).Seconds() + 1e-6; n > allowed {
				t.Fatalf("%v slots between %v and %v: more than the bucket lets through (%.2f)", n, slots[i], slots[j], allowed)
			}
		}
	}
}

// QUERY_LIMIT_EXCEEDED seen by one process slows every process: after A drains, B's next slot is at
// least one interval away although B has taken nothing.
func TestDrainReachesEveryProcess(t *testing.T) {
	ns := natstest.Start(t)
	kv, err := budget.Provision(context.Background(), ns.JS, 1)
	if err != nil {
		t.Fatal(err)
	}
	a, err := budget.New(kv, budget.Config{RatePerSec: 2, Burst: 50, ProcessID: "a"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := budget.New(kv, budget.Config{RatePerSec: 2, Burst: 50, ProcessID: "b"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := a.Reserve(context.Background(), "m"); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	a.Drain(context.Background(), "m")
	at, err := b.Reserve(context.Background(), "m")
	if err != nil {
		t.Fatal(err)
	}
	if wait := at.Sub(before); wait < 500*time.Millisecond {
		t.Fatalf("after a drain the next slot is %v away, want at least one interval (500 ms)", wait)
	}
}

// BenchmarkReserve is the cost of one slot to a REST call: one compare-and-set on the embedded
// server when the process is alone on the portal, more when three processes take turns.
func BenchmarkReserve(b *testing.B) {
	for _, processes := range []int{1, 3} {
		b.Run(fmt.Sprintf("%d processes", processes), func(b *testing.B) {
			ns := natstest.Start(b)
			kv, err := budget.Provision(context.Background(), ns.JS, 1)
			if err != nil {
				b.Fatal(err)
			}
			var shared []*budget.Shared
			for p := range processes {
				s, err := budget.New(kv, budget.Config{RatePerSec: 1e9, Burst: 1 << 30, ProcessID: fmt.Sprintf("p%d", p)})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				shared = append(shared, s)
			}
			var next sync.Mutex
			i := 0
			b.RunParallel(func(pb *testing.PB) {
				next.Lock()
				s := shared[i%len(shared)]
				i++
				next.Unlock()
				for pb.Next() {
					if _, err := s.Reserve(context.Background(), "portal1"); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
