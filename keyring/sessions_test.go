package keyring

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestConcurrentSigning signs from many goroutines through one context and checks every signature.
func TestConcurrentSigning(t *testing.T) {
	_, cfgs := softhsmStore(t, "busy")
	k := openKeyring(t, cfgs)
	ctx := context.Background()
	for _, kt := range []KeyType{RSA2048, P256} {
		cred, err := k.GenerateSelfSigned(ctx, "busy", "conc-"+string(kt), "CN=Concurrent", kt, 1)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 32)
		for g := 0; g < 32; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < 10; i++ {
					msg := []byte(fmt.Sprintf("doc %d/%d", g, i))
					d := sha256.Sum256(msg)
					sig, err := cred.Key.Sign(rand.Reader, d[:], crypto.SHA256)
					if err == nil {
						err = verifySig(cred, d[:], sig)
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}(g)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("%s: %v", kt, err)
		}
		if n := k.Status()[0].SessionsInUse; n != 0 {
			t.Fatalf("%d sessions still in use after all signatures returned", n)
		}
	}
}

// TestSessionsInUseAndBusy holds sessions deterministically and checks the count, the limit and
// the ErrTokenBusy answer when every session is taken for longer than PoolWaitTimeout.
func TestSessionsInUseAndBusy(t *testing.T) {
	_, cfgs := softhsmStore(t, "small")
	cfgs[0].MaxSessions = 4 // one stays logged in, three sign
	cfgs[0].PoolWaitTimeout = 50 * time.Millisecond
	k := openKeyring(t, cfgs)
	cred, err := k.GenerateSelfSigned(context.Background(), "small", "s", "CN=Small", P256, 1)
	if err != nil {
		t.Fatal(err)
	}
	tok := k.byName["small"]
	release := make(chan struct{})
	var held, done sync.WaitGroup
	for i := 0; i < 3; i++ {
		held.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			_ = tok.do(func(p11Context, uint64) error {
				held.Done()
				<-release
				return nil
			})
		}()
	}
	held.Wait()
	st := k.Status()[0]
	if st.SessionsInUse != 3 || st.MaxSessions != 4 {
		t.Fatalf("status %+v, want 3 of 4 sessions in use", st)
	}
	_, err = cred.Key.Sign(nil, make([]byte, 32), nil)
	if !errors.Is(err, ErrTokenBusy) {
		t.Fatalf("sign with every session held: %v, want ErrTokenBusy", err)
	}
	close(release)
	done.Wait()
	if _, err := cred.Key.Sign(nil, make([]byte, 32), nil); err != nil {
		t.Fatalf("sign after the sessions came back: %v", err)
	}
	if n := k.Status()[0].SessionsInUse; n != 0 {
		t.Fatalf("%d sessions in use at rest", n)
	}
}

// BenchmarkSign measures raw signatures of a SHA-256 digest through one shared context.
// Run: go test -run '^$' -bench Sign -benchtime 2s ./keyring/
func BenchmarkSign(b *testing.B) {
	_, cfgs := softhsmStore(b, "bench")
	cfgs[0].MaxSessions = 32
	k := openKeyring(b, cfgs)
	for _, kt := range []KeyType{RSA2048, P256} {
		cred, err := k.GenerateSelfSigned(context.Background(), "bench", "bench-"+string(kt), "CN=Bench", kt, 1)
		if err != nil {
			b.Fatal(err)
		}
		d := sha256.Sum256([]byte("benchmark"))
		for _, g := range []int{1, 2, 4, 8, 16} {
			b.Run(fmt.Sprintf("%s/goroutines=%d", kt, g), func(b *testing.B) {
				// RunParallel starts p×GOMAXPROCS goroutines; pick p so the total is g.
				b.SetParallelism(max(1, g/maxProcs()))
				if g < maxProcs() {
					b.SetParallelism(1)
					setProcs(b, g)
				}
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := cred.Key.Sign(rand.Reader, d[:], crypto.SHA256); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sig/s")
			})
		}
	}
}
