package slowtoken_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/keyring"
	"github.com/signet-b24/signet/keyring/softhsm/slowtoken"
)

// perSignature is the module's wait in these tests: long enough to be a smartcard, short enough for
// a benchmark of a few hundred signatures.
const perSignature = 20 * time.Millisecond

// open prepares a slow token, opens it through the keyring and makes an RSA-2048 credential on it.
func open(t testing.TB) (*keyring.Keyring, *keyring.Credential) {
	t.Helper()
	testenv.RequireTool(t, "softhsm2-util")
	testenv.RequireTool(t, "gcc")
	tok, err := slowtoken.Prepare(t.TempDir(), "slow", perSignature)
	if err != nil {
		t.Fatal(err)
	}
	k, err := keyring.Open(context.Background(), []keyring.TokenConfig{{Name: "slow", Module: tok.Module, Label: tok.Label, PinFile: tok.PinFile}}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Close() })
	cred, err := k.GenerateSelfSigned(context.Background(), "slow", "card-key", "CN=Slow Card", keyring.RSA2048, 30)
	if err != nil {
		t.Fatal(err)
	}
	return k, cred
}

// The module forwards to SoftHSM: a key made through it signs, the signature verifies with the
// certificate, and the slot counts as hardware, so the keyring gives the token one signature at a
// time by default.
func TestSlowTokenSignsAndIsHardware(t *testing.T) {
	k, cred := open(t)
	digest := sha256.Sum256([]byte("slow"))
	sig, err := cred.Key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPKCS1v15(cred.Certificate.PublicKey.(*rsa.PublicKey), crypto.SHA256, digest[:], sig); err != nil {
		t.Fatalf("signature through the slow module does not verify: %v", err)
	}
	l := k.Limits("slow")
	if !l.Hardware || l.Concurrency != 1 || l.RatePerSec != 0 {
		t.Fatalf("limits of the slow token = %+v, want hardware with concurrency 1 and no rate cap", l)
	}
}

// BenchmarkSlowTokenSign: ns/op is the module's wait plus SoftHSM's RSA-2048 signature; with -cpu 4
// the chip lock makes parallel signatures queue, so ns/op stays the same per signature.
func BenchmarkSlowTokenSign(b *testing.B) {
	_, cred := open(b)
	digest := sha256.Sum256([]byte("slow"))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := cred.Key.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
