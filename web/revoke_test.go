package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The control panel revokes a certificate the internal CA issued (issue 17 must 3): the Signet-wide
// administrator's Revoke button records it, the list then shows it revoked without the button; a
// portal administrator cannot revoke a certificate that is not their portal's, and a self-signed
// certificate has no CA to revoke it.
func TestControlPanelRevokesAnIssuedCertificate(t *testing.T) {
	env := newTenancyEnv(t)
	ctx := context.Background()
	_, session, csrf := env.signIn(t, "alice's long password")
	for _, f := range []struct{ action, label string }{{"ca-init", "panel-ca"}, {"self-signed", "panel-self"}} {
		if resp, body := env.post(t, session, csrf, "/admin/credentials/"+f.action, url.Values{"token": {"acme"}, "label": {f.label}, "subject": {"CN=" + f.label}}); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s: %d\n%s", f.action, resp.StatusCode, body)
		}
	}
	if resp, body := env.post(t, session, csrf, "/admin/credentials/self-signed", url.Values{"token": {"acme"}, "label": {"panel-mary"}, "subject": {"CN=Mary"},
		"ca": {"pkcs11:token=acme;object=panel-ca"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("issue: %d\n%s", resp.StatusCode, body)
	}
	mary := "pkcs11:token=acme;object=panel-mary"
	if _, page := env.do(t, http.MethodGet, "/admin/credentials", session, nil); strings.Count(page, `action="/admin/credentials/revoke"`) != 1 {
		t.Fatalf("one Revoke button (Mary's; not the CA's, not the self-signed one) expected:\n%s", page)
	}

	sessB, csrfB := env.portalSession(t, memberB, "admin-of-beta")
	if resp, _ := env.post(t, sessB, csrfB, "/admin/credentials/revoke", url.Values{"credential": {mary}, "reason": {"keyCompromise"}}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("another portal's administrator revoking a Signet-wide certificate: %d, want 404", resp.StatusCode)
	}
	if resp, body := env.post(t, session, csrf, "/admin/credentials/revoke", url.Values{"credential": {"pkcs11:token=acme;object=panel-self"}}); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "self-signed") {
		t.Errorf("revoking a self-signed certificate: %d, want 422 saying it is self-signed", resp.StatusCode)
	}
	if l, _ := env.id.Revocations(ctx); len(l) != 0 {
		t.Fatalf("refused revocations were recorded: %+v", l)
	}

	if resp, body := env.post(t, session, csrf, "/admin/credentials/revoke", url.Values{"credential": {mary}, "reason": {"affiliationChanged"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d\n%s", resp.StatusCode, body)
	}
	c, err := env.keys.Credential(ctx, mary)
	if err != nil {
		t.Fatal(err)
	}
	l, err := env.id.Revocations(ctx)
	if want, _ := env.keys.Revocation(ctx, mary, 3); err != nil || len(l) != 1 || l[0].Serial != want.Serial || l[0].Issuer != want.Issuer || l[0].Reason != 3 {
		t.Fatalf("recorded %+v (%v), want serial %x reason 3", l, err, c.Certificate.SerialNumber)
	}
	_, page := env.do(t, http.MethodGet, "/admin/credentials", session, nil)
	if !strings.Contains(page, `<span class="badge bad">revoked</span>`) || strings.Contains(page, `action="/admin/credentials/revoke"`) {
		t.Errorf("the list must show Mary's certificate revoked, without a Revoke button:\n%s", page)
	}
	if resp, body := env.post(t, session, csrf, "/admin/credentials/revoke", url.Values{"credential": {mary}}); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "already revoked") {
		t.Errorf("revoking twice: %d", resp.StatusCode)
	}
}
