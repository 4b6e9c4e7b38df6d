package storage_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/signet-b24/signet/storage"
	"github.com/signet-b24/signet/storage/miniotest"
)

// Both backends list what was put under a prefix and nothing else: not another prefix, not the
// local backend's own metadata and temp files; an empty prefix is no error; fn's error stops the
// listing.
func TestListLocalAndS3(t *testing.T) {
	ctx := context.Background()
	stores := map[string]storage.Store{}
	local, err := storage.Open(ctx, "file://"+t.TempDir(), storage.Options{PublicURL: "http://127.0.0.1:8080", LinkSecret: []byte("0123456789abcdef0123")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { local.Close() })
	stores["local"] = local
	stores["s3"] = openS3(t, miniotest.Start(t), "archive", "tenant-a/", storage.Options{})
	for name, st := range stores {
		t.Run(name, func(t *testing.T) {
			l, ok := st.(storage.Lister)
			if !ok {
				t.Fatalf("the %s store does not list", name)
			}
			list := func(prefix string) []string {
				t.Helper()
				var keys []string
				if err := l.List(ctx, prefix, func(k string) error { keys = append(keys, k); return nil }); err != nil {
					t.Fatalf("List(%q): %v", prefix, err)
				}
				slices.Sort(keys)
				return keys
			}
			if got := list("signed/"); len(got) != 0 {
				t.Fatalf("an empty store lists %v", got)
			}
			for _, k := range []string{"signed/p/2026/01/g/a.pdf", "signed/p/2026/01/g/a.json", "signed/q/2026/02/h/b.pdf", "uploads/x.pdf"} {
				if _, err := st.Put(ctx, k, strings.NewReader("%PDF "+k), -1, "application/pdf", ""); err != nil {
					t.Fatal(err)
				}
			}
			want := []string{"signed/p/2026/01/g/a.json", "signed/p/2026/01/g/a.pdf", "signed/q/2026/02/h/b.pdf"}
			if got := list("signed/"); !slices.Equal(got, want) {
				t.Errorf("List(signed/) = %v, want %v", got, want)
			}
			if got := list("signed/q/"); !slices.Equal(got, want[2:]) {
				t.Errorf("List(signed/q/) = %v", got)
			}
			n := 0
			stop := context.Canceled
			if err := l.List(ctx, "", func(string) error { n++; return stop }); err != stop || n != 1 {
				t.Errorf("fn's error: List returned %v after %d keys", err, n)
			}
		})
	}
}
