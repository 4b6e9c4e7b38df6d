package keyring

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThalesIgnite/crypto11"
)

func TestMain(m *testing.M) {
	reconnectMax = time.Second // keep the reconnect tests short
	os.Exit(m.Run())
}

// waitOnline waits (bounded, as a liveness check, not a timing assertion) until the token's status
// is want.
func waitStatus(t *testing.T, k *Keyring, name string, want bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, s := range k.Status() {
			if s.Name == name && s.Online == want {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("token %s did not become online=%v: %+v", name, want, k.Status())
}

// generation is how many times the token has connected; it moves on every reconnect.
func generation(k *Keyring, name string) uint64 {
	t := k.byName[name]
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.gen
}

// waitFor waits (bounded, a liveness check) until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// signer keeps signing in the background and records what happened.
type signer struct {
	ok, offline atomic.Int64
	mu          sync.Mutex
	other       []error
	stop        chan struct{}
	done        sync.WaitGroup
}

func startSigning(t *testing.T, creds ...*Credential) *signer {
	s := &signer{stop: make(chan struct{})}
	for _, c := range creds {
		s.done.Add(1)
		go func() {
			defer s.done.Done()
			for {
				select {
				case <-s.stop:
					return
				default:
				}
				_, err := c.Key.Sign(nil, make([]byte, 32), nil)
				switch {
				case err == nil:
					s.ok.Add(1)
				case errors.Is(err, ErrTokenOffline):
					s.offline.Add(1)
					time.Sleep(5 * time.Millisecond)
				default:
					s.mu.Lock()
					s.other = append(s.other, err)
					s.mu.Unlock()
					time.Sleep(5 * time.Millisecond)
				}
			}
		}()
	}
	return s
}

func (s *signer) finish(t *testing.T) {
	t.Helper()
	close(s.stop)
	s.done.Wait()
	for _, err := range s.other {
		t.Errorf("unexpected error while the token was in trouble: %v", err)
	}
}

// TestTokenDirectoryMovedAwayAndBack removes the SoftHSM token from under the running library (its
// directory is renamed) while signing, and brings it back: the token goes offline (ErrTokenOffline,
// retry-later) and comes back online without a restart, and the old Credential signs again.
func TestTokenDirectoryMovedAwayAndBack(t *testing.T) {
	dir, cfgs := softhsmStore(t, "movable")
	k := openKeyring(t, cfgs)
	cred, err := k.GenerateSelfSigned(context.Background(), "movable", "m", "CN=Movable", P256, 1)
	if err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Join(dir, "tokens"))
	if err != nil || len(ents) != 1 {
		t.Fatalf("token directory: %v", err)
	}
	tokDir := filepath.Join(dir, "tokens", ents[0].Name())

	parked := filepath.Join(dir, "parked") // outside the token directory, so SoftHSM cannot see it
	s := startSigning(t, cred)
	waitFor(t, "a first signature", func() bool { return s.ok.Load() > 0 })
	if err := os.Rename(tokDir, parked); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ErrTokenOffline from Sign", func() bool { return s.offline.Load() > 0 })
	// While the token is away every reconnect fails with ErrTokenNotFound and it stays offline.
	waitStatus(t, k, "movable", false)
	if _, err := k.Credential(context.Background(), cred.URI); !errors.Is(err, ErrTokenOffline) {
		t.Fatalf("Credential while the token is away: %v, want ErrTokenOffline", err)
	}
	if st := k.Status()[0]; st.Err == "" {
		t.Fatalf("status of the offline token carries no error: %+v", st)
	}
	time.Sleep(300 * time.Millisecond) // let a few reconnect attempts fail
	if err := os.Rename(parked, tokDir); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, k, "movable", true)
	okBefore := s.ok.Load()
	waitFor(t, "signatures after the token came back", func() bool { return s.ok.Load() > okBefore })
	s.finish(t)
	if s.offline.Load() == 0 || s.ok.Load() == 0 {
		t.Fatalf("signatures: %d ok, %d offline; want both", s.ok.Load(), s.offline.Load())
	}
	signAndVerify(t, cred, []byte("back again"))
}

// TestSessionsClosedUnderToken closes every session of one token from outside crypto11 (what a token
// reset does): that token reconnects (CKR_SESSION_HANDLE_INVALID), and the other token on the same
// module never notices.
func TestSessionsClosedUnderToken(t *testing.T) {
	_, cfgs := softhsmStore(t, "reset", "steady")
	k := openKeyring(t, cfgs)
	ctx := context.Background()
	a, err := k.GenerateSelfSigned(ctx, "reset", "r", "CN=Reset", P256, 1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := k.GenerateSelfSigned(ctx, "steady", "s", "CN=Steady", P256, 1)
	if err != nil {
		t.Fatal(err)
	}
	tok := k.byName["reset"]
	if err := tok.mod.raw.CloseAllSessions(tok.id.slot); err != nil {
		t.Fatal(err)
	}
	_, err = a.Key.Sign(nil, make([]byte, 32), nil)
	// SoftHSM answers CKR_SESSION_HANDLE_INVALID or, once the login is gone with the sessions,
	// CKR_OBJECT_HANDLE_INVALID for the private key; either way the token must go offline.
	if !errors.Is(err, ErrTokenOffline) {
		t.Fatalf("sign after the sessions were closed: %v, want ErrTokenOffline", err)
	}
	signAndVerify(t, b, []byte("steady"))
	waitFor(t, "the reset token to reconnect", func() bool { return generation(k, "reset") > 1 })
	waitStatus(t, k, "reset", true)
	if g := generation(k, "steady"); g != 1 {
		t.Fatalf("the steady token reconnected too (generation %d)", g)
	}
	signAndVerify(t, a, []byte("reset and back"))
	signAndVerify(t, b, []byte("still steady"))
}

// TestModuleFinalizedUnderTokens reproduces the crypto11 trap from outside the keyring (a failed
// Configure finalizes the module): every token on the module goes offline with
// CKR_CRYPTOKI_NOT_INITIALIZED, and all of them come back. Nothing signs while the module is
// finalized: C_Finalize concurrent with C_Sign crashes SoftHSM inside the library, which is why the
// keyring never finalizes a module with contexts open.
func TestModuleFinalizedUnderTokens(t *testing.T) {
	_, cfgs := softhsmStore(t, "one", "two")
	k := openKeyring(t, cfgs)
	ctx := context.Background()
	var creds []*Credential
	for _, n := range []string{"one", "two"} {
		c, err := k.GenerateSelfSigned(ctx, n, n, "CN="+n, RSA2048, 1)
		if err != nil {
			t.Fatal(err)
		}
		creds = append(creds, c)
	}
	if _, err := crypto11.Configure(&crypto11.Config{Path: cfgs[0].Module, TokenLabel: "not-here", Pin: "x"}); err == nil {
		t.Fatal("Configure with a wrong label succeeded")
	}
	_, err := creds[0].Key.Sign(nil, make([]byte, 32), nil)
	if !errors.Is(err, ErrTokenOffline) {
		t.Fatalf("sign on the finalized module: %v, want ErrTokenOffline", err)
	}
	// Both tokens reconnect (their generation moves), also the one nobody signed with: the module
	// reset reaches every token on it.
	waitFor(t, "both tokens to reconnect", func() bool {
		return generation(k, "one") > 1 && generation(k, "two") > 1
	})
	waitStatus(t, k, "one", true)
	waitStatus(t, k, "two", true)
	for _, c := range creds {
		signAndVerify(t, c, []byte("after the module came back"))
	}
}
