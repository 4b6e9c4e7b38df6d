package i18n

import (
	"sort"
	"sync"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Localizer formats the catalogue's messages in one language. The zero value is not usable; get one
// with For or New.
type Localizer struct {
	tag language.Tag
	p   *message.Printer
	has map[string]bool
}

// For returns the Localizer of the catalogue language closest to tag (English when none is close).
func For(tag language.Tag) *Localizer {
	return forSupported(match(tag))
}

// New is For of a language given as a BCP 47 string ("ru", "ru-RU"); an unparsable one gives English.
func New(lang string) *Localizer {
	tag, err := language.Parse(lang)
	if err != nil {
		return forSupported(Fallback)
	}
	return For(tag)
}

// localizers holds one Localizer per catalogue language: they are read-only once made, and a
// message.Printer formats each call with its own state, so one is shared by every goroutine (the
// visible stamp asks for one per signature).
var localizers sync.Map // language.Tag → *Localizer

func forSupported(tag language.Tag) *Localizer {
	if l, ok := localizers.Load(tag); ok {
		return l.(*Localizer)
	}
	l, _ := localizers.LoadOrStore(tag, newLocalizer(tag))
	return l.(*Localizer)
}

func newLocalizer(tag language.Tag) *Localizer {
	c := cat()
	has := make(map[string]bool, len(c.keys[tag]))
	for _, k := range c.keys[tag] {
		has[k] = true
	}
	return &Localizer{tag: tag, p: message.NewPrinter(tag, message.Catalog(c.builder)), has: has}
}

// Tag is the Localizer's language, one of Languages().
func (l *Localizer) Tag() language.Tag { return l.tag }

// Code is the language's base subtag ("en", "ru").
func (l *Localizer) Code() string { b, _ := l.tag.Base(); return b.String() }

// T formats the message key with args. A plural message chooses its form by the first argument. A key
// the language lacks is taken from English (the parity test keeps this from happening); a key no
// catalogue has comes back as itself, so that it is seen and added.
func (l *Localizer) T(key string, args ...any) string {
	if !l.has[key] && l.tag != Fallback {
		return forSupported(Fallback).T(key, args...)
	}
	if !l.has[key] {
		return key
	}
	return l.p.Sprintf(key, args...)
}

// All formats key in every catalogue language: base subtag → text, e.g. {"en": "Sign", "ru":
// "Подписать"}, the shape of Bitrix24's {lang: text} fields (reference §3.1, §10).
func All(key string, args ...any) map[string]string {
	out := map[string]string{}
	for _, tag := range Languages() {
		l := forSupported(tag)
		out[l.Code()] = l.T(key, args...)
	}
	return out
}

// Codes are the base subtags of Languages(), sorted.
func Codes() []string {
	var out []string
	for _, tag := range Languages() {
		b, _ := tag.Base()
		out = append(out, b.String())
	}
	sort.Strings(out)
	return out
}

// Has reports whether key is a message of the catalogue (of English, which has every key).
func Has(key string) bool { return forSupported(Fallback).has[key] }

// Text is key's message when key is a catalogue key without arguments, and otherwise s itself: for a
// value that is either a key or text already in the reader's language (a page's title or notice).
func (l *Localizer) Text(s string) string {
	if s == "" || !Has(s) {
		return s
	}
	return l.T(s)
}
