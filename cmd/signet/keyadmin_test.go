package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/config"
	"github.com/signet-b24/signet/internal/jobkey"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/keyring"
)

// In the intake + worker topology the intake's admin API reaches the worker's tokens through NATS
// (keyring/keyadmin): it lists the tokens and credentials, makes a CA and a certificate on the
// worker's SoftHSM token, revokes it, and answers the CRL and OCSP requests the certificate names,
// and the worker records each change in the audit trail under the administrator who asked.
func TestIntakeAdministersTheWorkersTokens(t *testing.T) {
	testenv.RequireTool(t, "softhsm2-util")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	load := func(name string, extra ...string) *config.Config {
		addr, err := freeLoopbackAddr()
		if err != nil {
			t.Fatal(err)
		}
		cfg, _, err := config.Load(name, append([]string{"--data-dir", t.TempDir(), "--listen", addr, "--metrics-listen", "off"}, extra...),
			func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	start := func(cfg *config.Config, r role) *app { return startRole(t, ctx, cfg, r) }
	// The worker: the demo SoftHSM token and the embedded NATS the intake joins.
	wcfg := load("worker")
	sec := wcfg.Security
	if _, err := jobkey.LoadOrCreateSigner(sec.JobSigningKeyFile, sec.JobVerifyKeysFile, sec.JobTTL); err != nil {
		t.Fatal(err)
	}
	w := start(wcfg, role{worker: true})
	icfg := load("intake", "--nats-url", w.embedded.ClientURL(), "--nats-user", embeddedUser, "--nats-password-file", natsPasswordFile(wcfg),
		"--security-secret-keys-file", sec.SecretKeysFile, "--security-job-signing-key-file", sec.JobSigningKeyFile,
		"--security-job-verify-keys-file", sec.JobVerifyKeysFile)
	in := start(icfg, role{intake: true})
	if in.keys != nil {
		t.Fatal("the intake opened tokens; it must hold none")
	}
	token := strings.TrimSpace(mustRead(t, icfg.Security.AdminTokenFile))
	api := func(method, path string, body any, want int) []byte {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequestWithContext(ctx, method, icfg.PublicURL+path, rd)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s on the intake: HTTP %d, want %d: %s", method, path, resp.StatusCode, want, out)
		}
		return out
	}

	var tokens []keyring.TokenStatus
	_ = json.Unmarshal(api("GET", "/v1/admin/tokens", nil, http.StatusOK), &tokens)
	if len(tokens) != 1 || tokens[0].Name != wcfg.Demo.Token || !tokens[0].Online {
		t.Fatalf("tokens on the intake: %+v, want the worker's demo token, online", tokens)
	}
	if list := string(api("GET", "/v1/admin/credentials", nil, http.StatusOK)); !strings.Contains(list, "Signet Demo Signer") {
		t.Fatalf("credentials on the intake do not show the worker's demo certificate: %s", list)
	}
	var ca, leaf keyring.CredentialView
	_ = json.Unmarshal(api("POST", "/v1/admin/ca/init", map[string]any{"token": wcfg.Demo.Token, "label": "acme-ca", "subject": "CN=Acme Test CA,O=Acme"}, http.StatusCreated), &ca)
	_ = json.Unmarshal(api("POST", "/v1/admin/ca/issue", map[string]any{"token": wcfg.Demo.Token, "ca": ca.URI, "label": "mary-2026",
		"subject": "CN=Mary Smith,O=Acme"}, http.StatusCreated), &leaf)
	if leaf.URI == "" {
		t.Fatal("the certificate made through the intake has no URI")
	}
	// The same name on the token again: the worker's refusal comes back as the same status a
	// process holding the token gives.
	api("POST", "/v1/admin/credentials/self-signed", map[string]any{"token": wcfg.Demo.Token, "label": "mary-2026", "subject": "CN=Again"}, http.StatusConflict)
	api("POST", "/v1/admin/credentials/self-signed", map[string]any{"token": "no-such-token", "label": "x", "subject": "CN=X"}, http.StatusNotFound)

	caCert := parsePEMCert(t, api("GET", "/v1/admin/ca/root?ca="+urlQuery(ca.URI), nil, http.StatusOK))
	leafCred, err := w.keys.Credential(ctx, leaf.URI)
	if err != nil {
		t.Fatal(err)
	}
	ocspOf := func() int {
		req, err := ocsp.CreateRequest(leafCred.Certificate, caCert, &ocsp.RequestOptions{Hash: crypto.SHA256})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Post(icfg.PublicURL+"/ca/ocsp", "application/ocsp-request", bytes.NewReader(req))
		if err != nil {
			t.Fatal(err)
		}
		der, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		r, err := ocsp.ParseResponseForCert(der, leafCred.Certificate, caCert)
		if err != nil {
			t.Fatalf("OCSP answer from the intake: %v", err)
		}
		return r.Status
	}
	if st := ocspOf(); st != ocsp.Good {
		t.Fatalf("OCSP from the intake before revocation: status %d, want good", st)
	}
	api("POST", "/v1/admin/ca/revoke", map[string]any{"credential": leaf.URI, "reason": "keyCompromise"}, http.StatusOK)
	if st := ocspOf(); st != ocsp.Revoked {
		t.Fatalf("OCSP from the intake after revocation: status %d, want revoked", st)
	}
	resp, err := http.Get(icfg.PublicURL + "/ca/crl/" + hex.EncodeToString(caCert.SubjectKeyId))
	if err != nil {
		t.Fatal(err)
	}
	crlDER, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	crl, err := x509.ParseRevocationList(crlDER)
	if err != nil || crl.CheckSignatureFrom(caCert) != nil {
		t.Fatalf("CRL from the intake: HTTP %d, %v", resp.StatusCode, err)
	}
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(leafCred.Certificate.SerialNumber) != 0 {
		t.Fatalf("CRL from the intake lists %d certificates, want the revoked one", len(crl.RevokedCertificateEntries))
	}

	// The worker recorded what it did for the intake, under who asked.
	st, err := w.js.Stream(ctx, contracts.StreamAudit)
	if err != nil {
		t.Fatal(err)
	}
	var made []string
	for seq := uint64(1); seq <= st.CachedInfo().State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		var e contracts.AuditEvent
		if json.Unmarshal(m.Data, &e) == nil && strings.Contains(e.Detail, "through an intake") {
			made = append(made, fmt.Sprintf("%s %s %s", e.Detail, e.Credential, e.Outcome))
		}
	}
	joined := strings.Join(made, "\n")
	for _, want := range []string{"by the admin API token through an intake: ca-init CN=Acme Test CA", "ca-issue CN=Mary Smith,O=Acme " + leaf.URI} {
		if !strings.Contains(joined, want) {
			t.Errorf("the audit trail lacks %q; it has:\n%s", want, joined)
		}
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func parsePEMCert(t *testing.T, b []byte) *x509.Certificate {
	t.Helper()
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("not PEM: %s", b)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func urlQuery(s string) string {
	return strings.NewReplacer("%", "%25", "&", "%26", ";", "%3B", "=", "%3D", "+", "%2B", " ", "%20").Replace(s)
}
