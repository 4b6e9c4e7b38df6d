package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/signet-b24/signet/internal/config"
	"github.com/signet-b24/signet/internal/i18n"
)

// The CLI speaks the language of LC_ALL, LC_MESSAGES or LANG (issue 18, must 2; i18n.FromEnv), English
// when none names a catalogue language. What a person reads goes through the catalogue (issue 18, must
// 1 and 3): usage, flag descriptions, summaries and tables, and the errors that say what to do. What
// programs read does not: --json, `key=value` lines, verdict tokens and the log (docs/i18n.md, "The
// CLI").
//
// The English text stays in the code beside its key, and English output is that text formatted by fmt,
// byte for byte what it was before the catalogue (the golden files in LANG=C); the catalogue's English
// is the same text, which TestCLICatalogue checks, and the other languages are read from the catalogue.

// cliLanguage is the language of the running command line, set by run from the environment. Atomic:
// the in-process tests run commands from several goroutines.
var cliLanguage atomic.Pointer[i18n.Localizer]

// setLanguage decides the CLI's language from the environment (getenv is os.Getenv).
func setLanguage(getenv func(string) string) { cliLanguage.Store(i18n.For(i18n.FromEnv(getenv))) }

// lang is the CLI's Localizer.
func lang() *i18n.Localizer {
	if l := cliLanguage.Load(); l != nil {
		return l
	}
	return i18n.For(i18n.Fallback)
}

// english reports whether the CLI speaks English (then the code's own text is printed).
func english() bool { return lang().Tag() == i18n.Fallback }

// catalogued is the set of the English catalogue's keys.
var catalogued = sync.OnceValue(func() map[string]bool {
	m := map[string]bool{}
	for _, k := range i18n.Keys(i18n.Fallback) {
		m[k] = true
	}
	return m
})

// Each key the CLI asked for that the catalogue lacks (key → English text), and each whose catalogue
// English is not the code's (key → both): TestCLICatalogue fails on either.
var (
	untranslated sync.Map
	drifted      sync.Map
)

// tr is a message of the CLI: en formatted with args in English, else the catalogue's key. A key the
// catalogue lacks prints en and is noted for the tests.
func tr(key, en string, args ...any) string { return lookup(key, fmt.Sprintf(en, args...), en, args) }

// text is a text printed as it is (a usage), not a format: a % in it is itself (%% in the catalogue).
func text(key, en string) string { return lookup(key, en, strings.ReplaceAll(en, "%", "%%"), nil) }

// lookup is key in the CLI's language; want is the English output, format its catalogue message.
func lookup(key, want, format string, args []any) string {
	if !catalogued()[key] {
		untranslated.Store(key, format)
		return want
	}
	if got := i18n.For(i18n.Fallback).T(key, args...); ungrouped(got) != ungrouped(want) {
		drifted.Store(key, [2]string{want, got})
	}
	if english() {
		return want
	}
	return lang().T(key, args...)
}

// plural is a catalogue message whose words depend on the number n, its first argument ("1 document",
// "2 documents"; "1 документ", "2 документа", "5 документов"): the catalogue's plural forms in every
// language, English too.
func plural(key string, n int, args ...any) string {
	if !catalogued()[key] {
		untranslated.Store(key, "(plural forms)")
		return fmt.Sprint(append([]any{key, n}, args...)...)
	}
	return lang().T(key, append([]any{n}, args...)...)
}

// thousands is a digit group separator: the catalogue's printer writes 12,345 where fmt writes 12345.
var thousands = regexp.MustCompile(`(\d),(\d{3})\b`)

// ungrouped is s without digit group separators, for comparing the catalogue's English with the code's.
func ungrouped(s string) string {
	for thousands.MatchString(s) {
		s = thousands.ReplaceAllString(s, "$1$2")
	}
	return s
}

// errorf is an error worded for people: its Error() is in the CLI's language, and inEnglish(err) is
// the English text, for --json. A wrapped error stays reachable with errors.Is and errors.As.
func errorf(key, en string, args ...any) error { return wrapf(nil, key, en, args...) }

