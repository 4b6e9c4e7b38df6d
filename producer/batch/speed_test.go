package batch

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkEnqueue measures authorising (one grant document each) and publishing b.N jobs.
func BenchmarkEnqueue(b *testing.B) {
	e := newEnv(b)
	var sb strings.Builder
	sb.WriteString("key\n")
	for range b.N {
		sb.WriteString("incoming/x/a.pdf\n")
	}
	p := filepath.Join(b.TempDir(), "m.csv")
	if err := os.WriteFile(p, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	m, err := ReadManifest(p)
	if err != nil {
		b.Fatal(err)
	}
	enq := &Enqueuer{JS: e.js, KV: e.kv, Store: e.store, Identity: e.id, JobKey: e.key}
	b.ResetTimer()
	if _, err := enq.Enqueue(context.Background(), Request{Login: "mary", Credential: cred, Manifest: m, OTP: func() (string, error) { return "", nil }}); err != nil {
		b.Fatal(err)
	}
}
