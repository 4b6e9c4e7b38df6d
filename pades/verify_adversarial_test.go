package pades

// Forgeries of signed documents, made in the tests as an attacker would make them, and the
// legitimate updates that must not be mistaken for them. Each is judged by Verify's modification
// analysis and, where they have something to say, by pdfsig, qpdf --check and pdftotext.

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"maps"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"

	"github.com/signet-b24/signet/internal/testsupport/forge"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
)

func refTo(nr int) types.IndirectRef { return *types.NewIndirectRef(nr, 0) }

func arrayOf(o ...types.Object) types.Array { return types.Array(o) }

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// signedInvoice is invoice.pdf signed once by Mary Smith (RSA, invisible).
func signedInvoice(t *testing.T) []byte {
	t.Helper()
	doc, _, err := Sign(context.Background(), corpus(t, "invoice.pdf"), rsaSigner(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// verifyDoc writes doc to a file and verifies it against the test CA.
func verifyDoc(t *testing.T, doc []byte) (string, []SignatureInfo) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "doc.pdf")
	writeFile(t, path, doc)
	roots := x509.NewCertPool()
	roots.AddCert(testCACert)
	infos, err := Verify(path, roots)
	if err != nil {
		t.Fatal(err)
	}
	return path, infos
}

// wantModified checks that signature i is intact but modified after signing, with a change
// whose description contains want.
func wantModified(t *testing.T, infos []SignatureInfo, i int, want string) {
	t.Helper()
	in := infos[i]
	if !in.Modified || in.Verdict() != VerdictInvalid {
		t.Fatalf("signature %d not reported modified: %+v", i, in)
	}
	for _, c := range in.Changes {
		if !c.Allowed && strings.Contains(c.What, want) {
			if !strings.Contains(in.Reason(), "modified after signing") {
				t.Errorf("reason %q does not say modified after signing", in.Reason())
			}
			return
		}
	}
	t.Fatalf("signature %d: no disallowed change %q among %+v", i, want, in.Changes)
}

// wantValid checks that every signature is valid and every change after it allowed.
func wantValid(t *testing.T, infos []SignatureInfo, n int) {
	t.Helper()
	if len(infos) != n {
		t.Fatalf("%d signatures, want %d: %+v", len(infos), n, infos)
	}
	for i, in := range infos {
		if in.Verdict() != VerdictValid || in.Modified || len(in.Problems) > 0 {
			t.Errorf("signature %d (%s): %s %+v", i, in.Field, in.Verdict(), in)
		}
	}
}

func pdfsigOutput(t *testing.T, path string) string {
	t.Helper()
	testenv.RequireTool(t, "pdfsig")
	out, _ := run(t, "pdfsig", path)
	return out
}

func qpdfCheck(t *testing.T, path string) {
	t.Helper()
	testenv.RequireTool(t, "qpdf")
	if out, err := run(t, "qpdf", "--check", path); err != nil {
		t.Fatalf("qpdf --check: %v\n%s", err, out)
	}
}

func streamObj(content string) string {
	return fmt.Sprintf("<</Length %d>>\nstream\n%s\nendstream", len(content), content)
}

const forgedText = "BT /R7 24 Tf 72 600 Td (PAY 1000000 RUB TO MALLORY) Tj ET"

// Shadow attack, replace variant: an update redefines the page's content stream in place; no page
// dictionary changes. pdfsig still calls the signature valid (only "Not total document signed").
func TestAttackShadowContentReplaced(t *testing.T) {
	doc := signedInvoice(t)
	f := facts(t, doc)
	forged, _ := appendUpdate(t, doc, []upObj{obj(f.ContentsNr, streamObj(forgedText))}, "")
	path, infos := verifyDoc(t, forged)
	wantModified(t, infos, 0, "page 1 content replaced")
	if !infos[0].DigestValid || !infos[0].ByteRangeValid {
		t.Errorf("the signed bytes themselves are intact: %+v", infos[0])
	}
	qpdfCheck(t, path)
	testenv.RequireTool(t, "pdftotext")
	if text, _ := run(t, "pdftotext", path, "-"); !strings.Contains(text, "MALLORY") {
		t.Fatalf("the forgery does not show its text, so the test proves nothing:\n%s", text)
	}
	if out := pdfsigOutput(t, path); !strings.Contains(out, "Not total document signed") {
		t.Errorf("pdfsig:\n%s", out)
	}
}

// Shadow attack, hide-and-replace: the signed revision already holds a second definition of the
// content object that its cross-reference table does not list; after signing, an update made of a
// cross-reference section alone points the object number at it. No byte of the update is an object.
func TestAttackShadowHideAndReplace(t *testing.T) {
	base := corpus(t, "invoice.pdf")
	f := facts(t, base)
	// The preparer's revision: a harmless /Info update, followed by the hidden object (unlisted).
	prepared, _ := appendUpdate(t, base, []upObj{obj(f.Next, "<</Title (Invoice)>>")}, fmt.Sprintf("/Info %d 0 R", f.Next))
	hiddenAt := int64(len(prepared))
	hidden := fmt.Sprintf("%d 0 obj\n%s\nendobj\n", f.ContentsNr, streamObj(forgedText))
	prepared = append(prepared, hidden...)
	// Keep the file's end a revision end: repeat the last startxref/%%EOF.
	tail := prepared[strings.LastIndex(string(prepared[:hiddenAt]), "startxref"):hiddenAt]
	prepared = append(prepared, tail...)
	signed, _, err := Sign(context.Background(), prepared, rsaSigner(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, infos := verifyDoc(t, signed)
	wantValid(t, infos, 1)
	forged, _ := appendUpdate(t, signed, []upObj{{Nr: f.ContentsNr, At: hiddenAt}}, "")
	path, infos := verifyDoc(t, forged)
	wantModified(t, infos, 0, "page 1 content replaced")
	testenv.RequireTool(t, "pdftotext")
	if text, _ := run(t, "pdftotext", path, "-"); !strings.Contains(text, "MALLORY") {
		t.Fatalf("the forgery does not show its text, so the test proves nothing:\n%s", text)
	}
}

// Content hidden in the ByteRange gap: the signed revision's page points at a content stream that
// lies in the gap, after the /Contents string, so it was never signed and is swapped afterwards.
func TestAttackGapHoldsContent(t *testing.T) {
	base := corpus(t, "invoice.pdf")
	f := facts(t, base)
	sigNr, widgetNr, contentNr := f.Next, f.Next+1, f.Next+2
	pg := maps.Clone(f.Page1)
	pg["Contents"] = refTo(contentNr)
	pg["Annots"] = arrayOf(refTo(widgetNr))
	cat := maps.Clone(f.Catalog)
	cat["AcroForm"] = types.Dict{"Fields": arrayOf(refTo(widgetNr)), "SigFlags": types.Integer(3)}
	harmless := "BT /R7 24 Tf 72 600 Td (TOTAL DUE: 100 RUB         ) Tj ET"
	evil := "BT /R7 24 Tf 72 600 Td (TOTAL DUE: 100000000 RUB   ) Tj ET"
	doc, offs := appendUpdate(t, base, []upObj{
		obj(sigNr, sigDictBody()),
		obj(contentNr, streamObj(harmless)),
		obj(widgetNr, fmt.Sprintf("<</Type/Annot/Subtype/Widget/FT/Sig/T(Signature1)/F 132/Rect[0 0 0 0]/V %d 0 R/P %s>>", sigNr, refString(f.Page1Ref))),
		obj(int(f.Page1Ref.ObjectNumber), pg.PDFString()),
		obj(int(f.Root.ObjectNumber), cat.PDFString()),
	}, "")
	gapEnd := offs[widgetNr] // the gap runs over the content stream
	signed := signUpdate(t, doc, rsaSigner(t), gapEnd)
	forged := []byte(strings.Replace(string(signed), harmless, evil, 1))
	for name, d := range map[string][]byte{"as signed": signed, "swapped": forged} {
		path, infos := verifyDoc(t, d)
		in := infos[0]
		if !in.DigestValid || in.ByteRangeValid || in.Verdict() != VerdictInvalid || !strings.Contains(in.Reason(), "not the whole revision is signed") {
			t.Errorf("%s: %s %q %+v", name, in.Verdict(), in.Reason(), in)
		}
		if out := pdfsigOutput(t, path); !strings.Contains(out, "Not total document signed") {
			t.Errorf("%s: pdfsig:\n%s", name, out)
		}
	}
}

// Evidence forgery: Signet's facts in the document information are changed by an update after the
// signature; the change is disallowed and marked as touching the evidence.
func TestAttackEvidenceForged(t *testing.T) {
	base := corpus(t, "invoice.pdf")
	f := facts(t, base)
	info := "<</SignetDocumentID (doc-1)/SignetSigner (Mary Smith \\(mary\\))/SignetOriginalSHA256 (" + strings.Repeat("ab", 32) + ")>>"
	withEvidence, _ := appendUpdate(t, base, []upObj{obj(f.Next, info)}, fmt.Sprintf("/Info %d 0 R", f.Next))
	signed, _, err := Sign(context.Background(), withEvidence, rsaSigner(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	forgedInfo := strings.Replace(info, "Mary Smith", "Eve Forger", 1)
	for name, update := range map[string][]upObj{
		"in place":   {obj(f.Next, forgedInfo)},
		"new object": {obj(facts(t, signed).Next, forgedInfo)},
	} {
		extra := ""
		if name == "new object" {
			extra = fmt.Sprintf("/Info %d 0 R", facts(t, signed).Next)
		}
		forged, _ := appendUpdate(t, signed, update, extra)
		_, infos := verifyDoc(t, forged)
		wantModified(t, infos, 0, "evidence /SignetSigner changed after signing")
		ev := false
		for _, c := range infos[0].Changes {
			ev = ev || c.Evidence
		}
		if !ev {
			t.Errorf("%s: no change marked as evidence: %+v", name, infos[0].Changes)
		}
	}
}

// withInfo is the document information info with keys set, as a later tool writes it (it keeps the
// other keys).
func withInfo(info types.Dict, kv ...string) string {
	d := types.Dict{}
	for k, v := range info {
		d[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		d[kv[i]] = types.StringLiteral(kv[i+1])
	}
	return d.PDFString()
}

// Relabelling a signed document without signing: a new title and author in the document
// information, or new XMP metadata, appended after the signature. pdfsig does not look; the signed
// revision said something else about the document.
func TestAttackMetadataChangedAfterSigning(t *testing.T) {
	doc := signedInvoice(t)
	f := facts(t, doc)
	forged, _ := appendUpdate(t, doc, []upObj{obj(f.Next, withInfo(f.InfoDict, "Title", "Loan agreement, 1,000,000 EUR", "Author", "Eve Forger"))},
		fmt.Sprintf("/Info %d 0 R", f.Next))
	_, infos := verifyDoc(t, forged)
	wantModified(t, infos, 0, "document information /Title")

	xmp := `<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title><rdf:Alt><rdf:li xml:lang="x-default">Loan agreement</rdf:li></rdf:Alt></dc:title></rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>`
	cat := maps.Clone(f.Catalog)
	cat["Metadata"] = refTo(f.Next)
	forged, _ = appendUpdate(t, doc, []upObj{
		obj(f.Next, fmt.Sprintf("<</Type/Metadata/Subtype/XML/Length %d>>\nstream\n%s\nendstream", len(xmp), xmp)),
		obj(int(f.Root.ObjectNumber), cat.PDFString()),
	}, "")
	_, infos = verifyDoc(t, forged)
	wantModified(t, infos, 0, "XMP metadata changed")
}

// A second signer's tool that retitles the document and then signs what it wrote: the first
// signature stays valid (the change is signed), and the second covers the whole file.
func TestAllowedMetadataUnderALaterSignature(t *testing.T) {
	doc := signedInvoice(t)
	f := facts(t, doc)
	retitled, _ := appendUpdate(t, doc, []upObj{obj(f.Next, withInfo(f.InfoDict, "Title", "Invoice 42, approved"))}, fmt.Sprintf("/Info %d 0 R", f.Next))
	signed, _, err := Sign(context.Background(), retitled, ecSigner(t), Options{FieldName: "Approval"})
	if err != nil {
		t.Fatal(err)
	}
	_, infos := verifyDoc(t, signed)
	wantValid(t, infos, 2)
	// The same retitling after the second signature is nobody's: both signatures are then invalid.
	g := facts(t, signed)
	forged, _ := appendUpdate(t, signed, []upObj{obj(g.Next, withInfo(g.InfoDict, "Title", "Something else"))}, fmt.Sprintf("/Info %d 0 R", g.Next))
	_, infos = verifyDoc(t, forged)
	for i := range infos {
		wantModified(t, infos, i, "document information /Title")
	}
}

// An annotation drawn over the signed page after signing (a FreeText box covering the amount).
func TestAttackOverlayAnnotation(t *testing.T) {
	doc := signedInvoice(t)
	f := facts(t, doc)
	pg := maps.Clone(f.Page1)
	annots, _ := f.Page1["Annots"].(types.Array)
	annots = append(slices.Clone(annots), refTo(f.Next))
	pg["Annots"] = annots
	forged, _ := appendUpdate(t, doc, []upObj{
		obj(f.Next, "<</Type/Annot/Subtype/FreeText/Rect[60 580 540 640]/Contents(PAY 1000000 RUB)/DA(/Helv 24 Tf 0 g)>>"),
		obj(int(f.Page1Ref.ObjectNumber), pg.PDFString()),
	}, "")
	_, infos := verifyDoc(t, forged)
	wantModified(t, infos, 0, "page 1: annotation /FreeText added")
}

// The signature field's value swapped for another signature dictionary (another document's
// signature by the same signer, say).
func TestAttackSignatureSwapped(t *testing.T) {
	doc := signedInvoice(t)
	other := signedInvoice(t) // same layout, another signature value
	d, err := readDocument(context.Background(), bytesReader(doc), int64(len(doc)), "doc")
	if err != nil {
		t.Fatal(err)
	}
	found := d.walk(false)
	fieldNr := found.sigNrs[0]
	widget := maps.Clone(found.sigFields[0].dict)
	d.release()
	f := facts(t, doc)
	od, _ := readDocument(context.Background(), bytesReader(other), int64(len(other)), "other")
	sig := maps.Clone(od.dict(od.walk(false).sigFields[0].dict["V"]))
	od.release()
	widget["V"] = refTo(f.Next)
	forged, _ := appendUpdate(t, doc, []upObj{obj(f.Next, sig.PDFString()), obj(fieldNr, widget.PDFString())}, "")
	_, infos := verifyDoc(t, forged)
	if len(infos) != 1 {
		t.Fatalf("%d signatures", len(infos))
	}
	// The swapped-in signature does not match these bytes; the analysis names the swap too.
	if infos[0].Verdict() != VerdictInvalid {
		t.Fatalf("swapped signature: %s %+v", infos[0].Verdict(), infos[0])
	}
}

// A page appended after signing.
func TestAttackPageAdded(t *testing.T) {
	doc := signedInvoice(t)
	f := facts(t, doc)
	d, _ := readDocument(context.Background(), bytesReader(doc), int64(len(doc)), "doc")
	pagesRef := d.catalog["Pages"]
	pages := maps.Clone(d.dict(pagesRef))
	d.release()
	pg := maps.Clone(f.Page1)
	pg["Contents"] = refTo(f.Next + 1)
	delete(pg, "Annots")
	kids := append(slices.Clone(pages["Kids"].(types.Array)), refTo(f.Next))
	pages["Kids"] = kids
	pages["Count"] = types.Integer(len(kids))
	forged, _ := appendUpdate(t, doc, []upObj{
		obj(f.Next, pg.PDFString()), obj(f.Next+1, streamObj(forgedText)), obj(refNumber(pagesRef), pages.PDFString()),
	}, "")
	_, infos := verifyDoc(t, forged)
	wantModified(t, infos, 0, "pages added or removed (1 before, 2 now)")
}

// Legitimate: a second signature, visible, by another signer (new field, widget on the page,
// appearance streams and an embedded font); the first stays valid. pdfsig agrees.
func TestAllowedSecondSignature(t *testing.T) {
	doc := signedInvoice(t)
	doc, _, err := Sign(context.Background(), doc, ecSigner(t), Options{Visible: true})
	if err != nil {
		t.Fatal(err)
	}
	path, infos := verifyDoc(t, doc)
	wantValid(t, infos, 2)
	if len(infos[0].Changes) == 0 {
		t.Errorf("the second signature is not listed as a change after the first: %+v", infos[0])
	}
	for _, c := range infos[0].Changes {
		if !c.Allowed {
			t.Errorf("disallowed: %s", c.What)
		}
	}
	qpdfCheck(t, path)
	if out := pdfsigOutput(t, path); strings.Count(out, "Signature is Valid.") != 2 {
		t.Errorf("pdfsig:\n%s", out)
	}
	// The same on other layouts: cross-reference streams, linearized, several pages, an earlier
	// update, rotated pages; and a prepared empty field signed first or second.
	for _, c := range []struct{ name, first, second string }{
		{"xref-stream.pdf", "", ""}, {"linearized.pdf", "", ""}, {"multipage-xref-stream.pdf", "", ""},
		{"incremental.pdf", "", ""}, {"rotated-90.pdf", "", ""}, {"form-field.pdf", "Approval", ""}, {"form-field.pdf", "", "Approval"},
	} {
		doc, _, err := Sign(context.Background(), corpus(t, c.name), rsaSigner(t), Options{Visible: true, FieldName: c.first})
		if err != nil {
			t.Fatal(err)
		}
		doc, _, err = Sign(context.Background(), doc, ecSigner(t), Options{Visible: true, FieldName: c.second, Page: -1})
		if err != nil {
			t.Fatal(err)
		}
		_, infos := verifyDoc(t, doc)
		t.Run(c.name+"/"+c.first+c.second, func(t *testing.T) { wantValid(t, infos, 2) })
	}
}

// Legitimate: a DSS with the signer's chain appended after the signature (B-LT's update), and a
// document information change (/ModDate) that touches no evidence.
func TestAllowedDSSAppended(t *testing.T) {
	doc := signedInvoice(t)
	f := facts(t, doc)
	cat := maps.Clone(f.Catalog)
	cat["DSS"] = refTo(f.Next)
	cert := string(testCACert.Raw)
	forged, _ := appendUpdate(t, doc, []upObj{
		obj(f.Next, fmt.Sprintf("<</Type/DSS/Certs[%d 0 R]>>", f.Next+1)),
		obj(f.Next+1, fmt.Sprintf("<</Length %d>>\nstream\n%s\nendstream", len(cert), cert)),
		obj(f.Next+2, withInfo(f.InfoDict, "ModDate", "D:20261203130000Z", "Producer", "a later tool")),
		obj(int(f.Root.ObjectNumber), cat.PDFString()),
	}, fmt.Sprintf("/Info %d 0 R", f.Next+2))
	path, infos := verifyDoc(t, forged)
	wantValid(t, infos, 1)
	if len(infos[0].Changes) < 2 {
		t.Errorf("the DSS and the information change are not listed: %+v", infos[0].Changes)
	}
	qpdfCheck(t, path)
	if out := pdfsigOutput(t, path); !strings.Contains(out, "Signature is Valid.") {
		t.Errorf("pdfsig:\n%s", out)
	}
}

// A signature whose field is missing from AcroForm /Fields (only on the page's /Annots, as poppler
// 22.12's pdfsig -add-signature writes it) is found and judged, like pdfsig does.
func TestSignatureOutsideFields(t *testing.T) {
	doc := signedInvoice(t)
	f := facts(t, doc)
	sigNr, widgetNr := f.Next, f.Next+1
	pg := maps.Clone(f.Page1)
	annots, _ := f.Page1["Annots"].(types.Array)
	pg["Annots"] = append(slices.Clone(annots), refTo(widgetNr))
	unsigned, _ := appendUpdate(t, doc, []upObj{
		obj(sigNr, sigDictBody()),
		obj(widgetNr, fmt.Sprintf("<</Type/Annot/Subtype/Widget/FT/Sig/T(Hidden)/F 132/Rect[0 0 0 0]/V %d 0 R/P %s>>", sigNr, refString(f.Page1Ref))),
		obj(int(f.Page1Ref.ObjectNumber), pg.PDFString()),
	}, "")
	signed := signUpdate(t, unsigned, ecSigner(t), 0)
	path, infos := verifyDoc(t, signed)
	wantValid(t, infos, 2)
	if infos[1].Field != "Hidden" || infos[1].Signer != "John Doe" {
		t.Errorf("second signature: %+v", infos[1])
	}
	if out := pdfsigOutput(t, path); strings.Count(out, "Signature is Valid.") != 2 {
		t.Errorf("pdfsig:\n%s", out)
	}
}

// certified is invoice.pdf certified by Mary Smith with DocMDP level p (ISO 32000-1 §12.8.2.2).
func certified(t *testing.T, p int) []byte {
	t.Helper()
	base := corpus(t, "invoice.pdf")
	sigNr := facts(t, base).Next
	return forgeSignature(t, base, rsaSigner(t), "Certification",
		fmt.Sprintf("/Reference[<</Type/SigRef/TransformMethod/DocMDP/TransformParams<</Type/TransformParams/P %d/V/1.2>>>>]", p), "",
		types.Dict{"Perms": types.Dict{"DocMDP": refTo(sigNr)}})
}

// A certification with P=1 allows no further signature; P=2 allows one. Validation data (DSS)
// is not a change even under P=1 (ISO 32000-2, as corrected).
func TestAttackSignatureAfterNoChangesCertification(t *testing.T) {
	for _, p := range []int{1, 2} {
		doc := certified(t, p)
		_, infos := verifyDoc(t, doc)
		wantValid(t, infos, 1)
		two := forgeSignature(t, doc, ecSigner(t), "Second", "", "", nil)
		path, infos := verifyDoc(t, two)
		if p == 1 {
			wantModified(t, infos, 0, `signature field "Second" added: the certification (DocMDP P=1) allows no further signatures`)
		} else {
			wantValid(t, infos, 2)
		}
		qpdfCheck(t, path)
	}
	doc := certified(t, 1)
	f := facts(t, doc)
	cat := maps.Clone(f.Catalog)
	cat["DSS"] = refTo(f.Next)
	withDSS, _ := appendUpdate(t, doc, []upObj{obj(f.Next, "<</Type/DSS/Certs[]>>"), obj(int(f.Root.ObjectNumber), cat.PDFString())}, "")
	_, infos := verifyDoc(t, withDSS)
	wantValid(t, infos, 1)
}

// withTextField is invoice.pdf with a text field "Amount" on page 1, not yet filled.
func withTextField(t *testing.T) []byte {
	t.Helper()
	return forge.WithTextField(t, corpus(t, "invoice.pdf"))
}

// fill sets the value of the field "Amount" to v in an update.
func fill(t *testing.T, doc []byte, v string) []byte {
	t.Helper()
	return forge.Fill(t, doc, "Amount", v)
}

// Filling a form field after a signature is allowed, unless a signature field locks it (FieldMDP,
// ISO 32000-1 §12.7.4.5 /Lock) or a certification forbids changes.
func TestFormFillingAfterSigning(t *testing.T) {
	signed, _, err := Sign(context.Background(), withTextField(t), rsaSigner(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, infos := verifyDoc(t, fill(t, signed, "100 RUB"))
	wantValid(t, infos, 1)
	if len(infos[0].Changes) != 1 || infos[0].Changes[0].What != `form field "Amount" filled` {
		t.Errorf("changes: %+v", infos[0].Changes)
	}
	locked := forgeSignature(t, withTextField(t), rsaSigner(t), "Approval", "", "/Lock<</Type/SigFieldLock/Action/Include/Fields[(Amount)]>>", nil)
	_, infos = verifyDoc(t, fill(t, locked, "100000000 RUB"))
	wantModified(t, infos, 0, `form field "Amount" filled: signature field "Approval" locks it`)
	_, infos = verifyDoc(t, fill(t, forgeSignature(t, withTextField(t), rsaSigner(t), "Cert",
		"/Reference[<</Type/SigRef/TransformMethod/DocMDP/TransformParams<</P 1/V/1.2>>>>]", "",
		types.Dict{"Perms": types.Dict{"DocMDP": refTo(facts(t, withTextField(t)).Next)}}), "1 RUB"))
	wantModified(t, infos, 0, `form field "Amount" filled: the certification (DocMDP P=1) allows no changes`)
}

// A second signature by another tool: poppler 22.12's pdfsig -add-signature after Signet's. Its
// update adds a field, a widget with an embedded font and rewrites the AcroForm; Signet's signature
// stays valid, and both signatures are found, as pdfsig finds them.
func TestAllowedSecondSignatureByPdfsig(t *testing.T) {
	for _, tool := range []string{"pdfsig", "openssl", "certutil", "pk12util"} {
		testenv.RequireTool(t, tool)
	}
	dir := t.TempDir()
	key, crt, p12 := filepath.Join(dir, "k.pem"), filepath.Join(dir, "c.pem"), filepath.Join(dir, "p.p12")
	for _, args := range [][]string{
		{"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Poppler Second", "-keyout", key, "-out", crt},
		{"openssl", "pkcs12", "-export", "-inkey", key, "-in", crt, "-name", "pop", "-passout", "pass:", "-out", p12},
		{"certutil", "-N", "-d", "sql:" + dir, "--empty-password"},
		{"pk12util", "-i", p12, "-d", "sql:" + dir, "-W", ""},
	} {
		if out, err := run(t, args[0], args[1:]...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	in, out := filepath.Join(dir, "in.pdf"), filepath.Join(dir, "out.pdf")
	writeFile(t, in, signedInvoice(t))
	// pdfsig may crash at exit after writing (NSS shutdown); the file is what is judged.
	run(t, "pdfsig", "-nssdir", "sql:"+dir, "-add-signature", "-nick", "pop", "-new-signature-field-name", "Second", in, out)
	if o := pdfsigOutput(t, out); strings.Count(o, "Signature is Valid.") != 2 {
		t.Fatalf("pdfsig did not make a second valid signature:\n%s", o)
	}
	roots := x509.NewCertPool()
	roots.AddCert(testCACert)
	infos, err := Verify(out, roots)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 || infos[0].Verdict() != VerdictValid || infos[1].Field != "Second" || !infos[1].Intact() {
		t.Fatalf("%+v", infos)
	}
}

// Legitimate: a document timestamp (B-LTA's update) after the signature, from a TSA on loopback. It
// is found and verified (its imprint is the ByteRange's hash), and the signature before it stays
// valid; the same timestamp with a changed byte in its range is not.
func TestAllowedDocumentTimestamp(t *testing.T) {
	srv := httptest.NewServer(newTestTSA(t))
	defer srv.Close()
	doc := addSignatureField(t, signedInvoice(t), "Timestamp1", docTimestampBody(), "", nil)
	stamped := signUpdateWith(t, doc, 0, docTimestamper(t, srv.URL))
	path, infos := verifyDoc(t, stamped)
	wantValid(t, infos, 2)
	if in := infos[1]; in.SubFilter != "ETSI.RFC3161" || in.Signer != "Signet Test TSA" || in.TimestampTime.IsZero() {
		t.Errorf("document timestamp: %+v", in)
	}
	if c := infos[0].Changes; len(c) != 1 || c[0].What != `document timestamp "Timestamp1" added` || !c[0].Allowed {
		t.Errorf("changes after the signature: %+v", c)
	}
	qpdfCheck(t, path)
	tampered := bytes.Clone(stamped)
	tampered[len(tampered)-30] ^= 1 // in the trailer, after /Contents: inside the timestamp's range
	_, infos = verifyDoc(t, tampered)
	if infos[1].DigestValid || infos[1].Verdict() != VerdictInvalid {
		t.Errorf("a changed byte under the timestamp: %+v", infos[1])
	}
}

// A form field slipped into the form by rewriting an indirect /Fields array, the AcroForm itself
// untouched.
func TestAttackFieldAddedThroughIndirectFields(t *testing.T) {
	base := corpus(t, "invoice.pdf")
	f := facts(t, base)
	sigNr, widgetNr, listNr, fieldNr := f.Next, f.Next+1, f.Next+2, f.Next+3
	pg := maps.Clone(f.Page1)
	pg["Annots"] = arrayOf(refTo(widgetNr))
	cat := maps.Clone(f.Catalog)
	cat["AcroForm"] = types.Dict{"Fields": refTo(listNr), "SigFlags": types.Integer(3)}
	unsigned, _ := appendUpdate(t, base, []upObj{
		obj(sigNr, sigDictBody()),
		obj(widgetNr, fmt.Sprintf("<</Type/Annot/Subtype/Widget/FT/Sig/T(Signature1)/F 132/Rect[0 0 0 0]/V %d 0 R/P %s>>", sigNr, refString(f.Page1Ref))),
		obj(listNr, arrayOf(refTo(widgetNr)).PDFString()),
		obj(int(f.Page1Ref.ObjectNumber), pg.PDFString()),
		obj(int(f.Root.ObjectNumber), cat.PDFString()),
	}, "")
	signed := signUpdate(t, unsigned, rsaSigner(t), 0)
	_, infos := verifyDoc(t, signed)
	wantValid(t, infos, 1)
	forged, _ := appendUpdate(t, signed, []upObj{
		obj(fieldNr, "<</FT/Tx/T(Total)/V(100000000 RUB)>>"),
		obj(listNr, arrayOf(refTo(widgetNr), refTo(fieldNr)).PDFString()),
	}, "")
	_, infos = verifyDoc(t, forged)
	wantModified(t, infos, 0, `form field "Total" added`)
}

// BenchmarkVerifyModificationAnalysis is what the analysis costs: verifying an invoice signed once
// (no analysis: the signature covers the file) and twice (the first signature's later revision is
// analysed), on a 1-page and a 3-page document with cross-reference streams.
func BenchmarkVerifyModificationAnalysis(b *testing.B) {
	for _, name := range []string{"invoice.pdf", "multipage-xref-stream.pdf"} {
		once, _, err := Sign(context.Background(), corpus(b, name), rsaSigner(b), Options{})
		if err != nil {
			b.Fatal(err)
		}
		twice, _, err := Sign(context.Background(), once, ecSigner(b), Options{Visible: true})
		if err != nil {
			b.Fatal(err)
		}
		for label, doc := range map[string][]byte{"once": once, "twice": twice} {
			path := filepath.Join(b.TempDir(), "doc.pdf")
			writeFile(b, path, doc)
			b.Run(name+"/"+label, func(b *testing.B) {
				for b.Loop() {
					if _, err := Verify(path, nil); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// Shadow attack through the trailer alone: the signed revision holds a second, unreferenced
// catalog with its own page tree (listed in its cross-reference table, so nothing looks broken);
// after signing, an update with an empty cross-reference section points /Root at it. No object
// changes; what the document shows does.
func TestAttackTrailerRootRepointed(t *testing.T) {
	base := corpus(t, "invoice.pdf")
	f := facts(t, base)
	acroNr, widgetNr, contentNr, pageNr, pagesNr, catNr := f.Next, f.Next+1, f.Next+2, f.Next+3, f.Next+4, f.Next+5
	page := maps.Clone(f.Page1)
	page["Annots"] = arrayOf(refTo(widgetNr))
	cat := maps.Clone(f.Catalog)
	cat["AcroForm"] = refTo(acroNr)
	hidden := maps.Clone(page)
	hidden["Parent"], hidden["Contents"] = refTo(pagesNr), refTo(contentNr)
	prepared, _ := appendUpdate(t, base, []upObj{
		obj(acroNr, fmt.Sprintf("<</Fields[%d 0 R]>>", widgetNr)),
		obj(widgetNr, fmt.Sprintf("<</Type/Annot/Subtype/Widget/FT/Sig/T(Approval)/F 4/Rect[0 0 0 0]/P %s>>", refString(f.Page1Ref))),
		obj(int(f.Page1Ref.ObjectNumber), page.PDFString()),
		obj(int(f.Root.ObjectNumber), cat.PDFString()),
		obj(contentNr, streamObj(forgedText)),
		obj(pageNr, hidden.PDFString()),
		obj(pagesNr, fmt.Sprintf("<</Type/Pages/Kids[%d 0 R]/Count 1>>", pageNr)),
		obj(catNr, fmt.Sprintf("<</Type/Catalog/Pages %d 0 R/AcroForm %d 0 R>>", pagesNr, acroNr)),
	}, "")
	signed, _, err := Sign(context.Background(), prepared, rsaSigner(t), Options{FieldName: "Approval"})
	if err != nil {
		t.Fatal(err)
	}
	_, infos := verifyDoc(t, signed)
	wantValid(t, infos, 1)
	forged, _ := appendUpdate(t, signed, nil, fmt.Sprintf("/Root %d 0 R", catNr))
	path, infos := verifyDoc(t, forged)
	wantModified(t, infos, 0, "page 1 content replaced")
	testenv.RequireTool(t, "pdftotext")
	if text, _ := run(t, "pdftotext", path, "-"); !strings.Contains(text, "MALLORY") {
		t.Fatalf("the forgery does not show its text, so the test proves nothing:\n%s", text)
	}
}

// A signature copied into a new field: an update adds a field "CEO Approval" whose value is a copy
// of Mary's signature dictionary (same ByteRange, same /Contents). Its bytes verify, but the
// dictionary is not part of the revision it signs.
func TestAttackSignatureCopiedIntoNewField(t *testing.T) {
	doc := signedInvoice(t)
	d, err := readDocument(context.Background(), bytesReader(doc), int64(len(doc)), "doc")
	if err != nil {
		t.Fatal(err)
	}
	sig := maps.Clone(d.dict(d.walk(false).sigFields[0].dict["V"]))
	d.release()
	forged := addSignatureField(t, doc, "CEO Approval", sig.PDFString(), "", nil)
	_, infos := verifyDoc(t, forged)
	if len(infos) != 2 || infos[0].Verdict() != VerdictValid {
		t.Fatalf("%+v", infos)
	}
	wantModified(t, infos, 1, `the signature of field "CEO Approval" was copied in after signing`)
	if Summary(infos) != VerdictInvalid {
		t.Error("the document is not invalid")
	}
}