// wrapf is errorf wrapping err, which is also among args (its text is part of the message).
func wrapf(err error, key, en string, args ...any) error {
	english := make([]any, len(args))
	for i, a := range args {
		english[i] = a
		if e, ok := a.(error); ok {
			english[i] = inEnglish(e)
		}
	}
	return &cliError{en: fmt.Sprintf(en, english...), local: tr(key, en, args...), wrapped: err}
}

type cliError struct {
	en, local string
	wrapped   error
}

func (e *cliError) Error() string { return e.local }
func (e *cliError) Unwrap() error { return e.wrapped }

// inEnglish is err's text in English (what --json prints).
func inEnglish(err error) string {
	var ce *cliError
	if errors.As(err, &ce) && ce.Error() == err.Error() {
		return ce.en
	}
	return err.Error()
}

// usageGroups are the commands whose actions share one usage text (`signet admin cert list` prints
// the usage of `signet admin cert`).
var usageGroups = []string{"admin bitrix24", "admin cert", "admin ca", "admin keys", "admin local-admin", "admin user",
	"archive", "audit", "batch", "config", "dlq", "route"}

// usageGroup is the command whose usage a flag set of that name prints (`signet admin ca` prints
// `signet admin cert`'s).
func usageGroup(name string) string {
	if name == "admin ca" || strings.HasPrefix(name, "admin ca ") {
		return "admin cert"
	}
	for _, g := range usageGroups {
		if name == g || strings.HasPrefix(name, g+" ") {
			return g
		}
	}
	return name
}

// keyPart is a command's name as part of a catalogue key: "admin cert" → "admin.cert".
func keyPart(name string) string { return strings.ReplaceAll(name, " ", ".") }

// localUsage is a command's usage text in the CLI's language.
func localUsage(name, en string) string {
	return text("cli.usage."+keyPart(usageGroup(name)), en)
}

// settingsByFlag are the settings by flag name: their descriptions are catalogued as setting.<key>.
var settingsByFlag = sync.OnceValue(func() map[string]config.Setting {
	m := map[string]config.Setting{}
	for _, s := range config.Defaults().Settings() {
		m[s.Flag()] = s
	}
	return m
})

// flagKey is the catalogue key of a flag's description and its English text as the code gives it. A
// setting's flag is the setting's description; a command's own flag is cli.flag.<command>.<flag>, or
// cli.flag.<group>.<flag> or cli.flag.<flag> when commands share the description.
func flagKey(name string, f *flag.Flag) (key, en string) {
	if s, ok := settingsByFlag()[f.Name]; ok && strings.HasSuffix(f.Usage, "(env "+s.Env()+")") || ok && strings.HasSuffix(f.Usage, "(env "+s.Env()+") (comma-separated)") {
		return "setting." + s.Key, strings.ReplaceAll(s.Help, "`", "'")
	}
	for _, k := range []string{"cli.flag." + keyPart(name) + "." + f.Name, "cli.flag." + keyPart(usageGroup(name)) + "." + f.Name, "cli.flag." + f.Name} {
		if catalogued()[k] {
			return k, f.Usage
		}
	}
	return "cli.flag." + keyPart(name) + "." + f.Name, f.Usage
}

// printFlags is fs.PrintDefaults in the CLI's language: each description from the catalogue, and the
// flag package's own words ("(default …)") translated.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		key, en := flagKey(fs.Name(), f)
		local := text(key, en)
		if english() {
			return
		}
		if strings.HasPrefix(key, "setting.") {
			s := settingsByFlag()[f.Name]
			local += " " + tr("cli.flags.env", "(env %[1]s)", s.Env())
			if strings.HasSuffix(f.Usage, "(comma-separated)") {
				local += " " + tr("cli.flags.list", "(comma-separated)")
			}
		}
		f.Usage = local
	})
	var b bytes.Buffer
	out := fs.Output()
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(out)
	s := b.String()
	if !english() {
		s = strings.ReplaceAll(s, " (default ", " ("+tr("cli.flags.default", "default")+" ")
	}
	io.WriteString(w, s)
}
