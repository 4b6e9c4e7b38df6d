package pades

// The incremental update (ISO 32000-1 §7.5.6): new and changed objects are appended after the
// original bytes, followed by a cross-reference section that lists only them and a trailer whose
// /Prev points at the previous section. The original bytes are never touched, so earlier
// signatures stay valid.

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// increment accumulates the bytes appended to a document.
type increment struct {
	buf     *bytes.Buffer // from updateBuffers; release returns it
	base    int64         // absolute offset of buf[0] in the output file
	offsets map[int]int64 // object number → absolute offset of "N G obj"
	gens    map[int]int   // object number → generation
	order   []int         // object numbers in writing order
}

// updateBuffers recycles the buffers of updates: a batch of small documents would otherwise
// allocate and clear tens of KiB per document.
var updateBuffers = sync.Pool{New: func() any { return bytes.NewBuffer(make([]byte, 0, 32*1024)) }}

func newIncrement(base int64) *increment {
	b := updateBuffers.Get().(*bytes.Buffer)
	b.Reset()
	return &increment{buf: b, base: base, offsets: make(map[int]int64, 8), gens: make(map[int]int, 8)}
}

// release gives the buffer back once the update's bytes were written out; w is unusable after.
func (w *increment) release() {
	if w.buf.Cap() <= 1<<20 {
		updateBuffers.Put(w.buf)
	}
	w.buf = nil
}

// pos is the absolute offset of the next byte written.
func (w *increment) pos() int64 { return w.base + int64(w.buf.Len()) }

func (w *increment) begin(nr, gen int) {
	w.offsets[nr] = w.pos()
	w.gens[nr] = gen
	w.order = append(w.order, nr)
	w.buf.WriteString(strconv.Itoa(nr))
	w.buf.WriteByte(' ')
	w.buf.WriteString(strconv.Itoa(gen))
	w.buf.WriteString(" obj\n")
}

func (w *increment) end() { w.buf.WriteString("\nendobj\n") }

// object writes a complete indirect object whose body is a pdfcpu object.
func (w *increment) object(nr, gen int, o types.Object) error {
	w.begin(nr, gen)
	if err := writeObject(w.buf, o); err != nil {
		return err
	}
	w.end()
	return nil
}

// rawObject writes an indirect object whose body is already serialised.
func (w *increment) rawObject(nr int, body string) {
	w.begin(nr, 0)
	w.buf.WriteString(body)
	w.end()
}

// stream writes a stream object; dict holds the entries except /Length (ISO 32000-1 §7.3.8).
func (w *increment) stream(nr int, dict string, data []byte) {
	w.begin(nr, 0)
	w.buf.WriteString("<<")
	w.buf.WriteString(dict)
	w.buf.WriteString("/Length ")
	w.buf.WriteString(strconv.Itoa(len(data)))
	w.buf.WriteString(">>\nstream\n")
	w.buf.Write(data)
	w.buf.WriteString("\nendstream")
	w.end()
}

// trailerInfo is what the new trailer repeats from the previous one (ISO 32000-1 §7.5.5, §7.5.6).
type trailerInfo struct {
	size int // highest object number + 1, including the objects of this update
	root string
	info string // "" when absent
	id   string // "[<..><..>]"
	prev int64
}

func (t trailerInfo) entries() string {
	s := "/Size " + strconv.Itoa(t.size) + "/Root " + t.root
	if t.info != "" {
		s += "/Info " + t.info
	}
	if t.id != "" {
		s += "/ID " + t.id
	}
	return s + "/Prev " + strconv.FormatInt(t.prev, 10)
}

// subsections groups sorted object numbers into runs of consecutive numbers.
func subsections(nrs []int) [][2]int {
	var runs [][2]int // start, count
	for _, n := range nrs {
		if l := len(runs); l > 0 && runs[l-1][0]+runs[l-1][1] == n {
			runs[l-1][1]++
			continue
		}
		runs = append(runs, [2]int{n, 1})
	}
	return runs
}

