package pades

// The cross-reference chain (ISO 32000-1 §7.5.4–§7.5.8): classic tables, cross-reference streams,
// hybrid files (a table whose trailer has /XRefStm) and the /Prev links between incremental
// sections. Only the chain is read here; objects are parsed later, one at a time, when the update
// needs them (objects.go), so memory depends on the number of objects, never on stream data.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"strconv"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// xrefEntry is one cross-reference entry.
type xrefEntry struct {
	typ byte  // 0 free, 1 in the file, 2 in an object stream
	a   int64 // typ 1: byte offset; typ 2: number of the object stream
	b   int   // typ 1: generation; typ 2: index in the object stream
}

// maxXRefSections bounds a /Prev chain; a loop or a runaway chain is a corrupt file.
const maxXRefSections = 1024

// readXRefChain reads every section from the last one (startxref) back along /Prev. Newer sections
// win: an entry is kept from the first section that lists the object. The trailer entries the
// update repeats (/Root, /Info, /ID, /Size, /Encrypt) come from the newest trailer holding them.
func (d *document) readXRefChain(ctx context.Context, start int64) error {
	seen := make(map[int64]bool)
	off := start
	for range maxXRefSections {
		if err := ctx.Err(); err != nil {
			return err
		}
		if seen[off] {
			return docError(d.name, ErrCorrupt, "the cross-reference chain loops at offset %d", off)
		}
		seen[off] = true
		trailer, err := d.readXRefSection(ctx, off)
		if err != nil {
			return err
		}
		for _, k := range []string{"Root", "Info", "ID", "Size", "Encrypt"} {
			if _, ok := d.trailer[k]; !ok && trailer[k] != nil {
				d.trailer[k] = trailer[k]
			}
		}
		prev, ok := trailer["Prev"].(types.Integer)
		if !ok {
			return nil
		}
		off = int64(prev)
		if off <= 0 || off >= d.size {
			return docError(d.name, ErrCorrupt, "/Prev %d outside the file", off)
		}
	}
	return docError(d.name, ErrCorrupt, "more than %d cross-reference sections", maxXRefSections)
}

// readXRefSection reads the table or stream at off (or at off shifted by junk before the header,
// which some producers prepend without fixing their offsets) and returns its trailer dictionary.
func (d *document) readXRefSection(ctx context.Context, off int64) (types.Dict, error) {
	for _, at := range d.candidates(off) {
		head := make([]byte, 32)
		n, _ := d.src.ReadAt(head, at)
		s := bytes.TrimLeft(head[:n], " \t\r\n\f\x00")
		switch {
		case bytes.HasPrefix(s, []byte("xref")):
			return d.readXRefTable(ctx, at)
		case xrefStreamStart.Match(s):
			entries, trailer, err := d.readXRefStream(ctx, at)
			if err != nil {
				return nil, err
			}
			if err := d.addEntries(ctx, entries); err != nil {
				return nil, err
			}
			return trailer, nil
		}
	}
	return nil, docError(d.name, ErrCorrupt, "no cross-reference section at offset %d", off)
}

// candidates are the offsets tried for an object or section recorded at off.
func (d *document) candidates(off int64) []int64 {
	if d.headerAt > 0 && off+d.headerAt < d.size {
		return []int64{off, off + d.headerAt}
	}
	return []int64{off}
}

// entryCost is what one cross-reference entry costs in the document's map, charged to its budget.
const entryCost = 48

// addEntries adds the entries of a section the newer sections did not list. The entries of every
// section count against MaxObjects twice over (an old section re-listing every object is normal,
// a thousand of them is not), and the distinct ones once.
func (d *document) addEntries(ctx context.Context, entries []numberedEntry) error {
	d.entries += len(entries)
	if d.entries > 2*d.budget.lim.MaxObjects {
		return errTooManyObjects(d.name, d.budget.lim)
	}
	added := 0
	for _, e := range entries {
		if _, ok := d.xref[e.nr]; !ok {
			added++
		}
	}
	if len(d.xref)+added > d.budget.lim.MaxObjects {
		return errTooManyObjects(d.name, d.budget.lim)
	}
	if err := d.hold(ctx, entryCost*int64(added)); err != nil {
		return err
	}
	for _, e := range entries {
		if _, ok := d.xref[e.nr]; !ok {
			d.xref[e.nr] = e.xrefEntry
			if e.typ != 0 && e.nr > d.maxObjNr {
				d.maxObjNr = e.nr
			}
		}
	}
	return nil
}

