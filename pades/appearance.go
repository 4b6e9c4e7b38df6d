package pades

// The visible signet: a form XObject used as the normal appearance (/AP /N) of the signature widget
// (ISO 32000-1 §12.5.5, §12.7.4.5). It is never drawn into the page content, which would need a
// rewrite of the page and, for an already signed document, break nothing but still change more
// than a signature must.

import (
	"bytes"
	"fmt"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"strings"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"

	"github.com/signet-b24/signet/internal/i18n"
)

const (
	signetWidth  = 230.0 // points, as the reader sees the page: Russian's longest line fits at 6.5 pt
	signetHeight = 80.0
	signetMargin = 24.0
	imageWidth   = 56.0
	// minTextSize is the smallest size a line of the signet is shrunk to: below it a printed stamp is
	// not legible. A line that would need less (a very long name or issuer) is cut with "…" instead
	// of running out of the frame (issue 18, must 5: no clipped labels).
	minTextSize = 5.0
)

// signetLines is the text of the signet in the signer's language (issue 18, must 3 and 4): the title,
// the signer, the certificate's serial and issuer, its validity and the time of signing in the
// signer's time zone with the offset shown, and the reason. The words come from the catalogue
// (stamp.* keys); /M and the CMS keep their UTC time, only what people read is local.
func signetLines(s Signer, o Options, when time.Time) []string {
	l := i18n.New(o.Language)
	zone := o.Zone
	if zone == nil {
		zone = when.Location()
	}
	name := o.Name
	if name == "" {
		name = s.Certificate.Subject.CommonName
	}
	if name == "" {
		name = s.Certificate.Subject.String()
	}
	issuer := s.Certificate.Issuer.CommonName
	if issuer == "" {
		issuer = s.Certificate.Issuer.String()
	}
	lines := []string{
		l.T("stamp.title"),
		name,
		l.T("stamp.serial", fmt.Sprintf("%X", s.Certificate.SerialNumber)),
		l.T("stamp.issuer", issuer),
		l.T("stamp.validity", l.Date(s.Certificate.NotBefore.In(zone)), l.Date(s.Certificate.NotAfter.In(zone))),
		l.T("stamp.time", l.DateTime(when.In(zone))),
	}
	if o.Reason != "" {
		lines = append(lines, l.T("stamp.reason", o.Reason))
	}
	return lines
}

// signetLine is one line of the signet as drawn: its text (cut to fit when it had to be), size and
// baseline.
type signetLine struct {
	text string
	size float64
	y    float64
}

// layoutSignet sizes the lines into a width×height frame whose text starts at textX: one size for
// every line (the name a fifth larger), each line shrunk further to the frame's width, and cut with
// "…" when even minTextSize is too wide. Every line ends inside the frame.
func layoutSignet(fs *fontSubset, lines []string, width, height, textX float64) []signetLine {
	avail := width - textX - 5
	lineH := (height - 8) / float64(len(lines))
	size := math.Min(9, lineH*0.85)
	y := height - 4 - lineH*0.8
	out := make([]signetLine, 0, len(lines))
	for i, line := range lines {
		sz := size
		if i == 1 {
			sz = size * 1.2 // the signer's name stands out
		}
		_, wu := fs.encode(line)
		if lw := float64(wu) / 1000 * sz; lw > avail {
			sz *= avail / lw
		}
		if sz < minTextSize {
			sz = minTextSize
			r := []rune(line)
			for len(r) > 1 {
				r = r[:len(r)-1]
				if _, wu := fs.encode(string(r) + "…"); float64(wu)/1000*sz <= avail {
					break
				}
			}
			line = string(r) + "…"
		}
		out = append(out, signetLine{text: line, size: sz, y: y})
		y -= lineH
	}
	return out
}

