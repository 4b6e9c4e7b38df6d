package identity

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-b24/signet/internal/testsupport/testenv"
)

func TestLoadKeys(t *testing.T) {
	l1, _ := GenerateKeyLine()
	l2, _ := GenerateKeyLine()
	dir := t.TempDir()
	file := filepath.Join(dir, "keys")
	if err := os.WriteFile(file, []byte("# Signet OTP keys\n"+l1+"\n\n"+l2+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{file, l1 + "\n" + l2} {
		k, err := LoadKeys(src)
		if err != nil {
			t.Fatalf("LoadKeys: %v", err)
		}
		id2, _, _ := strings.Cut(l2, ":")
		if k.ActiveID() != id2 || len(k.IDs()) != 2 {
			t.Fatalf("active %q of %v, want the last line %q", k.ActiveID(), k.IDs(), id2)
		}
	}
	_, key1, _ := strings.Cut(l1, ":")
	short := base64.StdEncoding.EncodeToString([]byte("sixteen byte key"))
	for name, bad := range map[string]string{
		"missing file":  filepath.Join(dir, "nope"),
		"short key":     "k1:" + short,
		"no id":         ":" + key1,
		"duplicate id":  "k1:" + key1 + "\nk1:" + key1,
		"not base64":    "k1:" + key1[:10] + "!!" + key1[12:],
		"only comments": "# k1:nothing",
	} {
		_, err := LoadKeys(bad)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if !errors.Is(err, ErrKeyFormat) && !errors.Is(err, ErrNoKeys) {
			t.Errorf("%s: %v is neither ErrKeyFormat nor ErrNoKeys", name, err)
		}
		if strings.Contains(err.Error(), key1) || strings.Contains(err.Error(), short) || strings.Contains(err.Error(), key1[:10]) {
			t.Errorf("%s: error quotes key material: %v", name, err)
		}
	}
}

// rawOTPRecord returns the stored bytes of a user's OTP state.
func rawOTPRecord(t *testing.T, f *fixture, login string) []byte {
	t.Helper()
	e, err := f.svc.otp.Get(context.Background(), loginKey(login))
	if err != nil {
		t.Fatal(err)
	}
	return e.Value()
}

func TestSecretsEncryptedAtRest(t *testing.T) {
	f, secret := newEnrolledFixture(t, "mary")
	raw := rawOTPRecord(t, f, "mary")
	plainBytes, err := base32NoPad.DecodeString(secret)
	if err != nil {
		t.Fatal(err)
	}
	for _, needle := range [][]byte{[]byte(secret), []byte(strings.ToLower(secret)), plainBytes} {
		if strings.Contains(string(raw), string(needle)) {
			t.Fatal("OTP record in KV contains the secret")
		}
	}
	var st otpState
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	if st.Secret.KeyID != f.keys.ActiveID() || len(st.Secret.Data) == 0 {
		t.Fatalf("record not sealed with the active key: kid %q", st.Secret.KeyID)
	}
	// The pending secret in the enrolment bucket is sealed too.
	keys, err := listKeys(context.Background(), f.svc.enrol, "t.>")
	if err != nil || len(keys) != 1 {
		t.Fatalf("enrolment records: %v %v", keys, err)
	}
	e, _ := f.svc.enrol.Get(context.Background(), keys[0])
	if strings.Contains(string(e.Value()), secret) || strings.Contains(string(e.Value()), string(plainBytes)) {
		t.Fatal("enrolment record in KV contains the secret")
	}
	// A ciphertext moved to another user's record does not decrypt (AAD binds it to its owner).
	if _, err := f.keys.open(st.Secret, otpAAD("eve"), "eve"); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("ciphertext under another login: %v", err)
	}
}

func TestWrongKeyGivesClearError(t *testing.T) {
	f, secret := newEnrolledFixture(t, "mary")
	ctx := context.Background()

	// Same key id, different key bytes.
	id := f.keys.ActiveID()
	other, _ := GenerateKeyLine()
	_, otherKey, _ := strings.Cut(other, ":")
	wrong, err := LoadKeys(id + ":" + otherKey)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.reopen(t, wrong).Authorize(ctx, "mary", testenv.TOTP(t, secret, f.clock.Now()), "", "")
	if !errors.Is(err, ErrDecrypt) || !strings.Contains(err.Error(), id) || !strings.Contains(err.Error(), `"mary"`) {
		t.Fatalf("wrong key bytes: %v", err)
	}
	// The old key missing altogether.
	newOnly, _ := testKeys(t, 1)
	_, err = f.reopen(t, newOnly).Authorize(ctx, "mary", testenv.TOTP(t, secret, f.clock.Now()), "", "")
	if !errors.Is(err, ErrKeyUnknown) || !strings.Contains(err.Error(), id) {
		t.Fatalf("old key not loaded: %v", err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Fatal("error contains the secret")
	}
	// Neither attempt counted as a wrong code: the right key still works.
	if _, err := f.svc.Authorize(ctx, "mary", testenv.TOTP(t, secret, f.clock.Now()), "", ""); err != nil {
		t.Fatalf("with the right key: %v", err)
	}
}

func TestKeyRotation(t *testing.T) {
	f := newUserFixture(t, "old", "new")
	ctx := context.Background()
	oldSecret := f.enrol(t, "old")
	oldID := f.keys.ActiveID()

	// Rotate: the old line stays, a new line is appended and becomes the active key.
	newLine, _ := GenerateKeyLine()
	oldLine := f.keyLines[0]
	rotated, err := LoadKeys(oldLine + "\n" + newLine)
	if err != nil {
		t.Fatal(err)
	}
	f.svc = f.reopen(t, rotated)
	if _, err := f.svc.Authorize(ctx, "old", testenv.TOTP(t, oldSecret, f.clock.Now()), "", ""); err != nil {
		t.Fatalf("old ciphertext with the old key still loaded: %v", err)
	}
	newSecret := f.enrol(t, "new")
	var st otpState
	json.Unmarshal(rawOTPRecord(t, f, "new"), &st)
	if st.Secret.KeyID != rotated.ActiveID() || st.Secret.KeyID == oldID {
		t.Fatalf("new write sealed with %q, want the new key %q", st.Secret.KeyID, rotated.ActiveID())
	}
	json.Unmarshal(rawOTPRecord(t, f, "old"), &st)
	if st.Secret.KeyID != oldID {
		t.Fatalf("untouched record moved to %q", st.Secret.KeyID)
	}
	// Re-enrolling "old" moves its secret to the new key; then the old key can be dropped.
	f.clock.Advance(30 * time.Second)
	oldSecret = f.enrol(t, "old")
	json.Unmarshal(rawOTPRecord(t, f, "old"), &st)
	if st.Secret.KeyID != rotated.ActiveID() {
		t.Fatalf("re-enrolled record under %q", st.Secret.KeyID)
	}
	newOnly, err := LoadKeys(newLine)
	if err != nil {
		t.Fatal(err)
	}
	svc := f.reopen(t, newOnly)
	for login, secret := range map[string]string{"old": oldSecret, "new": newSecret} {
		if _, err := svc.Authorize(ctx, login, testenv.TOTP(t, secret, f.clock.Now()), "", ""); err != nil {
			t.Fatalf("%s after dropping the old key: %v", login, err)
		}
	}
}

func TestResealMovesEverySecretToTheNewKey(t *testing.T) {
	f := newUserFixture(t, "a", "b")
	ctx := context.Background()
	secretA := f.enrol(t, "a")
	link, _, err := f.svc.StartEnrolment(ctx, "b") // pending, still under the old key
	if err != nil {
		t.Fatal(err)
	}
	oldID := f.keys.ActiveID()
	newLine, _ := GenerateKeyLine()
	rotated, err := LoadKeys(f.keyLines[0] + "\n" + newLine)
	if err != nil {
		t.Fatal(err)
	}
	svc := f.reopen(t, rotated)
	use, err := svc.KeyUsage(ctx)
	if err != nil || use[oldID] != 3 || len(use) != 1 { // a's secret, a's used link, b's pending link
		t.Fatalf("KeyUsage before = %v, %v", use, err)
	}
	n, err := svc.Reseal(ctx)
	if err != nil || n != 3 {
		t.Fatalf("Reseal = %d, %v", n, err)
	}
	use, _ = svc.KeyUsage(ctx)
	if use[rotated.ActiveID()] != 3 || use[oldID] != 0 {
		t.Fatalf("KeyUsage after = %v", use)
	}
	newOnly, _ := LoadKeys(newLine)
	svc = f.reopen(t, newOnly)
	if _, err := svc.Authorize(ctx, "a", testenv.TOTP(t, secretA, f.clock.Now()), "", ""); err != nil {
		t.Fatalf("a after reseal with only the new key: %v", err)
	}
	p, err := svc.PendingSecret(ctx, testenv.EnrolmentToken(t, link))
	if err != nil {
		t.Fatalf("pending enrolment after reseal: %v", err)
	}
	if err := svc.ConfirmEnrolment(ctx, testenv.EnrolmentToken(t, link), testenv.TOTP(t, p.Secret, f.clock.Now())); err != nil {
		t.Fatal(err)
	}
	if n, err := svc.Reseal(ctx); err != nil || n != 0 {
		t.Fatalf("second Reseal = %d, %v", n, err)
	}
}

// The errors' advice must work: an earlier version named `signet admin keygen`, a command that
// does not exist. Run the line the error suggests and load what it prints.
func TestLoadKeysErrorsSuggestAWorkingCommand(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	for name, bad := range map[string]string{
		"missing file":  filepath.Join(t.TempDir(), "nope"),
		"short key":     "k1:c2hvcnQ=",
		"only comments": "# nothing",
	} {
		_, err := LoadKeys(bad)
		if err == nil {
			t.Fatalf("%s: accepted", name)
		}
		if !strings.Contains(err.Error(), keyLineHowTo) {
			t.Fatalf("%s: %v does not say how to make a key", name, err)
		}
	}
	out, err := exec.Command("sh", "-c", keyLineHowTo).Output()
	if err != nil {
		t.Fatalf("running the suggested %s: %v", keyLineHowTo, err)
	}
	k, err := LoadKeys(string(out))
	if err != nil {
		t.Fatalf("the suggested command's output does not load: %v", err)
	}
	if k.ActiveID() != "k1" {
		t.Fatalf("active key %q, want k1", k.ActiveID())
	}
}
