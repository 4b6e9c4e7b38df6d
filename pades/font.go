package pades

// The font of the visible signet: DejaVu Sans (Debian fonts-dejavu-core, licence in
// internal/fonts/LICENSE-DejaVu.txt), embedded once in the binary by internal/fonts (evidence pages
// draw with the same file) and written into each signature as a subset
// (ISO 32000-1 §9.7.4 CIDFontType2 with Identity-H encoding, §9.9 FontFile2, §9.10.3 ToUnicode), so
// Cyrillic and other non-Latin signer names render and can be copied as text.

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/image/font"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"

	"github.com/signet-b24/signet/internal/fonts"
)

const fontName = "DejaVuSans"

type ttFont struct {
	f       *sfnt.Font
	upem    int
	tables  map[string][]byte
	ascent  int
	descent int
	bbox    [4]int
}

var (
	fontOnce   sync.Once
	signetFont *ttFont
	fontErr    error
)

// loadFont parses the embedded font once per process.
func loadFont() (*ttFont, error) {
	fontOnce.Do(func() {
		f, err := sfnt.Parse(fonts.DejaVuSans)
		if err != nil {
			fontErr = fmt.Errorf("embedded font: %w", err)
			return
		}
		t := &ttFont{f: f, upem: int(f.UnitsPerEm()), tables: sfntTables(fonts.DejaVuSans)}
		head := t.tables["head"]
		for i := range 4 {
			t.bbox[i] = int(int16(binary.BigEndian.Uint16(head[36+2*i:]))) * 1000 / t.upem
		}
		hhea := t.tables["hhea"]
		t.ascent = int(int16(binary.BigEndian.Uint16(hhea[4:]))) * 1000 / t.upem
		t.descent = int(int16(binary.BigEndian.Uint16(hhea[6:]))) * 1000 / t.upem
		signetFont = t
	})
	return signetFont, fontErr
}

// sfntTables returns the tables of a TrueType file by tag (OpenType "Table Directory"); the font
// must be well-formed (it is embedded, or written by writeSFNT).
func sfntTables(b []byte) map[string][]byte {
	tables := map[string][]byte{}
	n := int(binary.BigEndian.Uint16(b[4:]))
	for i := 0; i < n; i++ {
		rec := b[12+16*i:]
		off, l := binary.BigEndian.Uint32(rec[8:]), binary.BigEndian.Uint32(rec[12:])
		tables[string(rec[:4])] = b[off : off+l]
	}
	return tables
}

// runeGlyph is a cached cmap and hmtx lookup.
type runeGlyph struct {
	gid   uint16
	width int // 1/1000 em
}

// runeGlyphs caches lookups across signatures: the sfnt cmap walk costs more than the rest of a line.
var runeGlyphs sync.Map // rune → runeGlyph

// lookup returns the glyph of r, or of '?' when the font has none.
func (t *ttFont) lookup(buf *sfnt.Buffer, r rune) runeGlyph {
	if v, ok := runeGlyphs.Load(r); ok {
		return v.(runeGlyph)
	}
	g, err := t.f.GlyphIndex(buf, r)
	if err != nil || g == 0 {
		g, _ = t.f.GlyphIndex(buf, '?')
	}
	rg := runeGlyph{gid: uint16(g)}
	if adv, err := t.f.GlyphAdvance(buf, g, fixed.I(t.upem), font.HintingNone); err == nil {
		rg.width = adv.Round() * 1000 / t.upem
	}
	runeGlyphs.Store(r, rg)
	return rg
}

// glyphRef is where a character of the signet lands in a subset font.
type glyphRef struct {
	id    uint16 // subset glyph id = CID
	width int    // 1/1000 em
}

// fontSubset is the finished font of one set of characters: everything writeObjects needs except
// object numbers, with its streams already compressed. It is immutable once built and shared by all
// signatures whose signets use exactly these characters (see fontcache.go).
type fontSubset struct {
	key       string            // the characters, sorted, without duplicates
	glyphs    map[rune]glyphRef // every character of key
	base      string            // "ABCDEF+DejaVuSans"
	widths    string            // the contents of /W
	desc      string            // the FontDescriptor up to the number of its FontFile2
	fileDict  string            // the FontFile2 stream dictionary (without /Length)
	fontFile  []byte            // the subset font program, deflated
	toUnicode []byte            // the ToUnicode CMap, deflated
	uses      atomic.Int64      // signatures that used it (for tests)
}

