package pades

// Reading the input: header, startxref and the object graph through pdfcpu's reader.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

func init() {
	// pdfcpu would otherwise create ~/.config/pdfcpu on first use; the engine needs no user fonts.
	api.DisableConfigDir()
}

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
	ctx         *model.Context
	prevXRef    int64 // the last startxref: /Prev of our update
	xrefStream  bool  // the last section is a cross-reference stream
	endsWithEOL bool
}

// readDocument checks the header and tail, then reads the object graph. Every failure is one of
// ErrNotPDF, ErrEncrypted or ErrCorrupt, and a panic inside pdfcpu is turned into ErrCorrupt.
func readDocument(ctx context.Context, src source, size int64, name string) (d *document, err error) {
	head := make([]byte, min(size, 1024))
	if _, err := src.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: reading: %w", name, err)
	}
	if !bytes.Contains(head, []byte("%PDF-")) {
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
	d = &document{name: name, size: size, prevXRef: prev}
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
			d, err = nil, docError(name, ErrCorrupt, "unreadable structure (%v)", r)
		}
	}()
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("%s: reading: %w", name, err)
	}
	conf := model.NewDefaultConfiguration()
	conf.ValidationMode = model.ValidationRelaxed
	pctx, err := pdfcpu.ReadWithContext(ctx, src, conf) // cancelled with the job, never stuck on a bad file
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: reading cancelled: %w", name, ctx.Err())
		}
		if errors.Is(err, pdfcpu.ErrWrongPassword) {
			return nil, docError(name, ErrEncrypted, "password protected; send an unprotected copy")
		}
		return nil, docError(name, ErrCorrupt, "%v", err)
	}
	if pctx.Encrypt != nil || pctx.E != nil {
		return nil, docError(name, ErrEncrypted, "the document is encrypted; send an unprotected copy")
	}
	if pctx.Root == nil || pctx.Size == nil {
		return nil, docError(name, ErrCorrupt, "trailer without /Root or /Size")
	}
	if err := pctx.EnsurePageCount(); err != nil {
		return nil, docError(name, ErrCorrupt, "page tree: %v", err)
	}
	if pctx.PageCount < 1 {
		return nil, docError(name, ErrCorrupt, "the document has no pages")
	}
	d.ctx = pctx
	return d, nil
}

// generation returns the generation number of an existing object (0 when unknown).
func (d *document) generation(nr int) int {
	if e, ok := d.ctx.Table[nr]; ok && e.Generation != nil {
		return *e.Generation
	}
	return 0
}

// dict dereferences o as a dictionary; nil when o is not one.
func (d *document) dict(o types.Object) types.Dict {
	if o == nil {
		return nil
	}
	dd, err := d.ctx.DereferenceDict(o)
	if err != nil {
		return nil
	}
	return dd
}

// array dereferences o as an array; nil when o is not one.
func (d *document) array(o types.Object) types.Array {
	if o == nil {
		return nil
	}
	a, err := d.ctx.DereferenceArray(o)
	if err != nil {
		return nil
	}
	return a
}

// text decodes a PDF text string entry ("" when absent).
func (d *document) text(o types.Object) string {
	o, _ = d.ctx.Dereference(o)
	s, err := types.StringOrHexLiteral(o)
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
			if o, err := d.ctx.Dereference(params["P"]); err == nil {
				if i, ok := o.(types.Integer); ok {
					p = int(i)
				}
			}
		}
		return p == 1
	}
	return false
}
