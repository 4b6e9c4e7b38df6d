package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-b24/signet/storage"
)

// filesServer is a local store behind Files at storage.LinkPath, its links naming the server.
func filesServer(t *testing.T, now func() time.Time) (storage.Store, *httptest.Server, string) {
	t.Helper()
	dir := t.TempDir()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	st, err := storage.Open(context.Background(), "file://"+dir, storage.Options{PublicURL: srv.URL,
		LinkSecret: []byte("0123456789abcdef0123456789abcdef"), PruneInterval: -1, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(storage.LinkPath, &Files{Store: st})
	return st, srv, dir
}

func fetch(t *testing.T, method, link string) (int, http.Header, []byte, error) {
	t.Helper()
	req, _ := http.NewRequest(method, link, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

// A genuine link downloads the document as an attachment; a tampered or expired one is 403, another
// method 405 (storage's TestLocalLinks checks the signature itself).
func TestFilesServesSignedLinks(t *testing.T) {
	now := time.Now()
	st, _, _ := filesServer(t, func() time.Time { return now })
	ctx := context.Background()
	data := []byte("%PDF-1.7 link test")
	key := "signed/acme/2026/11/deal 42/job-1.pdf" // a space must survive escaping
	if _, err := st.Put(ctx, key, bytes.NewReader(data), -1, "application/pdf", ""); err != nil {
		t.Fatal(err)
	}
	link, err := st.URL(ctx, key, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	code, h, b, _ := fetch(t, http.MethodGet, link)
	if code != http.StatusOK || !bytes.Equal(b, data) || h.Get("Content-Type") != "application/pdf" ||
		h.Get("Content-Disposition") != `attachment; filename="job-1.pdf"` || h.Get("Cache-Control") != "private, no-store" {
		t.Fatalf("GET link = %d %q %v", code, b, h)
	}
	if code, h, b, _ := fetch(t, http.MethodHead, link); code != http.StatusOK || len(b) != 0 || h.Get("Content-Length") != "18" {
		t.Errorf("HEAD link = %d, %d bytes, length %s", code, len(b), h.Get("Content-Length"))
	}
	if code, h, _, _ := fetch(t, http.MethodPost, link); code != http.StatusMethodNotAllowed || h.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST link = %d", code)
	}
	u, _ := url.Parse(link)
	q := u.Query()
	tampered := *u
	tampered.RawQuery = url.Values{"expires": {q.Get("expires") + "0"}, "sig": {q.Get("sig")}}.Encode()
	if code, _, b, _ := fetch(t, http.MethodGet, tampered.String()); code != http.StatusForbidden || !strings.Contains(string(b), "invalid download link") {
		t.Errorf("extended expiry: %d %s, want 403", code, b)
	}
	now = now.Add(time.Hour + time.Second)
	if code, _, b, _ := fetch(t, http.MethodGet, link); code != http.StatusForbidden || !strings.Contains(string(b), "ask for a new one") {
		t.Errorf("expired link: %d %s, want 403", code, b)
	}
}

// A file changed on disk after it was stored is cut off before its last bytes: the download fails
// instead of delivering wrong content.
func TestFilesTamperedFileFailsDownload(t *testing.T) {
	st, _, dir := filesServer(t, nil)
	ctx := context.Background()
	data := make([]byte, 200<<10)
	rand.Read(data)
	key := "signed/acme/2026/11/g/big.pdf"
	if _, err := st.Put(ctx, key, bytes.NewReader(data), -1, "application/pdf", ""); err != nil {
		t.Fatal(err)
	}
	edited := bytes.Clone(data)
	edited[len(edited)-1] ^= 0xff
	if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(key)), edited, 0o640); err != nil {
		t.Fatal(err)
	}
	link, _ := st.URL(ctx, key, time.Minute)
	_, _, b, err := fetch(t, http.MethodGet, link)
	if err == nil && bytes.Equal(b, edited) {
		t.Fatal("the tampered file was delivered completely")
	}
	if err == nil {
		t.Fatalf("download of a tampered file ended without error (%d of %d bytes)", len(b), len(edited))
	}
}
