package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/keyring"
	"github.com/signet-b24/signet/keyring/softhsm"
	"github.com/signet-b24/signet/web"
)

// The three doors that make certificates (the command line, the admin API, the control panel) make
// the same certificates when the administrator leaves key type and validity out: the defaults are
// decided once (keyring/defaults.go). openssl judges the shape: its `x509 -text` of each
// door's CA, self-signed signer and CA-issued signer is the same once the values that must differ
// (serial, keys, key identifiers, signature, dates) are blanked, and shows what the profile promises.
func TestCertificateDefaultsAreTheSameThroughEveryDoor(t *testing.T) {
	openssl := testenv.RequireTool(t, "openssl")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env := startWebEnv(t, ctx)
	tok := env.cfg.Demo.Token
	module, err := softhsm.Module()
	if err != nil {
		t.Fatal(err)
	}
	pinFile := filepath.Join(env.cfg.DataDir, "softhsm", "user.pin")
	const caSubject, signerSubject = "CN=Door CA,O=Acme,C=RU", "CN=Иванова Мария,O=Acme,C=RU"
	caURI := func(door string) string { return "pkcs11:token=" + tok + ";object=" + door + "-ca" }

	// The command line, on the token named by a URI with its module and PIN file (no configuration
	// file; the server's revocation URL, as its configuration would give it).
	t.Setenv("SIGNET_CA_REVOCATION_URL", env.cfg.CA.RevocationURL)
	tokenURI := "pkcs11:token=" + tok + "?module-path=" + module + "&pin-source=file:" + pinFile
	for _, args := range [][]string{
		{"admin", "ca", "init", "--token", tokenURI, "--label", "cli-ca", "--subject", caSubject},
		{"admin", "cert", "self-signed", "--token", tokenURI, "--label", "cli-self", "--subject", signerSubject},
		{"admin", "ca", "issue", "--ca", caURI("cli"), "--token", tokenURI, "--label", "cli-issued", "--subject", signerSubject},
	} {
		if out, code := runCLI(t, args...); code != 0 {
			t.Fatalf("signet %s: exit %d\n%s", strings.Join(args, " "), code, out)
		}
	}

	// The admin API, with the administrator's bearer token.
	secret, err := loadOrCreateSecret(env.cfg.Security.AdminTokenFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, label, subject, ca string }{
		{"/v1/admin/ca/init", "api-ca", caSubject, ""},
		{"/v1/admin/credentials/self-signed", "api-self", signerSubject, ""},
		{"/v1/admin/ca/issue", "api-issued", signerSubject, caURI("api")},
	} {
		body, _ := json.Marshal(web.CertRequest{Token: tok, Label: c.label, Subject: c.subject, CA: c.ca})
		req, _ := http.NewRequest(http.MethodPost, env.base+c.path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+hex.EncodeToString(secret))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST %s: %d %s", c.path, resp.StatusCode, b)
		}
	}

	// The control panel, signed in like a browser, submitting the form as it is first shown: key and
	// validity at their defaults.
	pw := "a long enough password"
	if err := runAdminLocal(ctx, []string{"set", "bob", "--data-dir", env.cfg.DataDir, "--password-file", writeTemp(t, "pw", []byte(pw+"\n"))}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	cookie, csrf := signIn(t, noRedirect, env.base, "bob", pw)
	form := panelGet(t, noRedirect, env.base+"/admin/credentials", cookie)
	if !strings.Contains(form, `<option value="" selected>Default</option>`) || !strings.Contains(form, keyring.DefaultsText()) {
		t.Fatalf("the panel's form must start at the defaults and say what they are:\n%s", form)
	}
	for _, c := range []struct{ action, label, subject, ca string }{
		{"ca-init", "panel-ca", caSubject, ""},
		{"self-signed", "panel-self", signerSubject, ""},
		{"self-signed", "panel-issued", signerSubject, caURI("panel")},
	} {
		f := url.Values{"csrf": {csrf}, "token": {tok}, "label": {c.label}, "subject": {c.subject}, "key_type": {""}, "days": {""}, "ca": {c.ca}}
		if c.ca != "" {
			ca, err := env.app.keys.Credential(ctx, c.ca)
			if err != nil {
				t.Fatal(err)
			}
			f.Set("ca", ca.URI) // the form offers the CA by its canonical URI
		}
		req, _ := http.NewRequest(http.MethodPost, env.base+"/admin/credentials/"+c.action, strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Cookie", cookie)
		req.Header.Set("Origin", env.base)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("panel %s %s: %d\n%s", c.action, c.label, resp.StatusCode, b)
		}
	}

	// openssl's reading of each certificate, with the values that must differ blanked.
	shape := map[string]string{}
	days := map[string]int{}
	for _, door := range []string{"cli", "api", "panel"} {
		for _, kind := range []string{"ca", "self", "issued"} {
			cred, err := env.app.keys.Credential(ctx, "pkcs11:token="+tok+";object="+door+"-"+kind)
			if err != nil {
				t.Fatalf("%s-%s: %v", door, kind, err)
			}
			cmd := exec.Command(openssl, "x509", "-noout", "-text")
			cmd.Stdin = bytes.NewReader(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cred.Certificate.Raw}))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("openssl x509 -text %s-%s: %v\n%s", door, kind, err, out)
			}
			text := blankValues(string(out))
			d := int(cred.Certificate.NotAfter.Sub(cred.Certificate.NotBefore).Hours() / 24)
			if prev, ok := shape[kind]; ok {
				if prev != text {
					t.Errorf("the %s certificate made through %s differs from the command line's:\n--- cli\n%s\n--- %s\n%s", kind, door, prev, door, text)
				}
				if days[kind] != d {
					t.Errorf("the %s certificate made through %s is valid %d days, the command line's %d", kind, door, d, days[kind])
				}
				continue
			}
			shape[kind], days[kind] = text, d
		}
	}
	signer, ca := keyring.ProfileFor(keyring.ForSigner), keyring.ProfileFor(keyring.ForCA)
	want := map[string][]string{
		"ca": {"ASN1 OID: secp384r1", "Basic Constraints: critical\nCA:TRUE, pathlen:0", "Key Usage: critical\nDigital Signature, Certificate Sign, CRL Sign\n",
			"Subject Key Identifier", "Issuer: C = RU, O = Acme, CN = Door CA"},
		"self": {"ASN1 OID: prime256v1", "Basic Constraints: critical\nCA:FALSE", "Key Usage: critical\nDigital Signature, Non Repudiation\n",
			"Extended Key Usage: \nE-mail Protection, 1.3.6.1.5.5.7.3.36", "Signature Algorithm: ecdsa-with-SHA256"},
		"issued": {"ASN1 OID: prime256v1", "Basic Constraints: critical\nCA:FALSE", "Key Usage: critical\nDigital Signature, Non Repudiation\n",
			"Extended Key Usage: \nE-mail Protection, 1.3.6.1.5.5.7.3.36", "Authority Key Identifier", "Issuer: C = RU, O = Acme, CN = Door CA",
			"Signature Algorithm: ecdsa-with-SHA384"},
	}
	for kind, subs := range want {
		for _, s := range subs {
			if !strings.Contains(shape[kind], s) {
				t.Errorf("openssl does not show %q in the %s certificate:\n%s", s, kind, shape[kind])
			}
		}
	}
	for kind, want := range map[string]int{"ca": ca.Days, "self": signer.Days, "issued": signer.Days} {
		if days[kind] != want {
			t.Errorf("the %s certificate is valid %d days, want the default %d", kind, days[kind], want)
		}
	}
}

var (
	hexLine   = regexp.MustCompile(`(?m)^\s*([0-9A-Fa-f]{2}:)+[0-9A-Fa-f]{0,2}\s*$`)
	dateLine  = regexp.MustCompile(`(Not Before|Not After) *:.*`)
	indent    = regexp.MustCompile(`(?m)^\s+`)
	manyBlank = regexp.MustCompile(`(HEX\n)+`)
)

// blankValues replaces what openssl prints of serials, keys, key identifiers and signatures with HEX
// and the dates with DATE, and drops the indentation.
var crlKeyID = regexp.MustCompile(`/ca/crl/[0-9a-f]+`)

func blankValues(text string) string {
	text = hexLine.ReplaceAllString(text, "HEX")
	text = crlKeyID.ReplaceAllString(text, "/ca/crl/KEYID") // each door's CA has its own CRL
	text = dateLine.ReplaceAllString(text, "$1: DATE")
	text = indent.ReplaceAllString(text, "")
	return manyBlank.ReplaceAllString(text, "HEX\n")
}

func panelGet(t *testing.T, c *http.Client, u, cookie string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Cookie", cookie)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", u, resp.StatusCode)
	}
	return string(b)
}
