package testenv

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The manual names the tests and sources that prove what it says (`web/revocation_test.go`); when a
// file moves (issue 16 moved keyring's and the worker's pages to web/), the sentence keeps pointing at
// the old place. This test reads every Markdown file as TestEveryDocumentLinkResolves does and
// checks that each Go file named in a code span by its path from the module root exists. A bare file
// name (`placement_test.go`, read beside the folder the sentence names) and a pattern (`*_test.go`)
// are not checked; a path that no longer exists, named for history ("then producer/identity/http.go"),
// is written without backticks.

// goPath is a code span that is exactly a module path of a Go file: at least one folder.
var goPath = regexp.MustCompile("`((?:[A-Za-z0-9_.-]+/)+[A-Za-z0-9_.-]+\\.go)`")

func TestEveryNamedGoFileExists(t *testing.T) {
	checked := 0
	for _, file := range manual(t) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		name := rel(file)
		fence := false
		for n, l := range strings.Split(string(b), "\n") {
			if trimmed := strings.TrimSpace(l); strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
				fence = !fence
				continue
			}
			if fence {
				continue
			}
			for _, m := range goPath.FindAllStringSubmatch(l, -1) {
				checked++
				if _, err := os.Stat(filepath.Join(root, m[1])); err != nil {
					t.Errorf("%s:%d: names %s, which does not exist; write where it is now", name, n+1, m[1])
				}
			}
		}
	}
	t.Logf("%d Go file paths checked", checked)
	if checked < 50 {
		t.Errorf("only %d Go file paths found: is the pattern still reading code spans?", checked)
	}
}
