package forge

// The forged corpus (issue 17 must 8): from one document and Signet's own signature of it, the
// forgeries an attacker makes of a signed PDF and the legitimate updates that must not be taken
// for them, each with the verdict `signet verify` must give. The cmd/signet test builds it and
// judges every file with `signet verify`, pdfsig and qpdf; `go run ./cmd/forgecorpus -out DIR`
// writes the same files and manifest.json for other validators.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// Tools make the signatures of the corpus.
type Tools struct {
	// Sign is Signet signing a PDF (`signet sign`, or the engine with a test key): the documents the
	// corpus forges are its outputs.
	Sign func(pdf []byte) ([]byte, error)
	// CMS is a detached CMS SignedData over the signed bytes by another tool (`openssl cms -sign`),
	// for the layouts Signet never makes: a ByteRange gap holding content, a certification.
	CMS func(signed []byte) ([]byte, error)
	// Stamp is an RFC 3161 TimeStampToken over a SHA-256 digest; nil leaves the document timestamp
	// out.
	Stamp func(digest []byte) ([]byte, error)
	// Cert is a DER certificate for the DSS of the B-LT case.
	Cert []byte
}

// Case is one file of the corpus and what a verifier must say of it.
type Case struct {
	Name string `json:"name"`
	File string `json:"file"`
	// Kind is "forged" or "legitimate".
	Kind string `json:"kind"`
	// Verdict is `signet verify`'s verdict of the document: "valid" or "invalid".
	Verdict string `json:"verdict"`
	// Signatures is how many signatures (and document timestamps) the file holds.
	Signatures int `json:"signatures"`
	// Modified says the first signature is reported modified after signing; Reason is a part of
	// its reason.
	Modified bool   `json:"modified"`
	Reason   string `json:"reason,omitempty"`
	// NotTotal says pdfsig prints "Not total document signed" for the first signature.
	NotTotal bool `json:"pdfsig_not_total"`
	// Shows is text pdftotext finds in the file: the forgery is what a reader sees.
	Shows string `json:"pdftotext_shows,omitempty"`
	Why   string `json:"why"`
}

// forgedText is what the forgeries make the page say.
const forgedText = "BT /R7 24 Tf 72 600 Td (PAY 1000000 RUB TO MALLORY) Tj ET"

func streamObj(content string) string {
	return fmt.Sprintf("<</Length %d>>\nstream\n%s\nendstream", len(content), content)
}

// otherSig is the signature dictionary of the hand-laid signatures (CMS by another tool): a
// PKCS#7 detached signature, whose signed attributes may hold a signing time.
func otherSig(extra string) string {
	return SigBody("/Type/Sig/Filter/Adobe.PPKLite/SubFilter/adbe.pkcs7.detached" + extra + "/M " + PDFDate(time.Now()))
}