// encode returns the Identity-H string (2-byte glyph ids, as hex) of s and its width in 1/1000 em.
// Every character of s must be in the subset's key (signetFontKey guarantees it).
func (fs *fontSubset) encode(s string) (string, int) {
	b := make([]byte, 0, 4*len(s))
	width := 0
	for _, r := range s {
		g := fs.glyphs[r]
		width += g.width
		b = append(b, hexDigits[g.id>>12], hexDigits[g.id>>8&0xf], hexDigits[g.id>>4&0xf], hexDigits[g.id&0xf])
	}
	return string(b), width
}

const hexDigits = "0123456789ABCDEF"

// writeObjects writes the Type0 font and its descendants into the update; returns the Type0 number.
func (fs *fontSubset) writeObjects(w *increment, alloc func() int) int {
	type0, cid, desc, file, tu := alloc(), alloc(), alloc(), alloc(), alloc()
	w.rawObject(type0, "<</Type/Font/Subtype/Type0/BaseFont/"+fs.base+"/Encoding/Identity-H/DescendantFonts["+itoa(cid)+" 0 R]/ToUnicode "+itoa(tu)+" 0 R>>")
	w.rawObject(cid, "<</Type/Font/Subtype/CIDFontType2/BaseFont/"+fs.base+"/CIDSystemInfo<</Registry(Adobe)/Ordering(Identity)/Supplement 0>>/FontDescriptor "+itoa(desc)+" 0 R/CIDToGIDMap/Identity/DW 1000/W["+fs.widths+"]>>")
	w.rawObject(desc, fs.desc+itoa(file)+" 0 R>>")
	w.stream(file, fs.fileDict, fs.fontFile)
	w.stream(tu, "/Filter/FlateDecode", fs.toUnicode)
	return type0
}

// stampRunes are always in the subset: the characters of the date and serial that change from one
// signature to the next (English month names included), so that consecutive signets of one signer
// share one subset, and the "…" of a line cut to fit (appearance.go).
const stampRunes = "0123456789ABCDEF+-:(). …abceglnoprtuvyJMNOS"

// signetFontKey is the cache key of the lines' font: their characters and stampRunes, sorted, each
// once. It is exact (no hash), so two keys are equal only if the characters are.
func signetFontKey(lines []string) string {
	n := len(stampRunes)
	for _, l := range lines {
		n += len(l)
	}
	runes := make([]rune, 0, n)
	runes = append(runes, []rune(stampRunes)...)
	for _, l := range lines {
		for _, r := range l {
			runes = append(runes, r)
		}
	}
	slices.Sort(runes)
	return string(slices.Compact(runes))
}

// newFontSubset builds the subset font of the characters of key. Subset glyph ids follow the order
// of the original ids (0 stays .notdef), so the result depends on the set of characters only, and
// CIDs equal the new glyph ids (CIDToGIDMap Identity).
func newFontSubset(t *ttFont, key string) (*fontSubset, error) {
	var buf sfnt.Buffer
	runes := []rune(key)
	found := make([]runeGlyph, len(runes))
	gids := make([]uint16, 0, len(runes))
	for i, r := range runes {
		found[i] = t.lookup(&buf, r)
		if found[i].gid != 0 {
			gids = append(gids, found[i].gid)
		}
	}
	slices.Sort(gids)
	gids = slices.Compact(gids)
	sb := newSubsetBuilder(t)
	for _, g := range gids {
		sb.mapGlyph(g)
	}
	fs := &fontSubset{key: key, glyphs: make(map[rune]glyphRef, len(runes))}
	// Subset ids 1..len(gids) are the characters' glyphs; each shows the first (lowest) character
	// that maps to it, for ToUnicode.
	toUni := make([]rune, len(gids)+1)
	widths := make([]int, len(gids)+1)
	named := make([]bool, len(gids)+1)
	for i, r := range runes {
		id := sb.newID[found[i].gid]
		fs.glyphs[r] = glyphRef{id: id, width: found[i].width}
		if !named[id] {
			named[id], toUni[id], widths[id] = true, r, found[i].width
		}
	}
	sub, err := sb.subset()
	if err != nil {
		return nil, err
	}
	fs.base = subsetTag(key) + "+" + fontName
	fs.widths = widthsArray(widths[1:])
	fs.desc = fmt.Sprintf("<</Type/FontDescriptor/FontName/%s/Flags 32/FontBBox[%d %d %d %d]/ItalicAngle 0/Ascent %d/Descent %d/CapHeight %d/StemV 80/FontFile2 ",
		fs.base, t.bbox[0], t.bbox[1], t.bbox[2], t.bbox[3], t.ascent, t.descent, t.ascent)
	fs.fileDict = "/Filter/FlateDecode/Length1 " + itoa(len(sub))
	fs.fontFile = deflateBest(sub)
	fs.toUnicode = deflateBest(toUnicodeCMap(toUni[1:]))
	return fs, nil
}

