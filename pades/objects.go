package pades

// Lazy object loading: an object is parsed from the file the first time the update asks for it
// (ISO 32000-1 §7.3.10), from a window of bytes that grows only as far as the object's own text. A
// stream's data is never read, except for the object streams (§7.5.7) and cross-reference streams
// that hold needed objects. pdfcpu's object parser turns the text into its types.

import (
	"bytes"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/pdfcpu/pdfcpu/pkg/filter"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

const (
	firstWindow       = 2048    // bytes read to parse an object; most fit
	maxObjectText     = 8 << 20 // a dictionary or array larger than this is refused
	maxParseDepth     = 64      // nesting of arrays and dictionaries
	maxObjStmsDecoded = 4096
	// parseCost is what parsing a byte of object text may cost in memory: pdfcpu makes a boxed
	// value of 16–48 bytes of "1 0 R " or "0 ". Objects larger than freeParse are charged to the
	// document's budget at this rate, so a huge /Kids array counts like a decompression bomb.
	parseCost = 8
	freeParse = 64 << 10
	// objectCost is charged for every object read: its place in the cache and its parsed value.
	objectCost = 512
)

// objStream is a decoded object stream: the text of the objects and where each one starts.
type objStream struct {
	data    string // decoded once; an object's text is a substring, never a copy
	first   int
	offsets []int // offset of object i, relative to first
	ends    []int // the offsets in increasing order, to find where each object's text ends
}

// parseAt parses the object starting at pos (with its "N G obj" header when indirect) and returns
// it with the absolute offset just after it. The window read grows until the object is complete:
// a parse that ends exactly at the window's end may have been cut and is retried with more bytes.
func (d *document) parseAt(ctx context.Context, pos int64, indirect bool) (types.Object, int64, error) {
	n := int64(firstWindow)
	charged := int64(0)
	for {
		end := min(pos+n, d.size)
		if cost := parseCost * (end - pos); end-pos > freeParse && cost > charged {
			if err := d.hold(ctx, cost-charged); err != nil {
				return nil, 0, err
			}
			charged = cost
		}
		buf := make([]byte, end-pos)
		if _, err := d.src.ReadAt(buf, pos); err != nil && err != io.EOF {
			return nil, 0, fmt.Errorf("%s: reading: %w", d.name, err)
		}
		line := string(buf)
		l := line
		if indirect {
			var ok bool
			if _, _, l, ok = objHeader(l); !ok {
				return nil, 0, docError(d.name, ErrCorrupt, "no object at offset %d", pos)
			}
		}
		var o types.Object
		var err error
		if t := strings.TrimLeft(l, " \t\r\n\f\x00"); strings.HasPrefix(t, "endobj") {
			l = t // "N G obj endobj": the null object
		} else {
			o, err = model.ParseObjectContext(ctx, &l, 0, maxParseDepth)
		}
		complete := err == nil && strings.TrimLeft(l, " \t\r\n\f\x00") != ""
		if complete || end == d.size {
			if err != nil {
				if ctx.Err() != nil {
					return nil, 0, ctx.Err()
				}
				return nil, 0, docError(d.name, ErrCorrupt, "object at offset %d: %v", pos, err)
			}
			return o, pos + int64(len(line)-len(l)), nil
		}
		if n >= maxObjectText {
			return nil, 0, docError(d.name, ErrCorrupt, "object at offset %d is larger than %d MiB", pos, maxObjectText>>20)
		}
		n *= 4
	}
}

// objHeader splits "N G obj" off the start of s.
func objHeader(s string) (nr, gen int, rest string, ok bool) {
	num := func() (int, bool) {
		s = strings.TrimLeft(s, " \t\r\n\f\x00")
		i := 0
		for i < len(s) && i < 10 && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, false
		}
		v, err := strconv.Atoi(s[:i])
		s = s[i:]
		return v, err == nil
	}
	var ok1, ok2 bool
	nr, ok1 = num()
	gen, ok2 = num()
	s = strings.TrimLeft(s, " \t\r\n\f\x00")
	if !ok1 || !ok2 || !strings.HasPrefix(s, "obj") {
		return 0, 0, "", false
	}
	return nr, gen, s[3:], true
}

