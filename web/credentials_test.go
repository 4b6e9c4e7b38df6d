package web

import (
	"context"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/signet-b24/signet/keyring"
)

// The control panel's certificate forms leave key and validity to the keyring's defaults
// (keyring/defaults.go), and answer a PIN in any URI field with the keyring's one error, without
// repeating the PIN in the page or a log line.
func TestCredentialFormsTakeTheDefaultsAndRefusePINs(t *testing.T) {
	env := newTenancyEnv(t)
	ctx := context.Background()
	_, session, csrf := env.signIn(t, "alice's long password")
	if session == "" {
		t.Fatal("alice could not sign in")
	}
	_, page := env.do(t, http.MethodGet, "/admin/credentials", session, nil)
	if !strings.Contains(page, `<option value="" selected>Default</option>`) || !strings.Contains(page, keyring.DefaultsText()) {
		t.Fatalf("the form must start at the defaults and name them:\n%s", page)
	}

	made := map[string]keyring.Purpose{"form-ca": keyring.ForCA, "form-signer": keyring.ForSigner}
	for label, purpose := range made {
		action := "self-signed"
		if purpose == keyring.ForCA {
			action = "ca-init"
		}
		resp, body := env.post(t, session, csrf, "/admin/credentials/"+action, url.Values{"token": {"acme"}, "label": {label}, "subject": {"CN=" + label}, "key_type": {""}, "days": {""}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s %s: %d\n%s", action, label, resp.StatusCode, body)
		}
		c, err := env.keys.Credential(ctx, "pkcs11:token=acme;object="+label)
		if err != nil {
			t.Fatal(err)
		}
		pr := keyring.ProfileFor(purpose)
		days := int(c.Certificate.NotAfter.Sub(c.Certificate.NotBefore).Hours() / 24)
		if keyring.KeyDescription(c) != pr.KeyType.Description() || days != pr.Days || c.Certificate.IsCA != pr.IsCA || c.Certificate.KeyUsage != pr.KeyUsage {
			t.Errorf("%s: %s, %d days, CA %t, key usage %b; want the %s defaults %+v", label, keyring.KeyDescription(c), days, c.Certificate.IsCA, c.Certificate.KeyUsage, purpose, pr)
		}
	}
	if resp, body := env.post(t, session, csrf, "/admin/credentials/self-signed", url.Values{"token": {"acme"}, "label": {"x"}, "subject": {"CN=X"}, "days": {"soon"}}); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "leave it empty for the default") {
		t.Errorf("a validity that is not a number: %d, want 422 pointing at the default", resp.StatusCode)
	}

	signer, err := env.keys.Credential(ctx, "pkcs11:token=acme;object=form-signer")
	if err != nil {
		t.Fatal(err)
	}
	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: signer.Certificate.Raw}))
	const pin = "4711-secret"
	for _, c := range []struct {
		path string
		form url.Values
	}{
		{"/admin/credentials/self-signed", url.Values{"token": {"pkcs11:token=acme?pin-value=" + pin}, "label": {"y"}, "subject": {"CN=Y"}}},
		{"/admin/credentials/self-signed", url.Values{"token": {"acme"}, "label": {"y"}, "subject": {"CN=Y"}, "ca": {"pkcs11:token=acme;object=form-ca?pin-value=" + pin}}},
		{"/admin/credentials/import", url.Values{"key": {"pkcs11:token=acme;object=form-signer?pin-value=" + pin}, "cert_pem": {certPEM}}},
		{"/admin/credentials/disable", url.Values{"credential": {"pkcs11:token=acme;object=form-signer?pin-value=" + pin}}},
	} {
		resp, body := env.post(t, session, csrf, c.path, c.form)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "pin-source=file:/path/to/pin") {
			t.Errorf("%s with a pin-value: %d, want 422 with the one answer", c.path, resp.StatusCode)
		}
		if strings.Contains(body, pin) {
			t.Errorf("%s repeats the PIN in the page", c.path)
		}
	}
	resp, body := env.do(t, http.MethodGet, "/admin/ca/root?ca="+url.QueryEscape("pkcs11:token=acme;object=form-ca?pin-value="+pin), session, nil)
	if resp.StatusCode != http.StatusBadRequest || strings.Contains(body, pin) || !strings.Contains(body, "--pin-file") {
		t.Errorf("root with a pin-value: %d %s", resp.StatusCode, body)
	}
	for _, e := range env.logs.All() {
		if strings.Contains(e.Message, pin) || strings.Contains(fmt.Sprint(e.ContextMap()), pin) {
			t.Errorf("a log line holds the PIN: %s %v", e.Message, e.ContextMap())
		}
	}
	if d, _ := env.id.DisabledCredentials(ctx); len(d) != 0 {
		t.Errorf("a refused form disabled %v", d)
	}
}
