package keyring

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/keyring/softhsm"
	"go.uber.org/zap/zaptest"
)

const (
	testSOPIN   = "so-12345678"
	testUserPIN = "user-1234"
)

// softhsmStore initialises a SoftHSM store in a temp dir with one token per label and returns
// configurations for them (PIN in a file). Each test gets its own store; SoftHSM re-reads
// SOFTHSM2_CONF when the module is initialised again after every context was closed.
func softhsmStore(t testing.TB, labels ...string) (dir string, cfgs []TokenConfig) {
	t.Helper()
	testenv.RequireTool(t, "softhsm2-util")
	// SoftHSM re-reads SOFTHSM2_CONF only when the module is initialised again, i.e. after every
	// context was closed; a test that leaks a Keyring would make the next test's tokens invisible.
	registryMu.Lock()
	for path, m := range registry {
		m.mu.Lock()
		open := m.open
		m.mu.Unlock()
		if open != 0 {
			registryMu.Unlock()
			t.Fatalf("%d PKCS#11 contexts on %s are still open from an earlier test (a Keyring was not closed)", open, path)
		}
	}
	registryMu.Unlock()
	mod, err := softhsm.Module()
	if err != nil {
		if testenv.Strict() {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	dir = t.TempDir()
	for _, l := range labels {
		if mod, err = softhsm.Init(dir, l, testSOPIN, testUserPIN); err != nil {
			t.Fatal(err)
		}
	}
	pinFile := filepath.Join(dir, "user.pin")
	if err := os.WriteFile(pinFile, []byte(testUserPIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, l := range labels {
		cfgs = append(cfgs, TokenConfig{Name: l, Module: mod, Label: l, PinFile: pinFile, MaxSessions: 16})
	}
	return dir, cfgs
}

func openKeyring(t testing.TB, cfgs []TokenConfig) *Keyring {
	t.Helper()
	k, err := Open(context.Background(), cfgs, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = k.Close() })
	return k
}

// signAndVerify signs a SHA-256 digest with the credential's key and checks the signature with the
// certificate's public key in Go.
func signAndVerify(t testing.TB, cred *Credential, msg []byte) []byte {
	t.Helper()
	digest := sha256.Sum256(msg)
	sig, err := cred.Key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatalf("Sign with %s: %v", cred.URI, err)
	}
	switch pub := cred.Certificate.PublicKey.(type) {
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
			t.Fatalf("RSA signature by %s does not verify: %v", cred.URI, err)
		}
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, digest[:], sig) {
			t.Fatalf("ECDSA signature by %s does not verify", cred.URI)
		}
	default:
		t.Fatalf("unexpected public key %T", pub)
	}
	return sig
}

func mustErrorIs(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

func verifySig(cred *Credential, digest, sig []byte) error {
	switch pub := cred.Certificate.PublicKey.(type) {
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest, sig)
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, digest, sig) {
			return errors.New("ECDSA signature does not verify")
		}
		return nil
	}
	return errors.New("unexpected key type")
}

func maxProcs() int { return runtime.GOMAXPROCS(0) }

// setProcs lowers GOMAXPROCS for one benchmark so RunParallel starts exactly n goroutines.
func setProcs(b *testing.B, n int) {
	old := runtime.GOMAXPROCS(n)
	b.Cleanup(func() { runtime.GOMAXPROCS(old) })
}
