package main

import (
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/internal/config"
)

// A worker-only process never makes a key: without the intake's public keys it does not start, and
// says what to copy. An intake makes its signing key on first run and trusts it; a worker of the same
// data directory then starts.
func TestJobKeysByRole(t *testing.T) {
	dir := t.TempDir()
	cfg, _, err := config.Load("test", []string{"--data-dir", dir}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	w := &app{cfg: cfg, log: zap.NewNop()}
	if err := w.openJobKeys(role{worker: true}); err == nil || !strings.Contains(err.Error(), "job-verify.pem") {
		t.Fatalf("a worker without verification keys: %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "job-*")); len(m) != 0 {
		t.Fatalf("a worker made key files: %v", m)
	}
	in := &app{cfg: cfg, log: zap.NewNop()}
	if err := in.openJobKeys(role{intake: true}); err != nil || in.jobKey == nil {
		t.Fatalf("intake first run: %v", err)
	}
	if err := w.openJobKeys(role{worker: true}); err != nil || w.jobKeys.Len() != 1 || w.jobKey != nil {
		t.Fatalf("worker after the intake: %v (signing key held: %v)", err, w.jobKey != nil)
	}
}
