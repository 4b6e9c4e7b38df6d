// Where HTTP is served (docs/architecture.md, "Where new code goes", rule 5): every page, admin API and
// public endpoint is web/'s, mounted by cmd/signet; the domain packages keep the logic and carry no
// handler. Checked on the source, since an import of net/http alone says nothing: a REST client, a
// status code or a *http.Request read for its language are all fine.
package signet_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// servingDirs are the domain packages (each with its subpackages) that must serve no HTTP.
var servingDirs = []string{"keyring", "pades", "storage", "internal", "producer/identity", "producer/batch"}

// servingAllowed are the directories under servingDirs that may, with the reason.
var servingAllowed = map[string]string{
	// The route table every listener is built from (TestEveryRouteWalkedWithoutCredentials lists it);
	// it registers nothing of its own.
	"internal/routes": "the route table's type, which web/ and cmd/signet fill",
	// Stand-ins for services outside Signet (a TSA, an OCSP responder) that only tests start.
	"internal/testsupport": "test stand-ins for outside services, imported only by tests and bench/",
}

// serverAPI are the net/http names that serve: a handler, a response being written, a mux, a server.
var serverAPI = []string{"Handler", "HandlerFunc", "ResponseWriter", "ServeMux", "NewServeMux", "Server",
	"Handle", "HandleFunc", "ListenAndServe", "ListenAndServeTLS", "Serve", "ServeTLS", "Error", "Redirect",
	"NotFound", "NotFoundHandler", "ServeContent", "ServeFile", "FileServer", "StripPrefix", "MaxBytesReader", "TimeoutHandler"}

// servingImports are packages whose import alone means serving.
var servingImports = []string{"net/http/httptest", module + "/internal/routes", module + "/web"}

// servesHTTP lists what in one Go source file serves HTTP, one line each ("file:line: what").
func servesHTTP(fset *token.FileSet, name, src string) ([]string, error) {
	f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var out []string
	httpName := ""
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		if slices.Contains(servingImports, p) {
			out = append(out, fmt.Sprintf("%s: imports %s", fset.Position(imp.Pos()), p))
		}
		if p == "net/http" {
			httpName = "http"
			if imp.Name != nil {
				httpName = imp.Name.Name
			}
		}
	}
	if httpName == "" || httpName == "_" {
		return out, nil
	}
	ast.Inspect(f, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if x, ok := sel.X.(*ast.Ident); ok && x.Name == httpName && slices.Contains(serverAPI, sel.Sel.Name) {
			out = append(out, fmt.Sprintf("%s: uses %s.%s", fset.Position(sel.Pos()), httpName, sel.Sel.Name))
		}
		return true
	})
	return out, nil
}

// TestDomainServesNoHTTP holds the domain packages to rule 5: no handler, mux or server in their
// code (their tests may run a server of their own, e.g. a fake TSA or portal, so test files are not read).
func TestDomainServesNoHTTP(t *testing.T) {
	fset := token.NewFileSet()
	seen := 0
	for _, dir := range servingDirs {
		err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			slash := filepath.ToSlash(path)
			if d.IsDir() {
				if _, ok := servingAllowed[slash]; ok || d.Name() == "testdata" {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			seen++
			found, err := servesHTTP(fset, slash, string(src))
			if err != nil {
				return err
			}
			for _, f := range found {
				t.Errorf("%s: web pages, admin APIs and public endpoints go in web/, the domain package keeps the logic behind a method (docs/architecture.md, rule 5)", f)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("reading %s: %v (is the test run from the module root?)", dir, err)
		}
	}
	if seen < 50 {
		t.Fatalf("read only %d source files under %v; is the test run from the module root?", seen, servingDirs)
	}
}

// TestDomainServesNoHTTPCatch feeds the check what it exists to stop, as the tree had it before web/
// (keyring/http.go, storage/link.go, internal/ops/page.go), and what it must let pass.
func TestDomainServesNoHTTPCatch(t *testing.T) {
	cases := []struct {
		name, src string
		bad       bool
	}{
		{"a route table", `package keyring
import ("net/http"; "github.com/signet-b24/signet/internal/routes")
func (k *Keyring) Routes(mux routes.Mux, admin func(http.Handler) http.Handler) {}`, true},
		{"a handler", `package storage
import "net/http"
func LinkHandler(s Store) http.Handler { return nil }`, true},
		{"a handler method", `package ops
import "net/http"
func (p *Page) show(w http.ResponseWriter, r *http.Request) { http.Error(w, "x", 500) }`, true},
		{"net/http under another name", `package audit
import nethttp "net/http"
var _ nethttp.HandlerFunc`, true},
		{"a test server in code", `package storage
import "net/http/httptest"
var _ = httptest.NewServer`, true},
		{"a REST client", `package bitrixish
import "net/http"
func call(c *http.Client, r *http.Request) (*http.Response, error) { return c.Do(r) }`, false},
		{"a status code and a method", `package identity
import "net/http"
const s, m = http.StatusForbidden, http.MethodGet`, false},
		{"no net/http at all", `package pades
func Sign() {}`, false},
	}
	for _, c := range cases {
		got, err := servesHTTP(token.NewFileSet(), c.name+".go", c.src)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if bad := len(got) > 0; bad != c.bad {
			t.Errorf("%s: serves %v, want %v (%q)", c.name, bad, c.bad, got)
		}
	}
}