// drawAppearance writes the appearance stream (and its font and image) and returns its object
// number and, for a new widget, its /Rect in default user space.
func drawAppearance(w *increment, alloc func() int, d *document, page types.Dict, inh inherited,
	s Signer, o Options, when time.Time, widget types.Dict) (int, types.Array, error) {
	rotate := inh.rotate
	if r, ok := d.deref(page["Rotate"]).(types.Integer); ok {
		rotate = int(r)
	}
	rotate = ((rotate % 360) + 360) % 360 / 90 * 90

	width, height := signetWidth, signetHeight
	var rect types.Array
	if existing := rectOf(d, widget["Rect"]); existing != nil && existing[2]-existing[0] > 1 && existing[3]-existing[1] > 1 {
		// A prepared empty field keeps its place; the signet fills it.
		width, height = existing[2]-existing[0], existing[3]-existing[1]
		if rotate == 90 || rotate == 270 {
			width, height = height, width
		}
	} else {
		box := pageBox(d, page, inh)
		if box == nil {
			return 0, nil, docError(d.name, ErrCorrupt, "page without a MediaBox")
		}
		// Away from the page's content where the corner has room (freearea.go).
		ink, _ := d.pageInk(page, box.Width()*box.Height())
		rect = freeSpot(*box, rotate, o.Position, width, height, ink)
		if rect == nil {
			return 0, nil, docError(d.name, ErrBadOptions, "unknown position %q; use top|bottom-left|center|right", o.Position)
		}
	}

	var content bytes.Buffer
	// Frame: light fill, blue border.
	fmt.Fprintf(&content, "q 0.96 0.97 1 rg 0.16 0.3 0.6 RG 1 w 0.5 0.5 %s %s re B Q\n", num(width-1), num(height-1))
	textX := 6.0
	var imgNr int
	if len(o.Image) > 0 {
		nr, iw, ih, err := writeImage(w, alloc, o.Image)
		if err != nil {
			return 0, nil, docError(d.name, ErrBadOptions, "signet image: %v", err)
		}
		imgNr = nr
		boxW, boxH := imageWidth, height-8
		scale := math.Min(boxW/float64(iw), boxH/float64(ih))
		dw, dh := float64(iw)*scale, float64(ih)*scale
		fmt.Fprintf(&content, "q %s 0 0 %s %s %s cm /Im1 Do Q\n", num(dw), num(dh), num(4+(boxW-dw)/2), num((height-dh)/2))
		textX = imageWidth + 8
	}
	lines := signetLines(s, o, when)
	fs, err := signetSubset(lines)
	if err != nil {
		return 0, nil, err
	}
	content.WriteString("BT 0.1 0.15 0.3 rg\n")
	for _, line := range layoutSignet(fs, lines, width, height, textX) {
		hexStr, _ := fs.encode(line.text)
		fmt.Fprintf(&content, "/F1 %s Tf 1 0 0 1 %s %s Tm <%s> Tj\n", num(line.size), num(textX), num(line.y), hexStr)
	}
	content.WriteString("ET\n")

	fontNr := fs.writeObjects(w, alloc)
	res := "/Font<</F1 " + itoa(fontNr) + " 0 R>>"
	if imgNr != 0 {
		res += "/XObject<</Im1 " + itoa(imgNr) + " 0 R>>"
	}
	// The form matrix turns the signet against the page's /Rotate so it reads upright (§8.10.1,
	// §12.5.5: the transformed BBox is fitted to /Rect).
	matrix := formMatrix(rotate)
	// The content (about 800 bytes) is written uncompressed: deflating it saved 500 bytes and cost
	// 8 µs, over a tenth of a whole visible update, mostly in the fixed cost of building Huffman tables.
	ap := alloc()
	w.stream(ap, "/Type/XObject/Subtype/Form/BBox[0 0 "+num(width)+" "+num(height)+"]/Matrix["+matrix+"]/Resources<<"+res+">>",
		content.Bytes())
	return ap, rect, nil
}

// formMatrix is the /Matrix of the signet form for a page turned by rotate degrees clockwise.
func formMatrix(rotate int) string {
	switch rotate {
	case 90:
		return "0 1 -1 0 0 0"
	case 180:
		return "-1 0 0 -1 0 0"
	case 270:
		return "0 -1 1 0 0 0"
	}
	return "1 0 0 1 0 0"
}

func num(f float64) string {
	s := fmt.Sprintf("%.3f", f)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" || s == "" {
		return "0"
	}
	return s
}

func rectOf(d *document, o types.Object) []float64 {
	a := d.array(o)
	if len(a) != 4 {
		return nil
	}
	r := make([]float64, 4)
	for i, e := range a {
		e = d.deref(e)
		switch v := e.(type) {
		case types.Integer:
			r[i] = float64(v)
		case types.Float:
			r[i] = float64(v)
		default:
			return nil
		}
	}
	return []float64{math.Min(r[0], r[2]), math.Min(r[1], r[3]), math.Max(r[0], r[2]), math.Max(r[1], r[3])}
}

// pageBox is the visible area of the page: CropBox, else MediaBox (ISO 32000-1 §14.11.2).
func pageBox(d *document, page types.Dict, inh inherited) *types.Rectangle {
	for _, key := range []string{"CropBox", "MediaBox"} {
		if r := rectOf(d, page[key]); r != nil {
			return types.NewRectangle(r[0], r[1], r[2], r[3])
		}
	}
	for _, b := range []types.Object{inh.cropBox, inh.mediaBox} {
		if r := rectOf(d, b); r != nil {
			return types.NewRectangle(r[0], r[1], r[2], r[3])
		}
	}
	return nil
}

