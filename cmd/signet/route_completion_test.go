package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/internal/testsupport/testtsa"
	"github.com/signet-b24/signet/producer/routes"
)

// Issue 20, must 5: a two-party route ends with its final revision sealed and timestamped by the
// company's seal (here the demo credential, with a real RFC 3161 TSA): pdfsig shows three valid
// signatures (the two parties and the seal), qpdf --check is clean, and the sealed certificate of
// completion names both parties and its QR code reads as the verification URL.
func TestRouteCompletionSealedFinalRevision(t *testing.T) {
	tsa := testtsa.Start(t, "Route TSA", time.Time{})
	b := startB24(t, emulator.Config{}, "--requests-sweep-interval", "200ms",
		"--signing-tsa-url", tsa.URL, "--external-seal-credential", "pkcs11:token=signet-demo;object=demo-signer")
	e := &routeEnv{b24env: b, secrets: map[string]string{}}
	for login, id := range map[string]int{"mary": 7, "bob": 9} {
		e.addUser(t, login, id, false, e.cfg.Demo.Credential)
		e.secrets[login] = e.enrol(t, login)
	}
	sign := func(login string) routes.Party { return routes.Party{Kind: routes.KindSignet, Login: login} }
	r := e.start(t, []routes.Step{{Parties: []routes.Party{sign("mary")}}, {Parties: []routes.Party{sign("bob")}}}, 931)
	e.sign(t, r, "mary")
	e.sign(t, r, "bob")
	r = e.waitRoute(t, r.ID, ended)
	if r.State != routes.Completed || r.Revision != 3 || r.Completion == nil {
		t.Fatalf("route: %s, revision %d, %s\n%s", r.State, r.Revision, r.Reason, r.Summary())
	}
	e.final(t, r, 3)

	pdftotext, pdftoppm, zbarimg := testenv.RequireTool(t, "pdftotext"), testenv.RequireTool(t, "pdftoppm"), testenv.RequireTool(t, "zbarimg")
	rc, _, err := e.a.store.Get(context.Background(), r.Completion.CertificateSealedKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := io.ReadAll(rc)
	rc.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "certificate.pdf")
	if err := os.WriteFile(path, cert, 0o600); err != nil {
		t.Fatal(err)
	}
	if o, _ := exec.Command(testenv.RequireTool(t, "pdfsig"), path).CombinedOutput(); strings.Count(string(o), "Signature is Valid.") != 1 {
		t.Errorf("the certificate's seal:\n%s", o)
	}
	text, err := exec.Command(pdftotext, path, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v\n%s", err, text)
	}
	for _, want := range []string{"mary", "bob", r.ID, "inbox"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("the certificate lacks %q:\n%s", want, text)
		}
	}
	if o, err := exec.Command(pdftoppm, "-r", "150", "-png", "-f", "1", "-l", "1", path, filepath.Join(dir, "page")).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v\n%s", err, o)
	}
	pages, _ := filepath.Glob(filepath.Join(dir, "page*.png"))
	if len(pages) != 1 {
		t.Fatalf("pages: %v", pages)
	}
	// The verification page the QR code names knows the seal: its audit trail is the seal job's, with
	// the final revision's SHA-256.
	resp, err := http.Get(e.a.routes.VerifyURL(r.ID))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), r.RevisionSHA256) {
		t.Errorf("the verification page: HTTP %d\n%s", resp.StatusCode, page)
	}
	code, err := exec.Command(zbarimg, "-q", "--raw", pages[0]).Output()
	if got := strings.TrimSpace(string(code)); err != nil || got != e.a.routes.VerifyURL(r.ID) {
		t.Fatalf("the QR code reads %q (%v), want %s", got, err, e.a.routes.VerifyURL(r.ID))
	}
}
