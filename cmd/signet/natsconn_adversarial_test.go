package main

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/signet-b24/signet/bitrix24/emulator"
)

// `signet serve` with no configuration: its embedded NATS port refuses a local process that does not
// hold the password from data_dir, and the job keys are on disk as the documentation says (the
// signing key and the NATS password readable by the owner only, the verification file public keys
// only).
func TestAttackEmbeddedNATSWithoutPassword(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, cfg, _ := startInstalled(t, ctx, emulator.Config{})
	nc, err := nats.Connect(a.embedded.ClientURL(), nats.NoReconnect())
	if err == nil {
		nc.Close()
		t.Fatal("an unauthenticated client connected to the embedded NATS")
	}
	if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("unauthenticated client: %v, want an authorization violation", err)
	}
	for _, f := range []string{cfg.Security.JobSigningKeyFile, natsPasswordFile(cfg)} {
		st, err := os.Stat(f)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v; want 0600", f, err, st.Mode().Perm())
		}
	}
	pub, err := os.ReadFile(cfg.Security.JobVerifyKeysFile)
	if err != nil || !strings.Contains(string(pub), "PUBLIC KEY") || strings.Contains(string(pub), "PRIVATE") {
		t.Errorf("%s: %v\n%s", cfg.Security.JobVerifyKeysFile, err, pub)
	}
	// The CLI finds the server and its password through data_dir.
	cnc, _, err := dialNATS(cfg)
	if err != nil {
		t.Fatalf("the CLI on the same data_dir: %v", err)
	}
	cnc.Close()
}
