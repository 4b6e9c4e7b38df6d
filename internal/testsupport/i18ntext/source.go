package i18ntext

import (
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

// CheckSource reads the Go files (tests aside) of the package in the current directory for the calls
// of the functions named in fns that make an i18n.Message — fn("code", "English %[1]s", args…) —
// and fails t for each whose catalogue message prefix+code is missing, or whose catalogue English is
// not the English in the code (a function in verbatim, whose English is a value, is only looked up).
// It returns how many calls it found, so that a test sees the reading still works.
func CheckSource(t testing.TB, prefix string, fns []string, verbatim ...string) int {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	en := i18n.For(i18n.Fallback)
	verbs := regexp.MustCompile(`%\[(\d+)\][sq]`)
	found := 0
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
			if !ok || !contains(append(fns, verbatim...), id.Name) || len(call.Args) < 2 {
				return true
			}
			code, ok := literal(call.Args[0])
			if !ok {
				t.Errorf("%s: %s's code is not a string literal", f, id.Name)
				return true
			}
			found++
			key := prefix + code
			if !i18n.Has(key) {
				t.Errorf("%s: %s has no catalogue message %s", f, code, key)
				return true
			}
			if contains(verbatim, id.Name) {
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
	return found
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func literal(e ast.Expr) (string, bool) {
	b, ok := e.(*ast.BasicLit)
	if !ok || b.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(b.Value)
	return s, err == nil
}
