package pades

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/signet-b24/signet/internal/testsupport/pdfgen"
)

// TestSignFileMemory signs a 50 MB PDF and checks that the engine allocated far less than the file:
// the ByteRange digest and the copy stream from disk, and the reader loads no stream data. This is
// a memory assertion, not a timing one; it fails if the whole file (or its images) is read in.
func TestSignFileMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 50 MB file")
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "big.pdf"), filepath.Join(dir, "signed.pdf")
	const size = 50 << 20
	if _, err := pdfgen.WriteBig(in, size, 16<<20); err != nil {
		t.Fatal(err)
	}
	s := ecSigner(t)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	res, err := SignFile(context.Background(), in, out, s, Options{Page: -1, Visible: true, Reason: "memory"})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("signing a %d MiB file allocated %d KiB", size>>20, allocated>>10)
	if allocated > 8<<20 {
		t.Fatalf("signing a %d MiB file allocated %d MiB; the engine must not load stream data", size>>20, allocated>>20)
	}
	inBytes, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	outBytes, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	checkSigned(t, inBytes, outBytes, res, 1)
}
