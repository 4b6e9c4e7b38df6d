package i18n

import (
	"fmt"
	"strconv"
	"strings"
)

// Message is a sentence that a package below the pages and the CLI writes for people — a PDF's
// problem (pades), a setting's refused value (internal/config) — as its English text together with
// the catalogue key that words it in other languages (issue 18, must 3: "the errors of deeper
// packages"). The package keeps writing English, byte for byte what it wrote before, for its error
// strings, the log and the outputs programs read; the page or the CLI that shows the sentence to a
// person calls In with the reader's Localizer. A test beside each package holds every key's English
// in the catalogue to the English in its code.
type Message struct {
	key  string
	args []any
	en   string
}

// Say is the message key whose English is the format en (verbs %[n]s and %[n]q only) with args:
// strings, ints and int64s (formatted as fmt's %d writes them, so that no language groups the digits
// of a byte count), errors (their text: a detail in the English of the package that made it),
// Messages (a sentence inside a sentence) and []Messages (a list, joined with "; ").
func Say(key, en string, args ...any) Message {
	m := Message{key: key, args: make([]any, len(args))}
	english := make([]any, len(args))
	for k, a := range args {
		switch v := a.(type) {
		case int:
			a = strconv.Itoa(v)
		case int64:
			a = strconv.FormatInt(v, 10)
		case error:
			a = v.Error()
		}
		m.args[k] = a
		english[k] = argIn(a, nil)
	}
	m.en = fmt.Sprintf(en, english...)
	return m
}

// Verbatim is the message key whose English is en as it stands (the text of an error of the standard
// library, say) and whose other languages are the catalogue's message, without arguments.
func Verbatim(key, en string) Message { return Message{key: key, en: en} }

// Plain is a sentence without a key: English in every language (a text recorded before keys).
func Plain(en string) Message { return Message{en: en} }

// Key is the message's catalogue key, "" for Plain.
func (m Message) Key() string { return m.key }

// String is the message in English.
func (m Message) String() string { return m.en }

// In is the message in l's language. English (a nil l, the fallback language) and a message without
// a catalogue key are the English text itself.
func (m Message) In(l *Localizer) string {
	if l == nil || l.Tag() == Fallback || m.key == "" || !Has(m.key) {
		return m.en
	}
	args := make([]any, len(m.args))
	for k, a := range m.args {
		args[k] = argIn(a, l)
	}
	return l.T(m.key, args...)
}

// argIn is an argument of a message in l's language (nil: English).
func argIn(a any, l *Localizer) any {
	in := func(m Message) string {
		if l == nil {
			return m.en
		}
		return m.In(l)
	}
	switch v := a.(type) {
	case Message:
		return in(v)
	case []Message:
		s := make([]string, len(v))
		for k, m := range v {
			s[k] = in(m)
		}
		return strings.Join(s, "; ")
	}
	return a
}