// parseIndirect parses the indirect object at off. want >= 0 is the object number the
// cross-reference entry promises; a stream comes back as a types.StreamDict whose StreamOffset is
// the absolute offset of its data (not read).
func (d *document) parseIndirect(ctx context.Context, off int64, want int) (types.Object, error) {
	var lastErr error
	for _, at := range d.candidates(off) {
		head := make([]byte, 64)
		n, _ := d.src.ReadAt(head, at)
		nr, _, _, ok := objHeader(string(head[:n]))
		if !ok || (want >= 0 && nr != want) {
			lastErr = docError(d.name, ErrCorrupt, "the cross-reference entry of object %d points at offset %d, where it is not", want, off)
			continue
		}
		o, after, err := d.parseAt(ctx, at, true)
		if err != nil {
			return nil, err
		}
		dict, isDict := o.(types.Dict)
		if !isDict {
			return o, nil
		}
		tail := make([]byte, 32)
		n, _ = d.src.ReadAt(tail, after)
		t := bytes.TrimLeft(tail[:n], " \t\r\n\f\x00")
		if !bytes.HasPrefix(t, []byte("stream")) {
			return dict, nil
		}
		// ISO 32000-1 §7.3.8.1: "stream" is followed by CRLF or LF (a lone CR is tolerated).
		start := after + int64(n-len(t)) + int64(len("stream"))
		switch {
		case bytes.HasPrefix(t[6:], []byte("\r\n")):
			start += 2
		case bytes.HasPrefix(t[6:], []byte("\n")), bytes.HasPrefix(t[6:], []byte("\r")):
			start++
		}
		return types.StreamDict{Dict: dict, StreamOffset: start}, nil
	}
	return nil, lastErr
}

// object returns indirect object nr, parsing it on first use; nil (the null object) when the
// cross-reference chain does not list it (ISO 32000-1 §7.3.10).
func (d *document) object(ctx context.Context, nr int) (types.Object, error) {
	if o, ok := d.cache[nr]; ok {
		return o, nil
	}
	e, ok := d.xref[nr]
	if !ok || e.typ == 0 {
		return nil, nil
	}
	if d.loading[nr] {
		return nil, docError(d.name, ErrCorrupt, "object %d refers to itself while being read", nr)
	}
	d.loading[nr] = true
	defer delete(d.loading, nr)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := d.hold(ctx, objectCost); err != nil {
		return nil, err
	}
	var o types.Object
	var err error
	switch e.typ {
	case 1:
		o, err = d.parseIndirect(ctx, e.a, nr)
	case 2:
		o, err = d.compressedObject(ctx, int(e.a), e.b, nr)
	}
	if err != nil {
		return nil, err
	}
	d.cache[nr] = o
	return o, nil
}

