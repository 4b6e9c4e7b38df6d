package i18n

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"

	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"
	"golang.org/x/text/message/catalog"
)

// locales holds one file per language, named by its BCP 47 tag (en.json, ru.json; de.json and
// es.json when they are written). A file maps a key to a message, or to its plural forms by CLDR
// category ("one", "few", "many", "other"), selected by the first argument. Messages are Go format
// strings (a literal percent sign is %%); keys starting with "_" describe the file, not a message.
//
//go:embed locales/*.json
var locales embed.FS

// Fallback is the language of a reader Signet knows nothing about (issue 18, must 2).
var Fallback = language.English

// pluralCategories in the order x/text wants them: "other" last, as the catch-all.
var pluralCategories = []string{"zero", "one", "two", "few", "many", "other"}

type loaded struct {
	tags    []language.Tag            // Fallback first: the matcher's default
	keys    map[language.Tag][]string // sorted message keys per language
	names   map[language.Tag]string   // "_language": the language's own name, for a switch
	builder *catalog.Builder
	matcher language.Matcher
}

var cat = sync.OnceValue(func() *loaded {
	l, err := load(locales)
	if err != nil {
		panic("i18n: the embedded catalogue is broken: " + err.Error()) // caught by the package's tests
	}
	return l
})

// load reads every locales/*.json of fsys into one catalogue.
func load(fsys fs.FS) (*loaded, error) {
	files, err := fs.Glob(fsys, "locales/*.json")
	if err != nil {
		return nil, err
	}
	l := &loaded{keys: map[language.Tag][]string{}, names: map[language.Tag]string{},
		builder: catalog.NewBuilder(catalog.Fallback(Fallback))}
	for _, f := range files {
		tag, err := language.Parse(strings.TrimSuffix(path.Base(f), ".json"))
		if err != nil {
			return nil, fmt.Errorf("%s: the file name must be a BCP 47 language tag: %w", f, err)
		}
		raw, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		var msgs map[string]json.RawMessage
		if err := json.Unmarshal(raw, &msgs); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if dup := duplicateKey(raw); dup != "" {
			// encoding/json keeps the last of two equal keys without a word: one message would
			// silently replace another (two settings' problems under one key, say).
			return nil, fmt.Errorf("%s: key %q appears twice; give each message its own key", f, dup)
		}
		for key, v := range msgs {
			if strings.HasPrefix(key, "_") {
				if key == "_language" {
					var s string
					_ = json.Unmarshal(v, &s)
					l.names[tag] = s
				}
				continue
			}
			if err := l.set(tag, key, v); err != nil {
				return nil, fmt.Errorf("%s: key %q: %w", f, key, err)
			}
			l.keys[tag] = append(l.keys[tag], key)
		}
		sort.Strings(l.keys[tag])
		if tag == Fallback {
			l.tags = append([]language.Tag{tag}, l.tags...)
		} else {
			l.tags = append(l.tags, tag)
		}
	}
	if len(l.tags) == 0 || l.tags[0] != Fallback {
		return nil, fmt.Errorf("no catalogue for the fallback language %s", Fallback)
	}
	l.matcher = language.NewMatcher(l.tags)
	return l, nil
}

// set adds one message: a string, or an object of plural forms.
func (l *loaded) set(tag language.Tag, key string, v json.RawMessage) error {
	var s string
	if json.Unmarshal(v, &s) == nil {
		if s == "" {
			return fmt.Errorf("empty message")
		}
		return l.builder.SetString(tag, key, s)
	}
	var forms map[string]string
	if err := json.Unmarshal(v, &forms); err != nil {
		return fmt.Errorf("a message is a string or an object of plural forms (one, few, many, other): %w", err)
	}
	if forms["other"] == "" {
		return fmt.Errorf("plural forms need \"other\"")
	}
	var cases []any
	for _, c := range pluralCategories {
		if m, ok := forms[c]; ok {
			cases = append(cases, c, m)
			delete(forms, c)
		}
	}
	for c := range forms {
		return fmt.Errorf("unknown plural category %q (zero, one, two, few, many, other)", c)
	}
	return l.builder.Set(tag, key, plural.Selectf(1, "%d", cases...))
}

// Languages are the languages with a catalogue, English first.
func Languages() []language.Tag { return append([]language.Tag(nil), cat().tags...) }

// Keys are the message keys of one language's catalogue, sorted (the parity test compares them).
func Keys(tag language.Tag) []string { return append([]string(nil), cat().keys[tag]...) }

// Name is a language's name in that language ("Русский"), for a language switch.
func Name(tag language.Tag) string { return cat().names[tag] }

// duplicateKey is the first top-level key that appears twice in the JSON object raw, or "".
func duplicateKey(raw []byte) string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return ""
		}
		key, _ := t.(string)
		if seen[key] {
			return key
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return ""
		}
	}
	return ""
}