// finishClassic appends a cross-reference table and trailer (ISO 32000-1 §7.5.4, §7.5.5).
func (w *increment) finishClassic(t trailerInfo) {
	nrs := slices.Sorted(mapsKeys(w.offsets))
	xref := w.pos()
	w.buf.WriteString("xref\n")
	for _, r := range subsections(nrs) {
		fmt.Fprintf(w.buf, "%d %d\n", r[0], r[1])
		for n := r[0]; n < r[0]+r[1]; n++ {
			fmt.Fprintf(w.buf, "%010d %05d n\r\n", w.offsets[n], w.gens[n])
		}
	}
	w.buf.WriteString("trailer\n<<" + t.entries() + ">>\nstartxref\n")
	w.buf.WriteString(strconv.FormatInt(xref, 10))
	w.buf.WriteString("\n%%EOF\n")
}

// finishStream appends a cross-reference stream (ISO 32000-1 §7.5.8) that lists itself, as a
// conforming writer must (qpdf --check warns about xref streams that do not).
func (w *increment) finishStream(nr int, t trailerInfo) {
	xref := w.pos()
	w.offsets[nr] = xref
	w.gens[nr] = 0
	nrs := slices.Sorted(mapsKeys(w.offsets))
	width := 1
	for v := xref; v > 0xff; v >>= 8 {
		width++
	}
	if width < 4 {
		width = 4
	}
	data := make([]byte, 0, len(nrs)*(3+width))
	for _, n := range nrs {
		data = append(data, 1)
		for i := width - 1; i >= 0; i-- {
			data = append(data, byte(w.offsets[n]>>(8*i)))
		}
		data = append(data, byte(w.gens[n]>>8), byte(w.gens[n]))
	}
	var index bytes.Buffer
	for i, r := range subsections(nrs) {
		if i > 0 {
			index.WriteByte(' ')
		}
		fmt.Fprintf(&index, "%d %d", r[0], r[1])
	}
	if t.size < nr+1 {
		t.size = nr + 1
	}
	dict := "/Type/XRef" + t.entries() + "/Index[" + index.String() + "]/W[1 " + strconv.Itoa(width) + " 2]"
	w.stream(nr, dict, data)
	w.buf.WriteString("startxref\n")
	w.buf.WriteString(strconv.FormatInt(xref, 10))
	w.buf.WriteString("\n%%EOF\n")
}

func mapsKeys(m map[int]int64) func(func(int) bool) {
	return func(yield func(int) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// writeObject serialises a pdfcpu object. Unlike types.Dict.PDFString, which silently drops entries
// of types it does not know, it fails on anything it cannot write faithfully.
func writeObject(b *bytes.Buffer, o types.Object) error {
	switch v := o.(type) {
	case nil:
		b.WriteString("null")
	case types.Dict:
		b.WriteString("<<")
		for _, k := range slices.Sorted(dictKeys(v)) {
			b.WriteByte('/')
			b.WriteString(types.EncodeName(k))
			b.WriteByte(' ')
			if err := writeObject(b, v[k]); err != nil {
				return err
			}
		}
		b.WriteString(">>")
	case types.Array:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(' ')
			}
			if err := writeObject(b, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case types.IndirectRef:
		fmt.Fprintf(b, "%d %d R", v.ObjectNumber, v.GenerationNumber)
	case *types.IndirectRef:
		fmt.Fprintf(b, "%d %d R", v.ObjectNumber, v.GenerationNumber)
	case types.Name:
		b.WriteString(v.PDFString())
	case types.Integer:
		b.WriteString(strconv.Itoa(int(v)))
	case types.Float:
		b.WriteString(strconv.FormatFloat(float64(v), 'f', -1, 64))
	case types.Boolean:
		b.WriteString(strconv.FormatBool(bool(v)))
	case types.StringLiteral:
		// pdfcpu keeps literal strings in their escaped file form.
		b.WriteByte('(')
		b.WriteString(string(v))
		b.WriteByte(')')
	case types.HexLiteral:
		b.WriteByte('<')
		b.WriteString(string(v))
		b.WriteByte('>')
	default:
		return fmt.Errorf("cannot rewrite a PDF object of type %T", o)
	}
	return nil
}

func dictKeys(d types.Dict) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range d {
			if !yield(k) {
				return
			}
		}
	}
}

func refString(r types.IndirectRef) string {
	return strconv.Itoa(int(r.ObjectNumber)) + " " + strconv.Itoa(int(r.GenerationNumber)) + " R"
}
