package pdfgen

// Incremental updates made by hand, as an attacker appends them to a signed PDF (ISO 32000-1
// §7.5.6): the tests of `signet verify` and of the /verify page forge documents with them.

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
)

var (
	trailerRoot = regexp.MustCompile(`/Root\s*(\d+ \d+ R)`)
	trailerSize = regexp.MustCompile(`/Size\s*(\d+)`)
	trailerInfo = regexp.MustCompile(`/Info\s*(\d+ \d+ R)`)
	startXRef   = regexp.MustCompile(`startxref\s+(\d+)`)
	pageContent = regexp.MustCompile(`/Contents\s*(\d+)\s+0\s+R`)
)

// NextObject is the first object number an update of doc may use (the newest trailer's /Size).
func NextObject(doc []byte) (int, error) {
	m := lastMatch(trailerSize, doc)
	if m == nil {
		return 0, fmt.Errorf("no /Size in the last trailer")
	}
	return strconv.Atoi(m[1])
}

// PageContent is the object number of the first indirect /Contents in the text of the file: the
// content stream of a one-page document with uncompressed objects (testdata/pdf/invoice.pdf).
func PageContent(doc []byte) (int, error) {
	m := pageContent.FindSubmatch(doc)
	if m == nil {
		return 0, fmt.Errorf("no page dictionary with /Contents in the file's text")
	}
	return strconv.Atoi(string(m[1]))
}

// AppendUpdate appends an incremental update that defines objs (number → body, without
// "N 0 obj"/"endobj") with a classic cross-reference table, the newest trailer's /Root and
// /Info kept; info > 0 makes object info the new /Info.
func AppendUpdate(doc []byte, objs map[int]string, info int) ([]byte, error) {
	tail := doc[max(0, len(doc)-4096):]
	root, start := lastMatch(trailerRoot, tail), lastMatch(startXRef, tail)
	size, err := NextObject(tail)
	if root == nil || start == nil || err != nil {
		return nil, fmt.Errorf("no /Root, /Size or startxref in the last 4 KiB")
	}
	out := slices.Clone(doc)
	if out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	nrs := slices.Sorted(func(yield func(int) bool) {
		for nr := range objs {
			if !yield(nr) {
				return
			}
		}
	})
	offs := make([]int, len(nrs))
	for i, nr := range nrs {
		offs[i] = len(out)
		out = fmt.Appendf(out, "%d 0 obj\n%s\nendobj\n", nr, objs[nr])
		size = max(size, nr+1)
	}
	xref := len(out)
	out = append(out, "xref\n"...)
	for i, nr := range nrs {
		out = fmt.Appendf(out, "%d 1\n%010d 00000 n\r\n", nr, offs[i])
	}
	tr := fmt.Sprintf("/Size %d/Root %s/Prev %s", size, root[1], start[1])
	if info > 0 {
		tr += fmt.Sprintf("/Info %d 0 R", info)
	} else if m := lastMatch(trailerInfo, tail); m != nil {
		tr += "/Info " + m[1]
	}
	return fmt.Appendf(out, "trailer\n<<%s>>\nstartxref\n%d\n%%%%EOF\n", tr, xref), nil
}

func lastMatch(re *regexp.Regexp, b []byte) []string {
	all := re.FindAllSubmatch(b, -1)
	if all == nil {
		return nil
	}
	m := all[len(all)-1]
	out := make([]string, len(m))
	for i, s := range m {
		out[i] = string(s)
	}
	return out
}
