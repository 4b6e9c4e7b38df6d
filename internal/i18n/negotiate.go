package i18n

import (
	"net/http"
	"strings"

	"golang.org/x/text/language"
)

// CookieName is the cookie in which Signet's pages remember the language a reader chose with the
// visible switch (issue 18, must 2); it wins over the browser's Accept-Language.
const CookieName = "lang"

// match picks the catalogue language closest to the preferences, most preferred first; English when
// none is close. It returns the catalogue's own tag ("ru", not "ru-RU-u-rg-…").
func match(prefs ...language.Tag) language.Tag {
	c := cat()
	if len(prefs) == 0 {
		return Fallback
	}
	_, i, conf := c.matcher.Match(prefs...)
	if conf == language.No {
		return Fallback
	}
	return c.tags[i]
}

// FromRequest is the language of a reader of Signet's own pages: the `lang` cookie when it names a
// language of the catalogue, else the best match of Accept-Language, else English.
func FromRequest(r *http.Request) language.Tag {
	if ck, err := r.Cookie(CookieName); err == nil {
		if tag, err := language.Parse(ck.Value); err == nil {
			if _, _, conf := cat().matcher.Match(tag); conf >= language.High {
				return match(tag)
			}
		}
	}
	prefs, _, err := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	if err != nil {
		return Fallback
	}
	return match(prefs...)
}

// bitrix24Languages maps Bitrix24's own language ids, where they are not BCP 47, to tags. Bitrix24
// names Ukrainian "ua", Latin-American Spanish "la", Brazilian Portuguese "br", Chinese "sc"/"tc",
// Kazakh "kz" and Vietnamese "vn". For "ua" the portal itself shows the Russian text of a {lang: text}
// map when there is no Ukrainian one (reference bitrix24-people-notes.md §4, RestActivityTable
// getLocalization), and Signet does the same.
var bitrix24Languages = map[string]string{
	"ua": "ru", "la": "es", "br": "pt-BR", "sc": "zh-Hans", "tc": "zh-Hant", "kz": "kk", "vn": "vi",
}

// bitrix24IDs is the reverse of bitrix24Languages for the languages Signet may have a catalogue of.
var bitrix24IDs = map[string]string{"es": "la", "pt": "br", "uk": "ua", "kk": "kz", "vi": "vn"}

// FromBitrix24 is the language of a Bitrix24 language id: LANG of a placement or application request
// (the interface language of the user who opened it) or LANGUAGE_ID of ONAPPINSTALL (the portal's),
// reference bitrix24-rest.md §9.2, §10. The id is opaque (the documentation even shows "com"):
// anything unknown is English.
func FromBitrix24(id string) language.Tag {
	id = strings.ToLower(strings.TrimSpace(id))
	if m, ok := bitrix24Languages[id]; ok {
		id = m
	}
	tag, err := language.Parse(id)
	if err != nil || id == "" {
		return Fallback
	}
	return match(tag)
}

// Bitrix24ID is the Bitrix24 language id of a catalogue language: the key of a {lang: text} map and
// of LANG_ALL (reference §3.1, §10). It is the base subtag, except Spanish, which Bitrix24 calls "la".
func Bitrix24ID(tag language.Tag) string {
	b, _ := tag.Base()
	if id, ok := bitrix24IDs[b.String()]; ok {
		return id
	}
	return b.String()
}

// FromEnv is the language of the CLI, from the POSIX locale variables in their order of precedence:
// LC_ALL, then LC_MESSAGES, then LANG; the first one set decides. "C" and "POSIX" are English, as
// are values that name no language. getenv is os.Getenv (a parameter so tests need not touch the
// process's environment).
func FromEnv(getenv func(string) string) language.Tag {
	for _, name := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		v := getenv(name)
		if v == "" {
			continue
		}
		return fromPOSIXLocale(v)
	}
	return Fallback
}

// fromPOSIXLocale reads language[_territory][.codeset][@modifier] ("ru_RU.UTF-8").
func fromPOSIXLocale(v string) language.Tag {
	if i := strings.IndexAny(v, ".@"); i >= 0 {
		v = v[:i]
	}
	if v == "" || v == "C" || v == "POSIX" {
		return Fallback
	}
	tag, err := language.Parse(strings.ReplaceAll(v, "_", "-"))
	if err != nil {
		return Fallback
	}
	return match(tag)
}
