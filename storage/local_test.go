package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is an injectable clock for retention and link expiry.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func openTestLocal(t *testing.T, clk *fakeClock) (*localStore, string) {
	t.Helper()
	dir := t.TempDir()
	o := Options{PublicURL: "http://127.0.0.1:1", LinkSecret: []byte("0123456789abcdef0123456789abcdef"), PruneInterval: -1}
	if clk != nil {
		o.Now = clk.Now
	}
	st, err := Open(context.Background(), "file://"+dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st.(*localStore), dir
}

func sum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

func readAll(t *testing.T, st Store, key string) ([]byte, Object, error) {
	t.Helper()
	rc, obj, err := st.Get(context.Background(), key)
	if err != nil {
		return nil, obj, err
	}
	b, rerr := io.ReadAll(rc)
	cerr := rc.Close()
	if rerr == nil {
		rerr = cerr
	}
	return b, obj, rerr
}

func TestLocalPutGetStat(t *testing.T) {
	st, dir := openTestLocal(t, nil)
	ctx := context.Background()
	data := []byte("%PDF-1.7 signed body")
	key, _, _ := ArtefactKeys("acme.bitrix24.ru", time.Date(2026, 11, 22, 23, 0, 0, 0, time.UTC), "deal-42", "job-1")

	obj, err := st.Put(ctx, key, bytes.NewReader(data), int64(len(data)), "application/pdf", "")
	if err != nil {
		t.Fatal(err)
	}
	if obj.SHA256 != sum(data) || obj.Size != int64(len(data)) || obj.ContentType != "application/pdf" || obj.Key != key {
		t.Fatalf("Put returned %+v", obj)
	}
	got, gobj, err := readAll(t, st, key)
	if err != nil || !bytes.Equal(got, data) || gobj.SHA256 != obj.SHA256 {
		t.Fatalf("Get = %q, %+v, %v", got, gobj, err)
	}
	sobj, err := st.Stat(ctx, key)
	if err != nil || sobj != obj {
		t.Fatalf("Stat = %+v, %v; want %+v", sobj, err, obj)
	}
	// The object is a plain file at its key, browsable by an operator.
	if b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(key))); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("file on disk: %q, %v", b, err)
	}
	if _, err := st.Stat(ctx, "signed/none.pdf"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Stat(missing) = %v, want ErrNotFound", err)
	}
	if _, _, err := st.Get(ctx, "signed/none.pdf"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(missing) = %v, want ErrNotFound", err)
	}
	if err := st.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Stat(ctx, key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Stat after Delete = %v, want ErrNotFound", err)
	}
	if err := st.Delete(ctx, key); err != nil {
		t.Fatalf("second Delete = %v, want nil", err)
	}
	if err := st.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestLocalPutIdempotentAndChecksum(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	st, _ := openTestLocal(t, clk)
	ctx := context.Background()
	data := []byte("report json")
	first, err := st.Put(ctx, "signed/a/2026/11/g/j.json", bytes.NewReader(data), -1, "application/json", "")
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Hour)
	// Same bytes again, with and without the digest: the existing object (same write time) comes back.
	for _, given := range []string{"", strings.ToUpper(sum(data))} {
		again, err := st.Put(ctx, "signed/a/2026/11/g/j.json", bytes.NewReader(data), int64(len(data)), "application/json", given)
		if err != nil || again != first {
			t.Fatalf("repeated Put(sha %q) = %+v, %v; want the first object %+v", given, again, err, first)
		}
	}
	// A wrong digest stores nothing, for a new key and for an existing one.
	other := []byte("different bytes")
	if _, err := st.Put(ctx, "signed/a/2026/11/g/new.json", bytes.NewReader(other), -1, "", sum(data)); !errors.Is(err, ErrChecksumMismatch) {
		t.Fatalf("Put with wrong sha = %v, want ErrChecksumMismatch", err)
	}
	if _, err := st.Stat(ctx, "signed/a/2026/11/g/new.json"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after refused Put, Stat = %v, want ErrNotFound", err)
	}
	if _, err := st.Put(ctx, "signed/a/2026/11/g/j.json", bytes.NewReader(other), -1, "", sum([]byte("third"))); !errors.Is(err, ErrChecksumMismatch) {
		t.Fatalf("overwrite with wrong sha = %v", err)
	}
	if got, _, err := readAll(t, st, "signed/a/2026/11/g/j.json"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after refused overwrite: %q, %v", got, err)
	}
	// A declared size that does not match is refused too.
	if _, err := st.Put(ctx, "signed/a/2026/11/g/size.json", bytes.NewReader(other), 3, "", ""); err == nil {
		t.Fatal("Put with a short declared size succeeded")
	}
	if _, err := st.Put(ctx, "signed/a/2026/11/g/size.json", bytes.NewReader(other), 300, "", ""); err == nil {
		t.Fatal("Put with a long declared size succeeded")
	}
	// Different bytes under the same key replace the object.
	obj, err := st.Put(ctx, "signed/a/2026/11/g/j.json", bytes.NewReader(other), -1, "", "")
	if err != nil || obj.SHA256 != sum(other) {
		t.Fatalf("overwrite: %+v, %v", obj, err)
	}
}

