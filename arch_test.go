// The layout's import rules (docs/architecture.md, "What may import what"), checked on the module's
// own import graph as `go list` reports it, so that a new arrow across the queue or back up out of
// internal/ fails here rather than in review.
package signet_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/signet-b24/signet/internal/testsupport/testenv"
)

const module = "github.com/signet-b24/signet"

// listedPackage is the part of `go list -json` the rules read.
type listedPackage struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

// rule forbids packages under one of from to import a package under one of to. Directories are
// relative to the module root; "contracts" covers contracts and contracts/....
type rule struct {
	from, to []string
	why      string
}

// rules are the table of docs/architecture.md. Test files count: a test that reaches across the queue
// ties the two sides together as surely as code does, so the only exceptions are the named ones below.
var rules = []rule{
	{from: []string{"producer"}, to: []string{"worker"},
		why: "the producer and the worker meet only through contracts and the shared packages (keyring, pades, storage, internal)"},
	{from: []string{"worker"}, to: []string{"producer"},
		why: "the worker and the producer meet only through contracts and the shared packages (keyring, pades, storage, internal)"},
	{from: []string{"contracts"}, to: []string{""},
		why: "contracts is the wire format both sides share; it stays a leaf"},
	{from: []string{"internal"}, to: []string{"bitrix24", "producer", "worker", "web", "cmd", "faults", "bench"},
		why: "internal/ holds shared services and test support below the domain packages; an arrow back up makes a cycle waiting to happen"},
	{from: []string{"keyring", "pades", "storage"}, to: []string{"producer", "worker", "web"},
		why: "a library both sides use belongs to neither"},
	{from: []string{"bitrix24"}, to: []string{"producer", "worker", "web", "keyring", "pades", "storage", "cmd", "faults", "bench"},
		why: "bitrix24/ is the portal's protocol, used by both sides; it knows contracts and internal/ and no Signet domain"},
	{from: []string{"web"}, to: []string{"worker"},
		why: "web/ is served by the intake's listener and calls the producer's side and the shared packages; the worker is reached only through the queue"},
	{from: []string{"contracts", "internal", "keyring", "pades", "storage", "bitrix24", "producer", "worker", "faults", "bench"}, to: []string{"web"},
		why: "web/ is the outermost layer: only cmd/signet mounts it; a domain package that imports it would be serving pages again"},
}

// allowed are the deliberate exceptions, importer → imported, each with its reason.
var allowed = map[[2]string]string{
	// The batch status test plays the worker's part: it records outcomes in the jobs bucket with the
	// worker's own Results, so that the status it reads is the one a real worker leaves.
	{module + "/producer/batch", module + "/worker"}: "test only: batch_test.go writes results as the worker does",
	// The enumeration attack on batch document ids is judged by the public page that looks them up,
	// /verify/{id}, with the batch's own enqueue; the page is web's, the ids are the batch's.
	{module + "/producer/batch", module + "/web"}: "test only: batch_adversarial_test.go asks web.TrailPage for guessed ids",
}

// under reports whether the import path p is the directory dir of this module or below it; dir ""
// is any package of the module.
func under(p, dir string) bool {
	if dir == "" {
		return p == module || strings.HasPrefix(p, module+"/")
	}
	return p == module+"/"+dir || strings.HasPrefix(p, module+"/"+dir+"/")
}

// violations lists every import that breaks a rule and is not allowed, one line each.
func violations(pkgs []listedPackage) []string {
	var out []string
	for _, p := range pkgs {
		imports := slices.Concat(p.Imports, p.TestImports, p.XTestImports)
		slices.Sort(imports)
		for _, imp := range slices.Compact(imports) {
			if imp == p.ImportPath {
				continue // an external test package imports the package it tests
			}
			for _, r := range rules {
				if !slices.ContainsFunc(r.from, func(d string) bool { return under(p.ImportPath, d) }) ||
					!slices.ContainsFunc(r.to, func(d string) bool { return under(imp, d) }) {
					continue
				}
				if _, ok := allowed[[2]string{p.ImportPath, imp}]; ok {
					continue
				}
				out = append(out, fmt.Sprintf("%s imports %s: %s", p.ImportPath, imp, r.why))
			}
		}
	}
	return out
}

