package pades

// Where the signet goes without covering the page (issue 19, must 6). The chosen corner is kept,
// but the signet slides away from the page's edge, inward along the page's height, until its
// rectangle meets none of the page's ink; when the signet finds no free place lying wholly within the
// page's outer third (further would no longer be "the corner"), it stays in the corner as before.
//
// The ink is found without rendering: the page's content streams are read (within the document's
// decoding budget, budget.go) and their operators interpreted for geometry only (ISO 32000-1 §8.4.2
// graphics state stack and cm, §9.4 text objects and positioning, §8.5 path construction and
// painting, §8.8 external objects): each painted path gives the box of its points, each image or form
// XObject the box of its unit square (a form: its /BBox through its /Matrix), each shown string a box
// from its text position, its font size and an average glyph width of 0.6 em per byte. Boxes are
// taken through the current transformation matrix into the page's default user space. A filled
// shape covering more than half the page is taken for a background and ignored. It errs towards
// "occupied" (glyph widths are an over-estimate for most fonts), costs one pass over the content,
// and needs no renderer, fonts or rasteriser; text drawn by a Type 3 font or clipped away is still
// counted, which only makes the signet move further than it had to.

import (
	"bytes"
	"math"
	"strconv"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

type box struct{ x1, y1, x2, y2 float64 }

func (b box) overlaps(o box) bool {
	return b.x1 < o.x2 && o.x1 < b.x2 && b.y1 < o.y2 && o.y1 < b.y2
}

type matrix [6]float64

var identity = matrix{1, 0, 0, 1, 0, 0}

// mul is m×n (m applied first).
func (m matrix) mul(n matrix) matrix {
	return matrix{
		m[0]*n[0] + m[1]*n[2], m[0]*n[1] + m[1]*n[3],
		m[2]*n[0] + m[3]*n[2], m[2]*n[1] + m[3]*n[3],
		m[4]*n[0] + m[5]*n[2] + n[4], m[4]*n[1] + m[5]*n[3] + n[5],
	}
}

func (m matrix) apply(x, y float64) (float64, float64) {
	return x*m[0] + y*m[2] + m[4], x*m[1] + y*m[3] + m[5]
}

// boxOf is the box of the points (x, y) pairs through m.
func boxOf(m matrix, pts ...float64) box {
	b := box{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)}
	for i := 0; i+1 < len(pts); i += 2 {
		x, y := m.apply(pts[i], pts[i+1])
		b.x1, b.y1, b.x2, b.y2 = math.Min(b.x1, x), math.Min(b.y1, y), math.Max(b.x2, x), math.Max(b.y2, y)
	}
	return b
}

// maxInkBoxes bounds the work on a page with a great many operators: past it the page is taken as
// full (the signet then stays in its corner).
const maxInkBoxes = 200_000

// pageInk returns the boxes of what the page's content paints, in default user space; ok is false
// when the content could not be read (then the caller keeps the corner).
func (d *document) pageInk(page types.Dict, pageArea float64) (boxes []box, ok bool) {
	var streams []types.StreamDict
	switch c := d.deref(page["Contents"]).(type) {
	case types.StreamDict:
		streams = append(streams, c)
	case types.Array:
		for _, e := range c {
			if sd, isStream := d.deref(e).(types.StreamDict); isStream {
				streams = append(streams, sd)
			}
		}
	}
	var content []byte
	for _, sd := range streams {
		data, err := d.streamData(d.ctx, sd)
		if err != nil {
			return nil, false
		}
		content = append(append(content, data...), '\n')
		d.budget.give(int64(len(data)))
	}
	forms := map[string]box{} // a form XObject's /BBox through its /Matrix, by resource name
	if res := d.dict(page["Resources"]); res != nil {
		for name, ref := range d.dict(res["XObject"]) {
			sd, isStream := d.deref(ref).(types.StreamDict)
			if !isStream || d.nameOf(sd.Dict["Subtype"]) != "Form" {
				continue
			}
			bb := rectOf(d, sd.Dict["BBox"])
			if bb == nil {
				continue
			}
			m := identity
			if a := d.array(sd.Dict["Matrix"]); len(a) == 6 {
				for i, e := range a {
					m[i] = number(d.deref(e))
				}
			}
			forms[name] = boxOf(m, bb[0], bb[1], bb[2], bb[1], bb[0], bb[3], bb[2], bb[3])
		}
	}
	return inkOf(content, forms, pageArea), true
}

