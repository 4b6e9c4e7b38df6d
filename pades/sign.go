// Package pades is Signet's PDF signing engine: it appends a PAdES baseline signature (B-B, or B-T
// with a timestamp authority) to a PDF as an incremental update (ISO 32000-1 §12.8, ETSI EN 319
// 142-1, SubFilter ETSI.CAdES.detached), with an optional visible signet drawn in the signature
// widget's appearance stream, extends signed PDFs to B-LT and B-LTA (extend.go), and verifies such
// signatures, their revocation status included (ltv.go).
//
// It must never rewrite or reorder the input bytes (the input is an exact prefix of the output, so
// earlier signatures stay valid), never sign an encrypted document, never hold a whole large file in
// memory in SignFile, and never log or return key material.
package pades

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// Signer is the key and certificate a signature is made with. Key is usually a crypto11 key from a
// PKCS#11 token (crypto.Signer; RSA PKCS#1 v1.5, RSA-PSS, ECDSA). Chain excludes Certificate.
type Signer struct {
	Key         crypto.Signer
	Certificate *x509.Certificate
	Chain       []*x509.Certificate
}

// Position is where a visible signet goes on its page.
type Position string

// The six positions of a visible signet.
const (
	TopLeft      Position = "top-left"
	TopCenter    Position = "top-center"
	TopRight     Position = "top-right"
	BottomLeft   Position = "bottom-left"
	BottomCenter Position = "bottom-center"
	BottomRight  Position = "bottom-right"
)

// Options say how to sign.
type Options struct {
	Hash                                crypto.Hash // 0 = SHA-256
	PSS                                 bool        // RSA-PSS instead of PKCS#1 v1.5 for RSA keys
	Time                                time.Time   // signing time written as /M; zero = time.Now()
	Name, Reason, Location, ContactInfo string
	FieldName                           string   // signature field; "" = "Signature<N>"; reuse an existing empty field of that name
	Visible                             bool     // draw a signet in the widget's appearance stream
	Page                                int      // 1-based; 0 = first page; -1 = last page, -2 the one before it…
	Position                            Position // default bottom-right
	Image                               []byte   // optional PNG (with alpha) or JPEG drawn in the signet
	TSA                                 Timestamper
	// Language (BCP 47, "ru") and Zone of the signet's text: the words and the time people read
	// (appearance.go, issue 18). "" is English; nil is Time's own location. /M and the CMS keep Time as given.
	Language string
	Zone     *time.Location

	// docTimestamp makes the update a document timestamp (doctimestamp.go) instead of a signature:
	// TSA's token over the ByteRange digest is the /Contents; there is no Signer.
	docTimestamp bool
}

// Timestamper gets an RFC 3161 timestamp token (DER ContentInfo) over the signature value's digest.
type Timestamper interface {
	Timestamp(ctx context.Context, digest []byte, h crypto.Hash) ([]byte, error)
}

// Result describes a signature that was made.
type Result struct {
	CMS          []byte // DER CMS SignedData (what goes in /Contents) — stored as the .p7s
	FieldName    string
	SigningTime  time.Time
	SHA256Before [32]byte // of the input file
	SHA256After  [32]byte // of the output file
	ByteRange    [4]int64
}

// Sign is the in-memory form of SignFile for small documents.
func Sign(ctx context.Context, in []byte, s Signer, o Options) ([]byte, *Result, error) {
	return signBytes(ctx, in, "document", s, o)
}

func signBytes(ctx context.Context, in []byte, name string, s Signer, o Options) ([]byte, *Result, error) {
	p, err := prepare(ctx, bytes.NewReader(in), int64(len(in)), name, s, o)
	if err != nil {
		return nil, nil, err
	}
	defer p.release()
	h := p.newPrefixHash()
	h.Write(in)
	res, err := p.finishPrefix(ctx, s, o, h)
	if err != nil {
		return nil, nil, err
	}
	out := make([]byte, 0, len(in)+p.w.buf.Len())
	out = append(append(out, in...), p.w.buf.Bytes()...)
	return out, res, nil
}