// widthsArray is the /W entry of glyphs 1..len(widths): one run "1[w1 w2 …]" (ISO 32000-1 §9.7.4.3).
func widthsArray(widths []int) string {
	if len(widths) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("1[")
	for i, w := range widths {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(itoa(w))
	}
	b.WriteByte(']')
	return b.String()
}

// toUnicodeCMap maps glyphs 1..len(chars) to their characters (ISO 32000-1 §9.10.3).
func toUnicodeCMap(chars []rune) []byte {
	var cmap strings.Builder
	cmap.WriteString("/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n/CIDSystemInfo<</Registry(Adobe)/Ordering(UCS)/Supplement 0>> def\n/CMapName/Adobe-Identity-UCS def\n/CMapType 2 def\n1 begincodespacerange\n<0000><FFFF>\nendcodespacerange\n")
	for i := 0; i < len(chars); i += 100 {
		chunk := chars[i:min(i+100, len(chars))]
		fmt.Fprintf(&cmap, "%d beginbfchar\n", len(chunk))
		for j, r := range chunk {
			fmt.Fprintf(&cmap, "<%04X><%s>\n", i+j+1, utf16Hex(r))
		}
		cmap.WriteString("endbfchar\n")
	}
	cmap.WriteString("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n")
	return []byte(cmap.String())
}

func utf16Hex(r rune) string {
	if r >= 0x10000 {
		r -= 0x10000
		return fmt.Sprintf("%04X%04X", 0xD800+(r>>10), 0xDC00+(r&0x3FF))
	}
	return fmt.Sprintf("%04X", r)
}

// subsetTag is the six-letter prefix of a subset font name (ISO 32000-1 §9.6.4), a hash of the
// subset's characters.
func subsetTag(key string) string {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * 16777619
	}
	tag := make([]byte, 6)
	for i := range tag {
		tag[i] = byte('A' + h%26)
		h /= 26
	}
	return string(tag)
}

// subsetBuilder renumbers the glyphs of a subset densely: newID maps an original glyph id to its
// subset id, order the other way.
type subsetBuilder struct {
	t     *ttFont
	newID map[uint16]uint16
	order []uint16
}

func newSubsetBuilder(t *ttFont) *subsetBuilder {
	return &subsetBuilder{t: t, newID: map[uint16]uint16{0: 0}, order: []uint16{0}}
}

func (u *subsetBuilder) mapGlyph(old uint16) (uint16, bool) {
	if id, ok := u.newID[old]; ok {
		return id, false
	}
	id := uint16(len(u.order))
	u.newID[old] = id
	u.order = append(u.order, old)
	return id, true
}

// subset returns a TrueType font holding only the used glyphs (and the components of composite
// glyphs), renumbered densely, without the tables a PDF reader does not need for a CIDFontType2
// (cmap, names, layout tables).
func (u *subsetBuilder) subset() ([]byte, error) {
	t := u.t
	head, maxp, loca, glyf, hhea, hmtx := t.tables["head"], t.tables["maxp"], t.tables["loca"], t.tables["glyf"], t.tables["hhea"], t.tables["hmtx"]
	if head == nil || maxp == nil || loca == nil || glyf == nil || hhea == nil || hmtx == nil {
		return nil, fmt.Errorf("embedded font lacks TrueType tables")
	}
	long := binary.BigEndian.Uint16(head[50:]) == 1
	offset := func(i int) int {
		if long {
			return int(binary.BigEndian.Uint32(loca[4*i:]))
		}
		return 2 * int(binary.BigEndian.Uint16(loca[2*i:]))
	}
	nhm := int(binary.BigEndian.Uint16(hhea[34:]))
	var newGlyf bytes.Buffer
	var newLoca, newHmtx []byte
	// u.order grows while composite glyphs add their components.
	for i := 0; i < len(u.order); i++ {
		old := int(u.order[i])
		newLoca = binary.BigEndian.AppendUint32(newLoca, uint32(newGlyf.Len()))
		if old < nhm {
			newHmtx = append(newHmtx, hmtx[4*old:4*old+4]...)
		} else {
			newHmtx = append(newHmtx, hmtx[4*(nhm-1):4*(nhm-1)+2]...)
			newHmtx = append(newHmtx, hmtx[4*nhm+2*(old-nhm):4*nhm+2*(old-nhm)+2]...)
		}
		data := slices.Clone(glyf[offset(old):offset(old+1)])
		if len(data) >= 10 && int16(binary.BigEndian.Uint16(data)) < 0 {
			// Composite glyph (OpenType glyf table): renumber its components.
			p := 10
			for p+4 <= len(data) {
				flags := binary.BigEndian.Uint16(data[p:])
				id, _ := u.mapGlyph(binary.BigEndian.Uint16(data[p+2:]))
				binary.BigEndian.PutUint16(data[p+2:], id)
				p += 4
				if flags&1 != 0 {
					p += 4
				} else {
					p += 2
				}
				switch {
				case flags&8 != 0:
					p += 2
				case flags&0x40 != 0:
					p += 4
				case flags&0x80 != 0:
					p += 8
				}
				if flags&0x20 == 0 {
					break
				}
			}
		}
		newGlyf.Write(data)
		for newGlyf.Len()%4 != 0 {
			newGlyf.WriteByte(0)
		}
	}
	n := len(u.order)
	newLoca = binary.BigEndian.AppendUint32(newLoca, uint32(newGlyf.Len()))
	newHead := slices.Clone(head)
	binary.BigEndian.PutUint16(newHead[50:], 1) // indexToLocFormat: long offsets
	binary.BigEndian.PutUint32(newHead[8:], 0)  // checkSumAdjustment: not used by PDF readers
	newMaxp := slices.Clone(maxp)
	binary.BigEndian.PutUint16(newMaxp[4:], uint16(n))
	newHhea := slices.Clone(hhea)
	binary.BigEndian.PutUint16(newHhea[34:], uint16(n))
	tables := map[string][]byte{"head": newHead, "loca": newLoca, "glyf": newGlyf.Bytes(), "maxp": newMaxp, "hhea": newHhea, "hmtx": newHmtx}
	for _, tag := range []string{"cvt ", "fpgm", "prep"} {
		if b, ok := t.tables[tag]; ok {
			tables[tag] = b
		}
	}
	return writeSFNT(tables), nil
}