// TestImportRules holds the module's import graph to the rules.
func TestImportRules(t *testing.T) {
	gobin := testenv.RequireTool(t, "go")
	cmd := exec.Command(gobin, "list", "-e", "-json=ImportPath,Imports,TestImports,XTestImports", "./...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	var pkgs []listedPackage
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("reading go list's output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	// The rules must have something to judge: each side, the leaf and internal/ are listed.
	for _, dir := range []string{"producer", "worker", "contracts", "internal/queue", "keyring", "pades", "web", "bitrix24"} {
		if !slices.ContainsFunc(pkgs, func(p listedPackage) bool { return p.ImportPath == module+"/"+dir }) {
			t.Fatalf("go list did not list %s/%s; is the test run from the module root?", module, dir)
		}
	}
	for _, v := range violations(pkgs) {
		t.Error(v)
	}
	// An exception that no longer happens is a rule that can be tightened.
	for pair := range allowed {
		i := slices.IndexFunc(pkgs, func(p listedPackage) bool { return p.ImportPath == pair[0] })
		if i < 0 || !slices.Contains(slices.Concat(pkgs[i].Imports, pkgs[i].TestImports, pkgs[i].XTestImports), pair[1]) {
			t.Errorf("%s no longer imports %s: remove the exception from allowed", pair[0], pair[1])
		}
	}
}

// TestImportRulesCatch feeds the checker the arrows it exists to stop, and some it must let pass.
func TestImportRulesCatch(t *testing.T) {
	m := func(dir string) string { return module + "/" + dir }
	cases := []struct {
		name string
		pkg  listedPackage
		bad  bool
	}{
		{"producer imports worker", listedPackage{ImportPath: m("producer/identity"), Imports: []string{m("worker")}}, true},
		{"producer imports a worker subpackage", listedPackage{ImportPath: m("producer"), Imports: []string{m("worker/evidence")}}, true},
		{"a producer test imports worker", listedPackage{ImportPath: m("producer/identity"), XTestImports: []string{m("worker")}}, true},
		{"worker imports producer", listedPackage{ImportPath: m("worker"), Imports: []string{m("producer/identity")}}, true},
		{"contracts imports a project package", listedPackage{ImportPath: m("contracts"), Imports: []string{m("internal/jobkey")}}, true},
		{"internal imports bitrix24", listedPackage{ImportPath: m("internal/ops"), Imports: []string{m("bitrix24")}}, true},
		{"internal test support imports producer", listedPackage{ImportPath: m("internal/testsupport/natstest"), TestImports: []string{m("producer")}}, true},
		{"pades imports worker", listedPackage{ImportPath: m("pades"), Imports: []string{m("worker")}}, true},
		{"producer imports keyring and pades", listedPackage{ImportPath: m("producer"), Imports: []string{m("keyring"), m("pades"), m("contracts")}}, false},
		{"web imports worker", listedPackage{ImportPath: m("web"), Imports: []string{m("worker/evidence")}}, true},
		{"a domain package imports web", listedPackage{ImportPath: m("keyring"), Imports: []string{m("web")}}, true},
		{"the producer imports web", listedPackage{ImportPath: m("producer"), Imports: []string{m("web")}}, true},
		{"internal imports web", listedPackage{ImportPath: m("internal/ops"), Imports: []string{m("web")}}, true},
		{"bitrix24 imports producer", listedPackage{ImportPath: m("bitrix24/portals"), XTestImports: []string{m("producer/identity")}}, true},
		{"bitrix24 imports keyring", listedPackage{ImportPath: m("bitrix24"), Imports: []string{m("keyring")}}, true},
		{"web imports the producer and the libraries", listedPackage{ImportPath: m("web"), Imports: []string{m("producer/identity"), m("keyring"), m("pades"), m("storage"), m("internal/ops"), m("bitrix24/portals")}}, false},
		{"cmd imports web", listedPackage{ImportPath: m("cmd/signet"), Imports: []string{m("web"), m("worker")}}, false},
		{"bitrix24 imports contracts and internal", listedPackage{ImportPath: m("bitrix24/emulator"), Imports: []string{m("contracts"), m("internal/metrics"), m("bitrix24")}}, false},
		{"worker imports internal and storage", listedPackage{ImportPath: m("worker"), Imports: []string{m("internal/queue"), m("storage"), m("bitrix24")}}, false},
		{"contracts imports the standard library", listedPackage{ImportPath: m("contracts"), Imports: []string{"encoding/json", "time"}}, false},
		{"a name that only starts like worker", listedPackage{ImportPath: m("producer"), Imports: []string{m("workerpool")}}, false},
		{"the named exception", listedPackage{ImportPath: m("producer/batch"), TestImports: []string{m("worker")}}, false},
	}
	for _, c := range cases {
		got := violations([]listedPackage{c.pkg})
		if bad := len(got) > 0; bad != c.bad {
			t.Errorf("%s: violation %v, want %v (%q)", c.name, bad, c.bad, got)
		}
	}
}