// compressedObject reads object nr, the index-th object of object stream stm (ISO 32000-1 §7.5.7).
func (d *document) compressedObject(ctx context.Context, stm, index, nr int) (types.Object, error) {
	ost, ok := d.objStms[stm]
	if !ok {
		if len(d.objStms) >= maxObjStmsDecoded {
			return nil, docError(d.name, ErrCorrupt, "too many object streams")
		}
		if e := d.xref[stm]; e.typ != 1 {
			return nil, docError(d.name, ErrCorrupt, "object stream %d of object %d is not in the file", stm, nr)
		}
		o, err := d.object(ctx, stm)
		if err != nil {
			return nil, err
		}
		sd, ok := o.(types.StreamDict)
		if !ok || d.nameOf(sd.Dict["Type"]) != "ObjStm" {
			return nil, docError(d.name, ErrCorrupt, "object %d is not an object stream", stm)
		}
		data, err := d.streamData(ctx, sd)
		if err != nil {
			return nil, err
		}
		first, _ := sd.Dict["First"].(types.Integer)
		count, _ := sd.Dict["N"].(types.Integer)
		// Each entry of the prolog is two numbers and two spaces at least.
		if first < 0 || int(first) > len(data) || count < 0 || int64(count) > int64(first)/4+1 {
			d.budget.give(int64(len(data)))
			return nil, docError(d.name, ErrCorrupt, "object stream %d: bad /First or /N", stm)
		}
		if err := d.hold(ctx, 16*int64(count)); err != nil {
			d.budget.give(int64(len(data)))
			return nil, err
		}
		ost = &objStream{data: string(data), first: int(first), offsets: make([]int, 0, count)}
		prolog := ost.data[:first]
		for i := range int(count) {
			var nr, off string
			nr, prolog = nextToken(prolog)
			off, prolog = nextToken(prolog)
			o, err := strconv.Atoi(off)
			if nr == "" || err != nil || o < 0 || int(first)+o > len(data) {
				return nil, docError(d.name, ErrCorrupt, "object stream %d: bad offset of object %d", stm, i)
			}
			ost.offsets = append(ost.offsets, o)
		}
		ost.ends = slices.Clone(ost.offsets)
		slices.Sort(ost.ends)
		d.objStms[stm] = ost
	}
	if index < 0 || index >= len(ost.offsets) {
		return nil, docError(d.name, ErrCorrupt, "object %d: index %d outside object stream %d", nr, index, stm)
	}
	start := ost.offsets[index]
	end := len(ost.data)
	if i, _ := slices.BinarySearch(ost.ends, start+1); i < len(ost.ends) {
		end = ost.first + ost.ends[i]
	}
	l := ost.data[ost.first+start : end]
	if strings.TrimSpace(l) == "" {
		return nil, nil
	}
	if len(l) > maxObjectText {
		return nil, docError(d.name, ErrCorrupt, "object %d in object stream %d is larger than %d MiB", nr, stm, maxObjectText>>20)
	}
	if len(l) > freeParse {
		if err := d.hold(ctx, parseCost*int64(len(l))); err != nil {
			return nil, err
		}
	}
	o, err := model.ParseObjectContext(ctx, &l, 0, maxParseDepth)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, docError(d.name, ErrCorrupt, "object %d in object stream %d: %v", nr, stm, err)
	}
	return o, nil
}

// streamData reads and decodes the data of a stream. Only object streams and cross-reference
// streams are ever decoded; each within the document's budget (budget.go). The decoded bytes stay
// reserved in the process budget until the caller gives them back (d.budget.give).
func (d *document) streamData(ctx context.Context, sd types.StreamDict) ([]byte, error) {
	lim := d.budget.lim
	length := int64(-1)
	if l, err := d.resolve(ctx, sd.Dict["Length"]); err == nil {
		if n, ok := l.(types.Integer); ok && n >= 0 {
			length = int64(n)
		}
	}
	if length < 0 || sd.StreamOffset+length > d.size {
		// A missing or wrong /Length: the data ends before "endstream".
		if length = d.findEndstream(sd.StreamOffset, lim.MaxStreamBytes); length < 0 {
			return nil, docError(d.name, ErrCorrupt, "stream at offset %d without endstream", sd.StreamOffset)
		}
	}
	if length > lim.MaxStreamBytes {
		return nil, errStreamTooLarge(d.name, sd.StreamOffset, lim)
	}
	var names []string
	var parms []types.Dict
	switch f := sd.Dict["Filter"].(type) {
	case types.Name:
		names = []string{string(f)}
		p, _ := sd.Dict["DecodeParms"].(types.Dict)
		parms = []types.Dict{p}
	case types.Array:
		pa, _ := sd.Dict["DecodeParms"].(types.Array)
		for i, e := range f {
			n, ok := e.(types.Name)
			if !ok {
				return nil, docError(d.name, ErrCorrupt, "stream at offset %d: bad /Filter", sd.StreamOffset)
			}
			names = append(names, string(n))
			var p types.Dict
			if i < len(pa) {
				p, _ = pa[i].(types.Dict)
			}
			parms = append(parms, p)
		}
	}
	// No filter may produce more than limit bytes. The process budget covers the raw bytes, then
	// each filter's output as it is made (decode).
	limit := min(lim.MaxStreamBytes, d.budget.remaining())
	if limit <= 0 {
		return nil, overDocument(d.name, lim)
	}
	if _, ok := decodeBound(length, names, limit); !ok {
		return nil, docError(d.name, ErrCorrupt, "stream at offset %d: filter %v is not one a structure stream uses", sd.StreamOffset, names)
	}
	if err := d.budget.reserve(ctx, d.name, length); err != nil {
		return nil, err
	}
	data, held, err := d.decode(ctx, sd, length, names, parms, limit)
	if err != nil {
		d.budget.give(held)
		if errors.Is(err, ErrTooLarge) {
			// The work a refused decode did counts, so a document whose objects all point into one
			// bomb fails fast instead of inflating it again for each of them.
			d.budget.used = min(d.budget.used+limit, lim.MaxDocumentBytes)
		}
		return nil, err
	}
	if err := d.budget.charge(d.name, int64(len(data))); err != nil {
		d.budget.give(held)
		return nil, err
	}
	d.budget.give(held - int64(len(data)))
	return data, nil
}