// Build makes the corpus from original (an unsigned PDF with its page content in one stream).
func Build(t TB, original []byte, tools Tools) ([]Case, map[string][]byte) {
	t.Helper()
	must := func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal("forge corpus: ", err)
		}
		return b
	}
	cms := func(signed []byte) []byte { return must(tools.CMS(signed)) }
	files := map[string][]byte{}
	var cases []Case
	add := func(c Case, pdf []byte) {
		c.File = c.Name + ".pdf"
		if c.Verdict == "" {
			c.Verdict = "valid"
			if c.Kind == "forged" {
				c.Verdict = "invalid"
			}
		}
		if c.Signatures == 0 {
			c.Signatures = 1
		}
		cases, files[c.File] = append(cases, c), pdf
	}
	signed := must(tools.Sign(original))
	f := ReadFacts(t, signed)
	add(Case{Name: "signed", Kind: "legitimate", Why: "Signet's signature, nothing after it (the control)"}, signed)

	// Forgeries of Signet's output.
	forged, _ := AppendUpdate(t, signed, []Obj{NewObj(f.ContentsNr, streamObj(forgedText))}, "")
	add(Case{Name: "shadow-content-replaced", Kind: "forged", Modified: true, Reason: "page 1 content replaced", NotTotal: true, Shows: "MALLORY",
		Why: "shadow attack (replace): an update redefines the page's content stream; the signed bytes are intact"}, forged)

	pg := maps.Clone(f.Page1)
	pg["Annots"] = append(slices.Clone(f.Array(f.Page1["Annots"])), *types.NewIndirectRef(f.Next, 0))
	forged, _ = AppendUpdate(t, signed, []Obj{
		NewObj(f.Next, "<</Type/Annot/Subtype/FreeText/Rect[60 580 540 640]/Contents(PAY 1000000 RUB)/DA(/Helv 24 Tf 0 g)>>"),
		NewObj(int(f.Page1Ref.ObjectNumber), pg.PDFString()),
	}, "")
	add(Case{Name: "overlay-annotation", Kind: "forged", Modified: true, Reason: "annotation /FreeText added", NotTotal: true,
		Why: "a FreeText annotation drawn over the amount after signing"}, forged)

	pagesRef := f.Catalog["Pages"]
	pages := maps.Clone(f.Dict(pagesRef))
	newPage := maps.Clone(f.Page1)
	newPage["Contents"] = *types.NewIndirectRef(f.Next+1, 0)
	delete(newPage, "Annots")
	kids := append(slices.Clone(f.Array(pages["Kids"])), *types.NewIndirectRef(f.Next, 0))
	pages["Kids"], pages["Count"] = kids, types.Integer(len(kids))
	forged, _ = AppendUpdate(t, signed, []Obj{
		NewObj(f.Next, newPage.PDFString()), NewObj(f.Next+1, streamObj(forgedText)), NewObj(RefNumber(pagesRef), pages.PDFString()),
	}, "")
	add(Case{Name: "page-added", Kind: "forged", Modified: true, Reason: "pages added or removed", NotTotal: true, Shows: "MALLORY",
		Why: "a page appended after signing"}, forged)

	forged, _ = AppendUpdate(t, signed, []Obj{NewObj(f.Next, withInfo(f.InfoDict, "Title", "Loan agreement, 1,000,000 EUR", "Author", "Eve Forger"))},
		fmt.Sprintf("/Info %d 0 R", f.Next))
	add(Case{Name: "info-changed", Kind: "forged", Modified: true, Reason: "document information /Title", NotTotal: true,
		Why: "the document information (title, author) changed after signing"}, forged)

	xmp := `<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title><rdf:Alt><rdf:li xml:lang="x-default">Loan agreement</rdf:li></rdf:Alt></dc:title></rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>`
	cat := maps.Clone(f.Catalog)
	cat["Metadata"] = *types.NewIndirectRef(f.Next, 0)
	forged, _ = AppendUpdate(t, signed, []Obj{
		NewObj(f.Next, fmt.Sprintf("<</Type/Metadata/Subtype/XML/Length %d>>\nstream\n%s\nendstream", len(xmp), xmp)),
		NewObj(int(f.Root.ObjectNumber), cat.PDFString()),
	}, "")
	add(Case{Name: "xmp-changed", Kind: "forged", Modified: true, Reason: "XMP metadata changed", NotTotal: true,
		Why: "XMP metadata added after signing"}, forged)

	// Another of Signet's signatures of the same document, swapped into the field.
	other := must(tools.Sign(original))
	fieldNr, field := sigField(t, f)
	og := ReadFacts(t, other)
	_, otherField := sigField(t, og)
	field = maps.Clone(field)
	field["V"] = *types.NewIndirectRef(f.Next, 0)
	forged, _ = AppendUpdate(t, signed, []Obj{NewObj(f.Next, og.Dict(otherField["V"]).PDFString()), NewObj(fieldNr, field.PDFString())}, "")
	add(Case{Name: "signature-swapped", Kind: "forged", Modified: true, Reason: "the signature of field \"Signature1\" replaced", NotTotal: true,
		Why: "the signature field's value swapped for another signature of the same signer"}, forged)

	// Content in the ByteRange gap: the page's content stream lies after /Contents, unsigned.
	add(Case{Name: "gap-content", Kind: "forged", Reason: "not the whole revision is signed", NotTotal: true, Shows: "100000000 RUB",
		Why: "the ByteRange gap holds the page's content stream, swapped after signing"}, gapForgery(t, original, cms))

	// A form: filled after an approval signature (allowed), and after certifications.
	form := WithTextField(t, original)
	add(Case{Name: "form-filled", Kind: "legitimate", NotTotal: true,
		Why: "a form field filled after Signet's approval signature (no DocMDP: filling is allowed)"}, Fill(t, must(tools.Sign(form)), "Amount", "100 RUB"))
	for _, p := range []int{1, 2} {
		ff := ReadFacts(t, form)
		certified := SignUpdateData(t, AddSignatureField(t, form, "Certification",
			otherSig(fmt.Sprintf("/Reference[<</Type/SigRef/TransformMethod/DocMDP/TransformParams<</Type/TransformParams/P %d/V/1.2>>>>]", p)), "",
			types.Dict{"Perms": types.Dict{"DocMDP": *types.NewIndirectRef(ff.Next, 0)}}), 0, cms)
		filled := Fill(t, certified, "Amount", "100 RUB")
		if p == 1 {
			add(Case{Name: "form-filled-certified-p1", Kind: "forged", Modified: true, Reason: "the certification (DocMDP P=1) allows no changes", NotTotal: true,
				Why: "a form field filled after a certification that allows no changes"}, filled)
		} else {
			add(Case{Name: "form-filled-certified-p2", Kind: "legitimate", NotTotal: true,
				Why: "a form field filled after a certification that allows form filling (DocMDP P=2)"}, filled)
		}
	}

	// Legitimate updates of Signet's output.
	add(Case{Name: "second-signature", Kind: "legitimate", Signatures: 2, NotTotal: true,
		Why: "Signet signs the signed document again"}, must(tools.Sign(signed)))

	cat = maps.Clone(f.Catalog)
	cat["DSS"] = *types.NewIndirectRef(f.Next, 0)
	withDSS, _ := AppendUpdate(t, signed, []Obj{
		NewObj(f.Next, fmt.Sprintf("<</Type/DSS/Certs[%d 0 R]>>", f.Next+1)),
		NewObj(f.Next+1, fmt.Sprintf("<</Length %d>>\nstream\n%s\nendstream", len(tools.Cert), tools.Cert)),
		NewObj(int(f.Root.ObjectNumber), cat.PDFString()),
	}, "")
	add(Case{Name: "dss-added", Kind: "legitimate", NotTotal: true, Why: "a DSS with a certificate (PAdES B-LT's update)"}, withDSS)

	if tools.Stamp != nil {
		add(Case{Name: "doc-timestamp", Kind: "legitimate", Signatures: 2, NotTotal: true, Why: "a document timestamp over the whole file (PAdES B-LTA's update)"},
			AddDocTimestamp(t, signed, "Timestamp1", func(d []byte) []byte { return must(tools.Stamp(d)) }))
	}
	return cases, files
}

