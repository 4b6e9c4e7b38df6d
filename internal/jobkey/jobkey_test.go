package jobkey

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/signet-b24/signet/contracts"
)

// First run creates the signing key (0600) and trusts its public key; a second run finds both and
// adds nothing; a rotated key is appended, and the worker then trusts both.
func TestLoadOrCreate(t *testing.T) {
	dir := t.TempDir()
	key, pub := filepath.Join(dir, "job-signing.key"), filepath.Join(dir, "job-verify.pem")
	s1, err := LoadOrCreateSigner(key, pub, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(key); st.Mode().Perm() != 0o600 {
		t.Fatalf("signing key mode %v, want 0600", st.Mode().Perm())
	}
	s2, err := LoadOrCreateSigner(key, pub, time.Hour)
	if err != nil || s2.KeyID() != s1.KeyID() {
		t.Fatalf("second run: %v, key %s vs %s", err, s2.KeyID(), s1.KeyID())
	}
	keys, err := LoadVerifier(pub)
	if err != nil || keys.Len() != 1 {
		t.Fatalf("verifier: %v, %d keys", err, keys.Len())
	}
	// Rotation: a new key beside the old one.
	s3, err := LoadOrCreateSigner(filepath.Join(dir, "new.key"), pub, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	keys, _ = LoadVerifier(pub)
	if ids := keys.IDs(); len(ids) != 2 || !slices.Contains(ids, s1.KeyID()) || !slices.Contains(ids, s3.KeyID()) {
		t.Fatalf("after rotation the worker trusts %v", ids)
	}
	j := &contracts.SignJob{ID: "j"}
	s1.Sign(j, time.Now())
	if err := keys.Verify(j, time.Now()); err != nil {
		t.Fatalf("a job signed by the old key during rotation: %v", err)
	}
	// A private key in the public-key file is refused, not silently trusted.
	b, _ := os.ReadFile(key)
	bad := filepath.Join(dir, "bad.pem")
	os.WriteFile(bad, b, 0o600)
	if _, err := LoadVerifier(bad); err == nil || !strings.Contains(err.Error(), "only public keys") {
		t.Fatalf("a private key as verification key: %v", err)
	}
	if _, err := LoadVerifier(filepath.Join(dir, "none")); err == nil {
		t.Fatal("a missing verification file must be an error")
	}
}

// Keys made by OpenSSL, as the documentation tells operators, load.
func TestOpenSSLKeys(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	dir := t.TempDir()
	key, pub := filepath.Join(dir, "k.pem"), filepath.Join(dir, "p.pem")
	if out, err := exec.Command("openssl", "genpkey", "-algorithm", "ed25519", "-out", key).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	if out, err := exec.Command("openssl", "pkey", "-in", key, "-pubout", "-out", pub).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	s, err := LoadSigner(key, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := LoadVerifier(pub)
	if err != nil {
		t.Fatal(err)
	}
	j := &contracts.SignJob{ID: "j"}
	s.Sign(j, time.Now())
	if err := keys.Verify(j, time.Now()); err != nil {
		t.Fatal(err)
	}
}