func TestLocalIntegrityAfterEditOnDisk(t *testing.T) {
	st, dir := openTestLocal(t, nil)
	ctx := context.Background()
	data := bytes.Repeat([]byte("signed pdf bytes "), 10000)
	key := "signed/p/2026/11/g/tamper.pdf"
	if _, err := st.Put(ctx, key, bytes.NewReader(data), int64(len(data)), "application/pdf", ""); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, filepath.FromSlash(key))
	edited := bytes.Clone(data)
	edited[len(edited)/2] ^= 1 // same size, one bit changed
	if err := os.WriteFile(path, edited, 0o640); err != nil {
		t.Fatal(err)
	}
	_, _, err := readAll(t, st, key)
	if !errors.Is(err, ErrIntegrity) {
		t.Fatalf("reading an edited file: %v, want ErrIntegrity", err)
	}
	// Close alone also reports it after the data was consumed.
	rc, _, err := st.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, rc)
	if err := rc.Close(); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("Close after tampered read = %v, want ErrIntegrity", err)
	}
	// Truncation is caught too.
	if err := os.WriteFile(path, data[:100], 0o640); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readAll(t, st, key); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("reading a truncated file: %v, want ErrIntegrity", err)
	}
	// A file dropped in without a sidecar is not trusted.
	os.WriteFile(filepath.Join(dir, "signed", "stray.pdf"), data, 0o640)
	if _, err := st.Stat(ctx, "signed/stray.pdf"); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("Stat of a file without sidecar = %v, want ErrIntegrity", err)
	}
	// Putting the right bytes again (digest computed, so the stream is read) repairs the object.
	if _, err := st.Put(ctx, key, bytes.NewReader(data), -1, "application/pdf", ""); err != nil {
		t.Fatal(err)
	}
	if got, _, err := readAll(t, st, key); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after repair: %d bytes, %v", len(got), err)
	}
}

func TestLocalKeysCannotEscape(t *testing.T) {
	st, dir := openTestLocal(t, nil)
	ctx := context.Background()
	for _, key := range []string{"", "/etc/passwd", "../x", "a/../../x", "a/./b", "a//b", "a/", ".signet/meta/x.json",
		"a/.hidden", `a\..\b`, "a/b\x00c", "a/b\nc", strings.Repeat("k", 1025)} {
		if _, err := st.Put(ctx, key, strings.NewReader("x"), 1, "", ""); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Put(%q) = %v, want ErrInvalidKey", key, err)
		}
		if _, err := st.Stat(ctx, key); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Stat(%q) = %v, want ErrInvalidKey", key, err)
		}
		if err := st.Delete(ctx, key); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Delete(%q) = %v, want ErrInvalidKey", key, err)
		}
		if _, err := st.URL(ctx, key, time.Hour); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("URL(%q) = %v, want ErrInvalidKey", key, err)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != ".signet" {
		t.Fatalf("refused keys left files behind: %v", ents)
	}
}

