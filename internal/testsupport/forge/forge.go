// Package forge builds forged and legitimate revisions of signed PDFs by hand, the way an attacker
// would (issue 17 must 8): appending an incremental update with chosen objects and cross-reference
// entries, laying out a signature or a document timestamp with a ByteRange of our choosing, and
// filling it. The pades tests build their attacks with it, the forged corpus
// (internal/testsupport/forge/corpus.go, `go run ./cmd/forgecorpus`) its files, and the archive
// job's tests their document timestamps. It reads documents with pdfcpu, not with pades, so that the
// documents it makes are not built by the code they test, and so that pades' own tests may use it.
package forge

import (
	"bytes"
	"crypto"
	"encoding/hex"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// TB is what the builders need of a test: testing.TB is one; the corpus program has its own.
type TB interface {
	Helper()
	Fatal(args ...any)
}

// Obj is one object of a hand-made update: number and body (without "N 0 obj"/"endobj"). At >= 0
// writes only a cross-reference entry pointing at that offset, no body.
type Obj struct {
	Nr   int
	Body string
	At   int64
}

// NewObj is an object with a body.
func NewObj(nr int, body string) Obj { return Obj{Nr: nr, Body: body, At: -1} }

// Facts are what an update of a document needs: root, next free object number, last
// cross-reference offset, /Info and /ID (as trailer text), the catalog and the first page.
type Facts struct {
	Root       types.IndirectRef
	Next       int
	Prev       int64
	Info, ID   string
	InfoDict   types.Dict // the document information as the revision has it (nil when none)
	Page1      types.Dict
	Page1Ref   types.IndirectRef
	AcroForm   types.Object
	Catalog    types.Dict
	ContentsNr int // object number of page 1's /Contents, -1 when direct or an array

	x *model.XRefTable
}

var startxrefRe = regexp.MustCompile(`startxref\s+(\d+)\s+%%EOF\s*$`)

// ReadFacts reads doc's facts.
func ReadFacts(t TB, doc []byte) Facts {
	t.Helper()
	conf := model.NewDefaultConfiguration()
	conf.ValidationMode = model.ValidationRelaxed
	ctx, err := api.ReadContext(bytes.NewReader(doc), conf)
	if err != nil {
		t.Fatal("forge: reading the document: ", err)
	}
	x := ctx.XRefTable
	if err := x.EnsurePageCount(); err != nil {
		t.Fatal("forge: counting pages: ", err)
	}
	f := Facts{x: x, Root: *x.Root, Catalog: x.RootDict, ContentsNr: -1}
	if f.Catalog == nil {
		if f.Catalog, err = x.DereferenceDict(*x.Root); err != nil {
			t.Fatal("forge: the catalog: ", err)
		}
	}
	f.AcroForm = f.Catalog["AcroForm"]
	f.Next = max(*x.Size, x.MaxObjNr+1)
	for nr := range x.Table {
		f.Next = max(f.Next, nr+1)
	}
	m := startxrefRe.FindSubmatch(bytes.TrimRight(doc, "\x00"))
	if m == nil {
		t.Fatal("forge: no startxref at the end of the document")
	}
	f.Prev, _ = strconv.ParseInt(string(m[1]), 10, 64)
	if x.Info != nil {
		f.Info = RefString(*x.Info)
		if d, err := x.DereferenceDict(*x.Info); err == nil && d != nil {
			f.InfoDict = maps.Clone(d)
		}
	}
	if len(x.ID) >= 2 {
		f.ID = IDString(x.ID)
	}
	ref, err := x.PageDictIndRef(1)
	if err != nil || ref == nil {
		t.Fatal("forge: page 1: ", err)
	}
	f.Page1Ref = *ref
	if f.Page1, err = x.DereferenceDict(*ref); err != nil {
		t.Fatal("forge: page 1: ", err)
	}
	f.Page1 = maps.Clone(f.Page1)
	f.ContentsNr = RefNumber(f.Page1["Contents"])
	return f
}

// Dict dereferences o to a dictionary of the document (nil when it is none).
func (f Facts) Dict(o types.Object) types.Dict {
	d, err := f.x.DereferenceDict(o)
	if err != nil {
		return nil
	}
	return d
}

// Array dereferences o to an array of the document (nil when it is none).
func (f Facts) Array(o types.Object) types.Array {
	a, err := f.x.DereferenceArray(o)
	if err != nil {
		return nil
	}
	return a
}

// AppendUpdate appends objs as an incremental update with a classic cross-reference table; extra
// goes into the trailer (e.g. "/Info 20 0 R"). It returns the new file and the offset of each
// object written.
func AppendUpdate(t TB, doc []byte, objs []Obj, extra string) ([]byte, map[int]int64) {
	t.Helper()
	f := ReadFacts(t, doc)
	var b bytes.Buffer
	b.Write(doc)
	if doc[len(doc)-1] != '\n' {
		b.WriteByte('\n')
	}
	offs := make(map[int]int64)
	size := f.Next
	for _, o := range objs {
		if o.At >= 0 {
			offs[o.Nr] = o.At
		} else {
			offs[o.Nr] = int64(b.Len())
			fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", o.Nr, o.Body)
		}
		size = max(size, o.Nr+1)
	}
	xref := b.Len()
	b.WriteString("xref\n")
	nrs := slices.Sorted(maps.Keys(offs))
	for _, r := range subsections(nrs) {
		fmt.Fprintf(&b, "%d %d\n", r[0], r[1])
		for n := r[0]; n < r[0]+r[1]; n++ {
			fmt.Fprintf(&b, "%010d 00000 n\r\n", offs[n])
		}
	}
	tr := fmt.Sprintf("/Size %d/Prev %d", size, f.Prev)
	if !strings.Contains(extra, "/Root") {
		tr += "/Root " + RefString(f.Root)
	}
	if f.Info != "" && !strings.Contains(extra, "/Info") {
		tr += "/Info " + f.Info
	}
	if f.ID != "" {
		tr += "/ID " + f.ID
	}
	fmt.Fprintf(&b, "trailer\n<<%s%s>>\nstartxref\n%d\n%%%%EOF\n", tr, extra, xref)
	return b.Bytes(), offs
}

// subsections groups sorted object numbers into runs of consecutive numbers.
func subsections(nrs []int) [][2]int {
	var runs [][2]int
	for _, n := range nrs {
		if l := len(runs); l > 0 && runs[l-1][0]+runs[l-1][1] == n {
			runs[l-1][1]++
			continue
		}
		runs = append(runs, [2]int{n, 1})
	}
	return runs
}

// ContentsHexLen is the length of the /Contents placeholder of SigBody, in hex digits: 4 KiB of
// DER, room for a CMS with a chain or a timestamp token.
const ContentsHexLen = 8192

// byteRangeWidth is the digits per ByteRange number of the placeholder (as pades writes it).
const byteRangeWidth = 10

// SigDictBody is a signature dictionary (PAdES) with placeholders that SignUpdateWith fills.
func SigDictBody(extra ...string) string {
	return SigBody("/Type/Sig/Filter/Adobe.PPKLite/SubFilter/ETSI.CAdES.detached" + strings.Join(extra, "") + "/M " + PDFDate(time.Now().UTC()))
}

// DocTimestampBody is a document timestamp dictionary (ISO 32000-2 §12.8.5) with placeholders.
func DocTimestampBody() string {
	return SigBody("/Type/DocTimeStamp/Filter/Adobe.PPKLite/SubFilter/ETSI.RFC3161")
}

// SigBody is a signature dictionary with entries and the ByteRange and /Contents placeholders.
func SigBody(entries string) string {
	return "<<" + entries + "\n/ByteRange [0 " +
		strings.Repeat(" ", 3*byteRangeWidth+2) + "]\n/Contents <" + strings.Repeat("0", ContentsHexLen) + ">>>"
}

var byteRangeHole = regexp.MustCompile(`/ByteRange \[0 {33}\]`)

// SignUpdateWith fills the last signature placeholder of doc (SigBody): the ByteRange, and the
// /Contents made by sign from the SHA-256 of the ByteRange bytes. gapEnd > 0 makes the ByteRange
// gap end there instead of just after the /Contents string: a gap holding more than the
// signature, as a careless or malicious preparer would lay it out.
func SignUpdateWith(t TB, doc []byte, gapEnd int64, sign func(digest []byte) []byte) []byte {
	t.Helper()
	return SignUpdateData(t, doc, gapEnd, func(signed []byte) []byte {
		h := crypto.SHA256.New()
		h.Write(signed)
		return sign(h.Sum(nil))
	})
}

// SignUpdateData is SignUpdateWith with sign given the signed bytes themselves, for a signer that
// hashes them itself (`openssl cms -sign`).
func SignUpdateData(t TB, doc []byte, gapEnd int64, sign func(signed []byte) []byte) []byte {
	t.Helper()
	out := bytes.Clone(doc)
	locs := byteRangeHole.FindAllIndex(out, -1)
	if len(locs) == 0 {
		t.Fatal("forge: no signature placeholder")
	}
	at := locs[len(locs)-1][0] + len("/ByteRange [0 ")
	a := int64(bytes.Index(out[at:], []byte("/Contents <")) + at + len("/Contents "))
	b := a + ContentsHexLen + 2
	if gapEnd > 0 {
		b = gapEnd
	}
	c := int64(len(out)) - b
	copy(out[at:], fmt.Sprintf("%-*d %-*d %-*d", byteRangeWidth, a, byteRangeWidth, b, byteRangeWidth, c))
	signed := append(bytes.Clone(out[:a]), out[b:]...)
	hx := fmt.Sprintf("%X", sign(signed))
	if len(hx) > ContentsHexLen {
		t.Fatal("forge: the signature does not fit the /Contents placeholder")
	}
	copy(out[a+1:], hx)
	return out
}

// AddSignatureField appends a signature field name on page 1 (a new widget in /Annots and in
// AcroForm /Fields) whose value is the dictionary sig (with placeholders), unsigned; fieldExtra
// goes into the field, catExtra (key → value) into the catalog.
func AddSignatureField(t TB, doc []byte, name, sig, fieldExtra string, catExtra types.Dict) []byte {
	t.Helper()
	f := ReadFacts(t, doc)
	sigNr, widgetNr := f.Next, f.Next+1
	pg := maps.Clone(f.Page1)
	annots := f.Array(f.Page1["Annots"])
	pg["Annots"] = append(slices.Clone(annots), *types.NewIndirectRef(widgetNr, 0))
	acro := types.Dict{}
	if a := f.Dict(f.Catalog["AcroForm"]); a != nil {
		acro = maps.Clone(a)
	}
	fields := append(slices.Clone(f.Array(acro["Fields"])), *types.NewIndirectRef(widgetNr, 0))
	acro["Fields"], acro["SigFlags"] = fields, types.Integer(3)
	objs := []Obj{
		NewObj(sigNr, sig),
		NewObj(widgetNr, fmt.Sprintf("<</Type/Annot/Subtype/Widget/FT/Sig/T(%s)/F 132/Rect[0 0 0 0]/V %d 0 R/P %s%s>>", name, sigNr, RefString(f.Page1Ref), fieldExtra)),
		NewObj(int(f.Page1Ref.ObjectNumber), pg.PDFString()),
	}
	cat := maps.Clone(f.Catalog)
	maps.Copy(cat, catExtra)
	if r, ok := f.Catalog["AcroForm"].(types.IndirectRef); ok {
		objs = append(objs, NewObj(int(r.ObjectNumber), acro.PDFString()))
	} else {
		cat["AcroForm"] = acro
	}
	objs = append(objs, NewObj(int(f.Root.ObjectNumber), cat.PDFString()))
	unsigned, _ := AppendUpdate(t, doc, objs, "")
	return unsigned
}

// AddDocTimestamp appends a document timestamp (PAdES B-LTA's last step) whose token stamp makes
// from the SHA-256 of the ByteRange bytes (an RFC 3161 TimeStampToken from a TSA).
func AddDocTimestamp(t TB, doc []byte, name string, stamp func(digest []byte) []byte) []byte {
	t.Helper()
	return SignUpdateWith(t, AddSignatureField(t, doc, name, DocTimestampBody(), "", nil), 0, stamp)
}

// RefString writes a reference as "N G R".
func RefString(r types.IndirectRef) string {
	return strconv.Itoa(int(r.ObjectNumber)) + " " + strconv.Itoa(int(r.GenerationNumber)) + " R"
}

// RefNumber is the object number of an indirect reference, -1 for a direct object.
func RefNumber(o types.Object) int {
	switch r := o.(type) {
	case types.IndirectRef:
		return int(r.ObjectNumber)
	case *types.IndirectRef:
		if r != nil {
			return int(r.ObjectNumber)
		}
	}
	return -1
}

// IDString writes a trailer /ID as two hex strings.
func IDString(id types.Array) string {
	var parts [2]string
	for i, e := range id[:2] {
		switch v := e.(type) {
		case types.HexLiteral:
			parts[i] = string(v)
		case types.StringLiteral:
			raw, err := types.Unescape(string(v))
			if err != nil {
				return ""
			}
			parts[i] = hex.EncodeToString(raw)
		default:
			return ""
		}
	}
	return "[<" + parts[0] + "><" + parts[1] + ">]"
}

// PDFDate formats a date as in ISO 32000-1 §7.9.4, as a PDF string.
func PDFDate(t time.Time) string {
	return "(D:" + t.UTC().Format("20060102150405") + "Z)"
}
