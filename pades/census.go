package pades

// The census of a PDF's streams, for code that hands the whole document to a reader without a
// decoding budget (worker/evidence gives it to pdfcpu, which decodes content streams, fonts and
// object streams with no limit per document). Every stream but images is decoded once, counting
// its bytes without keeping them, and the total must stay within the document's limit; the caller
// then holds that much of the process budget (Reserve) while the other reader runs.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/pdfcpu/pdfcpu/pkg/filter"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// CurrentLimits are the limits in force (SetLimits).
func CurrentLimits() Limits {
	l, _ := currentLimits()
	return l
}

// Census returns the bytes the streams of the PDF at path decode to, images aside (a reader keeps
// their encoded bytes). Over the document's limit it is ErrTooLarge; a PDF that cannot be read is
// ErrNotPDF, ErrCorrupt or ErrEncrypted, like Sign.
func Census(ctx context.Context, path string) (int64, error) {
	name := filepath.Base(path)
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("%s: open: %w", name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("%s: stat: %w", name, err)
	}
	return census(ctx, f, st.Size(), name)
}

// census is Census of src; a panic in pdfcpu's object parser is ErrCorrupt.
func census(ctx context.Context, src source, size int64, name string) (total int64, err error) {
	defer func() {
		if r := recover(); r != nil {
			total, err = 0, docError(name, ErrCorrupt, "unreadable structure (%v)", r)
		}
	}()
	d, err := readDocument(ctx, src, size, name)
	if err != nil {
		return 0, err
	}
	defer d.release()
	lim := d.budget.lim
	nrs := make([]int, 0, len(d.xref))
	for nr, e := range d.xref {
		if e.typ == 1 {
			nrs = append(nrs, nr)
		}
	}
	slices.Sort(nrs)
	for _, nr := range nrs {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		// Parsed afresh, not cached: the census must not keep a million objects.
		o, err := d.parseIndirect(ctx, d.xref[nr].a, nr)
		if err != nil {
			if errors.Is(err, ErrTooLarge) || ctx.Err() != nil {
				return 0, err
			}
			continue // an unreadable object is the other reader's problem, not a cost
		}
		sd, ok := o.(types.StreamDict)
		if !ok || d.nameOf(sd.Dict["Subtype"]) == "Image" {
			continue
		}
		n, err := d.decodedSize(ctx, sd, min(lim.MaxStreamBytes, lim.MaxDocumentBytes-total))
		if err != nil {
			return 0, err
		}
		if total += n; total > lim.MaxDocumentBytes {
			return 0, overDocument(name, lim)
		}
	}
	return total, nil
}

// decodedSize counts what sd decodes to, up to limit (over it: ErrTooLarge). FlateDecode alone,
// the usual case, is counted streaming from the file; a chain of filters is decoded in memory
// within limit.
func (d *document) decodedSize(ctx context.Context, sd types.StreamDict, limit int64) (int64, error) {
	length := int64(-1)
	if l, ok := d.deref(sd.Dict["Length"]).(types.Integer); ok && l >= 0 {
		length = int64(l)
	}
	if length < 0 || sd.StreamOffset+length > d.size {
		if length = d.findEndstream(sd.StreamOffset, d.budget.lim.MaxStreamBytes); length < 0 {
			return 0, nil
		}
	}
	var names []string
	switch f := d.deref(sd.Dict["Filter"]).(type) {
	case types.Name:
		names = []string{string(f)}
	case types.Array:
		for _, e := range f {
			if n, ok := d.deref(e).(types.Name); ok {
				names = append(names, string(n))
			}
		}
	}
	tooLarge := func() error {
		if limit == d.budget.lim.MaxStreamBytes {
			return errStreamTooLarge(d.name, sd.StreamOffset, d.budget.lim)
		}
		return overDocument(d.name, d.budget.lim)
	}
	switch {
	case len(names) == 0:
		if length > limit {
			return 0, tooLarge()
		}
		return length, nil
	case len(names) == 1 && (names[0] == filter.Flate || names[0] == "Fl"):
		n, err := inflatedSizeFrom(io.NewSectionReader(d.src, sd.StreamOffset, length), limit)
		if err != nil {
			return 0, nil // undecodable: the other reader refuses it or leaves it alone
		}
		if n > limit {
			return 0, tooLarge()
		}
		return n, nil
	}
	if _, ok := decodeBound(length, names, limit); !ok {
		return 0, nil // an image filter (DCT, JPX, JBIG2, CCITT): left encoded
	}
	if length > d.budget.lim.MaxStreamBytes {
		return 0, errStreamTooLarge(d.name, sd.StreamOffset, d.budget.lim)
	}
	data, err := d.streamData(ctx, sd)
	if err != nil {
		if errors.Is(err, ErrTooLarge) || errors.Is(err, ErrBusy) || ctx.Err() != nil {
			return 0, err
		}
		return 0, nil
	}
	d.budget.give(int64(len(data)))
	return int64(len(data)), nil
}

// Reserve holds n bytes of the process decoding budget (at most all of it) until release is called,
// for decoding done outside this package: the evidence page's pdfcpu pass. It waits as long as ctx
// allows.
func Reserve(ctx context.Context, n int64) (release func(), err error) {
	l, sem := currentLimits()
	n = max(min(n, l.ProcessBytes), 1)
	if err := sem.acquire(ctx, n); err != nil {
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(func() { sem.release(n) }) }, nil
}
