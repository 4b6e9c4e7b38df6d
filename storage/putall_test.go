package storage

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// PutAll stores a job's three artefacts like three Puts, readable with their checksums, but syncs
// their shared directory once instead of three times; a bad item fails the call and names itself.
func TestLocalPutAll(t *testing.T) { forModes(t, testLocalPutAll) }

func testLocalPutAll(t *testing.T, mode metaMode) {
	st, _ := openTestLocal(t, nil, mode)
	var mu sync.Mutex
	synced := map[string]int{}
	st.syncDir = func(dir string) {
		mu.Lock()
		synced[dir]++
		mu.Unlock()
		syncDir(dir)
	}
	ctx := context.Background()
	pdf, p7s, report := []byte("%PDF-1.7 signed"), []byte{0x30, 0x82, 0x01, 0x00}, []byte(`{"job_id":"j1"}`)
	pdfKey, p7sKey, reportKey := ArtefactKeys("portal", time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC), "deal-7", "j1")
	items := []Item{
		{What: "signed PDF", Key: pdfKey, R: bytes.NewReader(pdf), Size: int64(len(pdf)), ContentType: "application/pdf", SHA256: sum(pdf)},
		{What: "CMS", Key: p7sKey, R: bytes.NewReader(p7s), Size: int64(len(p7s)), ContentType: "application/pkcs7-signature", SHA256: sum(p7s)},
		{What: "report", Key: reportKey, R: bytes.NewReader(report), Size: int64(len(report)), ContentType: "application/json"},
	}
	objs, err := PutAll(ctx, st, items)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range [][]byte{pdf, p7s, report} {
		got, obj, err := readAll(t, st, items[i].Key)
		if err != nil || !bytes.Equal(got, want) || obj.SHA256 != sum(want) || objs[i].SHA256 != sum(want) {
			t.Fatalf("%s: read %q, %+v, %v; PutAll returned %+v", items[i].What, got, obj, err, objs[i])
		}
	}
	dir := filepath.Dir(st.dataPath(pdfKey))
	mu.Lock()
	n, total := synced[dir], 0
	for _, c := range synced {
		total += c
	}
	mu.Unlock()
	// The sidecar mode also renames each object's sidecar into its own directory: one more, once.
	want := 1
	if mode == metaSidecarMode {
		want = 2
	}
	if n != 1 || total != want {
		t.Fatalf("directory syncs for three objects in one directory: %v; want %s once (%d in all)", synced, dir, want)
	}

	// Three Puts sync it three times: what PutAll saves.
	mu.Lock()
	clear(synced)
	mu.Unlock()
	for _, it := range items {
		data := map[string][]byte{pdfKey: pdf, p7sKey: p7s, reportKey: report}[it.Key]
		if _, err := st.Put(ctx, it.Key+".copy", bytes.NewReader(data), int64(len(data)), it.ContentType, ""); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	n = synced[dir]
	mu.Unlock()
	if n != 3 {
		t.Fatalf("three Puts synced the directory %d times, want 3", n)
	}

	// A wrong checksum fails the whole call and says which artefact.
	bad := []Item{{What: "CMS", Key: "signed/portal/x.p7s", R: bytes.NewReader(p7s), Size: int64(len(p7s)), SHA256: sum(pdf)}}
	if _, err := PutAll(ctx, st, bad); !errors.Is(err, ErrChecksumMismatch) || !strings.Contains(err.Error(), "storing the CMS") {
		t.Fatalf("PutAll with a wrong checksum: %v", err)
	}
	if _, err := st.Stat(ctx, "signed/portal/x.p7s"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the refused object was stored: %v", err)
	}
}