// placeSignet returns the widget /Rect for a w×h signet at position pos as the reader sees the page
// (after /Rotate, which turns the page clockwise), in default user space.
// inset moves it that many points further from the page's top or bottom edge (freearea.go).
func placeSignet(box types.Rectangle, rotate int, pos Position, w, h, inset float64) types.Array {
	cw, ch := box.Width(), box.Height()
	vw, vh := cw, ch // the page as displayed
	if rotate == 90 || rotate == 270 {
		vw, vh = ch, cw
	}
	if pos == "" {
		pos = BottomRight
	}
	var vx, vy float64
	switch pos {
	case TopLeft, BottomLeft:
		vx = signetMargin
	case TopCenter, BottomCenter:
		vx = (vw - w) / 2
	case TopRight, BottomRight:
		vx = vw - signetMargin - w
	default:
		return nil
	}
	if strings.HasPrefix(string(pos), "top") {
		vy = vh - signetMargin - h - inset
	} else {
		vy = signetMargin + inset
	}
	// Displayed coordinates → user space relative to the box's lower-left corner.
	toUser := func(x, y float64) (float64, float64) {
		switch rotate {
		case 90:
			return cw - y, x
		case 180:
			return cw - x, ch - y
		case 270:
			return y, ch - x
		}
		return x, y
	}
	x1, y1 := toUser(vx, vy)
	x2, y2 := toUser(vx+w, vy+h)
	llx, lly := math.Min(x1, x2)+box.LL.X, math.Min(y1, y2)+box.LL.Y
	urx, ury := math.Max(x1, x2)+box.LL.X, math.Max(y1, y2)+box.LL.Y
	return types.Array{types.Float(round3(llx)), types.Float(round3(lly)), types.Float(round3(urx)), types.Float(round3(ury))}
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// writeImage embeds a JPEG as it is (DCTDecode) or a PNG as Flate RGB with its alpha channel as a
// soft mask (ISO 32000-1 §8.9.5, §11.6.5.3).
func writeImage(w *increment, alloc func() int, data []byte) (nr, width, height int, err error) {
	// Dimensions are checked from the header before any pixel is decoded (image.go).
	if _, err := checkImageHeader(data); err != nil {
		return 0, 0, 0, err
	}
	if bytes.HasPrefix(data, []byte{0xFF, 0xD8}) {
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			return 0, 0, 0, err
		}
		cs := "/DeviceRGB"
		switch cfg.ColorModel {
		case color.GrayModel:
			cs = "/DeviceGray"
		case color.CMYKModel:
			cs = "/DeviceCMYK/Decode[1 0 1 0 1 0 1 0]"
		}
		nr = alloc()
		w.stream(nr, fmt.Sprintf("/Type/XObject/Subtype/Image/Width %d/Height %d/ColorSpace%s/BitsPerComponent 8/Filter/DCTDecode", cfg.Width, cfg.Height, cs), data)
		return nr, cfg.Width, cfg.Height, nil
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return 0, 0, 0, fmt.Errorf("not a PNG or JPEG image: %w", err)
	}
	b := img.Bounds()
	if b.Dx()*b.Dy() > 4096*4096 {
		return 0, 0, 0, fmt.Errorf("image too large (%dx%d)", b.Dx(), b.Dy())
	}
	rgb := make([]byte, 0, 3*b.Dx()*b.Dy())
	alpha := make([]byte, 0, b.Dx()*b.Dy())
	opaque := true
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			rgb = append(rgb, c.R, c.G, c.B)
			alpha = append(alpha, c.A)
			opaque = opaque && c.A == 255
		}
	}
	dims := fmt.Sprintf("/Width %d/Height %d/BitsPerComponent 8", b.Dx(), b.Dy())
	smask := ""
	if !opaque {
		m := alloc()
		w.stream(m, "/Type/XObject/Subtype/Image"+dims+"/ColorSpace/DeviceGray/Filter/FlateDecode", deflate(alpha))
		smask = "/SMask " + itoa(m) + " 0 R"
	}
	nr = alloc()
	w.stream(nr, "/Type/XObject/Subtype/Image"+dims+"/ColorSpace/DeviceRGB/Filter/FlateDecode"+smask, deflate(rgb))
	return nr, b.Dx(), b.Dy(), nil
}
