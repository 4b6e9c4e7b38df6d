package main

import (
	"encoding/json"
	"os"
	"sort"
	"strings"
	"testing"
)

// cliMessages runs every command's --help (and the plain usages) and returns the keys the catalogue
// lacks and those whose catalogue English is not the code's.
func cliMessages(t *testing.T) (missing map[string]string, drift map[string][2]string) {
	t.Helper()
	untranslated.Clear()
	drifted.Clear()
	signet()
	signet("admin")
	signet("nosuchcommand")
	for _, cmd := range everyCommand {
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

// The tests read the CLI in English unless they choose a language (LANG=C: the golden files are the
// English output byte for byte); a test that wants Russian sets LANG with t.Setenv.
func init() {
	os.Unsetenv("LC_ALL")
	os.Unsetenv("LC_MESSAGES")
	os.Setenv("LANG", "C")
}
