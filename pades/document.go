package pades

// Reading the input: header, startxref, the cross-reference chain (xref.go) and, lazily, only the
// objects the update needs (objects.go): the catalog, AcroForm and fields, the page tree down to
// the target page, its /Annots and a DocMDP /Perms. Nothing else of the file is read, so signing a
// 1 GB scan costs the same memory as signing a 1-page invoice.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

var xrefStreamStart = regexp.MustCompile(`^\d+\s+\d+\s+obj\b`)

// source is the input document: a file or a byte slice.
type source interface {
	io.ReadSeeker
	io.ReaderAt
}

// document is a parsed input PDF.
type document struct {
	name        string
	size        int64
	src         io.ReaderAt
	ctx         context.Context // the job's; cancels reading
	headerAt    int64           // offset of "%PDF-" (bytes before it shift every offset in some files)
	prevXRef    int64           // the last startxref: /Prev of our update
	xrefStream  bool            // the last section is a cross-reference stream
	endsWithEOL bool

	xref     map[int]xrefEntry
	maxObjNr int
	trailer  types.Dict // /Root, /Info, /ID, /Size, /Encrypt of the newest trailer holding them
	root     types.IndirectRef
	catalog  types.Dict
	pages    types.Object // the catalog's /Pages
	pageCnt  int          // /Count of the page tree root

	cache   map[int]types.Object
	loading map[int]bool
	objStms map[int]*objStream
	// budget bounds the bytes decoded and held for this document (budget.go); release gives them back.
	budget   *budget
	entries  int   // cross-reference entries read, over all sections
	limitErr error // the first ErrTooLarge, ErrBusy or cancellation met while dereferencing
}

// release gives the document's share of the process decoding budget back; the document must not be
// read afterwards.
func (d *document) release() {
	if d != nil && d.budget != nil {
		d.budget.releaseAll()
	}
}

// readDocument checks the header and tail, reads the cross-reference chain and the catalog. Every
// failure is one of ErrNotPDF, ErrEncrypted or ErrCorrupt, and a panic in the object parser is
// turned into ErrCorrupt.
func readDocument(ctx context.Context, src source, size int64, name string) (d *document, err error) {
	head := make([]byte, min(size, 1024))
	if _, err := src.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: reading: %w", name, err)
	}
	headerAt := bytes.Index(head, []byte("%PDF-"))
	if headerAt < 0 {
		return nil, docError(name, ErrNotPDF, "no %%PDF- header in the first KiB; upload the PDF itself")
	}
	tail := make([]byte, min(size, 2048))
	if _, err := src.ReadAt(tail, size-int64(len(tail))); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: reading: %w", name, err)
	}
	i := bytes.LastIndex(tail, []byte("startxref"))
	if i < 0 || !bytes.Contains(tail[i:], []byte("%%EOF")) {
		return nil, docError(name, ErrCorrupt, "no startxref/%%%%EOF at the end (truncated upload?); send the complete file")
	}
	fields := bytes.Fields(tail[i+len("startxref"):])
	if len(fields) == 0 {
		return nil, docError(name, ErrCorrupt, "startxref without an offset")
	}
	prev, perr := strconv.ParseInt(string(fields[0]), 10, 64)
	if perr != nil || prev <= 0 || prev >= size {
		return nil, docError(name, ErrCorrupt, "startxref offset %q outside the file", fields[0])
	}
	doc := &document{name: name, size: size, src: src, ctx: ctx, headerAt: int64(headerAt), prevXRef: prev,
		xref: make(map[int]xrefEntry, 64), trailer: types.Dict{},
		cache: make(map[int]types.Object, 16), loading: make(map[int]bool), objStms: make(map[int]*objStream), budget: newBudget()}
	d = doc
	last := tail[len(tail)-1]
	d.endsWithEOL = last == '\n' || last == '\r'
	probe := make([]byte, 32)
	n, _ := src.ReadAt(probe, prev)
	section := bytes.TrimLeft(probe[:n], " \t\r\n\f\x00")
	switch {
	case bytes.HasPrefix(section, []byte("xref")):
	case xrefStreamStart.Match(section):
		d.xrefStream = true
	default:
		// A reader would have to reconstruct the cross-reference table; an update whose /Prev
		// points at garbage would make the signed file worse, so the input is refused.
		return nil, docError(name, ErrCorrupt, "startxref %d does not point at a cross-reference section; repair the file (re-save it) and send it again", prev)
	}

	defer func() {
		if r := recover(); r != nil {
			err = docError(name, ErrCorrupt, "unreadable structure (%v)", r)
		}
		if err != nil {
			doc.release() // not d: a return statement has set it to nil already
			d = nil
		}
	}()
	if err := d.readXRefChain(ctx, prev); err != nil {
		return nil, d.readError(err)
	}
	if d.trailer["Encrypt"] != nil {
		return nil, docError(name, ErrEncrypted, "the document is encrypted; send an unprotected copy")
	}
	root, ok := d.trailer["Root"].(types.IndirectRef)
	if !ok {
		return nil, docError(name, ErrCorrupt, "trailer without an indirect /Root")
	}
	if _, ok := d.trailer["Size"].(types.Integer); !ok {
		return nil, docError(name, ErrCorrupt, "trailer without /Size")
	}
	d.root = root
	o, err := d.object(ctx, int(root.ObjectNumber))
	if err != nil {
		return nil, d.readError(err)
	}
	if d.catalog, _ = o.(types.Dict); d.catalog == nil {
		return nil, docError(name, ErrCorrupt, "the /Root catalog is not a dictionary")
	}
	d.pages = d.catalog["Pages"]
	pages := d.dict(d.pages)
	if err := d.limitError(); err != nil {
		return nil, err
	}
	if pages == nil {
		return nil, docError(name, ErrCorrupt, "the catalog has no /Pages tree")
	}
	if c, ok := d.deref(pages["Count"]).(types.Integer); ok {
		d.pageCnt = int(c)
	}
	if d.pageCnt < 1 {
		return nil, docError(name, ErrCorrupt, "the document has no pages")
	}
	return d, nil
}

