package pades

// Lazy object loading: an object is parsed from the file the first time the update asks for it
// (ISO 32000-1 §7.3.10), from a window of bytes that grows only as far as the object's own text. A
// stream's data is never read, except for the object streams (§7.5.7) and cross-reference streams
// that hold needed objects. pdfcpu's object parser turns the text into its types.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/pdfcpu/pdfcpu/pkg/filter"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

const (
	firstWindow       = 2048     // bytes read to parse an object; most fit
	maxObjectText     = 32 << 20 // a dictionary or array larger than this is refused
	maxDecodedStream  = 64 << 20 // decoded object or cross-reference stream
	maxParseDepth     = 64       // nesting of arrays and dictionaries
	maxObjStmsDecoded = 4096
)

// objStream is a decoded object stream: the text of the objects and where each one starts.
type objStream struct {
	data    []byte
	first   int
	offsets []int // offset of object i, relative to first
}

// parseAt parses the object starting at pos (with its "N G obj" header when indirect) and returns
// it with the absolute offset just after it. The window read grows until the object is complete:
// a parse that ends exactly at the window's end may have been cut and is retried with more bytes.
func (d *document) parseAt(ctx context.Context, pos int64, indirect bool) (types.Object, int64, error) {
	n := int64(firstWindow)
	for {
		end := min(pos+n, d.size)
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
		if first < 0 || int(first) > len(data) || count < 0 {
			return nil, docError(d.name, ErrCorrupt, "object stream %d: bad /First or /N", stm)
		}
		fields := strings.Fields(string(data[:first]))
		if len(fields) < 2*int(count) {
			return nil, docError(d.name, ErrCorrupt, "object stream %d: short header", stm)
		}
		ost = &objStream{data: data, first: int(first)}
		for i := range int(count) {
			off, err := strconv.Atoi(fields[2*i+1])
			if err != nil || off < 0 || int(first)+off > len(data) {
				return nil, docError(d.name, ErrCorrupt, "object stream %d: bad offset of object %d", stm, i)
			}
			ost.offsets = append(ost.offsets, off)
		}
		d.objStms[stm] = ost
	}
	if index < 0 || index >= len(ost.offsets) {
		return nil, docError(d.name, ErrCorrupt, "object %d: index %d outside object stream %d", nr, index, stm)
	}
	end := len(ost.data)
	if index+1 < len(ost.offsets) && ost.offsets[index+1] >= ost.offsets[index] {
		end = ost.first + ost.offsets[index+1]
	}
	l := string(ost.data[ost.first+ost.offsets[index] : end])
	if strings.TrimSpace(l) == "" {
		return nil, nil
	}
	o, err := model.ParseObjectContext(ctx, &l, 0, maxParseDepth)
	if err != nil {
		return nil, docError(d.name, ErrCorrupt, "object %d in object stream %d: %v", nr, stm, err)
	}
	return o, nil
}

// streamData reads and decodes the data of a stream. Only object streams and cross-reference
// streams are ever decoded; their size is bounded.
func (d *document) streamData(ctx context.Context, sd types.StreamDict) ([]byte, error) {
	length := int64(-1)
	if l, err := d.resolve(ctx, sd.Dict["Length"]); err == nil {
		if n, ok := l.(types.Integer); ok && n >= 0 {
			length = int64(n)
		}
	}
	if length < 0 || sd.StreamOffset+length > d.size {
		// A missing or wrong /Length: the data ends before "endstream".
		window := make([]byte, min(int64(maxDecodedStream), d.size-sd.StreamOffset))
		n, _ := d.src.ReadAt(window, sd.StreamOffset)
		i := bytes.Index(window[:n], []byte("endstream"))
		if i < 0 {
			return nil, docError(d.name, ErrCorrupt, "stream at offset %d without endstream", sd.StreamOffset)
		}
		length = int64(i)
	}
	if length > maxDecodedStream {
		return nil, docError(d.name, ErrCorrupt, "structure stream at offset %d too large (%d bytes)", sd.StreamOffset, length)
	}
	raw := make([]byte, length)
	if _, err := d.src.ReadAt(raw, sd.StreamOffset); err != nil && err != io.EOF {
		return nil, fmt.Errorf("%s: reading: %w", d.name, err)
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
	data := raw
	for i, name := range names {
		if err := ctx.Err(); err != nil {
			return nil, err
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
		f, err := filter.NewFilter(name, pm, maxDecodedStream)
		if err != nil {
			return nil, docError(d.name, ErrCorrupt, "stream at offset %d: %v", sd.StreamOffset, err)
		}
		r, err := f.Decode(bytes.NewReader(data))
		if err != nil {
			return nil, docError(d.name, ErrCorrupt, "stream at offset %d: %v", sd.StreamOffset, err)
		}
		if data, err = io.ReadAll(io.LimitReader(r, maxDecodedStream+1)); err != nil || len(data) > maxDecodedStream {
			return nil, docError(d.name, ErrCorrupt, "stream at offset %d: undecodable or too large", sd.StreamOffset)
		}
	}
	return data, nil
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
