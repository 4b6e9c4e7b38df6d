package i18n

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/text/language"
)

// Issue 18, must 4: dates and times in the language's format, in the reader's zone, with the offset.
func TestDateTime(t *testing.T) {
	at := time.Date(2026, 12, 2, 11, 5, 30, 0, time.UTC)
	ru, en := For(language.Russian), For(language.English)
	cases := []struct {
		zone, ru, en string
	}{
		{"Europe/Moscow", "02.12.2026 14:05 (UTC+03:00)", "2 Dec 2026 14:05 UTC+3"},
		{"Asia/Yekaterinburg", "02.12.2026 16:05 (UTC+05:00)", "2 Dec 2026 16:05 UTC+5"},
		{"Asia/Kolkata", "02.12.2026 16:35 (UTC+05:30)", "2 Dec 2026 16:35 UTC+5:30"},
		{"America/St_Johns", "02.12.2026 07:35 (UTC-03:30)", "2 Dec 2026 07:35 UTC-3:30"},
		{"", "02.12.2026 11:05 (UTC+00:00)", "2 Dec 2026 11:05 UTC"},
		{"Pacific/Kiritimati", "03.12.2026 01:05 (UTC+14:00)", "3 Dec 2026 01:05 UTC+14"},
	}
	for _, c := range cases {
		loc, err := LoadZone(c.zone)
		if err != nil {
			t.Fatal(err)
		}
		if got := ru.DateTime(at.In(loc)); got != c.ru {
			t.Errorf("ru %q: %q, want %q", c.zone, got, c.ru)
		}
		if got := en.DateTime(at.In(loc)); got != c.en {
			t.Errorf("en %q: %q, want %q", c.zone, got, c.en)
		}
	}
	if got := ru.Date(at); got != "02.12.2026" {
		t.Errorf("ru date: %q", got)
	}
	if got := en.Date(at); got != "2 Dec 2026" {
		t.Errorf("en date: %q", got)
	}
	// Every language formats every layout: a date layout that Go does not read shows up here.
	for _, tag := range Languages() {
		l := For(tag)
		if got := l.Date(at); got == l.T("format.date") {
			t.Errorf("%s: format.date %q is not a Go time layout", tag, got)
		}
	}
}

func TestLoadZone(t *testing.T) {
	for _, bad := range []string{"Local", "local", "Mars/Olympus", "../../etc/passwd", "UTC+3"} {
		if _, err := LoadZone(bad); !errors.Is(err, ErrZone) {
			t.Errorf("LoadZone(%q): %v, want ErrZone", bad, err)
		}
	}
	for name, want := range map[string]string{"": "UTC", " Europe/Moscow ": "Europe/Moscow", "UTC": "UTC"} {
		loc, err := LoadZone(name)
		if err != nil || loc.String() != want {
			t.Errorf("LoadZone(%q) = %v, %v; want %s", name, loc, err, want)
		}
	}
}

// The stamp formats its lines once per signature: the cost of a Localizer and a date.
func BenchmarkStampLine(b *testing.B) {
	at := time.Date(2026, 12, 2, 11, 5, 0, 0, time.UTC)
	zone, _ := LoadZone("Europe/Moscow")
	for b.Loop() {
		l := New("ru")
		_ = l.T("stamp.time", l.DateTime(at.In(zone)))
	}
}
