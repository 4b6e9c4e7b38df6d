package pades

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// writeBigPDF writes a PDF of about size bytes: pages each showing one uncompressed 8-bit gray
// image of up to 16 MiB, so nearly all of the file is stream data a signer must not load.
func writeBigPDF(t testing.TB, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	const width, chunk = 4096, 16 << 20
	var offsets []int64
	pos := int64(0)
	out := func(format string, args ...any) {
		n, _ := fmt.Fprintf(w, format, args...)
		pos += int64(n)
	}
	obj := func(body string) {
		offsets = append(offsets, pos)
		out("%d 0 obj\n%s\nendobj\n", len(offsets), body)
	}
	out("%%PDF-1.7\n%%\xe2\xe3\xcf\xd3\n")
	nPages := int((size + chunk - 1) / chunk)
	kids := ""
	for i := range nPages {
		kids += fmt.Sprintf("%d 0 R ", 3+3*i)
	}
	obj("<</Type/Catalog/Pages 2 0 R>>")
	obj(fmt.Sprintf("<</Type/Pages/Kids[%s]/Count %d>>", kids, nPages))
	row := make([]byte, width)
	for i := range nPages {
		height := int(min(chunk, size-int64(i)*chunk)) / width
		height = max(height, 1)
		obj(fmt.Sprintf("<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Contents %d 0 R/Resources<</XObject<</Im1 %d 0 R>>>>>>", 4+3*i, 5+3*i))
		content := "q 595 0 0 842 0 0 cm /Im1 Do Q"
		obj(fmt.Sprintf("<</Length %d>>\nstream\n%s\nendstream", len(content), content))
		offsets = append(offsets, pos)
		out("%d 0 obj\n<</Type/XObject/Subtype/Image/Width %d/Height %d/ColorSpace/DeviceGray/BitsPerComponent 8/Length %d>>\nstream\n",
			len(offsets), width, height, width*height)
		for y := range height {
			for x := range row {
				row[x] = byte((x/16 + y/16 + i*40) % 256)
			}
			w.Write(row)
		}
		pos += int64(width * height)
		out("\nendstream\nendobj\n")
	}
	xref := pos
	out("xref\n0 %d\n0000000000 65535 f\r\n", len(offsets)+1)
	for _, o := range offsets {
		out("%010d 00000 n\r\n", o)
	}
	out("trailer\n<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n", len(offsets)+1, xref)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

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
	writeBigPDF(t, in, size)
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