// prepared is an update laid out with its /Contents still zero.
type prepared struct {
	name      string
	w         *increment
	layout    sigDictLayout
	byteRange [4]int64
	fieldName string
	when      time.Time
	hash      crypto.Hash
}

// finish hashes the update around /Contents, builds the CMS and writes it into /Contents.
// doc and before have already consumed the input bytes.
func (p *prepared) finish(ctx context.Context, s Signer, o Options, doc, before hashWriter) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", p.name, err)
	}
	tail := p.w.buf.Bytes()
	hexEnd := p.layout.contentsAt + p.layout.hexLen + 2
	doc.Write(tail[:p.layout.contentsAt])
	doc.Write(tail[hexEnd:])
	digest := doc.Sum(nil)
	var cms []byte
	var err error
	if o.docTimestamp {
		cms, err = o.TSA.Timestamp(ctx, digest, p.hash)
	} else {
		cms, err = buildCMS(ctx, digest, s, cmsParams{hash: p.hash, pss: o.PSS, tsa: o.TSA})
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.name, err)
	}
	if 2*len(cms) > p.layout.hexLen {
		return nil, docError(p.name, ErrCMSTooLarge, "CMS is %d bytes, %d reserved", len(cms), p.layout.hexLen/2)
	}
	hex.Encode(tail[p.layout.contentsAt+1:], cms)
	res := &Result{CMS: cms, FieldName: p.fieldName, SigningTime: p.when, ByteRange: p.byteRange}
	copy(res.SHA256Before[:], before.Sum(nil))
	after, err := cloneHash(before)
	if err != nil {
		return nil, err
	}
	after.Write(tail)
	copy(res.SHA256After[:], after.Sum(nil))
	return res, nil
}

type hashWriter interface {
	io.Writer
	Sum([]byte) []byte
}

// cloneHash copies a SHA-256 state so the input is read only once for both Before and After.
func cloneHash(h hashWriter) (hashWriter, error) {
	m, ok := h.(encoding.BinaryMarshaler)
	if !ok {
		return nil, fmt.Errorf("hash state cannot be copied")
	}
	state, err := m.MarshalBinary()
	if err != nil {
		return nil, err
	}
	c := sha256.New()
	if err := c.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
		return nil, err
	}
	return c, nil
}

