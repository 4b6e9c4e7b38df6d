package pades

import (
	"bytes"
	"compress/zlib"
	"context"
	"crypto/x509"
	"encoding/binary"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/image/font/sfnt"

	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
)

// TestFontCache signs twice with the same signer at different times: the stamps differ only in
// digits, so the second signature must reuse the first one's subset. A third signature with another
// (Cyrillic) name must get its own subset that holds every glyph it draws, and show the name.
func TestFontCache(t *testing.T) {
	testKeys(t)
	pdftotext := testenv.RequireTool(t, "pdftotext")
	in := corpus(t, "invoice.pdf")
	s := Signer{Key: testRSAKey, Certificate: testCyrCert, Chain: []*x509.Certificate{testCACert}}
	msk := time.FixedZone("MSK", 3*3600)
	// An empty cache, so that the counts below do not depend on earlier tests or runs.
	saved := signetFonts
	signetFonts = newSubsetCache(fontCacheSize)
	t.Cleanup(func() { signetFonts = saved })
	builds := subsetBuilds.Load()
	sign := func(name string, when time.Time) (string, *fontSubset) {
		t.Helper()
		o := Options{Visible: true, Name: name, Reason: "Cache test", Time: when}
		out, res, err := Sign(context.Background(), in, s, o)
		if err != nil {
			t.Fatal(err)
		}
		checkSigned(t, in, out, res, 1)
		pdf := filepath.Join(t.TempDir(), "signed.pdf")
		writeFile(t, pdf, out)
		text, err := run(t, pdftotext, pdf, "-")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{name, i18n.New("en").DateTime(when)} {
			if !strings.Contains(text, want) {
				t.Errorf("pdftotext lacks %q:\n%s", want, text)
			}
		}
		fs := signetFonts.peek(signetFontKey(signetLines(s, o, when)))
		if fs == nil {
			t.Fatalf("no cached subset for %q", name)
		}
		checkSubsetGlyphs(t, fs, signetLines(s, o, when))
		return text, fs
	}

	_, first := sign("Quentin Wexford", time.Date(2026, 11, 22, 13, 45, 0, 0, msk))
	if subsetBuilds.Load() != builds+1 || first.uses.Load() != 1 {
		t.Fatalf("first signature: %d subsets built, used %d times; want 1 and 1", subsetBuilds.Load()-builds, first.uses.Load())
	}
	uses, builds := first.uses.Load(), subsetBuilds.Load()
	_, second := sign("Quentin Wexford", time.Date(2027, 3, 9, 8, 17, 36, 0, msk))
	if second != first || second.uses.Load() != uses+1 || subsetBuilds.Load() != builds {
		t.Errorf("same glyphs: got subset %p (uses %d → %d, builds %d → %d), want %p reused",
			second, uses, second.uses.Load(), builds, subsetBuilds.Load(), first)
	}

	_, cyr := sign("Щербаков Юрий Ёжиков", time.Date(2026, 11, 22, 13, 45, 0, 0, msk))
	if cyr == first || subsetBuilds.Load() != builds+1 {
		t.Errorf("a Cyrillic name got subset %p (builds %d → %d), want a new one", cyr, builds, subsetBuilds.Load())
	}
	if cyr.base == first.base {
		t.Errorf("different subsets share the name %s", cyr.base)
	}
}

// TestSubsetCacheEvicts checks the LRU order: a full cache drops the subset used longest ago.
func TestSubsetCacheEvicts(t *testing.T) {
	c := newSubsetCache(2)
	a, b, d := &fontSubset{key: "a"}, &fontSubset{key: "b"}, &fontSubset{key: "d"}
	c.add(a)
	c.add(b)
	if c.get("a") != a { // a is now the most recently used
		t.Fatal("a not cached")
	}
	if got := c.add(&fontSubset{key: "a"}); got != a {
		t.Error("a second subset of a key replaced the first")
	}
	c.add(d)
	if c.peek("b") != nil || c.peek("a") != a || c.peek("d") != d || len(c.items) != 2 || c.lru.Len() != 2 {
		t.Errorf("after adding d to [a b]: a=%v b=%v d=%v, %d items, want b evicted",
			c.peek("a") != nil, c.peek("b") != nil, c.peek("d") != nil, len(c.items))
	}
}

// checkSubsetGlyphs checks that the subset font program holds, for every character of lines, the
// very glyph of the embedded font (the same bytes but for the ids of composite glyphs' components,
// plus at most 3 bytes of padding), and that the subset gives its width.
func checkSubsetGlyphs(t *testing.T, fs *fontSubset, lines []string) {
	t.Helper()
	orig, err := loadFont()
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zlib.NewReader(bytes.NewReader(fs.fontFile))
	if err != nil {
		t.Fatal(err)
	}
	prog, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	sub := sfntTables(prog)
	var buf sfnt.Buffer
	for _, line := range lines {
		for _, r := range line {
			g, ok := fs.glyphs[r]
			if !ok {
				t.Fatalf("subset %s lacks %q (line %q)", fs.base, r, line)
			}
			want := orig.lookup(&buf, r)
			if g.width != want.width {
				t.Errorf("subset %s: width of %q is %d, want %d", fs.base, r, g.width, want.width)
			}
			a, b := glyphData(orig.tables, want.gid), glyphData(sub, g.id)
			if b == nil || !sameGlyph(a, b) {
				t.Errorf("subset %s: glyph %d of %q differs from the font's glyph %d (%d bytes, want %d)", fs.base, g.id, r, want.gid, len(b), len(a))
			}
		}
	}
}

// sameGlyph reports whether the subset's glyph b is the original a: a simple glyph identical, a
// composite one with the same header (contour count -1 and bounding box), each followed by at most
// 3 bytes of zero padding.
func sameGlyph(a, b []byte) bool {
	if len(b) < len(a) || len(b)-len(a) > 3 || strings.Trim(string(b[len(a):]), "\x00") != "" {
		return false
	}
	if len(a) >= 10 && int16(binary.BigEndian.Uint16(a)) < 0 {
		return bytes.Equal(a[:10], b[:10])
	}
	return bytes.Equal(a, b[:len(a)])
}

// glyphData is the glyf entry of glyph id (OpenType loca and glyf tables), nil if there is none.
func glyphData(tables map[string][]byte, id uint16) []byte {
	head, loca, glyf := tables["head"], tables["loca"], tables["glyf"]
	long := binary.BigEndian.Uint16(head[50:]) == 1
	at := func(i int) int {
		if long {
			return int(binary.BigEndian.Uint32(loca[4*i:]))
		}
		return 2 * int(binary.BigEndian.Uint16(loca[2*i:]))
	}
	if n := map[bool]int{true: 4, false: 2}[long]; (int(id)+2)*n > len(loca) {
		return nil
	}
	return glyf[at(int(id)):at(int(id)+1)]
}

// BenchmarkFontSubset is the cost of a cache miss: subsetting and compressing the font of a signet.
func BenchmarkFontSubset(b *testing.B) {
	t, err := loadFont()
	if err != nil {
		b.Fatal(err)
	}
	key := signetFontKey([]string{"Digitally signed by", "Иванов Иван Иванович", "Date: 2026-11-22 13:45:00 +03:00",
		"Serial: 3EB", "Issuer: Signet Test CA", "Reason: Согласовано"})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := newFontSubset(t, key); err != nil {
			b.Fatal(err)
		}
	}
}
