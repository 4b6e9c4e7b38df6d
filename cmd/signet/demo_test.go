package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/internal/testsupport/testenv"
)

// TestDemoEndToEnd is the walking skeleton: 20 robot calls sent over HTTP exactly as Bitrix24 sends
// them become 20 signed PDFs that poppler's pdfsig calls valid and qpdf calls well-formed, each
// replacing its Disk file on the emulated portal, with exactly one bizproc.event.send per job.
func TestDemoEndToEnd(t *testing.T) {
	pdfsig := testenv.RequireTool(t, "pdfsig")
	qpdf := testenv.RequireTool(t, "qpdf")
	testenv.RequireTool(t, "softhsm2-util")
	const n = 20
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := demo(ctx, demoOptions{Docs: n, Out: out, PDF: demoInvoice, DataDir: t.TempDir(), Timeout: 4 * time.Minute, Log: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Signed != n || res.Failed != 0 || len(res.Files) != n {
		t.Fatalf("signed=%d failed=%d files=%d, want %d signed", res.Signed, res.Failed, len(res.Files), n)
	}
	for _, path := range res.Files {
		signed, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(signed, demoInvoice) {
			t.Errorf("%s: the original bytes are not a prefix of the signed file (not an incremental update)", path)
		}
		o, err := exec.Command(pdfsig, path).CombinedOutput()
		if err != nil || !strings.Contains(string(o), "Signature is Valid.") || !strings.Contains(string(o), "ETSI.CAdES.detached") {
			t.Errorf("pdfsig %s: %v\n%s", path, err, o)
		}
		if o, err := exec.Command(qpdf, "--check", path).CombinedOutput(); err != nil {
			t.Errorf("qpdf --check %s: %v\n%s", path, err, o)
		}
	}
	sends := map[string]int{}
	for _, c := range res.Portal.Calls() {
		if c.Method == "bizproc.event.send" && c.ErrorCode == "" {
			tok, _ := c.Params["EVENT_TOKEN"].(string)
			sends[tok]++
		}
	}
	for _, tok := range res.EventTokens {
		if sends[tok] != 1 {
			t.Errorf("event_token %.20s…: %d bizproc.event.send calls, want exactly 1", tok, sends[tok])
		}
	}
	if len(sends) != n {
		t.Errorf("%d distinct event tokens completed, want %d", len(sends), n)
	}
	// The audit chain the run wrote holds, with a checkpoint signed by the token's key, and has at least
	// the accepted, OTP, signed and stored events of every job (called-back ones may still be on their way).
	if a := res.Audit; a == nil || !a.OK() || a.VerifiedCkpts == 0 || a.Events < 4*n {
		t.Errorf("audit chain after the demo: %+v", a)
	}
}

// A robot call with evidence=Y gets a self-proving document through the whole pipeline: the document
// id on every page and a completion page whose QR code leads to the verification page, all covered by
// a signature pdfsig calls valid, and `signet verify` reads the facts back.
func TestSelfProvingDocumentThroughThePipeline(t *testing.T) {
	pdfsig := testenv.RequireTool(t, "pdfsig")
	pdftotext := testenv.RequireTool(t, "pdftotext")
	testenv.RequireTool(t, "softhsm2-util")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := demo(ctx, demoOptions{Docs: 2, Out: t.TempDir(), PDF: demoInvoice, DataDir: t.TempDir(), Evidence: true, Visible: true,
		Timeout: 2 * time.Minute, Log: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Signed != 2 {
		t.Fatalf("signed=%d failed=%d", res.Signed, res.Failed)
	}
	for _, path := range res.Files {
		o, _ := exec.Command(pdfsig, path).CombinedOutput()
		if !strings.Contains(string(o), "Signature is Valid.") || !strings.Contains(string(o), "Total document signed") {
			t.Fatalf("pdfsig %s:\n%s", path, o)
		}
		text, err := exec.Command(pdftotext, path, "-").Output()
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if code := run(ctx, []string{"verify", path}, &out, &out); code != 1 || !strings.Contains(out.String(), "evidence: document r") {
			t.Fatalf("signet verify must print the evidence facts (exit 1: the demo certificate is not trusted): %d\n%s", code, out.String())
		}
		id := strings.TrimSuffix(strings.Fields(strings.SplitN(out.String(), "evidence: document ", 2)[1])[0], ",")
		if strings.Count(string(text), id) < 2 {
			t.Errorf("the document id %s must stand on the page and on the completion page:\n%s", id, text)
		}
	}
}

func TestDemoPrintsTheContractLine(t *testing.T) {
	testenv.RequireTool(t, "softhsm2-util")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"demo", "--docs", "3", "--out", t.TempDir()}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	line := strings.TrimSpace(stdout.String())
	if !strings.HasPrefix(line, "signed=3 failed=0 docs_per_s=") || !strings.Contains(line, " out=") || strings.Count(line, "\n") != 0 {
		t.Fatalf("demo must end with one line `signed=N failed=0 docs_per_s=X out=DIR`, got %q", line)
	}
}
