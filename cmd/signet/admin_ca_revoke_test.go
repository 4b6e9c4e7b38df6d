package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/natsembed"
	"github.com/signet-b24/signet/keyring/softhsm"
	"github.com/signet-b24/signet/producer/identity"
)

// serveLikeNATS is the embedded NATS as `signet serve` leaves it in dir: its URL and the password
// of its one user in files, where the admin commands find them.
func serveLikeNATS(t *testing.T, dir string) *server.Server {
	t.Helper()
	srv, err := natsembed.Start(natsembed.Options{StoreDir: filepath.Join(dir, "jetstream"), User: embeddedUser, Password: "4711abcd"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	os.WriteFile(filepath.Join(dir, "nats.url"), []byte(srv.ClientURL()+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "nats.password"), []byte("4711abcd\n"), 0o600)
	return srv
}

// caRig is a Signet's NATS (provisioned, as `signet setup` leaves it) and a SoftHSM token "acme"
// (user PIN in pinFile); q is the query that makes a key URI on it usable from the command line.
func caRig(t *testing.T) (srv *server.Server, module, pinFile, q string) {
	t.Helper()
	dir := t.TempDir()
	srv = serveLikeNATS(t, dir)
	if _, err := loadOrCreateSecretKeys(filepath.Join(dir, "secret.keys")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SIGNET_DATA_DIR", dir)
	// The CLI only looks buckets up: provision them as an operator would.
	if out, code := runCLI(t, "setup"); code != 0 {
		t.Fatalf("signet setup: exit %d\n%s", code, out)
	}
	module, pinFile, q = acmeToken(t, dir)
	return srv, module, pinFile, q
}

// acmeToken is a SoftHSM token "acme" in dir with its PIN in a file, and the query that names both
// in a key URI (RFC 7512 module-path and pin-source).
func acmeToken(t *testing.T, dir string) (module, pinFile, q string) {
	t.Helper()
	module, err := softhsm.Init(filepath.Join(dir, "hsm"), "acme", "so-4711", "user-4711")
	if err != nil {
		t.Fatal(err)
	}
	pinFile = filepath.Join(dir, "acme.pin")
	if err := os.WriteFile(pinFile, []byte("user-4711\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return module, pinFile, "?module-path=" + module + "&pin-source=file:" + pinFile
}

// `signet admin ca revoke` records a revocation, by key URI (read from the token) or by serial, in
// the NATS of a running Signet, where the workers and the OCSP responder read it (and `admin ca
// issue` records what it issues in the register); the same
// certificate twice, an unknown reason or a serial that is not hex are refused.
func TestAdminCARevoke(t *testing.T) {
	srv, _, _, q := caRig(t)
	if out, code := runCLI(t, "admin", "ca", "init", "--token", "pkcs11:token=acme"+q, "--label", "acme-ca", "--subject", "CN=Acme CA"); code != 0 {
		t.Fatalf("ca init: %d\n%s", code, out)
	}
	if out, code := runCLI(t, "admin", "ca", "issue", "--ca", "pkcs11:token=acme;object=acme-ca", "--token", "pkcs11:token=acme"+q,
		"--label", "mary", "--subject", "CN=Mary"); code != 0 {
		t.Fatalf("ca issue: %d\n%s", code, out)
	}

	out, code := runCLI(t, "admin", "ca", "revoke", "pkcs11:token=acme;object=mary"+q, "--reason", "keyCompromise")
	if code != 0 || !strings.Contains(out, "revoked serial") {
		t.Fatalf("revoke by URI: exit %d\n%s", code, out)
	}
	if out, code := runCLI(t, "admin", "ca", "revoke", "--reason", "superseded", "0A:1B:2C"); code != 0 {
		t.Fatalf("revoke by serial: exit %d\n%s", code, out)
	}
	if out, code := runCLI(t, "admin", "ca", "revoke", "pkcs11:token=acme;object=mary"+q); code != 1 || !strings.Contains(out, "already revoked") {
		t.Errorf("revoking again: exit %d\n%s", code, out)
	}
	if out, code := runCLI(t, "admin", "ca", "revoke", "--reason", "bored", "0a"); code != 2 || !strings.Contains(out, "keyCompromise") {
		t.Errorf("an unknown reason: exit %d\n%s", code, out)
	}
	if out, code := runCLI(t, "admin", "ca", "revoke", "mary"); code != 2 || !strings.Contains(out, "hexadecimal") {
		t.Errorf("a serial that is not hex: exit %d\n%s", code, out)
	}

	nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo(embeddedUser, "4711abcd"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	p, err := identity.NewCredentialPolicy(context.Background(), js, 1)
	if err != nil {
		t.Fatal(err)
	}
	list, err := p.Revocations(context.Background())
	if err != nil || len(list) != 2 {
		t.Fatalf("revocations in NATS: %v %+v", err, list)
	}
	if list[0].Reason != 1 || list[0].Issuer == "" || list[0].Subject != "CN=Mary" || list[1] != (contracts.Revocation{Serial: "a1b2c", Reason: 4, RevokedAt: list[1].RevokedAt}) {
		t.Errorf("recorded: %+v", list)
	}
	// `admin ca issue` recorded mary's certificate in the register the OCSP responder reads.
	if ok, err := p.Issued(context.Background(), list[0].Issuer, list[0].Serial); !ok || err != nil {
		t.Errorf("mary's certificate is not in the register of issued certificates: %v", err)
	}
}