// writeSFNT assembles a TrueType file from its tables (OpenType "Table Directory").
func writeSFNT(tables map[string][]byte) []byte {
	tags := make([]string, 0, len(tables))
	for tag := range tables {
		tags = append(tags, tag)
	}
	sort.Strings(tags)
	n := len(tags)
	entrySelector := 0
	for 1<<(entrySelector+1) <= n {
		entrySelector++
	}
	searchRange := 16 << entrySelector
	var out bytes.Buffer
	hdr := make([]byte, 12+16*n)
	binary.BigEndian.PutUint32(hdr, 0x00010000)
	binary.BigEndian.PutUint16(hdr[4:], uint16(n))
	binary.BigEndian.PutUint16(hdr[6:], uint16(searchRange))
	binary.BigEndian.PutUint16(hdr[8:], uint16(entrySelector))
	binary.BigEndian.PutUint16(hdr[10:], uint16(16*n-searchRange))
	off := len(hdr)
	body := make([]byte, 0)
	for i, tag := range tags {
		data := tables[tag]
		rec := hdr[12+16*i:]
		copy(rec, tag)
		binary.BigEndian.PutUint32(rec[4:], tableChecksum(data))
		binary.BigEndian.PutUint32(rec[8:], uint32(off+len(body)))
		binary.BigEndian.PutUint32(rec[12:], uint32(len(data)))
		body = append(body, data...)
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
	}
	out.Write(hdr)
	out.Write(body)
	return out.Bytes()
}

func tableChecksum(b []byte) uint32 {
	var sum uint32
	for i := 0; i < len(b); i += 4 {
		var w [4]byte
		copy(w[:], b[i:])
		sum += binary.BigEndian.Uint32(w[:])
	}
	return sum
}

// zlibWriters are reused: a new compressor allocates about 1 MB, more than the rest of a signature.
var (
	zlibWriters     = zlibPool(zlib.BestSpeed)
	zlibBestWriters = zlibPool(zlib.BestCompression)
)

func zlibPool(level int) *sync.Pool {
	return &sync.Pool{New: func() any {
		zw, _ := zlib.NewWriterLevel(io.Discard, level)
		return zw
	}}
}

// deflate compresses a stream for /Filter/FlateDecode (ISO 32000-1 §7.4.4).
func deflate(b []byte) []byte { return deflateWith(zlibWriters, b) }

// deflateBest compresses the streams of a cached font subset (fontcache.go): they are built once
// and written into many signatures, so the smallest output is worth the slower compressor.
func deflateBest(b []byte) []byte { return deflateWith(zlibBestWriters, b) }

func deflateWith(pool *sync.Pool, b []byte) []byte {
	var out bytes.Buffer
	out.Grow(len(b)/2 + 64)
	zw := pool.Get().(*zlib.Writer)
	zw.Reset(&out)
	zw.Write(b)
	zw.Close()
	pool.Put(zw)
	return out.Bytes()
}