// gapForgery lays out original with a signature whose ByteRange gap runs over the page's content
// stream, signs it with cms, then swaps the content: the signature still verifies.
func gapForgery(t TB, original []byte, cms func([]byte) []byte) []byte {
	t.Helper()
	f := ReadFacts(t, original)
	sigNr, widgetNr, contentNr := f.Next, f.Next+1, f.Next+2
	ref := func(n int) types.IndirectRef { return *types.NewIndirectRef(n, 0) }
	pg := maps.Clone(f.Page1)
	pg["Contents"] = ref(contentNr)
	pg["Annots"] = types.Array{ref(widgetNr)}
	cat := maps.Clone(f.Catalog)
	cat["AcroForm"] = types.Dict{"Fields": types.Array{ref(widgetNr)}, "SigFlags": types.Integer(3)}
	harmless := "BT /R7 24 Tf 72 600 Td (TOTAL DUE: 100 RUB         ) Tj ET"
	evil := "BT /R7 24 Tf 72 600 Td (TOTAL DUE: 100000000 RUB   ) Tj ET"
	doc, offs := AppendUpdate(t, original, []Obj{
		NewObj(sigNr, otherSig("")),
		NewObj(contentNr, streamObj(harmless)),
		NewObj(widgetNr, fmt.Sprintf("<</Type/Annot/Subtype/Widget/FT/Sig/T(Signature1)/F 132/Rect[0 0 0 0]/V %d 0 R/P %s>>", sigNr, RefString(f.Page1Ref))),
		NewObj(int(f.Page1Ref.ObjectNumber), pg.PDFString()),
		NewObj(int(f.Root.ObjectNumber), cat.PDFString()),
	}, "")
	signed := SignUpdateData(t, doc, offs[widgetNr], cms)
	return []byte(strings.Replace(string(signed), harmless, evil, 1))
}

