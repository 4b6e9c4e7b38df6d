package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/signet-b24/signet/producer/batch"
)

// lessWalkedCommands are the actions whose flags differ from those of everyCommand's line for their
// command, so their help is checked here too.
var lessWalkedCommands = [][]string{
	{"admin", "ca", "revoke"}, {"admin", "cert", "enable"}, {"admin", "cert", "assign"},
	{"admin", "user", "disable"}, {"admin", "user", "delete"}, {"admin", "user", "unmap"},
	{"admin", "keys"}, {"admin", "keys", "rotate"}, {"admin", "bitrix24", "add"}, {"admin", "bitrix24", "allowed"},
}

// cliMessages runs every command's --help (and the plain usages) and returns the keys the catalogue
// lacks and those whose catalogue English is not the code's, among these and every message the tests
// printed so far.
func cliMessages(t *testing.T) (missing map[string]string, drift map[string][2]string) {
	t.Helper()
	signet()
	signet("admin")
	signet("nosuchcommand")
	for _, cmd := range append(append([][]string{}, everyCommand...), lessWalkedCommands...) {
		signet(append(append([]string{}, cmd...), "--help")...)
	}
	missing, drift = map[string]string{}, map[string][2]string{}
	untranslated.Range(func(k, v any) bool { missing[k.(string)] = v.(string); return true })
	drifted.Range(func(k, v any) bool { drift[k.(string)] = v.([2]string); return true })
	if path := os.Getenv("SIGNET_I18N_DUMP"); path != "" {
		var keys []string
		for k := range missing {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for _, k := range keys {
			kj, _ := json.Marshal(k)
			vj, _ := json.Marshal(missing[k])
			b.WriteString("  " + string(kj) + ": " + string(vj) + ",\n")
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return missing, drift
}

// Every message the CLI prints in its help is in the catalogue, and the catalogue's English is the
// code's (issue 18, must 1): in English the code's text is printed, in other languages the catalogue's.
func TestCLICatalogue(t *testing.T) {
	for _, lang := range []string{"C", "ru_RU.UTF-8"} {
		t.Setenv("LANG", lang)
		missing, drift := cliMessages(t)
		for k, v := range missing {
			t.Errorf("LANG=%s: %q is not in internal/i18n/locales/*.json (English: %q)", lang, k, v)
		}
		for k, v := range drift {
			t.Errorf("LANG=%s: %q: the code says %q, the English catalogue %q", lang, k, v[0], v[1])
		}
	}
}

// TestMain fails the run when any test printed a CLI message that the catalogue lacks or whose
// catalogue English is not the code's (TestCLICatalogue checks every help; this, every output the
// tests produce: batch status, status, archive, verify, enqueue…).
func TestMain(m *testing.M) {
	code := m.Run()
	untranslated.Range(func(k, v any) bool {
		fmt.Fprintf(os.Stderr, "FAIL: the CLI printed %q, which is not in internal/i18n/locales/*.json (English: %q)\n", k, v)
		code = 1
		return true
	})
	drifted.Range(func(k, v any) bool {
		d := v.([2]string)
		fmt.Fprintf(os.Stderr, "FAIL: %q: the code says %q, the English catalogue %q\n", k, d[0], d[1])
		code = 1
		return true
	})
	os.Exit(code)
}

// The tests read the CLI in English unless they choose a language (LANG=C: the golden files are the
// English output byte for byte); a test that wants Russian sets LANG with t.Setenv.
func init() {
	os.Unsetenv("LC_ALL")
	os.Unsetenv("LC_MESSAGES")
	os.Setenv("LANG", "C")
}

// inRussian is f's result with the CLI in Russian (LANG=ru_RU.UTF-8, as a Russian desktop sets it).
func inRussian(f func() string) string {
	old := os.Getenv("LANG")
	os.Setenv("LANG", "ru_RU.UTF-8")
	setLanguage(os.Getenv) // for the tests that call a printer, not run
	defer func() {
		os.Setenv("LANG", old)
		setLanguage(os.Getenv)
	}()
	return f()
}

// englishFragments are the words of the English catalogue's CLI messages that a Russian reader must
// not meet: each message's text between its format verbs, where it has three words or more and is
// not the same in Russian (a command line, a table of setting names).
func englishFragments(t *testing.T) []string {
	t.Helper()
	read := func(lang string) map[string]json.RawMessage {
		b, err := os.ReadFile("../../internal/i18n/locales/" + lang + ".json")
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	en, ru := read("en"), read("ru")
	// decode is a message's text, or the texts of its plural forms.
	decode := func(raw json.RawMessage) []string {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return []string{s}
		}
		var forms map[string]string
		if err := json.Unmarshal(raw, &forms); err != nil {
			t.Fatal(err)
		}
		var texts []string
		for _, f := range forms {
			texts = append(texts, f)
		}
		return texts
	}
	verb := regexp.MustCompile(`%(\[\d+\])?[-+# 0]*\d*(\.\d+)?(\[\d+\])?[a-zA-Z%]|\n`)
	var out []string
	for k, raw := range en {
		if !strings.HasPrefix(k, "cli.") && !strings.HasPrefix(k, "setting.") {
			continue
		}
		for _, text := range decode(raw) {
			for _, frag := range verb.Split(text, -1) {
				frag = strings.TrimSpace(frag)
				if len(strings.Fields(frag)) >= 3 && !strings.Contains(strings.Join(decode(ru[k]), "\n"), frag) && !strings.HasPrefix(frag, "signet ") {
					out = append(out, frag)
				}
			}
		}
	}
	if len(out) < 100 {
		t.Fatalf("only %d English fragments found: the catalogue was not read", len(out))
	}
	return out
}

// Under LANG=ru the CLI prints none of the English catalogue's sentences (issue 18, must 1): every
// command's help, the list of commands, batch status in every state, archive status, and an error.
func TestCLIRussianHasNoEnglishSentence(t *testing.T) {
	t.Setenv("SIGNET_CONFIG", "")
	frags := englishFragments(t)
	out := inRussian(func() string {
		var b strings.Builder
		for _, cmd := range append(append([][]string{{}, {"nosuchcommand"}, {"batch", "status"}, {"admin", "nosuch"}}, everyCommand...), lessWalkedCommands...) {
			_, stdout, stderr := signet(append(append([]string{}, cmd...), "--help")...)
			b.WriteString(stdout + stderr)
		}
		_, stdout, stderr := signet("batch", "status")
		b.WriteString(stdout + stderr)
		return b.String()
	})
	ruGoldens, err := filepath.Glob("testdata/*.ru.golden")
	if err != nil || len(ruGoldens) < 5 {
		t.Fatalf("Russian golden files: %v %v", ruGoldens, err)
	}
	for _, f := range ruGoldens {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out += string(b)
	}
	if !strings.Contains(out, "Использование: signet batch") {
		t.Fatalf("the output is not Russian:\n%.2000s", out)
	}
	// Words of the domain packages inside a translated sentence stay English (docs/i18n.md, "The
	// CLI"): the storage package's own error says the same as one of the CLI's.
	out = strings.ReplaceAll(out, "no such file or directory; run `signet setup` or start a server", "")
	for _, f := range frags {
		if strings.Contains(out, f) {
			t.Errorf("English in the Russian output: %q", f)
		}
	}
}

// Batch summaries say the number with the right form of the noun (issue 18, must 1): 1 документ,
// 2 документа, 5 документов, 21 документ.
func TestCLIPlurals(t *testing.T) {
	created := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		n      int
		ru, en string
	}{
		{1, "(mary, 1 документ, из", "(mary, 1 document, from"},
		{2, "(mary, 2 документа, из", "(mary, 2 documents, from"},
		{5, "(mary, 5 документов, из", "(mary, 5 documents, from"},
		{21, "(mary, 21 документ, из", "(mary, 21 documents, from"},
		{112, "(mary, 112 документов, из", "(mary, 112 documents, from"},
	} {
		st := &batch.Status{ID: "b1", Login: "mary", Source: "/in", Created: created, Total: c.n, Published: c.n - 1, Pending: c.n}
		print := func() string {
			var b strings.Builder
			printBatchStatus(&b, st, 0, false, created.Add(time.Hour))
			return b.String()
		}
		ru, en := inRussian(print), print()
		if !strings.Contains(ru, c.ru) || !strings.Contains(en, c.en) {
			t.Errorf("%d documents:\n%s\n%s", c.n, ru, en)
		}
		// The one document never queued, in both languages.
		if !strings.Contains(ru, "  1 документ так и не поставлен в очередь") || !strings.Contains(en, "  1 document was never queued") {
			t.Errorf("one document never queued:\n%s\n%s", ru, en)
		}
	}
}