func number(o types.Object) float64 {
	switch v := o.(type) {
	case types.Integer:
		return float64(v)
	case types.Float:
		return float64(v)
	}
	return 0
}

// inkOf interprets content for geometry (see the top of the file).
func inkOf(content []byte, forms map[string]box, pageArea float64) []box {
	var (
		out      []box
		stack    []matrix
		ctm      = identity
		tm, tlm  = identity, identity
		fontSize = 12.0
		leading  float64
		operands []string
		path     []float64
	)
	nums := func(n int) ([]float64, bool) {
		if len(operands) < n {
			return nil, false
		}
		v := make([]float64, n)
		for i, s := range operands[len(operands)-n:] {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, false
			}
			v[i] = f
		}
		return v, true
	}
	addPath := func(fill bool) {
		if len(path) >= 2 {
			b := boxOf(ctm, path...)
			if !fill || (b.x2-b.x1)*(b.y2-b.y1) <= pageArea/2 {
				out = append(out, b)
			}
		}
		path = path[:0]
	}
	showText := func(bytesShown int) {
		w := 0.6 * float64(bytesShown)
		// Text space: the glyphs sit on the baseline, from a little below it to about 1 em above.
		m := matrix{fontSize, 0, 0, fontSize, 0, 0}.mul(tm).mul(ctm)
		out = append(out, boxOf(m, 0, -0.25, w, -0.25, 0, 1, w, 1))
		tm = matrix{1, 0, 0, 1, w * fontSize, 0}.mul(tm)
	}
	s := content
	for i := 0; i < len(s) && len(out) < maxInkBoxes; {
		c := s[i]
		switch {
		case c == '%':
			for i < len(s) && s[i] != '\n' && s[i] != '\r' {
				i++
			}
		case isSpace(c):
			i++
		case c == '(':
			// A literal string: its length in bytes is what the text box needs.
			depth, n := 0, 0
			for done := false; i < len(s) && !done; {
				switch s[i] {
				case '\\':
					i++
				case '(':
					depth++
				case ')':
					depth--
				}
				i++
				n++
				done = depth == 0
			}
			operands = append(operands, "("+strconv.Itoa(max(n-2, 0)))
		case c == '<' && i+1 < len(s) && s[i+1] == '<':
			operands = append(operands, "<<")
			i += 2
		case c == '>' && i+1 < len(s) && s[i+1] == '>':
			i += 2
		case c == '<':
			j := bytes.IndexByte(s[i:], '>')
			if j < 0 {
				return out
			}
			operands = append(operands, "("+strconv.Itoa((j-1)/2))
			i += j + 1
		case c == '[' || c == ']' || c == '{' || c == '}':
			operands = append(operands, string(c))
			i++
		case c == '/':
			j := i + 1
			for j < len(s) && !isSpace(s[j]) && !isDelim(s[j]) {
				j++
			}
			operands = append(operands, string(s[i:j]))
			i = j
		default:
			j := i
			for j < len(s) && !isSpace(s[j]) && !isDelim(s[j]) {
				j++
			}
			if j == i {
				i++
				continue
			}
			tok := string(s[i:j])
			i = j
			if (tok[0] >= '0' && tok[0] <= '9') || tok[0] == '-' || tok[0] == '+' || tok[0] == '.' {
				operands = append(operands, tok)
				continue
			}
			switch tok {
			case "q":
				if len(stack) < 64 {
					stack = append(stack, ctm)
				}
			case "Q":
				if len(stack) > 0 {
					ctm, stack = stack[len(stack)-1], stack[:len(stack)-1]
				}
			case "cm":
				if v, ok := nums(6); ok {
					ctm = matrix{v[0], v[1], v[2], v[3], v[4], v[5]}.mul(ctm)
				}
			case "m", "l":
				if v, ok := nums(2); ok {
					path = append(path, v...)
				}
			case "c":
				if v, ok := nums(6); ok {
					path = append(path, v...)
				}
			case "v", "y":
				if v, ok := nums(4); ok {
					path = append(path, v...)
				}
			case "re":
				if v, ok := nums(4); ok {
					path = append(path, v[0], v[1], v[0]+v[2], v[1]+v[3])
				}
			case "S", "s":
				addPath(false)
			case "f", "F", "f*", "B", "B*", "b", "b*":
				addPath(true)
			case "n":
				path = path[:0]
			case "BT":
				tm, tlm = identity, identity
			case "Tf":
				if v, ok := nums(1); ok {
					fontSize = v[0]
				}
			case "TL":
				if v, ok := nums(1); ok {
					leading = v[0]
				}
			case "Td", "TD":
				if v, ok := nums(2); ok {
					tlm = matrix{1, 0, 0, 1, v[0], v[1]}.mul(tlm)
					tm = tlm
					if tok == "TD" {
						leading = -v[1]
					}
				}
			case "Tm":
				if v, ok := nums(6); ok {
					tlm = matrix{v[0], v[1], v[2], v[3], v[4], v[5]}
					tm = tlm
				}
			case "T*", "'", "\"":
				tlm = matrix{1, 0, 0, 1, 0, -leading}.mul(tlm)
				tm = tlm
				if tok != "T*" {
					showText(stringBytes(operands))
				}
			case "Tj", "TJ":
				showText(stringBytes(operands))
			case "Do":
				if len(operands) > 0 {
					if fb, isForm := forms[operands[len(operands)-1][1:]]; isForm {
						out = append(out, boxOf(ctm, fb.x1, fb.y1, fb.x2, fb.y1, fb.x1, fb.y2, fb.x2, fb.y2))
					} else {
						out = append(out, boxOf(ctm, 0, 0, 1, 0, 0, 1, 1, 1))
					}
				}
			case "BI":
				// An inline image: its data runs to "EI"; it paints the unit square.
				k := bytes.Index(s[i:], []byte("EI"))
				if k < 0 {
					return out
				}
				i += k + 2
				out = append(out, boxOf(ctm, 0, 0, 1, 0, 0, 1, 1, 1))
			}
			operands = operands[:0]
		}
	}
	return out
}