// sigField finds the first signature field of the form: its object number and dictionary.
func sigField(t TB, f Facts) (int, types.Dict) {
	t.Helper()
	acro := f.Dict(f.Catalog["AcroForm"])
	for _, o := range f.Array(acro["Fields"]) {
		if d := f.Dict(o); d != nil && d["FT"] == types.Name("Sig") && d["V"] != nil {
			return RefNumber(o), d
		}
	}
	t.Fatal("forge: no signed signature field in the form")
	return 0, nil
}

// WithTextField is doc with an empty text field "Amount" on page 1.
func WithTextField(t TB, doc []byte) []byte {
	t.Helper()
	f := ReadFacts(t, doc)
	pg := maps.Clone(f.Page1)
	pg["Annots"] = append(slices.Clone(f.Array(f.Page1["Annots"])), *types.NewIndirectRef(f.Next, 0))
	cat := maps.Clone(f.Catalog)
	cat["AcroForm"] = types.Dict{"Fields": types.Array{*types.NewIndirectRef(f.Next, 0)}}
	out, _ := AppendUpdate(t, doc, []Obj{
		NewObj(f.Next, fmt.Sprintf("<</Type/Annot/Subtype/Widget/FT/Tx/T(Amount)/Rect[72 500 300 520]/P %s>>", RefString(f.Page1Ref))),
		NewObj(int(f.Page1Ref.ObjectNumber), pg.PDFString()),
		NewObj(int(f.Root.ObjectNumber), cat.PDFString()),
	}, "")
	return out
}

// Fill sets the value of the form field name to v in an update.
func Fill(t TB, doc []byte, name, v string) []byte {
	t.Helper()
	f := ReadFacts(t, doc)
	for _, o := range f.Array(f.Dict(f.Catalog["AcroForm"])["Fields"]) {
		d := f.Dict(o)
		if s, ok := d["T"].(types.StringLiteral); ok && string(s) == name {
			d = maps.Clone(d)
			d["V"] = types.StringLiteral(v)
			out, _ := AppendUpdate(t, doc, []Obj{NewObj(RefNumber(o), d.PDFString())}, "")
			return out
		}
	}
	t.Fatal("forge: no form field " + name)
	return nil
}

// withInfo is the document information info with keys set, as a later tool writes it.
func withInfo(info types.Dict, kv ...string) string {
	d := maps.Clone(info)
	if d == nil {
		d = types.Dict{}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		d[kv[i]] = types.StringLiteral(kv[i+1])
	}
	return d.PDFString()
}

// Write writes the files and manifest.json into dir.
func Write(dir string, cases []Case, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(cases, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "manifest.json"), append(b, '\n'), 0o644)
}

// OpenSSLCMS is a Tools.CMS: `openssl cms -sign` (detached, DER, SHA-256) with the certificate and
// key in the PEM files cert and key.
func OpenSSLCMS(openssl, cert, key string) func(signed []byte) ([]byte, error) {
	return func(signed []byte) ([]byte, error) {
		cmd := exec.Command(openssl, "cms", "-sign", "-binary", "-outform", "DER", "-md", "sha256", "-nosmimecap", "-signer", cert, "-inkey", key)
		cmd.Stdin = bytes.NewReader(signed)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("openssl cms -sign: %w: %s", err, stderr.String())
		}
		return out, nil
	}
}
