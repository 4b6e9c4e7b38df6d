package i18n

import (
	"errors"
	"testing"
)

// A Message is its English as written, whatever the catalogue says; in another language the
// catalogue's message with its arguments, a Message among them worded too, a list joined with "; ",
// and an error's text kept as its package wrote it. A key the catalogue lacks, and Plain, stay English.
func TestMessage(t *testing.T) {
	ru := New("ru")
	inner := Say("pades.change.pageContent", "page %[1]s content replaced", 12345)
	list := Say("pades.problem.modified", "modified after signing: %[1]s", []Message{inner, Say("pades.change.xmp", "XMP metadata changed")})
	if got, want := list.String(), "modified after signing: page 12345 content replaced; XMP metadata changed"; got != want {
		t.Errorf("English: %q, want %q", got, want)
	}
	if got, want := list.In(ru), "изменён после подписания: заменено содержимое страницы 12345; изменены метаданные XMP"; got != want {
		t.Errorf("Russian: %q, want %q", got, want)
	}
	if got := Say("pades.problem.timestamp", "signature timestamp: %[1]s", errors.New("bad token")).In(ru); got != "метка времени подписи: bad token" {
		t.Errorf("an error's detail: %q", got)
	}
	for _, m := range []Message{Plain("as recorded"), Say("no.such.key", "as %[1]s", "written"), Verbatim("no.such.key", "as recorded")} {
		if m.In(ru) != m.String() || m.In(nil) != m.String() {
			t.Errorf("%q in Russian: %q", m.String(), m.In(ru))
		}
	}
	if Plain("x").Key() != "" || inner.Key() != "pades.change.pageContent" {
		t.Errorf("keys: %q %q", Plain("x").Key(), inner.Key())
	}
}
