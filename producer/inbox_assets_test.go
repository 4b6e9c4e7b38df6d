package producer

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// The committed pdf.js files are the version package.json pins (and package-lock.json locks): a
// refresh with `go tool task pdfjs` that forgot one of them, or a hand edit of the pin, fails here.
func TestInboxPDFJSMatchesThePin(t *testing.T) {
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	var lock struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	for name, v := range map[string]any{"assets/pdfjs/package.json": &pkg, "assets/pdfjs/package-lock.json": &lock} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	pin := pkg.Dependencies["pdfjs-dist"]
	if pin == "" || strings.ContainsAny(pin, "^~<>*x ") {
		t.Fatalf("package.json must pin an exact pdfjs-dist version, has %q", pin)
	}
	if got := lock.Packages["node_modules/pdfjs-dist"].Version; got != pin {
		t.Fatalf("package-lock.json locks pdfjs-dist %s, package.json pins %s", got, pin)
	}
	for _, f := range []string{"pdf.min.mjs", "pdf.worker.min.mjs"} {
		b, err := inboxAssets.ReadFile("assets/pdfjs/" + f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"`+pin+`"`) {
			t.Errorf("%s is not pdfjs-dist %s; run `go tool task pdfjs`", f, pin)
		}
	}
}
