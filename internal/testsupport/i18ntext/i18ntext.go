// Package i18ntext finds the words of an HTML page that are not in the message catalogue (issue 18,
// must 1: "a test that fails when a page renders a string that is not in the catalogue"). A page's
// test renders it in each catalogue language and asks Foreign what is left of the text a person
// reads once the catalogue's messages in that language and the page's data (names, ids, dates,
// numbers) are taken out: anything with a letter left is a string a template or a handler wrote
// itself. Tests only (web, producer).
package i18ntext

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/text/language"

	"github.com/signet-b24/signet/internal/i18n"
)

// Untranslated are the words pages show the same in every language: Signet's name, technical names
// (formats, algorithms, protocol fields) and the language switch's own labels.
var Untranslated = []string{"Signet", "SHA-256", "SHA1", "member_id", "PLACEMENT_OPTIONS", "RSA 2048", "RSA 3072", "ECDSA P-256", "ECDSA P-384", "CA",
	"PDF", "FreeOTP", "Google Authenticator", "EN", "RU", "English", "Русский"}

// Text is what a person reads of an HTML page: its text nodes outside script and style, and the
// attributes that are read aloud or shown (title, aria-label, placeholder, alt, data-confirm,
// data-copied).
func Text(page []byte) ([]string, error) {
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		return nil, err
	}
	var out []string
	add := func(s string) {
		if s = strings.Join(strings.Fields(s), " "); s != "" {
			out = append(out, s)
		}
	}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && (n.Data == "script" || n.Data == "style") {
			return
		}
		if n.Type == html.TextNode {
			add(n.Data)
		}
		if n.Type == html.ElementNode {
			for _, a := range n.Attr {
				switch a.Key {
				case "title", "aria-label", "placeholder", "alt", "data-confirm", "data-copied":
					add(a.Val)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return out, nil
}

// numbers are a number as a language writes it: "3,650", "2 048" (x/text groups thousands); each is
// "#" in both the text and the pieces compared with it.
var numbers = regexp.MustCompile(`[0-9]+(?:[,.\x{00a0}\x{202f} ][0-9]{3})*`)

// Machine words no language translates: addresses (URLs, pkcs11: URIs, key=value) and identifiers
// with digits in them (p256, serials, hashes, job ids).
// Addresses are taken out first (their parts could look like words), identifiers last (a message
// may have a word with digits in it: "Bitrix24").
var (
	addresses   = regexp.MustCompile(`[^\s()]+(?:://|[:%;@])[^\s()]+`)
	identifiers = regexp.MustCompile(`[A-Za-z_.-]*[0-9#][A-Za-z0-9#_.-]*`)
)

var fragments sync.Map // language.Tag → []string

// Fragments are the literal pieces of every message of one language: each message is formatted
// with marker arguments (and with the numbers that select each plural form) and cut at the markers.
func Fragments(tag language.Tag) []string {
	if f, ok := fragments.Load(tag); ok {
		return f.([]string)
	}
	const mark = "\x01"
	l := i18n.For(tag)
	bad := regexp.MustCompile(`%!\w\((?:string|int|float64)=[^)]*\)|%!\(EXTRA [^)]*\)`)
	seen := map[string]bool{}
	for _, key := range i18n.Keys(tag) {
		if strings.HasPrefix(key, "format.") {
			continue
		}
		for _, first := range []any{mark, 1, 2, 5, 21} {
			args := []any{first}
			for range 7 {
				args = append(args, mark)
			}
			s := bad.ReplaceAllString(l.T(key, args...), mark)
			for _, f := range strings.Split(s, mark) {
				f = strings.TrimSpace(numbers.ReplaceAllString(strings.Join(strings.Fields(f), " "), "#"))
				if strings.IndexFunc(f, unicode.IsLetter) >= 0 {
					seen[f] = true
				}
			}
		}
	}
	out := make([]string, 0, len(seen))
	for f := range seen {
		out = append(out, f)
	}
	fragments.Store(tag, out)
	return out
}

// Sentences are the pieces of the messages of one language whose keys start with prefix, cut at
// their arguments, that have at least words words: what a reader of another language must not meet
// (the English of pades' problems on a Russian page or in the Russian CLI).
func Sentences(tag language.Tag, prefix string, words int) []string {
	const mark = "\x01"
	l := i18n.For(tag)
	bad := regexp.MustCompile(`%!\w\((?:string|int|float64)=[^)]*\)|%!\(EXTRA [^)]*\)`)
	var out []string
	for _, key := range i18n.Keys(tag) {
		if !strings.HasPrefix(key, prefix) {
			continue
		}
		args := []any{mark, mark, mark, mark}
		s := bad.ReplaceAllString(l.T(key, args...), mark)
		for _, f := range strings.Split(strings.ReplaceAll(s, `"\x01"`, mark), mark) {
			if f = strings.TrimSpace(f); len(strings.Fields(f)) >= words {
				out = append(out, f)
			}
		}
	}
	return out
}

// dates are the dates, times and UTC offsets as the language writes them, for every month: data.
func dates(l *i18n.Localizer) []string {
	var out []string
	for m := time.January; m <= time.December; m++ {
		d := time.Date(2026, m, 1, 0, 0, 0, 0, time.UTC)
		out = append(out, l.Date(d), l.DateTime(d))
	}
	// The offsets, as the language writes them, of every zone a reader may be in.
	for m := -12 * 60; m <= 14*60; m += 15 {
		out = append(out, l.Zone(time.Unix(0, 0).In(time.FixedZone("", m*60))))
	}
	return out
}

// Foreign is what is left of page's text once the messages of l's catalogue, data (values the page
// may show as they are), Untranslated, dates, numbers and machine words (identifiers with digits,
// addresses) are taken out: every text that still has a
// letter, with what is left of it. A piece is taken out only where it stands as whole words, so that
// "to" of one message does not hide in "administrator", and the longest first.
func Foreign(l *i18n.Localizer, page []byte, data ...string) ([]string, error) {
	text, err := Text(page)
	if err != nil {
		return nil, err
	}
	var pieces []string
	for _, p := range append(append(append(append([]string(nil), Fragments(l.Tag())...), data...), Untranslated...), dates(l)...) {
		pieces = append(pieces, numbers.ReplaceAllString(p, "#"))
	}
	sort.SliceStable(pieces, func(i, j int) bool { return len(pieces[i]) > len(pieces[j]) })
	var left []string
	for _, s := range text {
		rest := addresses.ReplaceAllStringFunc(numbers.ReplaceAllString(s, "#"), func(a string) string {
			if strings.IndexFunc(a, unicode.IsLetter) < 0 {
				return a // a time of day, "#:#"
			}
			return "#"
		})
		for _, p := range pieces {
			rest = takeOut(rest, p)
		}
		rest = identifiers.ReplaceAllString(rest, "#")
		if strings.IndexFunc(rest, unicode.IsLetter) >= 0 {
			left = append(left, fmt.Sprintf("%q (in %q)", strings.Join(strings.Fields(rest), " "), s))
		}
	}
	return left, nil
}

// takeOut replaces every occurrence of piece in s that is not inside a word by a space.
func takeOut(s, piece string) string {
	if piece == "" || !strings.Contains(s, piece) {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, piece)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		before, after := s[:i], s[i+len(piece):]
		if wordChar(lastRune(before)) && wordChar(firstRune(piece)) || wordChar(firstRune(after)) && wordChar(lastRune(piece)) {
			_, n := firstRuneLen(s[i:])
			b.WriteString(s[:i+n])
			s = s[i+n:]
			continue
		}
		b.WriteString(before + " ")
		s = after
	}
}

func wordChar(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '#' || r == '_' }

func firstRune(s string) rune { r, _ := utf8.DecodeRuneInString(s); return r }

func firstRuneLen(s string) (rune, int) { return utf8.DecodeRuneInString(s) }

func lastRune(s string) rune { r, _ := utf8.DecodeLastRuneInString(s); return r }
