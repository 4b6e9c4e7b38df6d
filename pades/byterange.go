package pades

// The signature dictionary and its ByteRange (ISO 32000-1 §12.8.1): the signature covers the whole
// file except the hexadecimal string of /Contents. /Contents is reserved as a fixed-size,
// zero-padded hex string, so its size never depends on the CMS (a trial signature would not do:
// ECDSA signatures vary by a byte or two).

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
)

const byteRangeWidth = 10 // digits per ByteRange number: files up to 9.3 GiB

// sigDictLayout says where the placeholders of a written signature dictionary are, relative to the
// increment's buffer.
type sigDictLayout struct {
	byteRangeAt int // first byte of the 3 padded numbers after "[0 "
	contentsAt  int // the '<' of /Contents
	hexLen      int // number of hex digits between '<' and '>'
}

// writeSigDict writes the /Type/Sig dictionary (ISO 32000-1 Table 252) with PAdES SubFilter
// ETSI.CAdES.detached (ETSI EN 319 142-1 §5.3); the signing time is /M, not a CMS attribute.
func writeSigDict(w *increment, nr int, o Options, when time.Time, reserve int) sigDictLayout {
	w.begin(nr, 0)
	b := w.buf
	if o.docTimestamp {
		// ISO 32000-2 Table 255: no /M, /Name or /Reason; the time is the token's genTime.
		b.WriteString("<</Type/DocTimeStamp/Filter/Adobe.PPKLite/SubFilter/ETSI.RFC3161")
		o = Options{}
	} else {
		b.WriteString("<</Type/Sig/Filter/Adobe.PPKLite/SubFilter/ETSI.CAdES.detached/M ")
		b.WriteString(pdfDate(when))
	}
	for _, e := range [][2]string{{"Name", o.Name}, {"Reason", o.Reason}, {"Location", o.Location}, {"ContactInfo", o.ContactInfo}} {
		if e[1] != "" {
			b.WriteString("/" + e[0] + " ")
			b.WriteString(pdfText(e[1]))
		}
	}
	b.WriteString("\n/ByteRange [0 ")
	var l sigDictLayout
	l.byteRangeAt = b.Len()
	b.WriteString(strings.Repeat(" ", 3*byteRangeWidth+2))
	b.WriteString("]\n/Contents ")
	l.contentsAt = b.Len()
	l.hexLen = 2 * reserve
	b.WriteByte('<')
	b.WriteString(strings.Repeat("0", l.hexLen))
	b.WriteString(">>>")
	w.end()
	return l
}

// patchByteRange fills the ByteRange placeholders once the length of the update is known and
// returns the four numbers.
func patchByteRange(w *increment, l sigDictLayout) ([4]int64, error) {
	a := w.base + int64(l.contentsAt)
	b := a + int64(l.hexLen) + 2
	c := w.pos() - b
	br := [4]int64{0, a, b, c}
	s := fmt.Sprintf("%-*d %-*d %-*d", byteRangeWidth, a, byteRangeWidth, b, byteRangeWidth, c)
	if len(s) != 3*byteRangeWidth+2 {
		return br, fmt.Errorf("%w: document too large for the ByteRange (%d bytes)", ErrCorrupt, w.pos())
	}
	copy(w.buf.Bytes()[l.byteRangeAt:], s)
	return br, nil
}

// pdfDate formats a date as in ISO 32000-1 §7.9.4: D:YYYYMMDDHHmmSS+HH'mm'.
func pdfDate(t time.Time) string {
	_, off := t.Zone()
	sign := '+'
	if off < 0 {
		sign, off = '-', -off
	}
	if off == 0 {
		return "(D:" + t.Format("20060102150405") + "Z)"
	}
	return fmt.Sprintf("(D:%s%c%02d'%02d')", t.Format("20060102150405"), sign, off/3600, off/60%60)
}

// pdfText encodes a text string (ISO 32000-1 §7.9.2.2): PDFDocEncoding-compatible ASCII as a literal
// string, anything else as UTF-16BE with a byte order mark in a hex string.
func pdfText(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			ascii = false
			break
		}
	}
	if ascii {
		var b bytes.Buffer
		b.WriteByte('(')
		for i := 0; i < len(s); i++ {
			if s[i] == '(' || s[i] == ')' || s[i] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(s[i])
		}
		b.WriteByte(')')
		return b.String()
	}
	var b strings.Builder
	b.WriteString("<FEFF")
	for _, u := range utf16.Encode([]rune(s)) {
		fmt.Fprintf(&b, "%04X", u)
	}
	b.WriteByte('>')
	return b.String()
}

// itoa is strconv.Itoa, short.
func itoa(n int) string { return strconv.Itoa(n) }

// maxGap bounds the ByteRange gap read to check it: far more than any /Contents Signet or another
// signer reserves (a CMS with a chain and a timestamp is a few KiB).
const maxGap = 4 << 20

// gapProblem checks the ByteRange gap (ISO 32000-1 §12.8.1; ETSI EN 319 142-1 §5.1): it must hold
// exactly the hexadecimal string of /Contents, '<' and '>' included, and that string must be the
// signature dictionary's /Contents (contents). A larger gap leaves bytes of the revision unsigned:
// the "signature wrapping" attack hides content there (pdfsig: "Not total document signed"). It
// returns what is wrong and true, or false when nothing is.
func gapProblem(f io.ReaderAt, r [4]int64, contents []byte) (Text, bool) {
	n := r[2] - r[1]
	if n < 2 || n > maxGap {
		return say("problem.gapSize", "the ByteRange gap of %[1]s bytes is not the /Contents string: not the whole revision is signed", n), true
	}
	gap := make([]byte, n)
	if _, err := f.ReadAt(gap, r[1]); err != nil {
		return say("problem.gapRead", "reading the ByteRange gap: %[1]s", err), true
	}
	if gap[0] != '<' || gap[n-1] != '>' {
		return say("problem.gapNotHex", "the ByteRange gap does not hold exactly the /Contents hex string: not the whole revision is signed"), true
	}
	digits := gap[1 : n-1]
	for _, c := range digits {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return say("problem.gapExtra", "the ByteRange gap holds more than the /Contents hex string: not the whole revision is signed"), true
		}
	}
	if len(digits)%2 != 0 {
		digits = append(slices.Clone(digits), '0') // ISO 32000-1 §7.3.4.3: a missing last digit is 0
	}
	decoded, err := hex.DecodeString(string(digits))
	if err != nil || !bytes.Equal(decoded, contents) {
		return say("problem.gapOther", "the ByteRange gap is not this signature's /Contents: not the whole revision is signed"), true
	}
	return Text{}, false
}
