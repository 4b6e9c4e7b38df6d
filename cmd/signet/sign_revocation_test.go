package main

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/internal/routes"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/keyring"
	"github.com/signet-b24/signet/producer/identity"
	"github.com/signet-b24/signet/web"
)

// `signet sign` outside the queue refuses a certificate the internal CA revoked before the key
// signs, by the workers' rule (keyring.Credential.CheckUsable): from the list in NATS when the
// server's NATS is reachable; with --check-revocation from the certificate's OCSP responder (here
// Signet's own, on loopback), also when NATS is not; and with --check-revocation and no answer it
// refuses too. Without NATS and without the flag it signs, and says the list was not read.
func TestSignRefusesARevokedCertificate(t *testing.T) {
	testenv.RequireTool(t, "softhsm2-util")
	ctx := context.Background()
	srv, module, pinFile, q := caRig(t)
	dir := t.TempDir()

	// Signet's CRL and OCSP responder, as `signet serve` mounts them, reading the same NATS.
	nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo(embeddedUser, "4711abcd"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	policy, err := identity.LookupCredentialPolicy(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	k, err := keyring.Open(ctx, []keyring.TokenConfig{{Name: "acme", Module: module, Label: "acme", PinFile: pinFile}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	mux := routes.New()
	(&web.Revocation{Responder: keyring.NewResponder(k, policy, nil).WithRegister(policy)}).Routes(mux)
	ca := httptest.NewServer(mux)
	defer ca.Close()
	t.Setenv("SIGNET_CA_REVOCATION_URL", ca.URL)

	if out, code := runCLI(t, "admin", "ca", "init", "--token", "pkcs11:token=acme"+q, "--label", "acme-ca", "--subject", "CN=Acme CA"); code != 0 {
		t.Fatalf("ca init: %d\n%s", code, out)
	}
	if out, code := runCLI(t, "admin", "ca", "issue", "--ca", "pkcs11:token=acme;object=acme-ca", "--token", "pkcs11:token=acme"+q,
		"--label", "mary", "--subject", "CN=Mary"); code != 0 {
		t.Fatalf("ca issue: %d\n%s", code, out)
	}
	sign := func(name string, extra ...string) (string, int, string) {
		t.Helper()
		out := filepath.Join(dir, name+".pdf")
		args := append([]string{"sign", "--key", "pkcs11:token=acme;object=mary" + q, "--in", "../../testdata/pdf/invoice.pdf", "--out", out}, extra...)
		o, code := runCLI(t, args...)
		return o, code, out
	}
	signed := func(path string) bool {
		_, err := os.Stat(path)
		return err == nil
	}

	if o, code, out := sign("before", "--check-revocation"); code != 0 || !signed(out) {
		t.Fatalf("before the revocation, with --check-revocation (the responder answers good): exit %d\n%s", code, o)
	}
	if o, code := runCLI(t, "admin", "ca", "revoke", "pkcs11:token=acme;object=mary"+q, "--reason", "keyCompromise"); code != 0 {
		t.Fatalf("revoke: %d\n%s", code, o)
	}
	if o, code, out := sign("from-nats"); code != 1 || !strings.Contains(o, "was revoked on") || !strings.Contains(o, "issue a new one") || signed(out) {
		t.Errorf("revoked, NATS reachable: exit %d, output written %v\n%s", code, signed(out), o)
	}

	// The server's NATS out of reach.
	t.Setenv("SIGNET_NATS_URL", "nats://127.0.0.1:1")
	if o, code, out := sign("online", "--check-revocation"); code != 1 || !strings.Contains(o, "its OCSP responder says so") || signed(out) {
		t.Errorf("revoked, no NATS, --check-revocation: exit %d, output written %v\n%s", code, signed(out), o)
	}
	if o, code, out := sign("offline"); code != 0 || !strings.Contains(o, "list of revoked certificates was not read") || !signed(out) {
		t.Errorf("no NATS, no --check-revocation: the documented offline default signs with a note: exit %d\n%s", code, o)
	}
	ca.Close()
	if o, code, out := sign("no-answer", "--check-revocation"); code != 1 || !strings.Contains(o, "could not be learnt") || signed(out) {
		t.Errorf("--check-revocation with the responder and the CRL down: exit %d, output written %v\n%s", code, signed(out), o)
	}
}