// prepare parses the document and lays out the incremental update: the signature dictionary, the
// signature field/widget, its appearance, the updated page (or /Annots array) and AcroForm, and the
// cross-reference section of the same kind as the previous one.
func prepare(ctx context.Context, src source, size int64, name string, s Signer, o Options) (p *prepared, err error) {
	defer func() {
		if r := recover(); r != nil {
			// pdfcpu panics on some malformed objects; a bad document must never crash a worker.
			p, err = nil, docError(name, ErrCorrupt, "unreadable structure (%v)", r)
		}
	}()
	h := o.Hash
	if h == 0 {
		h = crypto.SHA256
	}
	if o.docTimestamp {
		if o.TSA == nil {
			return nil, docError(name, ErrBadOptions, "a document timestamp needs a timestamp authority; pass --tsa URL")
		}
		o.Visible = false
	} else if err := checkSigner(s, h); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	d, err := readDocument(ctx, src, size, name)
	if err != nil {
		return nil, err
	}
	defer d.release()
	when := o.Time
	if when.IsZero() {
		when = time.Now()
	}
	when = when.Truncate(time.Second)
	catalog := d.catalog
	// ISO 32000-2 (as corrected) does not count a document timestamp as a change under P=1; mdp.go
	// allows it too. Acrobat still flags one (verification-and-ltv-notes.md §1).
	if d.certifiedNoChanges(catalog) && !o.docTimestamp {
		return nil, docError(name, ErrCertified, "its certification signature allows no changes; sign the original instead")
	}

	pageNr := o.Page
	switch {
	case pageNr == 0:
		pageNr = 1
	case pageNr == -1:
	case pageNr < -1 && d.pageCnt+1+pageNr >= 1:
		// Counted from the end: -2 is the page before the last, the document's own last page when a
		// certificate of completion was appended (worker/sign.go, issue 19 must 6).
		pageNr = d.pageCnt + 1 + pageNr
	case pageNr < -1 || pageNr > d.pageCnt:
		return nil, docError(name, ErrBadOptions, "page %d requested, the document has %d", o.Page, d.pageCnt)
	}
	pageDict, pageRef, inh, err := d.page(pageNr)
	if lerr := d.limitError(); lerr != nil {
		return nil, lerr
	}
	if err != nil {
		return nil, docError(name, ErrCorrupt, "page %d: %v", pageNr, err)
	}
	if pageNr == -1 {
		pageNr = d.pageCnt
	}

	next := int(d.trailer["Size"].(types.Integer))
	if d.maxObjNr+1 > next {
		next = d.maxObjNr + 1
	}
	alloc := func() int { n := next; next++; return n }

	// AcroForm and the signature field (ISO 32000-1 §12.7.2, §12.7.4.5).
	var acroRef *types.IndirectRef
	acro := types.Dict{}
	switch v := catalog["AcroForm"].(type) {
	case types.IndirectRef:
		acroRef = &v
		if a := d.dict(v); a != nil {
			acro = maps.Clone(a)
		}
	case types.Dict:
		acro = maps.Clone(v)
	}
	fields := append(types.Array(nil), d.array(acro["Fields"])...)
	names := make(map[string]bool, len(fields))
	var reuse types.Dict
	var reuseRef types.IndirectRef
	for _, f := range fields {
		fd := d.dict(f)
		if fd == nil {
			continue
		}
		t := d.text(fd["T"])
		names[t] = true
		if o.FieldName != "" && t == o.FieldName {
			ft := fd.NameEntry("FT")
			if ft == nil || *ft != "Sig" {
				return nil, docError(name, ErrFieldInUse, "field %q is not a signature field; choose another name", t)
			}
			if fd["V"] != nil {
				return nil, docError(name, ErrFieldInUse, "field %q is already signed; choose another name", t)
			}
			r, ok := f.(types.IndirectRef)
			if !ok {
				return nil, docError(name, ErrFieldInUse, "field %q is not an indirect object", t)
			}
			reuse, reuseRef = maps.Clone(fd), r
		}
	}
	fieldName := o.FieldName
	prefix := "Signature"
	if o.docTimestamp {
		prefix = "Timestamp"
	}
	if fieldName == "" {
		for i := 1; ; i++ {
			if fieldName = fmt.Sprintf("%s%d", prefix, i); !names[fieldName] {
				break
			}
		}
	}

	w := newIncrement(size)
	if !d.endsWithEOL {
		// ISO 32000-1 §7.5.6: the update starts after the previous %%EOF's end-of-line marker.
		w.buf.WriteByte('\n')
	}

	sigNr := alloc()
	reserve := docTimestampReserve
	if !o.docTimestamp {
		reserve = estimateCMSSize(s, o.TSA != nil)
	}
	layout := writeSigDict(w, sigNr, o, when, reserve)
	sigRef := *types.NewIndirectRef(sigNr, 0)

	// The widget: merged with the field dictionary (ISO 32000-1 §12.5.6.19, §12.7.3.1).
	var widget types.Dict
	var widgetNr, widgetGen int
	if reuse != nil {
		widget, widgetNr, widgetGen = reuse, int(reuseRef.ObjectNumber), int(reuseRef.GenerationNumber)
	} else {
		widgetNr = alloc()
		widget = types.Dict{
			"Type": types.Name("Annot"), "Subtype": types.Name("Widget"), "FT": types.Name("Sig"),
			"T": types.StringLiteral(pdfTextRaw(fieldName)), "F": types.Integer(132), // Print + Locked
			"P": pageRef, "Rect": types.Array{types.Integer(0), types.Integer(0), types.Integer(0), types.Integer(0)},
		}
	}
	widget["V"] = sigRef
	if o.Visible {
		ap, rect, err := drawAppearance(w, alloc, d, pageDict, inh, s, o, when, widget)
		if err != nil {
			return nil, err
		}
		widget["AP"] = types.Dict{"N": *types.NewIndirectRef(ap, 0)}
		if rect != nil {
			widget["Rect"] = rect
		}
	}
	if err := w.object(widgetNr, widgetGen, widget); err != nil {
		return nil, docError(name, ErrCorrupt, "field %q: %v", fieldName, err)
	}
	widgetRef := *types.NewIndirectRef(widgetNr, widgetGen)

	if reuse == nil {
		// The page's /Annots gets the widget; an indirect /Annots array is rewritten in place.
		pn, pg := int(pageRef.ObjectNumber), int(pageRef.GenerationNumber)
		if r, ok := pageDict["Annots"].(types.IndirectRef); ok && d.array(r) != nil {
			annots := append(append(types.Array(nil), d.array(r)...), widgetRef)
			if err := w.object(int(r.ObjectNumber), int(r.GenerationNumber), annots); err != nil {
				return nil, docError(name, ErrCorrupt, "page %d annotations: %v", pageNr, err)
			}
		} else {
			page := maps.Clone(pageDict)
			annots, _ := pageDict["Annots"].(types.Array)
			page["Annots"] = append(append(types.Array(nil), annots...), widgetRef)
			if err := w.object(pn, pg, page); err != nil {
				return nil, docError(name, ErrCorrupt, "page %d: %v", pageNr, err)
			}
		}
		fields = append(fields, widgetRef)
	}

	// ISO 32000-1 Table 219: SigFlags 3 = SignaturesExist | AppendOnly.
	flags := 0
	if i, ok := d.deref(acro["SigFlags"]).(types.Integer); ok {
		flags = int(i)
	}
	acro["SigFlags"] = types.Integer(flags | 3)
	acro["Fields"] = fields
	if acroRef != nil {
		if err := w.object(int(acroRef.ObjectNumber), int(acroRef.GenerationNumber), acro); err != nil {
			return nil, docError(name, ErrCorrupt, "AcroForm: %v", err)
		}
	} else {
		cat := maps.Clone(catalog)
		cat["AcroForm"] = acro
		if err := w.object(int(d.root.ObjectNumber), int(d.root.GenerationNumber), cat); err != nil {
			return nil, docError(name, ErrCorrupt, "catalog: %v", err)
		}
	}

	d.finishUpdate(w, alloc, &next, when)
	br, err := patchByteRange(w, layout)
	if err != nil {
		return nil, err
	}
	if err := d.limitError(); err != nil {
		w.release()
		return nil, err
	}
	return &prepared{name: name, w: w, layout: layout, byteRange: br, fieldName: fieldName, when: when, hash: h}, nil
}

