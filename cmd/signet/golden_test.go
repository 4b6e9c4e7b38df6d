package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// Golden output: what a command prints is kept in testdata/NAME.golden and compared byte for byte, as
// litestream's cmd/litestream tests do. `go test ./cmd/signet -run Golden -update` rewrites the files;
// review the diff before committing it.
var update = flag.Bool("update", false, "rewrite cmd/signet/testdata/*.golden from the commands' output")

// golden compares got with testdata/name.golden (or writes it with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the command's output (-update rewrites it)\n--- want\n%s\n--- got\n%s", path, want, got)
	}
}

// Volatile parts of the output, replaced so that the golden files hold only what a run decides.
var volatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`), "TIME"},
	{regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?Z?`), "TIME"},
	// The audit chain's hashes cover each event's time.
	{regexp.MustCompile(`"(prev_hash|hash)":"[0-9a-f]{64}"`), `"$1":"HASH"`},
	{regexp.MustCompile(`\b(\d+)-[0-9a-f]{8}\b`), "$1-HASH"},
	// A batch document's tag: an HMAC under the batch's random key (producer/batch/id.go). Before the
	// batch id's own pattern, which would take a tag that happens to start with b.
	{regexp.MustCompile(`\b(b[0-9a-z]{12,}\.\d+)-[0-9a-f]{32}\b`), "$1-TAG"},
	{regexp.MustCompile(`\bb[0-9a-z]{12,}\b`), "BATCH"},
	{regexp.MustCompile(`(elapsed|"elapsed_ms")[=:]\s*[0-9.]+(ms|s|µs)?`), "${1}=ELAPSED"},
	{regexp.MustCompile(`[0-9]+(\.[0-9]+)? docs/s`), "N docs/s"},
	{regexp.MustCompile(`[0-9]+(\.[0-9]+)? док\./с`), "N док./с"},
	{regexp.MustCompile(`"(rate|docs_per_s|eta_s)":[0-9.e+-]+`), `"$1":RATE`},
	{regexp.MustCompile(`"size":[0-9]+`), `"size":SIZE`},
	{regexp.MustCompile(`signed/local/\d{4}/\d\d/`), "signed/local/YYYY/MM/"},
}

// normalise replaces each of dirs (temporary folders) with $TMP, then the volatile patterns.
func normalise(s string, dirs ...string) string {
	for _, d := range dirs {
		if d != "" {
			s = strings.ReplaceAll(s, d, "$TMP")
		}
	}
	for _, v := range volatile {
		s = v.re.ReplaceAllString(s, v.with)
	}
	return s
}

// signet runs the command line args and returns its exit code and what it printed on each stream.
func signet(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// Every command's --help, as a person reads it: its usage and its own flags only.
func TestHelpGolden(t *testing.T) {
	t.Setenv("SIGNET_CONFIG", "")
	help := func(cmds [][]string) func() string {
		return func() string {
			var all strings.Builder
			for _, cmd := range cmds {
				code, stdout, stderr := signet(append(append([]string{}, cmd...), "--help")...)
				fmt.Fprintf(&all, "$ signet %s --help   (exit %d)\n%s%s\n", strings.Join(cmd, " "), code, stdout, stderr)
			}
			return all.String()
		}
	}
	golden(t, "help", help(everyCommand)())
	// In Russian also `signet --help`, the list of commands.
	golden(t, "help.ru", inRussian(help(append([][]string{{}}, everyCommand...))))
}

// `signet version` and `signet --version`, with the -ldflags -X values a release build sets.
func TestVersionGolden(t *testing.T) {
	defer func(v, r, rt string) { version, revision, revisionTime = v, r, rt }(version, revision, revisionTime)
	version, revision, revisionTime = "v1.2.3", "0123456789abcdef0123456789abcdef01234567", "2026-12-03T12:00:00Z"
	var all strings.Builder
	for _, args := range [][]string{{"--version"}, {"version"}, {"version", "--json"}} {
		code, stdout, stderr := signet(args...)
		fmt.Fprintf(&all, "$ signet %s   (exit %d)\n%s%s\n", strings.Join(args, " "), code, stdout, stderr)
	}
	// The Go version and platform are the toolchain's, not the program's.
	out := strings.ReplaceAll(all.String(), runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH, "GO PLATFORM")
	out = strings.ReplaceAll(out, `"go_version":"`+runtime.Version()+`","platform":"`+runtime.GOOS+"/"+runtime.GOARCH+`"`, `"go_version":"GO","platform":"PLATFORM"`)
	golden(t, "version", out)
}

// transcript runs each command line with extra appended (not shown: --data-dir and the like) and
// returns what a terminal would show, with dirs and the volatile parts normalised.
func transcript(dirs, extra []string, cmds ...[]string) string {
	var b strings.Builder
	for _, args := range cmds {
		code, stdout, stderr := signet(append(append([]string{}, args...), extra...)...)
		fmt.Fprintf(&b, "$ signet %s   (exit %d)\n%s%s\n", strings.Join(args, " "), code, stdout, stderr)
	}
	return normalise(b.String(), dirs...)
}