func TestArtefactKeys(t *testing.T) {
	tm := time.Date(2026, 1, 31, 23, 30, 0, 0, time.FixedZone("MSK", 3*3600)) // 20:30 UTC, still January
	cases := []struct{ portal, group, job, want string }{
		{"acme.bitrix24.ru", "deal-42", "01JD9", "signed/acme.bitrix24.ru/2026/01/deal-42/01JD9"},
		{"../evil", "a/b", "..", "signed/_._evil/2026/01/a_b/_."},
		{"", "batch 7", "job", "signed/_/2026/01/batch_7/job"},
	}
	for _, c := range cases {
		pdf, p7s, rep := ArtefactKeys(c.portal, tm, c.group, c.job)
		if pdf != c.want+".pdf" || p7s != c.want+".p7s" || rep != c.want+".json" {
			t.Errorf("ArtefactKeys(%q,%q,%q) = %s %s %s, want %s.{pdf,p7s,json}", c.portal, c.group, c.job, pdf, p7s, rep, c.want)
		}
		for _, k := range []string{pdf, p7s, rep} {
			if err := ValidateKey(k); err != nil {
				t.Errorf("ArtefactKeys made an invalid key: %v", err)
			}
		}
	}
}

func TestLocalLinks(t *testing.T) {
	clk := &fakeClock{t: time.Now()}
	st, _ := openTestLocal(t, clk)
	ctx := context.Background()
	data := []byte("%PDF-1.7 link test")
	key := "signed/acme/2026/11/deal 42/job-1.pdf" // a space must survive escaping
	if _, err := st.Put(ctx, key, bytes.NewReader(data), -1, "application/pdf", ""); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(LinkPath, LinkHandler(st))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	st.o.PublicURL = srv.URL

	get := func(link string) (int, []byte) {
		t.Helper()
		resp, err := http.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}

	link, err := st.URL(ctx, key, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(link, string(st.o.LinkSecret)) {
		t.Fatal("link contains the secret")
	}
	if code, b := get(link); code != 200 || !bytes.Equal(b, data) {
		t.Fatalf("GET link = %d %q", code, b)
	}

	u, _ := url.Parse(link)
	q := u.Query()
	tampered := *u
	q2 := url.Values{"expires": {q.Get("expires")}, "sig": {"A" + q.Get("sig")[1:]}}
	if q.Get("sig")[0] == 'A' {
		q2.Set("sig", "B"+q.Get("sig")[1:])
	}
	tampered.RawQuery = q2.Encode()
	if code, _ := get(tampered.String()); code != http.StatusForbidden {
		t.Fatalf("tampered signature: %d, want 403", code)
	}
	longer := *u
	longer.RawQuery = url.Values{"expires": {q.Get("expires") + "0"}, "sig": {q.Get("sig")}}.Encode()
	if code, _ := get(longer.String()); code != http.StatusForbidden {
		t.Fatalf("extended expiry: %d, want 403", code)
	}
	other := *u
	other.Path = strings.Replace(u.Path, "job-1.pdf", "job-2.pdf", 1)
	if code, _ := get(other.String()); code != http.StatusForbidden {
		t.Fatalf("other key with the same signature: %d, want 403", code)
	}

	clk.Add(time.Hour + time.Second)
	if code, _ := get(link); code != http.StatusForbidden {
		t.Fatalf("expired link: %d, want 403", code)
	}

	if _, err := st.URL(ctx, key, 7*24*time.Hour+time.Second); !errors.Is(err, ErrExpiry) {
		t.Fatalf("URL with 7 days + 1 s = %v, want ErrExpiry", err)
	}
	if _, err := st.URL(ctx, key, 7*24*time.Hour); err != nil {
		t.Fatalf("URL with 7 days = %v", err)
	}
}

func TestLocalLinkTamperedFileFailsDownload(t *testing.T) {
	st, dir := openTestLocal(t, nil)
	ctx := context.Background()
	data := make([]byte, 200<<10)
	rand.Read(data)
	key := "signed/acme/2026/11/g/big.pdf"
	if _, err := st.Put(ctx, key, bytes.NewReader(data), -1, "application/pdf", ""); err != nil {
		t.Fatal(err)
	}
	edited := bytes.Clone(data)
	edited[len(edited)-1] ^= 0xff
	os.WriteFile(filepath.Join(dir, filepath.FromSlash(key)), edited, 0o640)
	srv := httptest.NewServer(LinkHandler(st))
	defer srv.Close()
	st.o.PublicURL = srv.URL
	link, _ := st.URL(ctx, key, time.Minute)
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil && bytes.Equal(b, edited) {
		t.Fatal("the tampered file was delivered completely")
	}
	if err == nil {
		t.Fatalf("download of a tampered file ended without error (%d of %d bytes)", len(b), len(edited))
	}
}

func TestLocalPruneByRetention(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	st, dir := openTestLocal(t, clk)
	ctx := context.Background()
	old, _, _ := ArtefactKeys("acme", clk.Now(), "deal-1", "old")
	if _, err := st.Put(ctx, old, strings.NewReader("old"), -1, "", ""); err != nil {
		t.Fatal(err)
	}
	clk.Add(10 * 24 * time.Hour)
	fresh, _, _ := ArtefactKeys("acme", clk.Now(), "deal-2", "fresh")
	if _, err := st.Put(ctx, fresh, strings.NewReader("fresh"), -1, "", ""); err != nil {
		t.Fatal(err)
	}
	clk.Add(4*24*time.Hour + time.Minute) // old is 14 d + 1 min old, fresh 4 d
	n, err := st.prune()
	if err != nil || n != 1 {
		t.Fatalf("prune = %d, %v; want 1 removed", n, err)
	}
	if _, err := st.Stat(ctx, old); !errors.Is(err, ErrNotFound) {
		t.Fatalf("old artefact after prune: %v", err)
	}
	if _, err := st.Stat(ctx, fresh); err != nil {
		t.Fatalf("fresh artefact after prune: %v", err)
	}
	// The emptied signed/acme/2026/11/deal-1 directory is gone, as is its sidecar directory.
	if _, err := os.Stat(filepath.Join(dir, "signed", "acme", "2026", "11", "deal-1")); !os.IsNotExist(err) {
		t.Fatalf("empty group directory left behind: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".signet", "meta", "signed", "acme", "2026", "11", "deal-1")); !os.IsNotExist(err) {
		t.Fatalf("empty sidecar directory left behind: %v", err)
	}
	clk.Add(11 * 24 * time.Hour)
	if n, err := st.prune(); err != nil || n != 1 {
		t.Fatalf("second prune = %d, %v", n, err)
	}
}

func TestLocalPruneTimer(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	o := Options{Retention: time.Hour, Now: clk.Now, PruneInterval: -1}
	st, err := Open(context.Background(), "file://"+dir, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(context.Background(), "signed/x/y.pdf", strings.NewReader("y"), 1, "", ""); err != nil {
		t.Fatal(err)
	}
	st.Close()
	clk.Add(2 * time.Hour)
	// A store opened later prunes at start (the timer's first run), without a manual call.
	o.PruneInterval = time.Hour
	st2, err := Open(context.Background(), "file://"+dir, o)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := st2.Stat(context.Background(), "signed/x/y.pdf")
		if errors.Is(err, ErrNotFound) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("expired artefact not pruned by the timer: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestLocalConcurrentWriters(t *testing.T) {
	st, _ := openTestLocal(t, nil)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := bytes.Repeat([]byte{byte(i % 2)}, 50000) // two distinct contents racing on one key
			_, err := st.Put(ctx, "signed/race/x.pdf", bytes.NewReader(data), -1, "", "")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if b, _, err := readAll(t, st, "signed/race/x.pdf"); err != nil || len(b) != 50000 {
		t.Fatalf("after racing writers: %d bytes, %v", len(b), err)
	}
}

func TestOpenRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"ftp://x/y", "file://remotehost/x", "file:relative/dir", "::"} {
		if st, err := Open(context.Background(), u, Options{}); err == nil {
			st.Close()
			t.Errorf("Open(%q) succeeded", u)
		}
	}
}
