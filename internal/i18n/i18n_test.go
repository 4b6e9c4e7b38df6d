package i18n

import (
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"golang.org/x/text/language"
)

// TestCatalogueParity is issue 18's "a test that fails when a key exists in one language and not the
// other": every language has exactly English's keys, and the format verbs of each message agree, so
// that no translation drops or reorders an argument unnoticed.
func TestCatalogueParity(t *testing.T) {
	langs := Languages()
	if len(langs) < 2 || langs[0] != language.English || !slices.Contains(langs, language.Russian) {
		t.Fatalf("languages %v: want English first and Russian", langs)
	}
	en := Keys(language.English)
	if len(en) < 30 {
		t.Fatalf("the English catalogue has %d keys; the embedded files were not read", len(en))
	}
	verbs := regexp.MustCompile(`%(\[\d+\])?[-+# 0]*\d*(\.\d+)?[a-zA-Z%]`)
	for _, tag := range langs[1:] {
		keys := Keys(tag)
		for _, k := range en {
			if !slices.Contains(keys, k) {
				t.Errorf("%s lacks key %q (English has it)", tag, k)
			}
		}
		for _, k := range keys {
			if !slices.Contains(en, k) {
				t.Errorf("%s has key %q that English lacks", tag, k)
			}
		}
		if Name(tag) == "" {
			t.Errorf("%s.json has no _language (its own name, for the switch)", tag)
		}
		le, lt := For(language.English), For(tag)
		for _, k := range en {
			if strings.HasPrefix(k, "common.documents") || strings.HasPrefix(rawMessage(t, language.English, k), ": {") {
				continue // plural forms: each language has its own number of forms; TestPlurals
			}
			if k == "format.zone" {
				continue // each language shows one of the two offsets it is given: TestDateTime
			}
			// The same verbs, each once: a plural message repeats them in every form.
			a, b := verbs.FindAllString(rawMessage(t, language.English, k), -1), verbs.FindAllString(rawMessage(t, tag, k), -1)
			slices.Sort(a)
			slices.Sort(b)
			a, b = slices.Compact(a), slices.Compact(b)
			args := argsFor(a)
			if !slices.Equal(a, b) {
				t.Errorf("key %q: English uses verbs %v, %s uses %v", k, a, tag, b)
			}
			if got := lt.T(k, args...); strings.Contains(got, "%!") {
				t.Errorf("%s %q formats badly: %q", tag, k, got)
			}
			if got := le.T(k, args...); strings.Contains(got, "%!") {
				t.Errorf("en %q formats badly: %q", k, got)
			}
		}
	}
}

// argsFor are arguments for a message with the verbs given (sorted, each once): a whole number for
// %d, a fraction for %f, a letter for anything else, as many as the message takes.
func argsFor(verbs []string) []any {
	indexed := regexp.MustCompile(`^%\[(\d+)\]`)
	var args []any
	next := 0
	for _, v := range verbs {
		if v == "%%" {
			continue
		}
		i := next
		if m := indexed.FindStringSubmatch(v); m != nil {
			i = int(m[1][0]-'0') - 1
		} else {
			next++
		}
		for len(args) <= i {
			args = append(args, string(rune('A'+len(args))))
		}
		switch v[len(v)-1] {
		case 'd':
			args[i] = 7
		case 'f', 'g', 'e':
			args[i] = 1.5
		}
	}
	return args
}

// rawMessage is a message as written in its file (through the public API: formatting with verbs
// given back as themselves is not possible, so the test reads the file).
func rawMessage(t *testing.T, tag language.Tag, key string) string {
	t.Helper()
	raw, err := locales.ReadFile("locales/" + tag.String() + ".json")
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(raw), `"`+key+`"`)
	if i < 0 {
		t.Fatalf("%s: %q not in the file", tag, key)
	}
	line := string(raw[i:])
	if j := strings.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	return line[len(key)+2:]
}

func TestPlurals(t *testing.T) {
	ru, en := For(language.Russian), For(language.English)
	cases := []struct {
		n      int
		ru, en string
	}{
		{0, "0 документов", "0 documents"},
		{1, "1 документ", "1 document"},
		{2, "2 документа", "2 documents"},
		{4, "4 документа", "4 documents"},
		{5, "5 документов", "5 documents"},
		{11, "11 документов", "11 documents"},
		{12, "12 документов", "12 documents"},
		{21, "21 документ", "21 documents"},
		{22, "22 документа", "22 documents"},
		{25, "25 документов", "25 documents"},
		{101, "101 документ", "101 documents"},
		{111, "111 документов", "111 documents"},
	}
	for _, c := range cases {
		if got := ru.T("common.documents", c.n); got != c.ru {
			t.Errorf("ru %d: %q, want %q", c.n, got, c.ru)
		}
		if got := en.T("common.documents", c.n); got != c.en {
			t.Errorf("en %d: %q, want %q", c.n, got, c.en)
		}
	}
}

