package pdfgen

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-b24/signet/internal/testsupport/testenv"
)

// The generated file is a PDF that qpdf accepts, of about the asked size, with one page per perPage
// bytes of image data.
func TestWriteBigIsAValidPDF(t *testing.T) {
	qpdf := testenv.RequireTool(t, "qpdf")
	path := filepath.Join(t.TempDir(), "big.pdf")
	pages, err := WriteBig(path, 5<<20, 2<<20)
	if err != nil {
		t.Fatal(err)
	}
	if pages != 3 {
		t.Fatalf("%d pages, want 3", pages)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Size() < 5<<20 || fi.Size() > 5<<20+8<<10 {
		t.Fatalf("size %d, %v; want about 5 MiB", fi.Size(), err)
	}
	out, err := exec.Command(qpdf, "--check", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "No syntax or stream encoding errors") {
		t.Fatalf("qpdf --check: %v\n%s", err, out)
	}
	n, err := exec.Command(qpdf, "--show-npages", path).Output()
	if err != nil || strings.TrimSpace(string(n)) != "3" {
		t.Fatalf("qpdf --show-npages = %q, %v", n, err)
	}
}
