// Package pdfgen writes large, valid PDFs for the memory tests and benchmarks of the signing engine.
package pdfgen

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// WriteBig writes a PDF of about size bytes: pages each showing one uncompressed 8-bit gray image of
// up to perPage bytes, so nearly all of the file is stream data a signer must not load. It returns
// the number of pages.
func WriteBig(path string, size int64, perPage int64) (int, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	const width = 4096
	chunk := max(perPage, width)
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
	var kids strings.Builder
	for i := range nPages {
		fmt.Fprintf(&kids, "%d 0 R ", 3+3*i)
	}
	obj("<</Type/Catalog/Pages 2 0 R>>")
	obj(fmt.Sprintf("<</Type/Pages/Kids[%s]/Count %d>>", kids.String(), nPages))
	row := make([]byte, width)
	for i := range nPages {
		height := max(int(min(chunk, size-int64(i)*chunk))/width, 1)
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
			if _, err := w.Write(row); err != nil {
				return 0, err
			}
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
		return 0, err
	}
	return nPages, f.Close()
}
