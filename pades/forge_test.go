package pades

// Tools for building forged and legitimate revisions by hand in the tests, the way an attacker
// would: appending an incremental update with chosen objects (and chosen cross-reference entries),
// and signing a hand-laid revision with a ByteRange of our choosing.

import (
	"bytes"
	"context"
	"crypto"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// upObj is one object of a hand-made update: number and body (without "N 0 obj"/"endobj").
// at >= 0 writes only a cross-reference entry pointing at that offset, no body.
type upObj struct {
	nr   int
	body string
	at   int64
}

func obj(nr int, body string) upObj { return upObj{nr: nr, body: body, at: -1} }

// baseFacts reads what an update of doc needs: root, next free number, last cross-reference
// offset, /Info and /ID.
type baseFacts struct {
	root       types.IndirectRef
	next       int
	prev       int64
	info, id   string
	infoDict   types.Dict // the document information as the revision has it (nil when none)
	page1      types.Dict
	page1Ref   types.IndirectRef
	acroForm   types.Object
	catalog    types.Dict
	contentsNr int
}

func facts(t testing.TB, doc []byte) baseFacts {
	t.Helper()
	d, err := readDocument(context.Background(), bytes.NewReader(doc), int64(len(doc)), "base")
	if err != nil {
		t.Fatal(err)
	}
	defer d.release()
	f := baseFacts{root: d.root, prev: d.prevXRef, catalog: d.catalog, acroForm: d.catalog["AcroForm"]}
	f.next = int(d.trailer["Size"].(types.Integer))
	if d.maxObjNr+1 > f.next {
		f.next = d.maxObjNr + 1
	}
	if r, ok := d.trailer["Info"].(types.IndirectRef); ok {
		f.info = refString(r)
	}
	if info := d.dict(d.trailer["Info"]); info != nil {
		f.infoDict = maps.Clone(info)
	}
	if id, ok := d.trailer["ID"].(types.Array); ok {
		f.id = idString(id)
	}
	pg, ref, _, err := d.page(1)
	if err != nil {
		t.Fatal(err)
	}
	f.page1, f.page1Ref = pg, ref
	f.contentsNr = refNumber(pg["Contents"])
	return f
}

// appendUpdate appends objs as an incremental update with a classic cross-reference table;
// extra goes into the trailer (e.g. "/Info 20 0 R"). It returns the new file and the offset of
// each object written.
func appendUpdate(t testing.TB, doc []byte, objs []upObj, extra string) ([]byte, map[int]int64) {
	t.Helper()
	f := facts(t, doc)
	var b bytes.Buffer
	b.Write(doc)
	if doc[len(doc)-1] != '\n' {
		b.WriteByte('\n')
	}
	offs := make(map[int]int64)
	size := f.next
	for _, o := range objs {
		if o.at >= 0 {
			offs[o.nr] = o.at
		} else {
			offs[o.nr] = int64(b.Len())
			fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", o.nr, o.body)
		}
		size = max(size, o.nr+1)
	}
	xref := b.Len()
	b.WriteString("xref\n")
	nrs := slices.Sorted(mapsKeys(offs))
	for _, r := range subsections(nrs) {
		fmt.Fprintf(&b, "%d %d\n", r[0], r[1])
		for n := r[0]; n < r[0]+r[1]; n++ {
			fmt.Fprintf(&b, "%010d 00000 n\r\n", offs[n])
		}
	}
	tr := fmt.Sprintf("/Size %d/Prev %d", size, f.prev)
	if !strings.Contains(extra, "/Root") {
		tr += "/Root " + refString(f.root)
	}
	if f.info != "" && !strings.Contains(extra, "/Info") {
		tr += "/Info " + f.info
	}
	if f.id != "" {
		tr += "/ID " + f.id
	}
	fmt.Fprintf(&b, "trailer\n<<%s%s>>\nstartxref\n%d\n%%%%EOF\n", tr, extra, xref)
	return b.Bytes(), offs
}

// sigDictBody is a signature dictionary with placeholders that signUpdate fills.
func sigDictBody(extra ...string) string {
	return sigBody("/Type/Sig/Filter/Adobe.PPKLite/SubFilter/ETSI.CAdES.detached" + strings.Join(extra, "") + "/M " + pdfDate(time.Now().UTC()))
}

// docTimestampBody is a document timestamp dictionary (ISO 32000-2 §12.8.5) with placeholders.
func docTimestampBody() string {
	return sigBody("/Type/DocTimeStamp/Filter/Adobe.PPKLite/SubFilter/ETSI.RFC3161")
}

func sigBody(entries string) string {
	return "<<" + entries + "\n/ByteRange [0 " +
		strings.Repeat(" ", 3*byteRangeWidth+2) + "]\n/Contents <" + strings.Repeat("0", 8192) + ">>>"
}

var byteRangeHole = regexp.MustCompile(`/ByteRange \[0 {33}\]`)

// signUpdate signs the last signature dictionary (sigDictBody) of doc with s. gapEnd > 0 makes
// the ByteRange gap end there instead of just after the /Contents string: a gap holding more than
// the signature, as a careless or malicious preparer would lay it out.
func signUpdate(t testing.TB, doc []byte, s Signer, gapEnd int64) []byte {
	t.Helper()
	return signUpdateWith(t, doc, gapEnd, func(digest []byte) []byte {
		cms, err := buildCMS(context.Background(), digest, s, cmsParams{hash: crypto.SHA256})
		if err != nil {
			t.Fatal(err)
		}
		return cms
	})
}

// signUpdateWith is signUpdate with the /Contents made by sign from the SHA-256 of the ByteRange.
func signUpdateWith(t testing.TB, doc []byte, gapEnd int64, sign func(digest []byte) []byte) []byte {
	t.Helper()
	out := bytes.Clone(doc)
	locs := byteRangeHole.FindAllIndex(out, -1)
	if len(locs) == 0 {
		t.Fatal("no signature placeholder")
	}
	at := locs[len(locs)-1][0] + len("/ByteRange [0 ")
	a := int64(bytes.Index(out[at:], []byte("/Contents <")) + at + len("/Contents "))
	b := a + 8192 + 2
	if gapEnd > 0 {
		b = gapEnd
	}
	c := int64(len(out)) - b
	copy(out[at:], fmt.Sprintf("%-*d %-*d %-*d", byteRangeWidth, a, byteRangeWidth, b, byteRangeWidth, c))
	h := crypto.SHA256.New()
	h.Write(out[:a])
	h.Write(out[b:])
	hx := fmt.Sprintf("%X", sign(h.Sum(nil)))
	copy(out[a+1:], hx)
	return out
}

// forgeSignature appends a signature field name on page 1 (a new widget in /Annots and in
// AcroForm /Fields) signed by s; sigExtra goes into the signature dictionary, fieldExtra into the
// field, catExtra (key → value) into the catalog.
func forgeSignature(t testing.TB, doc []byte, s Signer, name, sigExtra, fieldExtra string, catExtra types.Dict) []byte {
	t.Helper()
	unsigned := addSignatureField(t, doc, name, sigDictBody(sigExtra), fieldExtra, catExtra)
	return signUpdate(t, unsigned, s, 0)
}

// addSignatureField appends a signature field name on page 1 whose value is the dictionary sig
// (with placeholders), unsigned.
func addSignatureField(t testing.TB, doc []byte, name, sig, fieldExtra string, catExtra types.Dict) []byte {
	t.Helper()
	f := facts(t, doc)
	sigNr, widgetNr := f.next, f.next+1
	pg := maps.Clone(f.page1)
	annots, _ := f.page1["Annots"].(types.Array)
	pg["Annots"] = append(slices.Clone(annots), *types.NewIndirectRef(widgetNr, 0))
	d, err := readDocument(context.Background(), bytes.NewReader(doc), int64(len(doc)), "base")
	if err != nil {
		t.Fatal(err)
	}
	acro := types.Dict{}
	if a := d.dict(f.catalog["AcroForm"]); a != nil {
		acro = maps.Clone(a)
	}
	fields := append(slices.Clone(d.array(acro["Fields"])), *types.NewIndirectRef(widgetNr, 0))
	d.release()
	acro["Fields"], acro["SigFlags"] = fields, types.Integer(3)
	objs := []upObj{
		obj(sigNr, sig),
		obj(widgetNr, fmt.Sprintf("<</Type/Annot/Subtype/Widget/FT/Sig/T(%s)/F 132/Rect[0 0 0 0]/V %d 0 R/P %s%s>>", name, sigNr, refString(f.page1Ref), fieldExtra)),
		obj(int(f.page1Ref.ObjectNumber), pg.PDFString()),
	}
	cat := maps.Clone(f.catalog)
	maps.Copy(cat, catExtra)
	if r, ok := f.catalog["AcroForm"].(types.IndirectRef); ok {
		objs = append(objs, obj(int(r.ObjectNumber), acro.PDFString()))
	} else {
		cat["AcroForm"] = acro
	}
	objs = append(objs, obj(int(f.root.ObjectNumber), cat.PDFString()))
	unsigned, _ := appendUpdate(t, doc, objs, "")
	return unsigned
}