// stringBytes is the number of bytes of the strings among a show operator's operands.
func stringBytes(operands []string) int {
	n := 0
	for _, o := range operands {
		if len(o) > 1 && o[0] == '(' {
			k, _ := strconv.Atoi(o[1:])
			n += k
		}
	}
	return n
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == 0
}

func isDelim(c byte) bool {
	return bytes.IndexByte([]byte("()<>[]{}/%"), c) >= 0
}

// freeSpot returns the /Rect of the signet at pos, slid inward from the page's edge in steps until it
// meets no ink, or the corner's own rect when there is no free place in the page's outer third.
func freeSpot(b types.Rectangle, rotate int, pos Position, w, h float64, ink []box) types.Array {
	first := placeSignet(b, rotate, pos, w, h, 0)
	if first == nil || len(ink) == 0 {
		return first
	}
	vh := b.Height()
	if rotate == 90 || rotate == 270 {
		vh = b.Width()
	}
	for inset := 0.0; signetMargin+inset+h <= vh/3; inset += 6 {
		r := placeSignet(b, rotate, pos, w, h, inset)
		rb := box{float64(r[0].(types.Float)), float64(r[1].(types.Float)), float64(r[2].(types.Float)), float64(r[3].(types.Float))}
		free := true
		for _, k := range ink {
			if rb.overlaps(k) {
				free = false
				break
			}
		}
		if free {
			return r
		}
	}
	return first
}
