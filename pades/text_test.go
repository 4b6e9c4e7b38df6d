package pades

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/signet-b24/signet/internal/i18n"
)

// TestTextsAreInTheCatalogue: every sentence pades says (say, verbatim) has its catalogue message,
// "pades."+code, and say's English in the code is the catalogue's English, so that the English
// outputs are the same whichever is read. The codes are read from the source, so a new sentence
// without its message fails here, not on a Russian page.
func TestTextsAreInTheCatalogue(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	en := i18n.For(i18n.Fallback)
	verbs := regexp.MustCompile(`%\[(\d+)\][sq]`)
	seen := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			id, ok := call.Fun.(*ast.Ident)
			if !ok || (id.Name != "say" && id.Name != "verbatim") {
				return true
			}
			code, ok := literal(call.Args[0])
			if !ok {
				t.Errorf("%s: %s's code is not a string literal", f, id.Name)
				return true
			}
			seen++
			key := "pades." + code
			if !i18n.Has(key) {
				t.Errorf("%s: %s has no catalogue message %s", f, code, key)
				return true
			}
			if id.Name == "verbatim" {
				return true
			}
			format, ok := literal(call.Args[1])
			if !ok {
				t.Errorf("%s: %s's English is not a string literal", f, code)
				return true
			}
			var args []any
			for _, m := range verbs.FindAllStringSubmatch(format, -1) {
				n, _ := strconv.Atoi(m[1])
				for len(args) < n {
					args = append(args, fmt.Sprintf("arg%d", len(args)+1))
				}
			}
			if got, want := en.T(key, args...), fmt.Sprintf(format, args...); got != want {
				t.Errorf("%s: the catalogue's English of %s is %q, the code's %q", f, key, got, want)
			}
			return true
		})
	}
	if seen < 50 {
		t.Errorf("found %d sentences; the parser no longer sees say and verbatim", seen)
	}
}

func literal(e ast.Expr) (string, bool) {
	b, ok := e.(*ast.BasicLit)
	if !ok || b.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(b.Value)
	return s, err == nil
}

// A sentence in Russian: its arguments in Russian too (a change inside "modified after signing"),
// English byte for byte the code's, and a sentence without a code English in every language.
func TestTextIn(t *testing.T) {
	ru := i18n.New("ru")
	change := say("change.pageContent", "page %[1]s content replaced", 12345)
	modified := say("problem.modified", "modified after signing: %[1]s", []Text{change, say("change.xmp", "XMP metadata changed")})
	if got, want := modified.String(), "modified after signing: page 12345 content replaced; XMP metadata changed"; got != want {
		t.Errorf("English: %q, want %q", got, want)
	}
	if got, want := modified.In(ru), "изменён после подписания: заменено содержимое страницы 12345; изменены метаданные XMP"; got != want {
		t.Errorf("Russian: %q, want %q", got, want)
	}
	if got := modified.In(i18n.New("en")); got != modified.String() {
		t.Errorf("English through the catalogue: %q", got)
	}
	if got := plain("from an older verifier").In(ru); got != "from an older verifier" {
		t.Errorf("a sentence without a code: %q", got)
	}
	timestamp := say("problem.timestamp", "signature timestamp: %[1]s", errors.New("the TSA's answer is malformed"))
	if got := timestamp.In(ru); got != "метка времени подписи: the TSA's answer is malformed" {
		t.Errorf("an error's detail stays as its package wrote it: %q", got)
	}
	info := SignatureInfo{Problems: []string{"made by hand"}}
	if got := info.ProblemsIn(ru); len(got) != 1 || got[0] != "made by hand" || info.ProblemCodes()[0] != "" {
		t.Errorf("problems without texts: %q %q", got, info.ProblemCodes())
	}
}
