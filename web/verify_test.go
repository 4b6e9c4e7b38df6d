package web

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
)

// upload posts file as the verification form does and returns the status and the page.
func upload(t *testing.T, srv *httptest.Server, name string, data []byte) (int, string) {
	t.Helper()
	return uploadFrom(t, srv, "", name, data)
}

// uploadIn is upload from a browser that asks for the language lang (Accept-Language).
func uploadIn(t *testing.T, srv *httptest.Server, lang, name string, data []byte) (int, string) {
	t.Helper()
	req := uploadRequest(srv, name, data)
	req.Header.Set("Accept-Language", lang)
	return answerPage(t, req)
}

// The verification page judges signatures made by another tool (poppler's pdfsig corpus file): the
// digest is intact, and a certificate nobody here trusts is said to be untrusted, not "valid".
func TestVerifyPage(t *testing.T) {
	signed, err := os.ReadFile("../testdata/pdf/pdfsig-signed.pdf")
	if err != nil {
		t.Fatal(err)
	}
	invoice, err := os.ReadFile("../testdata/pdf/invoice.pdf")
	if err != nil {
		t.Fatal(err)
	}
	p := New(Config{MaxPDFBytes: int64(len(signed)) + 10})
	mux := http.NewServeMux()
	p.Routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	p.origin = srv.URL

	status, page := upload(t, srv, "signed.pdf", signed)
	if status != http.StatusOK || !strings.Contains(page, "Poppler Test Signer") || !strings.Contains(page, "intact but signer not trusted") ||
		strings.Contains(page, "Valid:") {
		t.Errorf("a PDF signed by an untrusted certificate: %d\n%s", status, page)
	}

	tampered := bytes.Replace(signed, []byte("Invoice"), []byte("Invoyce"), 1)
	if bytes.Equal(tampered, signed) {
		t.Fatal("the corpus file has no text to tamper with")
	}
	if _, page := upload(t, srv, "tampered.pdf", tampered); !strings.Contains(page, "broken") || strings.Contains(page, "Valid:") {
		t.Errorf("a PDF changed after signing is not called broken:\n%s", page)
	}
	if _, page := upload(t, srv, "invoice.pdf", invoice); !strings.Contains(page, "This PDF has no digital signature.") {
		t.Errorf("an unsigned PDF:\n%s", page)
	}
	if _, page := upload(t, srv, "notes.txt", []byte("not a pdf")); !strings.Contains(page, "could not be read as a PDF") {
		t.Errorf("a text file:\n%s", page)
	}
	if status, page := upload(t, srv, "big.pdf", append(signed, make([]byte, 100)...)); status != http.StatusRequestEntityTooLarge || !strings.Contains(page, "larger than") {
		t.Errorf("a file over the limit: %d\n%s", status, page)
	}

	// From the QR code's document id on to the audit trail's page, with the file's hash.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	sum := strings.Repeat("ab", 32)
	resp, err := noRedirect.Get(srv.URL + "/verify?id=p0123abc&sha256=" + sum)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/verify/p0123abc?sha256="+sum {
		t.Errorf("document id: %d → %q", resp.StatusCode, loc)
	}
	// A batch document's id has dots ("<batch>.<n>-<tag>"); a path does not pass.
	batchDoc := "b0123456789abcdef01234567.7-" + strings.Repeat("9f", 16)
	resp, err = noRedirect.Get(srv.URL + "/verify?id=" + batchDoc)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/verify/"+batchDoc {
		t.Errorf("batch document id: %d → %q", resp.StatusCode, loc)
	}
	for _, bad := range []string{"../admin", "..", ".hidden", "a/b"} {
		resp, err = noRedirect.Get(srv.URL + "/verify?id=" + url.QueryEscape(bad))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("document id %q: %d, want 400", bad, resp.StatusCode)
		}
	}
}