// decode reads length raw bytes of sd (already reserved) and runs them through the filters, none of
// which may produce more than limit bytes. It returns the data and how much of the process budget
// the stream holds now; each filter's output is reserved before it is made. FlateDecode, the filter
// of nearly every structure stream, is inflated twice: once to count (a 32 KiB window, whatever
// the output), then into a buffer of the counted size, so a bomb is refused without its memory.
func (d *document) decode(ctx context.Context, sd types.StreamDict, length int64, names []string, parms []types.Dict, limit int64) (data []byte, held int64, err error) {
	held = length
	data = make([]byte, length)
	if _, err := d.src.ReadAt(data, sd.StreamOffset); err != nil && err != io.EOF {
		return nil, held, fmt.Errorf("%s: reading: %w", d.name, err)
	}
	tooLarge := func() error {
		if limit == d.budget.lim.MaxStreamBytes {
			return errStreamTooLarge(d.name, sd.StreamOffset, d.budget.lim)
		}
		return overDocument(d.name, d.budget.lim)
	}
	for i, name := range names {
		if err := ctx.Err(); err != nil {
			return nil, held, err
		}
		var pm map[string]int
		for k, v := range parms[i] {
			if n, ok := v.(types.Integer); ok {
				if pm == nil {
					pm = make(map[string]int)
				}
				pm[k] = int(n)
			}
		}
		in := data
		out, reserved := limit, int64(0)
		if name == filter.Flate || name == "Fl" {
			if out, err = inflatedSize(in, limit); err != nil {
				return nil, held, docError(d.name, ErrCorrupt, "stream at offset %d: %v", sd.StreamOffset, err)
			}
			if out > limit {
				return nil, held, tooLarge()
			}
			name = filter.Flate
		} else {
			out, _ = decodeBound(int64(len(in)), []string{name}, limit)
		}
		// A predictor works on rows of /Columns samples; a row longer than the output is a lie that
		// would only cost memory.
		if cols, ok := pm["Columns"]; ok && (cols < 0 || int64(cols) > out+1) {
			return nil, held, docError(d.name, ErrCorrupt, "stream at offset %d: /Columns %d", sd.StreamOffset, cols)
		}
		// The filter's buffer may grow to twice what it holds, plus two rows of a predictor.
		reserved = min(2*out+1024, d.budget.lim.ProcessBytes)
		if err := d.budget.reserve(ctx, d.name, reserved); err != nil {
			return nil, held, err
		}
		held += reserved
		if name == filter.Flate && (pm["Predictor"] <= 1) {
			data, err = inflate(in, out)
		} else {
			data, err = pdfcpuDecode(name, pm, in, max(out, 1))
		}
		if errors.Is(err, filter.ErrDecodeLimitExceeded) {
			return nil, held, tooLarge()
		}
		if err != nil {
			return nil, held, docError(d.name, ErrCorrupt, "stream at offset %d: %v", sd.StreamOffset, err)
		}
		if int64(len(data)) > limit {
			return nil, held, tooLarge()
		}
		// The input is dropped; the stream holds its output.
		d.budget.give(held - int64(len(data)))
		held = int64(len(data))
	}
	return data, held, nil
}

