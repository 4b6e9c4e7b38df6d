package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-b24/signet/internal/testsupport/testenv"
)

// A document too large to keep in memory takes the file path (issue 22, must 4): it is hashed while
// it downloads, signed by appending to its staging copy, and that copy becomes the stored object by a
// link (the staging and storage folders share a file system here). The stored PDF is judged by
// pdfsig and qpdf, and the recorded digests are the original's and the stored file's.
func TestLargeDocumentSignedInPlace(t *testing.T) {
	pdfsig := testenv.RequireTool(t, "pdfsig")
	qpdf := testenv.RequireTool(t, "qpdf")
	limit := inMemoryLimit
	t.Cleanup(func() { inMemoryLimit = limit }) // after the rig's own clean-up has stopped the pool
	inMemoryLimit = 1 << 10                     // the 1-page invoice goes to disk
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := newForgeRig(t, ctx)
	job := r.job("large")
	r.intake.Sign(job, time.Now())
	r.publish(job)
	r.waitFor("the job's workflow completed", func() bool { return len(r.portal.EventsSent()[job.Reply.EventToken]) == 1 })
	s, err := r.results.Signed(ctx, "large")
	if err != nil || s == nil {
		t.Fatalf("no result: %v", err)
	}
	pdf, err := os.ReadFile(filepath.Join("..", "testdata", "pdf", "invoice.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(pdf); s.SHA256Before != hex.EncodeToString(sum[:]) {
		t.Errorf("SHA256Before %s is not the downloaded document's", s.SHA256Before)
	}
	stored := filepath.Join(r.storeAt, filepath.FromSlash(s.PDFKey))
	out, err := os.ReadFile(stored)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(out); s.SHA256After != hex.EncodeToString(sum[:]) || s.Size != int64(len(out)) {
		t.Errorf("SHA256After %s / size %d are not the stored file's (%d bytes)", s.SHA256After, s.Size, len(out))
	}
	if !strings.HasPrefix(string(out), string(pdf)) {
		t.Fatal("the original is not a prefix of the stored PDF")
	}
	if o, err := exec.Command(qpdf, "--check", stored).CombinedOutput(); err != nil {
		t.Fatalf("qpdf --check: %v\n%s", err, o)
	}
	if o, _ := exec.Command(pdfsig, stored).CombinedOutput(); !strings.Contains(string(o), "Signature is Valid.") || !strings.Contains(string(o), "Total document signed") {
		t.Fatalf("pdfsig:\n%s", o)
	}
}
