package web

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/audit"
	"github.com/signet-b24/signet/internal/queue"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
)

func TestVerificationPageTellsTheDocumentsStory(t *testing.T) {
	s := startAuditStream(t)
	ctx := context.Background()
	w := audit.NewWriter(s.JS, nil, audit.Options{})
	before, after := strings.Repeat("a", 64), strings.Repeat("b", 64)
	steps := []contracts.AuditEvent{
		{Action: contracts.AuditRequestAccepted, JobID: "r42", Portal: "p1", Login: "mary", BitrixUserID: 7},
		{Action: contracts.AuditOTPVerified, JobID: "r42", Login: "mary"},
		{Action: contracts.AuditRequestAccepted, JobID: "r43", Login: "john"},
		{Action: contracts.AuditJobSigned, JobID: "r42", Login: "mary", SHA256Before: before, SHA256After: after,
			CertSubject: "CN=Мария Иванова,O=ACME", CertSerial: "01:02", Credential: "pkcs11:token=acme;object=mary-2026"},
		{Action: contracts.AuditRequestRefused, JobID: "r44", Reason: "OTP rejected"},
	}
	var signed *contracts.AuditEvent
	for _, e := range steps {
		got, err := w.Append(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		if e.Action == contracts.AuditJobSigned {
			signed = got
		}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /verify/{id}", TrailPage(s.JS, "", nil))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, html.UnescapeString(string(b))
	}

	code, body := get("/verify/r42")
	if code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	for _, want := range []string{"Signed by Signet", "mary", "CN=Мария Иванова,O=ACME", "01:02", before, after, signed.ID,
		"Request accepted", "One-time password verified"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, secret := range []string{"john", "pkcs11:", "p1"} {
		if strings.Contains(body, secret) {
			t.Errorf("the public page shows %q", secret)
		}
	}
	if _, body := get("/verify/r42?sha256=" + after); !strings.Contains(body, "This is the signed document") {
		t.Error("the signed document's hash is not recognised")
	}
	if _, body := get("/verify/r42?sha256=" + strings.Repeat("c", 64)); !strings.Contains(body, "neither the signed document nor its original") {
		t.Error("a foreign hash is not flagged")
	}
	if code, body := get("/verify/r44"); code != http.StatusOK || !strings.Contains(body, "did not sign") || strings.Contains(body, "OTP rejected") {
		t.Errorf("refused document: %d\n%s", code, body)
	}
	if code, body := get("/verify/r99"); code != http.StatusNotFound || !strings.Contains(body, "no record") {
		t.Errorf("unknown document: %d", code)
	}
	// A batch document's id carries its tag; one without (the ids of batches recorded before the tag
	// existed) is not looked up, since it would name every document of its batch.
	if _, err := w.Append(ctx, contracts.AuditEvent{Action: contracts.AuditJobSigned, JobID: "b0123456789abcdef01234567.3", Login: "mary", SHA256After: after}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Append(ctx, contracts.AuditEvent{Action: contracts.AuditJobSigned, JobID: "b0123456789abcdef01234567.4-" + strings.Repeat("5a", 16), Login: "mary", SHA256After: after}); err != nil {
		t.Fatal(err)
	}
	if code, body := get("/verify/b0123456789abcdef01234567.4-" + strings.Repeat("5a", 16)); code != http.StatusOK || !strings.Contains(body, "Signed by Signet") {
		t.Errorf("batch document with its tag: %d", code)
	}
	for _, bad := range []string{"/verify/..%2Fx", "/verify/.r42", "/verify/" + strings.Repeat("r", 129), "/verify/b0123456789abcdef01234567.3",
		"/verify/b0123456789abcdef01234567.4-" + strings.Repeat("5A", 16)} {
		if code, _ := get(bad); code != http.StatusNotFound {
			t.Errorf("malformed id %s: %d", bad, code)
		}
	}
}

// startAuditStream is a NATS server with the AUDIT stream as Signet provisions it.
func startAuditStream(t *testing.T) *natstest.Server {
	t.Helper()
	s := natstest.Start(t)
	s.CreateStreams(t, queue.Streams(queue.Settings{}), contracts.StreamAudit)
	return s
}
