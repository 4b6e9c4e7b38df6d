package batch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/signet-b24/signet/contracts"
)

// `signet batch collect`: the signed documents land under their original names, unsigned ones are
// listed, a second run writes nothing, and no file in the folder is ever overwritten.
func TestCollect(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	m, _ := ReadFolder(e.folder(t, 3))
	enq := &Enqueuer{JS: e.js, KV: e.kv, Store: e.store, Identity: e.id, JobKey: e.key}
	sum, err := enq.Enqueue(ctx, Request{Login: "mary", Credential: cred, Manifest: m, OTP: func() (string, error) { return "", nil }})
	if err != nil {
		t.Fatal(err)
	}
	id := sum.BatchID
	rec, err := GetRecord(ctx, e.kv, id)
	if err != nil {
		t.Fatal(err)
	}
	// Documents 1 and 3 are signed (as a worker stores them: by job id), document 2 is not.
	results := map[string]*contracts.Signed{}
	for _, n := range []int{0, 2} {
		body := []byte(fmt.Sprintf("%%PDF-1.4\n%% signed %d\n%%%%EOF\n", n))
		key := "signed/local/2026/12/batch-" + id + "/" + rec.JobID(n) + ".pdf"
		if _, err := e.store.Put(ctx, key, bytes.NewReader(body), int64(len(body)), "application/pdf", ""); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(body)
		results[rec.JobID(n)] = &contracts.Signed{PDFKey: key, SHA256After: hex.EncodeToString(sum[:])}
	}
	lookup := func(_ context.Context, jobID string) (*contracts.Signed, error) { return results[jobID], nil }
	out := filepath.Join(e.dir, "out")

	c, err := Collect(ctx, e.kv, e.store, lookup, id, out)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Written) != 2 || c.Written[0].Name != "inv-000.pdf" || c.Written[1].Name != "inv-002.pdf" || c.Written[0].Existing ||
		len(c.Unsigned) != 1 || c.Unsigned[0].N != 2 || c.Unsigned[0].Name != "inv-001.pdf" {
		t.Fatalf("collected %+v", c)
	}
	for _, n := range []int{0, 2} {
		got, err := os.ReadFile(filepath.Join(out, fmt.Sprintf("inv-%03d.pdf", n)))
		if err != nil || !strings.Contains(string(got), fmt.Sprintf("signed %d", n)) {
			t.Errorf("inv-%03d.pdf: %q %v", n, got, err)
		}
	}
	entries, _ := os.ReadDir(out)
	if len(entries) != 2 {
		t.Errorf("the folder holds %d entries, want the 2 signed PDFs and nothing else", len(entries))
	}

	// Again: the files are there and identical, nothing is written.
	c, err = Collect(ctx, e.kv, e.store, lookup, id, out)
	if err != nil || len(c.Written) != 2 || !c.Written[0].Existing || !c.Written[1].Existing {
		t.Fatalf("second collect: %+v %v", c, err)
	}

	// Another file under a document's name is left alone, and the error says what to do.
	if err := os.WriteFile(filepath.Join(out, "inv-002.pdf"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Collect(ctx, e.kv, e.store, lookup, id, out); err == nil || !strings.Contains(err.Error(), "another file") {
		t.Errorf("collect over another file: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "inv-002.pdf")); string(b) != "mine" {
		t.Error("a file in the folder was overwritten")
	}

	// A stored file that is not the recorded signed result is not written.
	results[rec.JobID(0)].SHA256After = strings.Repeat("0", 64)
	out2 := filepath.Join(e.dir, "out2")
	if _, err := Collect(ctx, e.kv, e.store, lookup, id, out2); err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Errorf("collect of a file that differs from the result: %v", err)
	}
	if entries, _ := os.ReadDir(out2); len(entries) != 0 {
		t.Errorf("%d files left in the folder after a refused copy", len(entries))
	}

	if _, err := Collect(ctx, e.kv, e.store, lookup, "bnosuchbatch", out); err == nil || !strings.Contains(err.Error(), "batch list") {
		t.Errorf("unknown batch: %v", err)
	}
}

// File names come from the manifest: a name never leaves the folder, and equal names are told apart.
func TestCollectFileNames(t *testing.T) {
	rec := &Record{ID: "b1", Total: 7, Names: []string{"a.pdf", "A.pdf", "../../etc/passwd", `C:\docs\x.pdf`, "..", "bad\nname.pdf", "a.pdf"}}
	want := []string{"a.pdf", "A (2).pdf", "passwd", "x.pdf", "b1.5.pdf", "b1.6.pdf", "a (3).pdf"}
	if got := fileNames(rec); !reflect.DeepEqual(got, want) {
		t.Errorf("fileNames = %q\nwant        %q", got, want)
	}
	// A record too large to keep names numbers its documents.
	if got := fileNames(&Record{ID: "b2", Total: 2}); !reflect.DeepEqual(got, []string{"b2.1.pdf", "b2.2.pdf"}) {
		t.Errorf("without names: %q", got)
	}
}
