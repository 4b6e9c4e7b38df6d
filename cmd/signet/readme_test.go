package main

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// manualPages are the README and the pages of docs/ it sends each reader to (issue 16, must 5): the
// commands they show are checked together.
func manualPages(t *testing.T) []string {
	pages, err := filepath.Glob("../../docs/*.md")
	if err != nil || len(pages) == 0 {
		t.Fatalf("no pages in docs/: %v", err)
	}
	return append([]string{"../../README.md"}, pages...)
}

// Every signet command line the README and the pages of docs/ show, in a shell block or in running
// text, names a command that exists (its --help exits 0) and only flags that command has (issue 16,
// must 5 and 6).
func TestREADMECommandsExist(t *testing.T) {
	t.Setenv("SIGNET_CONFIG", "")
	inline := regexp.MustCompile("`(?:go run \\./cmd/)?signet ([^`]+)`")
	flagRe := regexp.MustCompile(`(?:^|[\s\[|(])--([a-z][a-z0-9-]*)`)
	var lines, where []string
	for _, page := range manualPages(t) {
		f, err := os.Open(page)
		if err != nil {
			t.Fatal(err)
		}
		inShell := false
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			l := sc.Text()
			if strings.HasPrefix(l, "```") {
				inShell = l == "```sh"
				continue
			}
			if inShell {
				if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "signet "); ok {
					lines, where = append(lines, rest), append(where, page)
				}
				continue
			}
			for _, m := range inline.FindAllStringSubmatch(l, -1) {
				lines, where = append(lines, m[1]), append(where, page)
			}
		}
		f.Close()
	}
	t.Logf("%d command lines", len(lines))
	if len(lines) < 30 {
		t.Fatalf("found only %d signet command lines in README.md and docs/*.md", len(lines))
	}
	helps := map[string]string{}
	for i, line := range lines {
		page := strings.TrimPrefix(where[i], "../../")
		line, _, _ = strings.Cut(line, "#") // a comment
		first, _, _ := strings.Cut(line, " | ")
		var words []string
		for _, w := range strings.Fields(first) {
			if !regexp.MustCompile(`^[a-z][a-z0-9-]*$`).MatchString(w) || len(words) == 3 {
				break
			}
			words = append(words, w)
		}
		if len(words) == 0 {
			continue // "signet <command>" and the like
		}
		key := strings.Join(words, " ")
		help, ok := helps[key]
		if !ok {
			code, stdout, stderr := signet(append(append([]string{}, words...), "--help")...)
			if code != 0 {
				t.Errorf("%s shows `signet %s`, but `signet %s --help` exits %d:\n%s", page, strings.TrimSpace(line), key, code, stderr)
				continue
			}
			help = stdout + stderr
			helps[key] = help
		}
		for _, m := range flagRe.FindAllStringSubmatch(first, -1) {
			if !strings.Contains(help, "-"+m[1]+" ") && !strings.Contains(help, "-"+m[1]+"\n") && !strings.Contains(help, "--"+m[1]) {
				t.Errorf("%s shows `signet %s`, but `signet %s` has no flag --%s", page, strings.TrimSpace(line), key, m[1])
			}
		}
	}
}

// The settings table of docs/operations.md (moved there from the README, issue 16 must 5) is
// `signet config`'s output: every row it prints is a line there.
func TestREADMESettingsTableIsConfigOutput(t *testing.T) {
	readme, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(string(readme), "\n") {
		lines[l] = true
	}
	code, table, _ := signet("config")
	if code != 0 {
		t.Fatalf("signet config: exit %d", code)
	}
	rows := strings.Split(strings.TrimSpace(table), "\n")
	for _, row := range rows {
		if !lines[row] {
			t.Errorf("docs/operations.md lacks this row of `signet config` (paste the command's output):\n%s", row)
		}
	}
	// --json lists the same settings: one object per row below the table's two header lines.
	if code, js, _ := signet("config", "--json"); code != 0 || strings.Count(js, `"key":`) != len(rows)-2 {
		t.Errorf("signet config --json: exit %d, %d settings, want %d", code, strings.Count(js, `"key":`), len(rows)-2)
	}
}