// readError keeps cancellation apart from corrupt input.
func (d *document) readError(err error) error {
	if d.ctx.Err() != nil && !errors.Is(err, ErrCorrupt) {
		return fmt.Errorf("%s: reading cancelled: %w", d.name, d.ctx.Err())
	}
	return err
}

// inherited are the page attributes a page takes from its ancestors (ISO 32000-1 §7.7.3.4).
type inherited struct {
	rotate            int
	mediaBox, cropBox types.Object
}

// page finds page n (1-based; -1 = the last) by walking down the page tree with the /Count of each
// node (ISO 32000-1 §7.7.3.2), reading only the nodes on the way and their siblings' counts.
func (d *document) page(n int) (types.Dict, types.IndirectRef, inherited, error) {
	var inh inherited
	node := d.pages
	remaining := n
	seen := make(map[int]bool)
	for depth := 0; depth < 64; depth++ {
		ref, ok := node.(types.IndirectRef)
		if !ok {
			return nil, ref, inh, fmt.Errorf("page tree node is not an indirect object")
		}
		if seen[int(ref.ObjectNumber)] {
			return nil, ref, inh, fmt.Errorf("the page tree loops at object %d", ref.ObjectNumber)
		}
		seen[int(ref.ObjectNumber)] = true
		dict := d.dict(ref)
		if dict == nil {
			return nil, ref, inh, fmt.Errorf("page tree node %d is not a dictionary", ref.ObjectNumber)
		}
		kids := d.array(dict["Kids"])
		if d.nameOf(dict["Type"]) == "Page" || (kids == nil && depth > 0) {
			if remaining != 1 && remaining != -1 {
				return nil, ref, inh, fmt.Errorf("page %d not found (the /Count entries disagree with the tree)", n)
			}
			return dict, ref, inh, nil
		}
		if r, ok := d.deref(dict["Rotate"]).(types.Integer); ok {
			inh.rotate = int(r)
		}
		if b := dict["MediaBox"]; b != nil {
			inh.mediaBox = b
		}
		if b := dict["CropBox"]; b != nil {
			inh.cropBox = b
		}
		var next types.Object
		if remaining == -1 {
			for i := len(kids) - 1; i >= 0 && next == nil; i-- {
				if d.dict(kids[i]) != nil {
					next = kids[i]
				}
			}
		} else {
			for _, k := range kids {
				kd := d.dict(k)
				if kd == nil {
					continue
				}
				c := 1
				if d.nameOf(kd["Type"]) == "Pages" || kd["Kids"] != nil {
					cnt, _ := d.deref(kd["Count"]).(types.Integer)
					c = int(cnt)
				}
				if remaining <= c {
					next = k
					break
				}
				remaining -= c
			}
		}
		if next == nil {
			return nil, ref, inh, fmt.Errorf("page %d not found in the page tree", n)
		}
		node = next
	}
	return nil, types.IndirectRef{}, inh, fmt.Errorf("page tree deeper than 64 levels")
}

// deref resolves o, nil when it cannot be read. Going over the decoding limits (or the job's
// deadline) is remembered, so that the reader answers with it (limitError) rather than with what
// the missing object broke.
func (d *document) deref(o types.Object) types.Object {
	o, err := d.resolve(d.ctx, o)
	if err != nil {
		if d.limitErr == nil && (errors.Is(err, ErrTooLarge) || errors.Is(err, ErrBusy) || d.ctx.Err() != nil) {
			d.limitErr = err
		}
		return nil
	}
	return o
}

// limitError is the first time reading went over the decoding limits or was cancelled, if it did.
func (d *document) limitError() error { return d.limitErr }

// dict dereferences o as a dictionary; nil when o is not one (a stream is not).
func (d *document) dict(o types.Object) types.Dict {
	dd, _ := d.deref(o).(types.Dict)
	return dd
}

// array dereferences o as an array; nil when o is not one.
func (d *document) array(o types.Object) types.Array {
	a, _ := d.deref(o).(types.Array)
	return a
}

// text decodes a PDF text string entry ("" when absent).
func (d *document) text(o types.Object) string {
	s, err := types.StringOrHexLiteral(d.deref(o))
	if err != nil || s == nil {
		return ""
	}
	return *s
}

// certifiedNoChanges reports a DocMDP certification signature with P=1 (ISO 32000-1 §12.8.2.2).
func (d *document) certifiedNoChanges(catalog types.Dict) bool {
	perms := d.dict(catalog["Perms"])
	if perms == nil {
		return false
	}
	sig := d.dict(perms["DocMDP"])
	if sig == nil {
		return false
	}
	for _, r := range d.array(sig["Reference"]) {
		ref := d.dict(r)
		if ref == nil {
			continue
		}
		if m := ref.NameEntry("TransformMethod"); m == nil || *m != "DocMDP" {
			continue
		}
		p := 2
		if params := d.dict(ref["TransformParams"]); params != nil {
			if i, ok := d.deref(params["P"]).(types.Integer); ok {
				p = int(i)
			}
		}
		return p == 1
	}
	return false
}