// inflatedSize counts the bytes a zlib stream inflates to, up to limit+1, without keeping them. A
// stream cut short (io.ErrUnexpectedEOF) counts what it gave, as pdfcpu's reader tolerates it.
func inflatedSize(in []byte, limit int64) (int64, error) {
	return inflatedSizeFrom(bytes.NewReader(in), limit)
}

func inflatedSizeFrom(in io.Reader, limit int64) (int64, error) {
	zr, err := zlib.NewReader(in)
	if err != nil {
		return 0, err
	}
	defer zr.Close()
	n, err := io.Copy(io.Discard, io.LimitReader(zr, limit+1))
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = nil
	}
	return n, err
}

// inflate inflates in into a buffer of exactly size bytes (inflatedSize).
func inflate(in []byte, size int64) ([]byte, error) {
	zr, err := zlib.NewReader(bytes.NewReader(in))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	out := make([]byte, size)
	n, err := io.ReadFull(zr, out)
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		err = nil
	}
	return out[:n], err
}

// pdfcpuDecode runs one of pdfcpu's filters with limit as its output limit.
func pdfcpuDecode(name string, pm map[string]int, in []byte, limit int64) ([]byte, error) {
	f, err := filter.NewFilter(name, pm, limit)
	if err != nil {
		return nil, err
	}
	r, err := f.Decode(bytes.NewReader(in))
	if err != nil {
		return nil, err
	}
	if b, ok := r.(*bytes.Buffer); ok {
		return b.Bytes(), nil
	}
	return io.ReadAll(io.LimitReader(r, limit+1))
}

// findEndstream is the offset of "endstream" from at, looked for in the next max bytes a chunk at a
// time; -1 when it is not there.
func (d *document) findEndstream(at, max int64) int64 {
	const chunk, keyword = 64 << 10, "endstream"
	buf := make([]byte, chunk+len(keyword))
	for off := int64(0); off < max && at+off < d.size; off += chunk {
		n, _ := d.src.ReadAt(buf, at+off)
		if i := bytes.Index(buf[:n], []byte(keyword)); i >= 0 {
			return off + int64(i)
		}
	}
	return -1
}

// hold charges n bytes to the document and keeps them reserved in the process budget until the
// document is released: what its parsed objects and decoded object streams take.
func (d *document) hold(ctx context.Context, n int64) error {
	if n > d.budget.remaining() {
		d.budget.used = d.budget.lim.MaxDocumentBytes
		return overDocument(d.name, d.budget.lim)
	}
	if err := d.budget.reserve(ctx, d.name, n); err != nil {
		return err
	}
	if err := d.budget.charge(d.name, n); err != nil {
		d.budget.give(n)
		return err
	}
	return nil
}

// nextToken splits the first whitespace-separated token off s.
func nextToken(s string) (tok, rest string) {
	s = strings.TrimLeft(s, " \t\r\n\f\x00")
	i := strings.IndexAny(s, " \t\r\n\f\x00")
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i:]
}

// resolve follows indirect references (a few levels; a longer chain is treated as null).
func (d *document) resolve(ctx context.Context, o types.Object) (types.Object, error) {
	for range 8 {
		var nr int
		switch r := o.(type) {
		case types.IndirectRef:
			nr = int(r.ObjectNumber)
		case *types.IndirectRef:
			if r == nil {
				return nil, nil
			}
			nr = int(r.ObjectNumber)
		default:
			return o, nil
		}
		var err error
		if o, err = d.object(ctx, nr); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// nameOf is the value of a name object ("" when o is not a name).
func (d *document) nameOf(o types.Object) string {
	o, _ = d.resolve(d.ctx, o)
	if n, ok := o.(types.Name); ok {
		return string(n)
	}
	return ""
}