func TestLocalizerFallbacks(t *testing.T) {
	if got := New("ru-RU").T("placement.sign.title"); got != "Подписать" {
		t.Errorf("ru-RU: %q", got)
	}
	if got := New("fr").T("placement.sign.title"); got != "Sign" {
		t.Errorf("fr (no catalogue): %q, want English", got)
	}
	if got := New("not a tag!").T("placement.sign.title"); got != "Sign" {
		t.Errorf("bad tag: %q, want English", got)
	}
	if got := New("ru").T("no.such.key"); got != "no.such.key" {
		t.Errorf("unknown key: %q, want the key itself", got)
	}
	if got := New("ru").Code(); got != "ru" {
		t.Errorf("Code: %q", got)
	}
	all := All("placement.sign.title")
	if all["en"] != "Sign" || all["ru"] != "Подписать" || len(all) != len(Languages()) {
		t.Errorf("All: %v", all)
	}
}

func TestLoadRefusesBrokenFiles(t *testing.T) {
	good := `{"_language":"English","a":"A"}`
	for name, files := range map[string]map[string]string{
		"no English":           {"locales/ru.json": `{"a":"А"}`},
		"bad tag":              {"locales/en.json": good, "locales/xx_1.json": `{"a":"A"}`},
		"not JSON":             {"locales/en.json": `{"a":`},
		"empty message":        {"locales/en.json": `{"a":""}`},
		"plural without other": {"locales/en.json": `{"a":{"one":"%d a"}}`},
		"unknown category":     {"locales/en.json": `{"a":{"one":"%d a","other":"%d as","several":"x"}}`},
		"neither":              {"locales/en.json": `{"a":3}`},
		"a key twice":          {"locales/en.json": `{"_language":"English","a":"A","b":"B","a":"A2"}`},
	} {
		fsys := fstest.MapFS{}
		for p, c := range files {
			fsys[p] = &fstest.MapFile{Data: []byte(c)}
		}
		if _, err := load(fsys); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
	if _, err := load(fstest.MapFS{"locales/en.json": {Data: []byte(good)}}); err != nil {
		t.Errorf("a good file: %v", err)
	}
}

func TestFromRequest(t *testing.T) {
	cases := []struct {
		cookie, accept, want string
	}{
		{"", "", "en"},
		{"", "ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7", "ru"},
		{"", "en-GB,en;q=0.9,ru;q=0.8", "en"},
		{"", "de-DE,de;q=0.9,ru;q=0.5", "ru"}, // no German catalogue yet: the next preference
		{"", "fr-FR,fr;q=0.9", "en"},
		{"", "*", "en"},
		{"", "garbage;;;q=x", "en"},
		{"ru", "en-US,en;q=0.9", "ru"}, // the switch wins over the browser
		{"en", "ru", "en"},
		{"fr", "ru", "ru"}, // a cookie naming no catalogue language is ignored
		{"<script>", "ru", "ru"},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", "/", nil)
		if c.accept != "" {
			r.Header.Set("Accept-Language", c.accept)
		}
		if c.cookie != "" {
			r.Header.Set("Cookie", CookieName+"="+c.cookie)
		}
		if got := FromRequest(r); got.String() != c.want {
			t.Errorf("cookie %q, Accept-Language %q: %s, want %s", c.cookie, c.accept, got, c.want)
		}
	}
}

func TestFromBitrix24(t *testing.T) {
	for id, want := range map[string]string{
		"ru": "ru", "RU": "ru", "en": "en", "ua": "ru", "de": "en", "la": "en", "com": "en", "": "en", "kz": "ru", "??": "en", // x/text matches Kazakh to Russian
	} {
		if got := FromBitrix24(id); got.String() != want {
			t.Errorf("FromBitrix24(%q) = %s, want %s", id, got, want)
		}
	}
	for tag, want := range map[string]string{"en": "en", "ru": "ru", "es": "la", "de": "de", "uk": "ua"} {
		if got := Bitrix24ID(language.MustParse(tag)); got != want {
			t.Errorf("Bitrix24ID(%s) = %q, want %q", tag, got, want)
		}
	}
}

func TestFromEnv(t *testing.T) {
	cases := []struct {
		lcAll, lcMessages, lang, want string
	}{
		{"", "", "", "en"},
		{"", "", "ru_RU.UTF-8", "ru"},
		{"", "", "ru_RU.KOI8-R@euro", "ru"},
		{"", "ru_RU.UTF-8", "en_US.UTF-8", "ru"},
		{"en_US.UTF-8", "ru_RU.UTF-8", "ru_RU.UTF-8", "en"},
		{"C", "", "ru_RU.UTF-8", "en"}, // LC_ALL set decides, even to C
		{"POSIX", "", "", "en"},
		{"", "", "C.UTF-8", "en"},
		{"", "", "de_DE.UTF-8", "en"},
		{"", "", "ru", "ru"},
		{"", "", "#!?", "en"},
	}
	for _, c := range cases {
		env := map[string]string{"LC_ALL": c.lcAll, "LC_MESSAGES": c.lcMessages, "LANG": c.lang}
		if got := FromEnv(func(k string) string { return env[k] }); got.String() != c.want {
			t.Errorf("LC_ALL=%q LC_MESSAGES=%q LANG=%q: %s, want %s", c.lcAll, c.lcMessages, c.lang, got, c.want)
		}
	}
}
