package pades

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"

	"github.com/signet-b24/signet/internal/testsupport/testenv"
)

// buildPDF writes objects 1..n (objs[i] is the body of object i+1; "" leaves the number free) with
// a classic cross-reference table; extra is added to the trailer, and hook may append more bytes
// (an xref stream) before the table, returning the text to add to the trailer.
func buildPDF(objs []string, extra string, hook func(b *bytes.Buffer, offsets []int) string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, len(objs)+1)
	for i, o := range objs {
		if o == "" {
			continue
		}
		offsets[i+1] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	if hook != nil {
		extra += hook(&b, offsets)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f\r\n", len(objs)+1)
	for i := 1; i <= len(objs); i++ {
		if offsets[i] == 0 {
			b.WriteString("0000000000 00000 f\r\n")
			continue
		}
		fmt.Fprintf(&b, "%010d 00000 n\r\n", offsets[i])
	}
	fmt.Fprintf(&b, "trailer\n<</Size %d/Root 1 0 R%s>>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, extra, xref)
	return b.Bytes()
}

const testContent = "<</Length 20>>\nstream\n72 700 m 540 700 l S\nendstream"

// TestPageTree walks a nested page tree with inherited /Rotate and /MediaBox: the reader must
// find each page by the /Count of the nodes, read only the path to it, and refuse loops.
func TestPageTree(t *testing.T) {
	objs := []string{
		"<</Type/Catalog/Pages 2 0 R>>",
		"<</Type/Pages/Kids[3 0 R 6 0 R]/Count 3/MediaBox[0 0 612 792]>>",
		"<</Type/Pages/Parent 2 0 R/Kids[4 0 R 5 0 R]/Count 2/Rotate 90/MediaBox[0 0 300 400]>>",
		"<</Type/Page/Parent 3 0 R/Contents 7 0 R>>",
		"<</Type/Page/Parent 3 0 R/Contents 7 0 R/Rotate 180>>",
		"<</Type/Page/Parent 2 0 R/Contents 7 0 R>>",
		testContent,
	}
	in := buildPDF(objs, "", nil)
	d, err := readDocument(context.Background(), bytes.NewReader(in), int64(len(in)), "tree.pdf")
	if err != nil {
		t.Fatal(err)
	}
	defer d.release()
	if d.pageCnt != 3 {
		t.Fatalf("page count %d, want 3", d.pageCnt)
	}
	for _, c := range []struct {
		page, obj, rotate int
		box               string
	}{{1, 4, 90, "[0 0 300 400]"}, {2, 5, 90, "[0 0 300 400]"}, {3, 6, 0, "[0 0 612 792]"}, {-1, 6, 0, "[0 0 612 792]"}} {
		_, ref, inh, err := d.page(c.page)
		if err != nil {
			t.Fatalf("page %d: %v", c.page, err)
		}
		box, _ := inh.mediaBox.(types.Array)
		if int(ref.ObjectNumber) != c.obj || inh.rotate != c.rotate || box.String() != c.box {
			t.Errorf("page %d: object %d rotate %d box %v, want %d %d %s", c.page, ref.ObjectNumber, inh.rotate, box, c.obj, c.rotate, c.box)
		}
	}
	// Each page signs visibly and the files pass qpdf and pdfsig.
	for _, page := range []int{2, -1} {
		out, res, err := Sign(context.Background(), in, rsaSigner(t), Options{Page: page, Visible: true, Position: TopLeft})
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		checkSigned(t, in, out, res, 1)
	}

	// A /Count larger than the tree, and a tree whose kid is its own ancestor.
	lying := buildPDF([]string{objs[0], "<</Type/Pages/Kids[3 0 R]/Count 5>>", "<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>"}, "", nil)
	loop := buildPDF([]string{objs[0], "<</Type/Pages/Kids[3 0 R]/Count 2>>", "<</Type/Pages/Parent 2 0 R/Kids[2 0 R]/Count 2>>"}, "", nil)
	for name, c := range map[string]struct {
		in   []byte
		page int
	}{"lying count": {lying, 4}, "loop": {loop, 1}} {
		if _, _, err := Sign(context.Background(), c.in, ecSigner(t), Options{Page: c.page}); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: got %v, want ErrCorrupt", name, err)
		}
	}
}

// TestHybridXRef signs a hybrid-reference file (ISO 32000-1 §7.5.8.4): the classic table lists the
// AcroForm (object 4) as free, the stream named by /XRefStm puts it in object stream 5. The
// update must rewrite that AcroForm keeping its existing field, which qpdf shows.
func TestHybridXRef(t *testing.T) {
	qpdf := testenv.RequireTool(t, "qpdf")
	in := hybridPDF()
	out, res, err := Sign(context.Background(), in, ecSigner(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkSigned(t, in, out, res, 1)
	dir := t.TempDir()
	pdf := filepath.Join(dir, "signed.pdf")
	writeFile(t, pdf, out)
	o, err := run(t, qpdf, "--show-object=4", pdf)
	if err != nil {
		t.Fatalf("qpdf --show-object=4: %v\n%s", err, o)
	}
	if !strings.Contains(o, "6 0 R") || !strings.Contains(o, "/SigFlags 3") || strings.Count(o, " 0 R") != 2 {
		t.Errorf("the new AcroForm lost the compressed one's field or lacks the signature: %s", o)
	}
}

// hybridPDF is the file of TestHybridXRef (also a fuzz seed).
func hybridPDF() []byte {
	acro := "<</Fields[6 0 R]/DA(/Helv 0 Tf 0 g)>>"
	header := "4 0 "
	objs := []string{
		"<</Type/Catalog/Pages 2 0 R/AcroForm 4 0 R>>",
		"<</Type/Pages/Kids[3 0 R]/Count 1>>",
		"<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]/Contents 7 0 R/Annots[6 0 R]>>",
		"", // 4: compressed
		fmt.Sprintf("<</Type/ObjStm/N 1/First %d/Length %d>>\nstream\n%s%s\nendstream", len(header), len(header)+len(acro), header, acro),
		"<</FT/Tx/T(Existing)/Type/Annot/Subtype/Widget/Rect[72 600 300 620]/P 3 0 R>>",
		testContent,
	}
	hook := func(b *bytes.Buffer, offsets []int) string {
		off := b.Len()
		offsets[8] = off           // the table lists the xref stream too
		data := []byte{2, 0, 5, 0} // object 4: type 2, in object stream 5, index 0
		fmt.Fprintf(b, "8 0 obj\n<</Type/XRef/Size 9/Index[4 1]/W[1 2 1]/Length %d>>\nstream\n%s\nendstream\nendobj\n", len(data), data)
		return fmt.Sprintf("/XRefStm %d", off)
	}
	return buildPDF(append(objs, ""), "", hook)
}

// TestXRefRefusals: broken cross-reference structures are refused with ErrCorrupt, never guessed.
func TestXRefRefusals(t *testing.T) {
	objs := []string{"<</Type/Catalog/Pages 2 0 R>>", "<</Type/Pages/Kids[3 0 R]/Count 1>>", "<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>"}
	good := buildPDF(objs, "", nil)
	xref := bytes.LastIndex(good, []byte("xref\n"))
	cases := map[string][]byte{
		// /Prev pointing at its own section.
		"prev loop": buildPDF(objs, fmt.Sprintf("/Prev %d", xref), nil),
		// The entry of object 1 points at object 2.
		"wrong offset": bytes.Replace(good, fmt.Appendf(nil, "%010d 00000 n", bytes.Index(good, []byte("1 0 obj"))),
			fmt.Appendf(nil, "%010d 00000 n", bytes.Index(good, []byte("2 0 obj"))), 1),
		// A table cut in the middle.
		"short table": bytes.Replace(good, []byte("xref\n0 4\n"), []byte("xref\n0 9\n"), 1),
		// An encrypted trailer.
		"encrypt": buildPDF(objs, "/Encrypt<</Filter/Standard/V 1/R 2>>", nil),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			want := ErrCorrupt
			if name == "encrypt" {
				want = ErrEncrypted
			}
			if _, _, err := Sign(context.Background(), in, ecSigner(t), Options{}); !errors.Is(err, want) {
				t.Fatalf("got %v, want %v", err, want)
			}
		})
	}
}

// TestLargeObject: a page dictionary far larger than the first read window (2 KiB) is read whole
// and written back unchanged apart from the new /Annots entry, as qpdf shows.
func TestLargeObject(t *testing.T) {
	qpdf := testenv.RequireTool(t, "qpdf")
	var big strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&big, " %d", i)
	}
	in := buildPDF([]string{
		"<</Type/Catalog/Pages 2 0 R>>",
		"<</Type/Pages/Kids[3 0 R]/Count 1>>",
		"<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]/Contents 4 0 R/SignetTest(a string with (balanced) parens, an escaped \\) and >> inside)/Big[" + big.String() + "]>>",
		testContent,
	}, "", nil)
	out, res, err := Sign(context.Background(), in, ecSigner(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkSigned(t, in, out, res, 1)
	pdf := filepath.Join(t.TempDir(), "signed.pdf")
	writeFile(t, pdf, out)
	o, err := run(t, qpdf, "--show-object=3", pdf)
	if err != nil {
		t.Fatalf("qpdf: %v\n%s", err, o)
	}
	// qpdf prints every parenthesis of a string escaped.
	if !strings.Contains(o, "/Big [ 0 1 2 3") || !strings.Contains(o, " 2998 2999 ]") || !strings.Contains(o, "/Annots [ 6 0 R ]") ||
		!strings.Contains(o, `(a string with \(balanced\) parens, an escaped \) and >> inside)`) {
		t.Errorf("the rewritten page lost entries: %.300s … %.300s", o, o[max(0, len(o)-300):])
	}
}
