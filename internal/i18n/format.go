package i18n

import (
	"errors"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // a zone name from Bitrix24 or the configuration loads on a machine without /usr/share/zoneinfo
)

// Dates and times people read are in the language's format and the reader's time zone, with the
// offset shown (issue 18, must 4): "02.12.2026 14:05 (UTC+03:00)", "2 Dec 2026 14:05 UTC+3". The
// layouts are catalogue messages like any other string, so a new language brings its own:
//
//	format.date     a Go time layout of the date ("02.01.2006", "2 Jan 2006")
//	format.time     a Go time layout of the time of day ("15:04")
//	format.zone     the offset; %[1]s is "+03:00" (always hours and minutes), %[2]s "+3" ("+5:30",
//	                empty for UTC itself): each language shows the one its readers expect
//	format.datetime %[1]s the date, %[2]s the time, %[3]s the zone, in the language's order
//
// Go layouts name months in English only, so a language other than English uses numeric dates.
// What machines read (the signature's /M, the CMS, RFC 3339 return values, audit) stays UTC.

// Date is t's calendar date in the language's format, in t's own location.
func (l *Localizer) Date(t time.Time) string { return t.Format(l.T("format.date")) }

// DateTime is t's date, time of day (to the minute) and UTC offset, in t's own location: convert
// with t.In(zone) first.
func (l *Localizer) DateTime(t time.Time) string {
	return l.T("format.datetime", l.Date(t), t.Format(l.T("format.time")), l.Zone(t))
}

// Zone is the UTC offset of t's location at t, as the language shows it ("(UTC+03:00)", "UTC+3").
func (l *Localizer) Zone(t time.Time) string {
	long, short := offsets(t)
	return l.T("format.zone", long, short)
}

// offsets are t's UTC offset as "+03:00" and as "+3" ("" at UTC, "+5:30", "-3:30").
func offsets(t time.Time) (long, short string) {
	_, off := t.Zone()
	sign := "+"
	if off < 0 {
		sign, off = "-", -off
	}
	h, m := off/3600, off/60%60
	long = fmt.Sprintf("%s%02d:%02d", sign, h, m)
	switch {
	case off == 0:
	case m == 0:
		short = fmt.Sprintf("%s%d", sign, h)
	default:
		short = fmt.Sprintf("%s%d:%02d", sign, h, m)
	}
	return long, short
}

// ErrZone: a time zone name that is not an IANA zone.
var ErrZone = errors.New("unknown time zone")

// LoadZone is the IANA time zone name ("Europe/Moscow", "Asia/Yekaterinburg", "UTC") as a location;
// "" is UTC. "Local" is refused: a signer's zone must not depend on the machine that signs. The
// zone database is embedded (time/tzdata), so the answer is the same on every machine.
func LoadZone(name string) (*time.Location, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return time.UTC, nil
	}
	if strings.EqualFold(name, "Local") {
		return nil, fmt.Errorf("%w %q: name the zone (e.g. Europe/Moscow)", ErrZone, name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%w %q: use an IANA zone name such as Europe/Moscow or UTC", ErrZone, name)
	}
	return loc, nil
}
