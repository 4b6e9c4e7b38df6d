package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/signet-b24/signet/internal/testsupport/testenv"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// fakeClock is an injectable clock for retention and link expiry.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// testModes are the two ways a local store records metadata; most tests run in both.
var testModes = []metaMode{metaXattrMode, metaSidecarMode}

// forModes runs test once per metadata mode, as subtests named "xattr" and "sidecar".
func forModes(t *testing.T, test func(t *testing.T, mode metaMode)) {
	t.Helper()
	for _, mode := range testModes {
		t.Run(mode.String(), func(t *testing.T) { test(t, mode) })
	}
}

func testOptions(clk *fakeClock) Options {
	o := Options{PublicURL: "http://127.0.0.1:1", LinkSecret: []byte("0123456789abcdef0123456789abcdef"), PruneInterval: -1}
	if clk != nil {
		o.Now = clk.Now
	}
	return o
}

// openTestLocal opens a store in a new temp directory (see openTestLocalIn).
func openTestLocal(t *testing.T, clk *fakeClock, mode metaMode) (*localStore, string) {
	t.Helper()
	dir := t.TempDir()
	return openTestLocalIn(t, dir, clk, mode), dir
}

// openTestLocalIn opens a store on dir: in xattr mode through Open, as Signet does (skipping the test if
// the filesystem has no user extended attributes, see TestLocalChoosesXattrMode), in sidecar mode with
// the probe overridden.
func openTestLocalIn(t *testing.T, dir string, clk *fakeClock, mode metaMode) *localStore {
	t.Helper()
	o := testOptions(clk)
	var st *localStore
	if mode == metaSidecarMode {
		o.defaults()
		s, err := openLocalMode(dir, o, true)
		if err != nil {
			t.Fatal(err)
		}
		st = s
	} else {
		s, err := Open(context.Background(), "file://"+dir, o)
		if err != nil {
			t.Fatal(err)
		}
		st = s.(*localStore)
	}
	t.Cleanup(func() { st.Close() })
	if st.mode != mode {
		t.Skipf("the store in %s chose %s mode, this test wants %s (no user extended attributes here?)", dir, st.mode, mode)
	}
	return st
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

func TestLocalPutGetStat(t *testing.T) { forModes(t, testLocalPutGetStat) }

func testLocalPutGetStat(t *testing.T, mode metaMode) {
	st, dir := openTestLocal(t, nil, mode)
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
	// Its metadata is where the mode says, and only there; no temp file is left behind.
	checkMetaLocation(t, dir, key, mode, obj)
	if ents, err := os.ReadDir(filepath.Join(dir, ".signet", "tmp")); err != nil || len(ents) != 0 {
		t.Fatalf(".signet/tmp after Put: %v, %v; want empty", ents, err)
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

func TestLocalPutIdempotentAndChecksum(t *testing.T) { forModes(t, testLocalPutIdempotentAndChecksum) }

func testLocalPutIdempotentAndChecksum(t *testing.T, mode metaMode) {
	clk := &fakeClock{t: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	st, _ := openTestLocal(t, clk, mode)
	ctx := context.Background()
	data := []byte("report json")
	first, err := st.Put(ctx, "signed/a/2026/11/g/j.json", bytes.NewReader(data), -1, "application/json", "")
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Hour)
	// Same bytes again, with and without the digest: the existing object (same write time) comes back,
	// and the stored record keeps the first write time too.
	for _, given := range []string{"", strings.ToUpper(sum(data))} {
		again, err := st.Put(ctx, "signed/a/2026/11/g/j.json", bytes.NewReader(data), int64(len(data)), "application/json", given)
		if err != nil || again != first {
			t.Fatalf("repeated Put(sha %q) = %+v, %v; want the first object %+v", given, again, err, first)
		}
		if stored, err := st.Stat(ctx, "signed/a/2026/11/g/j.json"); err != nil || stored != first {
			t.Fatalf("Stat after repeated Put(sha %q) = %+v, %v; want the first object %+v", given, stored, err, first)
		}
	}
	// With the digest given and already stored, the stream is not read at all.
	unreadable := iotest.ErrReader(errors.New("the stream was read"))
	if again, err := st.Put(ctx, "signed/a/2026/11/g/j.json", unreadable, -1, "application/json", sum(data)); err != nil || again != first {
		t.Fatalf("Put with a known digest = %+v, %v; want the first object without reading", again, err)
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
	if got, gobj, err := readAll(t, st, "signed/a/2026/11/g/j.json"); err != nil || !bytes.Equal(got, other) || gobj != obj {
		t.Fatalf("after overwrite: %q, %+v, %v; want %q, %+v", got, gobj, err, other, obj)
	}
}

func TestLocalIntegrityAfterEditOnDisk(t *testing.T) { forModes(t, testLocalIntegrityAfterEditOnDisk) }

func testLocalIntegrityAfterEditOnDisk(t *testing.T, mode metaMode) {
	st, dir := openTestLocal(t, nil, mode)
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
	// A tool that saves by writing a new file and renaming it over the old one (some editors) leaves a
	// new inode: in xattr mode its checksum is gone, in sidecar mode the old checksum no longer matches.
	replacement := filepath.Join(dir, "edited.tmp")
	if err := os.WriteFile(replacement, edited, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(replacement, path); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readAll(t, st, key); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("reading a file replaced by a new one: %v, want ErrIntegrity", err)
	}
	if _, err := st.Stat(ctx, key); mode == metaXattrMode && (!errors.Is(err, ErrIntegrity) || !strings.Contains(err.Error(), "no checksum")) {
		t.Fatalf("Stat of a replaced file in xattr mode = %v, want ErrIntegrity: no checksum", err)
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
	st, dir := openTestLocal(t, nil, metaXattrMode)
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
	st, _ := openTestLocal(t, clk, metaXattrMode)
	ctx := context.Background()
	data := []byte("%PDF-1.7 link test")
	key := "signed/acme/2026/11/deal 42/job-1.pdf" // a space must survive escaping
	if _, err := st.Put(ctx, key, bytes.NewReader(data), -1, "application/pdf", ""); err != nil {
		t.Fatal(err)
	}
	// open follows a link as web/files.go does: the key after LinkPath, the expires and sig parameters.
	open := func(link string) ([]byte, error) {
		t.Helper()
		u, err := url.Parse(link)
		if err != nil {
			t.Fatal(err)
		}
		rc, _, err := OpenLink(ctx, st, strings.TrimPrefix(u.Path, LinkPath), u.Query().Get("expires"), u.Query().Get("sig"))
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(rc)
	}

	link, err := st.URL(ctx, key, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(link, string(st.o.LinkSecret)) {
		t.Fatal("link contains the secret")
	}
	if !strings.HasPrefix(link, st.o.PublicURL+LinkPath) {
		t.Fatalf("link %s is not under %s%s", link, st.o.PublicURL, LinkPath)
	}
	if b, err := open(link); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("link = %v %q", err, b)
	}

	u, _ := url.Parse(link)
	q := u.Query()
	tampered := *u
	q2 := url.Values{"expires": {q.Get("expires")}, "sig": {"A" + q.Get("sig")[1:]}}
	if q.Get("sig")[0] == 'A' {
		q2.Set("sig", "B"+q.Get("sig")[1:])
	}
	tampered.RawQuery = q2.Encode()
	if _, err := open(tampered.String()); !errors.Is(err, ErrLinkInvalid) {
		t.Fatalf("tampered signature: %v, want ErrLinkInvalid", err)
	}
	longer := *u
	longer.RawQuery = url.Values{"expires": {q.Get("expires") + "0"}, "sig": {q.Get("sig")}}.Encode()
	if _, err := open(longer.String()); !errors.Is(err, ErrLinkInvalid) {
		t.Fatalf("extended expiry: %v, want ErrLinkInvalid", err)
	}
	other := *u
	other.Path = strings.Replace(u.Path, "job-1.pdf", "job-2.pdf", 1)
	if _, err := open(other.String()); !errors.Is(err, ErrLinkInvalid) {
		t.Fatalf("other key with the same signature: %v, want ErrLinkInvalid", err)
	}

	clk.Add(time.Hour + time.Second)
	if _, err := open(link); !errors.Is(err, ErrLinkExpired) {
		t.Fatalf("expired link: %v, want ErrLinkExpired", err)
	}

	if _, err := st.URL(ctx, key, 7*24*time.Hour+time.Second); !errors.Is(err, ErrExpiry) {
		t.Fatalf("URL with 7 days + 1 s = %v, want ErrExpiry", err)
	}
	if _, err := st.URL(ctx, key, 7*24*time.Hour); err != nil {
		t.Fatalf("URL with 7 days = %v", err)
	}
}

func TestLocalLinkTamperedFileFailsDownload(t *testing.T) {
	forModes(t, testLocalLinkTamperedFileFailsDownload)
}

func testLocalLinkTamperedFileFailsDownload(t *testing.T, mode metaMode) {
	st, dir := openTestLocal(t, nil, mode)
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
	link, _ := st.URL(ctx, key, time.Minute)
	u, _ := url.Parse(link)
	rc, _, err := OpenLink(ctx, st, strings.TrimPrefix(u.Path, LinkPath), u.Query().Get("expires"), u.Query().Get("sig"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err == nil && bytes.Equal(b, edited) {
		t.Fatal("the tampered file was delivered completely")
	}
	if err == nil {
		t.Fatalf("reading a tampered file ended without error (%d of %d bytes)", len(b), len(edited))
	}
}

func TestLocalPruneByRetention(t *testing.T) { forModes(t, testLocalPruneByRetention) }

func testLocalPruneByRetention(t *testing.T, mode metaMode) {
	clk := &fakeClock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	st, dir := openTestLocal(t, clk, mode)
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

func TestLocalConcurrentWriters(t *testing.T) { forModes(t, testLocalConcurrentWriters) }

func testLocalConcurrentWriters(t *testing.T, mode metaMode) {
	st, _ := openTestLocal(t, nil, mode)
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

// checkMetaLocation asserts that key's metadata is recorded as obj in the place mode says (the
// user.signet.meta attribute, or the sidecar file) and not in the other one.
func checkMetaLocation(t *testing.T, dir, key string, mode metaMode, obj Object) {
	t.Helper()
	path := filepath.Join(dir, filepath.FromSlash(key))
	sidecarPath := filepath.Join(dir, ".signet", "meta", filepath.FromSlash(key)+".json")
	attr, xerr := testGetXattr(path, "user.signet.meta") // unix.Getxattr on Linux
	side, serr := os.ReadFile(sidecarPath)
	var raw []byte
	switch mode {
	case metaXattrMode:
		if xerr != nil {
			t.Fatalf("xattr mode: getxattr user.signet.meta on %s: %v", path, xerr)
		}
		if !errors.Is(serr, os.ErrNotExist) {
			t.Fatalf("xattr mode wrote a sidecar too (%v)", serr)
		}
		raw = attr
	case metaSidecarMode:
		if !testNoXattr(xerr) {
			t.Fatalf("sidecar mode: getxattr = %q, %v; want ENODATA (no attribute)", attr, xerr)
		}
		if serr != nil {
			t.Fatalf("sidecar mode: no sidecar: %v", serr)
		}
		raw = side
	}
	var m sidecar
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s metadata %q is not JSON: %v", mode, raw, err)
	}
	if m.SHA256 != obj.SHA256 || m.Size != obj.Size || m.ContentType != obj.ContentType || !m.Modified.Equal(obj.Modified) {
		t.Fatalf("%s metadata = %+v, want %+v", mode, m, obj)
	}
}

// xattrSupported says whether dir's filesystem keeps user extended attributes, asked directly with
// setxattr rather than through the store's probe.
func xattrSupported(t *testing.T, dir string) bool {
	t.Helper()
	p := filepath.Join(dir, "xattr-check")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(p)
	return testSetXattr(p, "user.test", []byte("1")) == nil
}

func TestLocalChoosesXattrMode(t *testing.T) {
	dir := t.TempDir()
	if !xattrSupported(t, dir) {
		t.Skipf("%s has no user extended attributes; the sidecar fallback is covered by the sidecar subtests", dir)
	}
	core, logs := observer.New(zapcore.InfoLevel)
	o := testOptions(nil)
	o.Log = zap.New(core)
	st, err := Open(context.Background(), "file://"+dir, o)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if m := st.(*localStore).mode; m != metaXattrMode {
		t.Fatalf("store on %s chose %s mode although setxattr works there; want xattr", dir, m)
	}
	entries := logs.FilterMessage("local storage metadata mode").All()
	if len(entries) != 1 || entries[0].ContextMap()["mode"] != "xattr" {
		t.Fatalf("mode log entries = %+v; want one Info entry with mode=xattr", entries)
	}
	// The probe leaves nothing behind.
	if ents, _ := os.ReadDir(filepath.Join(dir, ".signet", "tmp")); len(ents) != 0 {
		t.Fatalf("probe left %v in .signet/tmp", ents)
	}

	data := []byte("%PDF-1.7 xattr")
	key := "signed/acme/2026/11/g/x.pdf"
	obj, err := st.Put(context.Background(), key, bytes.NewReader(data), -1, "application/pdf", "")
	if err != nil {
		t.Fatal(err)
	}
	checkMetaLocation(t, dir, key, metaXattrMode, obj) // read with unix.Getxattr
	getfattr := testenv.RequireTool(t, "getfattr")     // Debian package attr, installed by `go tool task test`
	out, err := exec.Command(getfattr, "--only-values", "-n", "user.signet.meta", filepath.Join(dir, filepath.FromSlash(key))).Output()
	if err != nil || !bytes.Contains(out, []byte(`"sha256":"`+sum(data)+`"`)) {
		t.Fatalf("getfattr -n user.signet.meta = %q, %v; want the JSON with sha256 %s", out, err, sum(data))
	}
}

// A directory written by the previous version (sidecars only) stays readable by a store in xattr mode,
// and putting an object again moves its metadata into the attribute.
func TestLocalSidecarObjectsReadableInXattrMode(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	ctx := context.Background()
	dir := t.TempDir()
	legacy := openTestLocalIn(t, dir, clk, metaSidecarMode)
	same, changed := "signed/acme/2026/11/g/same.pdf", "signed/acme/2026/11/g/changed.pdf"
	data := []byte("%PDF-1.7 written by the sidecar version")
	var written [2]Object
	for i, key := range []string{same, changed} {
		obj, err := legacy.Put(ctx, key, bytes.NewReader(data), -1, "application/pdf", "")
		if err != nil {
			t.Fatal(err)
		}
		checkMetaLocation(t, dir, key, metaSidecarMode, obj)
		written[i] = obj
	}
	legacy.Close()

	clk.Add(time.Hour)
	st := openTestLocalIn(t, dir, clk, metaXattrMode)
	for i, key := range []string{same, changed} {
		if got, obj, err := readAll(t, st, key); err != nil || !bytes.Equal(got, data) || obj != written[i] {
			t.Fatalf("xattr store reading a sidecar object: %q, %+v, %v; want %+v", got, obj, err, written[i])
		}
		if obj, err := st.Stat(ctx, key); err != nil || obj != written[i] {
			t.Fatalf("xattr store Stat of a sidecar object = %+v, %v", obj, err)
		}
	}
	// The same bytes again: idempotent (first write time kept), now recorded in the attribute.
	obj, err := st.Put(ctx, same, bytes.NewReader(data), -1, "application/pdf", "")
	if err != nil || obj != written[0] {
		t.Fatalf("re-Put of a sidecar object = %+v, %v; want %+v", obj, err, written[0])
	}
	checkMetaLocation(t, dir, same, metaXattrMode, written[0])
	// New bytes: a new object, recorded in the attribute; the stale sidecar is gone.
	newer := []byte("%PDF-1.7 replaced")
	obj, err = st.Put(ctx, changed, bytes.NewReader(newer), -1, "application/pdf", "")
	if err != nil || obj.SHA256 != sum(newer) || !obj.Modified.Equal(clk.Now()) {
		t.Fatalf("overwriting a sidecar object = %+v, %v", obj, err)
	}
	checkMetaLocation(t, dir, changed, metaXattrMode, obj)
	if got, _, err := readAll(t, st, changed); err != nil || !bytes.Equal(got, newer) {
		t.Fatalf("after overwrite: %q, %v", got, err)
	}
	// Its sidecar directory was emptied and tidied away.
	if _, err := os.Stat(filepath.Join(dir, ".signet", "meta", "signed")); !os.IsNotExist(err) {
		t.Fatalf(".signet/meta/signed after all sidecars were replaced: %v; want it removed", err)
	}
}

func TestLocalDamagedXattr(t *testing.T) {
	st, dir := openTestLocal(t, nil, metaXattrMode)
	ctx := context.Background()
	data := []byte("%PDF-1.7 damaged attribute")
	key := "signed/acme/2026/11/g/d.pdf"
	obj, err := st.Put(ctx, key, bytes.NewReader(data), -1, "application/pdf", "")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, filepath.FromSlash(key))
	good, _ := json.Marshal(sidecar{SHA256: obj.SHA256, Size: obj.Size, ContentType: obj.ContentType, Modified: obj.Modified})
	cases := []struct{ name, value string }{
		{"not JSON", `{"sha256":`},
		{"short hash", strings.Replace(string(good), obj.SHA256, obj.SHA256[:40], 1)},
		{"not hex", strings.Replace(string(good), obj.SHA256, strings.Repeat("z", 64), 1)},
		{"no hash", `{"size":26}`},
		{"negative size", strings.Replace(string(good), `"size":26`, `"size":-1`, 1)},
		{"empty", ""},
	}
	for _, c := range cases {
		if err := testSetXattr(path, "user.signet.meta", []byte(c.value)); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Stat(ctx, key); !errors.Is(err, ErrIntegrity) || !strings.Contains(err.Error(), "damaged checksum extended attribute") {
			t.Errorf("%s: Stat = %v; want ErrIntegrity about a damaged checksum extended attribute", c.name, err)
		}
		if _, _, err := st.Get(ctx, key); !errors.Is(err, ErrIntegrity) {
			t.Errorf("%s: Get = %v; want ErrIntegrity", c.name, err)
		}
	}
	// A valid attribute with another hash: Get's reader catches it at EOF.
	wrong := strings.Replace(string(good), obj.SHA256, sum([]byte("other")), 1)
	if err := testSetXattr(path, "user.signet.meta", []byte(wrong)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readAll(t, st, key); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("Get with a wrong recorded hash = %v; want ErrIntegrity", err)
	}
	// Putting the object again repairs the attribute.
	if _, err := st.Put(ctx, key, bytes.NewReader(data), -1, "application/pdf", ""); err != nil {
		t.Fatal(err)
	}
	if got, _, err := readAll(t, st, key); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after repair: %q, %v", got, err)
	}
}

// Prune handles both kinds of metadata in one directory, and removes orphaned sidecars.
func TestLocalPruneMixed(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	ctx := context.Background()
	dir := t.TempDir()
	legacy := openTestLocalIn(t, dir, clk, metaSidecarMode)
	oldSidecar, orphan := "signed/acme/2026/11/a/old.pdf", "signed/acme/2026/11/b/orphan.pdf"
	for _, key := range []string{oldSidecar, orphan} {
		if _, err := legacy.Put(ctx, key, strings.NewReader(key), -1, "", ""); err != nil {
			t.Fatal(err)
		}
	}
	legacy.Close()
	os.Remove(filepath.Join(dir, filepath.FromSlash(orphan))) // data deleted by hand, sidecar left
	st := openTestLocalIn(t, dir, clk, metaXattrMode)
	oldXattr := "signed/acme/2026/11/c/old.pdf"
	if _, err := st.Put(ctx, oldXattr, strings.NewReader("x"), -1, "", ""); err != nil {
		t.Fatal(err)
	}
	clk.Add(10 * 24 * time.Hour)
	fresh := "signed/acme/2026/11/d/fresh.pdf"
	if _, err := st.Put(ctx, fresh, strings.NewReader("fresh"), -1, "", ""); err != nil {
		t.Fatal(err)
	}
	// Make the files' mtimes recent: the recorded write time, not the mtime, must decide.
	now := time.Now()
	for _, key := range []string{oldSidecar, oldXattr} {
		os.Chtimes(filepath.Join(dir, filepath.FromSlash(key)), now, now)
	}
	// Sidecar files' mtimes are real time, so the orphan is judged against a clock far ahead.
	clk.Add(4*24*time.Hour + time.Minute)
	if n, err := st.prune(); err != nil || n != 2 {
		t.Fatalf("prune = %d, %v; want 2 removed (one per metadata kind)", n, err)
	}
	for _, key := range []string{oldSidecar, oldXattr} {
		if _, err := st.Stat(ctx, key); !errors.Is(err, ErrNotFound) {
			t.Errorf("expired %s after prune: %v; want ErrNotFound", key, err)
		}
	}
	if _, err := st.Stat(ctx, fresh); err != nil {
		t.Errorf("fresh object after prune: %v", err)
	}
	// The orphaned sidecar is removed once older than the retention by its own mtime.
	clk.t = time.Now().Add(15 * 24 * time.Hour)
	if _, err := st.prune(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".signet", "meta", "signed")); !os.IsNotExist(err) {
		t.Fatalf(".signet/meta/signed after pruning the orphan: %v; want it gone", err)
	}
}

// The cross-process lock is a real flock held on a descriptor kept open by each store: a second store
// on the same directory (as another process would be) waits for it, and Close releases the files.
func TestLocalLockAcrossStores(t *testing.T) {
	dir := t.TempDir()
	a := openTestLocalIn(t, dir, nil, metaXattrMode)
	b := openTestLocalIn(t, dir, nil, metaXattrMode)
	key := "signed/acme/2026/11/g/locked.pdf"
	unlockA := sync.OnceFunc(a.lock(key))
	defer unlockA() // on failure, before the stores' Close (which takes every stripe)
	got := make(chan struct{})
	go func() {
		unlockB := b.lock(key)
		close(got)
		unlockB()
	}()
	select {
	case <-got:
		t.Fatal("a second store took the lock of a key while the first held it")
	case <-time.After(200 * time.Millisecond):
	}
	unlockA()
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the second store did not get the lock after the first released it")
	}
	// Lock files are opened once per stripe, not per operation.
	for i := range 50 {
		if _, err := a.Put(context.Background(), key, strings.NewReader(strings.Repeat("x", i)), -1, "", ""); err != nil {
			t.Fatal(err)
		}
	}
	open := 0
	for _, f := range a.lockFiles {
		if f != nil {
			open++
		}
	}
	if open != 1 {
		t.Fatalf("after 50 Puts to one key, %d lock files are open; want 1", open)
	}
	a.Close()
	for i, f := range a.lockFiles {
		if f != nil {
			t.Fatalf("lock file %02x still open after Close", i)
		}
	}
}

// ReadOnly (issue 21 must 3) never creates the storage directory: a missing one is an error that
// names `signet setup`, and nothing appears on disk; an existing one opens and answers Ping.
func TestLocalReadOnlyCreatesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "artefacts")
	if _, err := Open(context.Background(), "file://"+dir, Options{ReadOnly: true, PruneInterval: -1}); err == nil || !strings.Contains(err.Error(), "signet setup") {
		t.Fatalf("read-only open of a missing directory: %v, want an error naming signet setup", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a read-only open made %s: %v", dir, err)
	}
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	st, err := Open(context.Background(), "file://"+dir, Options{ReadOnly: true, PruneInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}