type numberedEntry struct {
	nr int
	xrefEntry
}

// readXRefTable reads a classic table (ISO 32000-1 §7.5.4) and its trailer (§7.5.5). In a hybrid
// file (§7.5.8.4) the stream named by /XRefStm belongs to the same section and wins over the
// table, whose entries for compressed objects are usually free.
func (d *document) readXRefTable(ctx context.Context, off int64) (types.Dict, error) {
	tr := newTokenReader(d.src, off, d.size)
	if tr.next() != "xref" {
		return nil, docError(d.name, ErrCorrupt, "no xref keyword at offset %d", off)
	}
	var entries []numberedEntry
	for {
		t := tr.next()
		if t == "trailer" {
			break
		}
		start, err1 := strconv.Atoi(t)
		count, err2 := strconv.Atoi(tr.next())
		if err1 != nil || err2 != nil || start < 0 || count < 0 {
			return nil, docError(d.name, ErrCorrupt, "bad cross-reference subsection header %q at offset %d", t, off)
		}
		if count > d.budget.lim.MaxObjects {
			return nil, errTooManyObjects(d.name, d.budget.lim)
		}
		for i := range count {
			if len(entries) >= d.budget.lim.MaxObjects {
				return nil, errTooManyObjects(d.name, d.budget.lim)
			}
			o, g, k := tr.next(), tr.next(), tr.next()
			offset, err1 := strconv.ParseInt(o, 10, 64)
			gen, err2 := strconv.Atoi(g)
			if err1 != nil || err2 != nil || (k != "n" && k != "f") {
				return nil, docError(d.name, ErrCorrupt, "bad cross-reference entry %d in the table at offset %d", start+i, off)
			}
			e := numberedEntry{nr: start + i, xrefEntry: xrefEntry{a: offset, b: gen}}
			if k == "n" {
				e.typ = 1
			}
			if e.typ == 1 && start+i == 0 {
				e.typ = 0 // object 0 is always the head of the free list
			}
			entries = append(entries, e)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	o, _, err := d.parseAt(ctx, tr.pos, false)
	trailer, ok := o.(types.Dict)
	if err != nil || !ok {
		return nil, docError(d.name, ErrCorrupt, "unreadable trailer after the table at offset %d", off)
	}
	if xs, ok := trailer["XRefStm"].(types.Integer); ok && int64(xs) > 0 && int64(xs) < d.size {
		stm, _, err := d.readXRefStream(ctx, int64(xs))
		if err != nil {
			return nil, err
		}
		if err := d.addEntries(ctx, stm); err != nil {
			return nil, err
		}
	}
	if err := d.addEntries(ctx, entries); err != nil {
		return nil, err
	}
	return trailer, nil
}

// readXRefStream reads a cross-reference stream (ISO 32000-1 §7.5.8); its dictionary is the trailer.
func (d *document) readXRefStream(ctx context.Context, off int64) ([]numberedEntry, types.Dict, error) {
	o, err := d.parseIndirect(ctx, off, -1)
	if err != nil {
		return nil, nil, err
	}
	sd, ok := o.(types.StreamDict)
	if !ok || d.nameOf(sd.Dict["Type"]) != "XRef" {
		return nil, nil, docError(d.name, ErrCorrupt, "offset %d is not a cross-reference stream", off)
	}
	// The entries the stream declares are counted before its data is decoded.
	declared := int64(0)
	if ia, ok := sd.Dict["Index"].(types.Array); ok {
		for i := 1; i < len(ia); i += 2 {
			if n, ok := ia[i].(types.Integer); ok && n > 0 {
				declared += int64(n)
			}
		}
	} else if size, ok := sd.Dict["Size"].(types.Integer); ok {
		declared = int64(size)
	}
	if declared > int64(d.budget.lim.MaxObjects) {
		return nil, nil, errTooManyObjects(d.name, d.budget.lim)
	}
	data, err := d.streamData(ctx, sd)
	if err != nil {
		return nil, nil, err
	}
	defer d.budget.give(int64(len(data))) // the entries are kept, not the data
	var w [3]int
	wa, _ := sd.Dict["W"].(types.Array)
	if len(wa) != 3 {
		return nil, nil, docError(d.name, ErrCorrupt, "cross-reference stream at %d without /W", off)
	}
	for i, e := range wa {
		n, ok := e.(types.Integer)
		if !ok || n < 0 || n > 8 {
			return nil, nil, docError(d.name, ErrCorrupt, "cross-reference stream at %d: bad /W", off)
		}
		w[i] = int(n)
	}
	rec := w[0] + w[1] + w[2]
	if rec == 0 {
		return nil, nil, docError(d.name, ErrCorrupt, "cross-reference stream at %d: empty /W", off)
	}
	var index []int
	if ia, ok := sd.Dict["Index"].(types.Array); ok {
		for _, e := range ia {
			n, ok := e.(types.Integer)
			if !ok || n < 0 {
				return nil, nil, docError(d.name, ErrCorrupt, "cross-reference stream at %d: bad /Index", off)
			}
			index = append(index, int(n))
		}
	} else if size, ok := sd.Dict["Size"].(types.Integer); ok {
		index = []int{0, int(size)}
	}
	if len(index)%2 != 0 {
		return nil, nil, docError(d.name, ErrCorrupt, "cross-reference stream at %d: odd /Index", off)
	}
	field := func(b []byte) int64 {
		var buf [8]byte
		copy(buf[8-len(b):], b)
		return int64(binary.BigEndian.Uint64(buf[:]))
	}
	var entries []numberedEntry
	pos := 0
	for i := 0; i < len(index); i += 2 {
		for j := range index[i+1] {
			if len(entries) >= d.budget.lim.MaxObjects {
				return nil, nil, errTooManyObjects(d.name, d.budget.lim)
			}
			if pos+rec > len(data) {
				return nil, nil, docError(d.name, ErrCorrupt, "cross-reference stream at %d shorter than its /Index", off)
			}
			r := data[pos : pos+rec]
			pos += rec
			typ := int64(1) // ISO 32000-1 Table 17: type 1 when the first field is absent
			if w[0] > 0 {
				typ = field(r[:w[0]])
			}
			e := numberedEntry{nr: index[i] + j, xrefEntry: xrefEntry{a: field(r[w[0] : w[0]+w[1]]), b: int(field(r[w[0]+w[1]:]))}}
			switch typ {
			case 0:
			case 1, 2:
				e.typ = byte(typ)
			default:
				continue // ISO 32000-1 §7.5.8.3: unknown types are null references
			}
			entries = append(entries, e)
		}
	}
	return entries, sd.Dict, nil
}

// tokenReader splits a classic cross-reference table into whitespace-separated tokens.
type tokenReader struct {
	r   *bufio.Reader
	pos int64 // absolute offset of the next unread byte
}

func newTokenReader(src io.ReaderAt, off, size int64) *tokenReader {
	return &tokenReader{r: bufio.NewReaderSize(io.NewSectionReader(src, off, size-off), 4096), pos: off}
}

func isPDFSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == 0
}

// next returns the next token, "" at the end of the file. A token also ends before '<', so that
// "trailer<<" is read as "trailer".
func (t *tokenReader) next() string {
	var tok []byte
	for {
		c, err := t.r.ReadByte()
		if err != nil {
			return string(tok)
		}
		t.pos++
		switch {
		case isPDFSpace(c):
			if len(tok) > 0 {
				return string(tok)
			}
		case c == '<' && len(tok) > 0:
			t.r.UnreadByte()
			t.pos--
			return string(tok)
		default:
			if len(tok) > 64 {
				return string(tok)
			}
			tok = append(tok, c)
		}
	}
}