// finishUpdate appends the cross-reference section and trailer of the same kind as the previous
// one (ISO 32000-1 §7.5.6): same /Root and /Info, /ID kept, /Prev to the last section. next is the
// next free object number; alloc takes one.
func (d *document) finishUpdate(w *increment, alloc func() int, next *int, when time.Time) {
	t := trailerInfo{root: refString(d.root), prev: d.prevXRef}
	if info, ok := d.trailer["Info"].(types.IndirectRef); ok {
		t.info = refString(info)
	}
	if id, ok := d.trailer["ID"].(types.Array); ok && len(id) == 2 {
		t.id = idString(id)
	}
	if t.id == "" {
		sum := sha256.Sum256([]byte(fmt.Sprintf("%s|%d|%d", d.name, d.size, when.UnixNano())))
		t.id = fmt.Sprintf("[<%x><%x>]", sum[:16], sum[:16])
	}
	if d.xrefStream {
		nr := alloc()
		t.size = *next
		w.finishStream(nr, t)
	} else {
		t.size = *next
		w.finishClassic(t)
	}
}

// pdfTextRaw is the body of pdfText's literal form, for a types.StringLiteral (hex form is kept
// as UTF-16BE escaped octets).
func pdfTextRaw(s string) string {
	t := pdfText(s)
	if t[0] == '(' {
		return t[1 : len(t)-1]
	}
	// Non-ASCII: write the UTF-16BE bytes as octal escapes inside a literal string.
	raw, _ := hex.DecodeString(t[1 : len(t)-1])
	var b bytes.Buffer
	for _, c := range raw {
		fmt.Fprintf(&b, "\\%03o", c)
	}
	return b.String()
}

// idString writes the trailer /ID as two hex strings: literal IDs often hold raw binary bytes.
func idString(id types.Array) string {
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
