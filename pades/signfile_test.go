package pades

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSignFile(t *testing.T) {
	dir := t.TempDir()
	inPath := filepath.Join("..", "testdata", "pdf", "multipage-xref-stream.pdf")
	outPath := filepath.Join(dir, "signed.pdf")
	res, err := SignFile(context.Background(), inPath, outPath, rsaSigner(t), Options{Page: -1, Reason: "streamed"})
	if err != nil {
		t.Fatal(err)
	}
	in := corpus(t, "multipage-xref-stream.pdf")
	out, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	if res.SHA256Before != sha256.Sum256(in) || res.SHA256After != sha256.Sum256(out) {
		t.Error("SHA256Before/After do not match the files")
	}
	checkSigned(t, in, out, res, 1)

	// A refused input leaves no output behind.
	bad := filepath.Join(dir, "bad.pdf")
	_, err = SignFile(context.Background(), filepath.Join("..", "testdata", "pdf", "encrypted.pdf"), bad, rsaSigner(t), Options{})
	if !errors.Is(err, ErrEncrypted) {
		t.Fatalf("got %v, want ErrEncrypted", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("output directory holds %d files after a refused input, want 1", len(entries))
	}
}
