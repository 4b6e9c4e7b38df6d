package softhsm

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-b24/signet/internal/testsupport/testenv"
)

func TestInitCreatesOnceAndReuses(t *testing.T) {
	util := testenv.RequireTool(t, "softhsm2-util")
	if _, err := Module(); err != nil {
		if testenv.Strict() {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	dir := t.TempDir()
	for i := 0; i < 2; i++ { // the second call must reuse the token, not add one
		mod, err := Init(dir, "unit-token", "so-pin-1234", "user-pin-1234")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(mod); err != nil {
			t.Fatalf("module %s: %v", mod, err)
		}
	}
	if _, err := Init(dir, "second-token", "so-pin-1234", "user-pin-1234"); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	if os.Getenv("SOFTHSM2_CONF") != conf {
		t.Fatalf("SOFTHSM2_CONF = %q, want %q", os.Getenv("SOFTHSM2_CONF"), conf)
	}
	out, err := exec.Command(util, "--show-slots").CombinedOutput()
	if err != nil {
		t.Fatalf("softhsm2-util --show-slots: %v: %s", err, out)
	}
	if n := strings.Count(string(out), "unit-token"); n != 1 {
		t.Fatalf("%d tokens labelled unit-token, want 1:\n%s", n, out)
	}
	if n := strings.Count(string(out), "second-token"); n != 1 {
		t.Fatalf("%d tokens labelled second-token, want 1", n)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "tokens"))
	if err != nil || len(entries) != 2 {
		t.Fatalf("token directory holds %d entries (%v), want 2", len(entries), err)
	}
}

func TestInitRejectsBadInput(t *testing.T) {
	testenv.RequireTool(t, "softhsm2-util")
	if _, err := Module(); err != nil {
		t.Skip(err)
	}
	if _, err := Init(t.TempDir(), "", "so-pin-1234", "user-pin-1234"); err == nil {
		t.Fatal("empty label accepted")
	}
	_, err := Init(t.TempDir(), "x", "so-pin-1234", "123")
	if err == nil || strings.Contains(err.Error(), "so-pin-1234") {
		t.Fatalf("short PIN: %v (want an error without the PINs)", err)
	}
}
