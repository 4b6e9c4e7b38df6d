package pdfgen

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"strings"
)

// Bomb is a small one-page PDF (about 1 KB per inflated MB) whose catalog and page tree live in an
// object stream that /FlateDecode inflates to inflatedMB megabytes: NUL bytes, white space to a PDF
// reader (ISO 32000-1 Table 1), before the two objects. A reader without a decoding budget spends
// that much memory to find the catalog.
func Bomb(inflatedMB int) []byte {
	objs := "<</Type/Catalog/Pages 2 0 R>>\n<</Type/Pages/Kids[3 0 R]/Count 1>>\n"
	pad := inflatedMB << 20
	prolog := fmt.Sprintf("1 %d 2 %d ", pad, pad+strings.Index(objs, "\n")+1)
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	zw.Write([]byte(prolog))
	zeros := make([]byte, 1<<20)
	for range inflatedMB {
		zw.Write(zeros)
	}
	zw.Write([]byte(objs))
	zw.Close()
	stm := fmt.Sprintf("<</Type/ObjStm/N 2/First %d/Filter/FlateDecode/Length %d>>\nstream\n", len(prolog), z.Len()) + z.String() + "\nendstream"
	return XRefStreamPDF(map[int]string{3: "<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>", 4: stm}, []int{3, 4},
		map[int][2]int{1: {4, 0}, 2: {4, 1}}, 1)
}

// XRefStreamPDF writes the plain objects (number → body, streams included) in order, then a
// cross-reference stream (ISO 32000-1 §7.5.8, /W [1 4 2]) listing them and the compressed objects
// (number → object stream number, index in it); root is the catalog's number.
func XRefStreamPDF(plain map[int]string, order []int, compressed map[int][2]int, root int) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	offsets := map[int]int{}
	size := 0
	for _, nr := range order {
		offsets[nr] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", nr, plain[nr])
		size = max(size, nr+1)
	}
	for nr := range compressed {
		size = max(size, nr+1)
	}
	xrefNr := size
	size++
	offsets[xrefNr] = b.Len()
	var rows bytes.Buffer
	for nr := range size {
		row := make([]byte, 7)
		if off, ok := offsets[nr]; ok {
			row[0] = 1
			binary.BigEndian.PutUint32(row[1:5], uint32(off))
		} else if c, ok := compressed[nr]; ok {
			row[0] = 2
			binary.BigEndian.PutUint32(row[1:5], uint32(c[0]))
			binary.BigEndian.PutUint16(row[5:7], uint16(c[1]))
		}
		rows.Write(row)
	}
	fmt.Fprintf(&b, "%d 0 obj\n<</Type/XRef/Size %d/W[1 4 2]/Root %d 0 R/Length %d>>\nstream\n", xrefNr, size, root, rows.Len())
	b.Write(rows.Bytes())
	fmt.Fprintf(&b, "\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n", offsets[xrefNr])
	return b.Bytes()
}

// ContentBomb is a small one-page PDF whose page content stream /FlateDecode inflates to inflatedMB
// megabytes of white space: harmless to a signer that never decodes page content, a bomb for a
// reader that rewrites the page (the evidence stripe).
func ContentBomb(inflatedMB int) []byte {
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	zeros := make([]byte, 1<<20)
	for range inflatedMB {
		zw.Write(zeros)
	}
	zw.Write([]byte("\n72 700 m 540 700 l S\n"))
	zw.Close()
	return XRefStreamPDF(map[int]string{
		1: "<</Type/Catalog/Pages 2 0 R>>",
		2: "<</Type/Pages/Kids[3 0 R]/Count 1>>",
		3: "<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]/Contents 4 0 R>>",
		4: fmt.Sprintf("<</Length %d/Filter/FlateDecode>>\nstream\n", z.Len()) + z.String() + "\nendstream",
	}, []int{1, 2, 3, 4}, nil, 1)
}
