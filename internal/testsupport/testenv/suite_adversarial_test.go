package testenv

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The standing adversarial suite (issue 15, must 8) stays complete only if every attack test is listed
// where people look for it, and every fuzz target runs in the test task. These two tests read the tree.

const root = "../../.."

var (
	attackFunc = regexp.MustCompile(`(?m)^func (TestAttack\w+)\(t \*testing\.T\)`)
	fuzzFunc   = regexp.MustCompile(`(?m)^func (Fuzz\w+)\(f \*testing\.F\)`)
	attackName = regexp.MustCompile("`(TestAttack\\w+)`")
)

// testFuncs finds the functions re matches in every _test.go file of the module, by package directory.
func testFuncs(t *testing.T, re *regexp.Regexp) map[string]string {
	t.Helper()
	found := map[string]string{} // name → package directory, relative to the module root
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != root || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			found[m[1]] = filepath.ToSlash(rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Every TestAttack… test has a row in the suite's table (English and Russian), and every test the
// tables name exists: an attack added without its row, or a row whose test was renamed, fails here.
func TestEveryAttackIsListed(t *testing.T) {
	tests := testFuncs(t, attackFunc)
	if len(tests) == 0 {
		t.Fatal("no TestAttack… test found; is the module root ../../..?")
	}
	for _, doc := range []string{"docs/security/README.md", "docs/security/README.ru.md"} {
		text := read(t, doc)
		var missing []string
		for name, dir := range tests {
			if !strings.Contains(text, "`"+name+"`") {
				missing = append(missing, name+" ("+dir+")")
			}
		}
		sort.Strings(missing)
		for _, m := range missing {
			t.Errorf("%s does not list %s: add a row (attack, test, file, how nothing signed/stored/sent is asserted)", doc, m)
		}
		for _, m := range attackName.FindAllStringSubmatch(text, -1) {
			if _, ok := tests[m[1]]; !ok {
				t.Errorf("%s names %s, which no test file defines", doc, m[1])
			}
		}
	}
}

// Every fuzz target runs 1,000 inputs beyond its seed corpus in `go tool task test` (Taskfile.yml) and
// has its 10-minute run recorded in docs/testing.md. A count, not a duration: with -fuzztime 5s a
// worker still inside a slow input when the time ran out made `go test` fail with "context deadline
// exceeded" although no input failed (seen on FuzzVerify and FuzzModificationAnalysis).
func TestEveryFuzzTargetRunsInTheTestTask(t *testing.T) {
	targets := testFuncs(t, fuzzFunc)
	if len(targets) == 0 {
		t.Fatal("no fuzz target found")
	}
	task, readme := read(t, "Taskfile.yml"), read(t, "docs/testing.md")
	for name, dir := range targets {
		step := "-fuzz '^" + name + "$' -fuzztime 1000x ./" + dir
		if !strings.Contains(task, step) {
			t.Errorf("Taskfile.yml's test task does not run %s: add `go test -run '^$' %s`", name, step)
		}
		if !strings.Contains(readme, "| `"+name+"` (`"+dir+"`) |") {
			t.Errorf("docs/testing.md's fuzzing table has no row for %s (%s) with its 10-minute run", name, dir)
		}
	}
}
