package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/internal/config"
)

// natsURLFile is where `signet serve` with the embedded nats-server writes its client URL, so that the
// CLI commands (admin, dlq, audit, status) find it without a fixed port.
func natsURLFile(cfg *config.Config) string { return filepath.Join(cfg.DataDir, "nats.url") }

// dialNATS connects a CLI command to the configured NATS, or to the embedded server of a running
// `signet serve` on the same data directory.
func dialNATS(cfg *config.Config) (*nats.Conn, jetstream.JetStream, error) {
	url := cfg.NATS.URL
	if url == "" {
		b, err := os.ReadFile(natsURLFile(cfg))
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, errorf("cli.nats.none", "no NATS to connect to: set nats.url, or start `signet serve` with data_dir %[1]s first (it writes %[2]s)", cfg.DataDir, natsURLFile(cfg))
		}
		if err != nil {
			return nil, nil, err
		}
		url = strings.TrimSpace(string(b))
	}
	auth, err := natsAuth(cfg)
	if err != nil {
		return nil, nil, err
	}
	opts := append([]nats.Option{nats.Name("signet-cli"), nats.Timeout(5 * time.Second)}, auth...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, nil, wrapf(err, "cli.nats.connect", "connecting to NATS at %[1]s: %[2]v (is `signet serve` running?)", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// embeddedUser is the one user of the embedded nats-server; its password is <data_dir>/nats.password.
const embeddedUser = "signet"

func natsPasswordFile(cfg *config.Config) string { return filepath.Join(cfg.DataDir, "nats.password") }

// natsAuth returns the connection options that prove who this process is and protect the wire:
// nats.creds_file, or nats.user with the password read from nats.password_file (never a setting
// value), or, with no nats.url, the embedded server's own password; and TLS when a CA or a client
// certificate is configured. The inbox prefix is the user's own (_INBOX_<user>), so that the
// servers can let each role read only its own replies.
func natsAuth(cfg *config.Config) ([]nats.Option, error) {
	var opts []nats.Option
	n := cfg.NATS
	switch {
	case n.CredsFile != "":
		opts = append(opts, nats.UserCredentials(n.CredsFile))
	case n.User != "":
		pw, err := os.ReadFile(n.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("nats.password_file: %w", err)
		}
		opts = append(opts, nats.UserInfo(n.User, strings.TrimSpace(string(pw))), nats.CustomInboxPrefix("_INBOX_"+n.User))
	case n.URL == "":
		pw, err := os.ReadFile(natsPasswordFile(cfg))
		if err != nil {
			return nil, wrapf(err, "cli.nats.password", "the embedded NATS password (%[1]s): %[2]v; is `signet serve` running on this data_dir?", natsPasswordFile(cfg), err)
		}
		opts = append(opts, nats.UserInfo(embeddedUser, strings.TrimSpace(string(pw))))
	}
	if n.TLSCAFile != "" {
		opts = append(opts, nats.RootCAs(n.TLSCAFile))
	}
	if n.TLSCertFile != "" {
		opts = append(opts, nats.ClientCert(n.TLSCertFile, n.TLSKeyFile))
	}
	return opts, nil
}

// loadAndDialNATS loads the named command's configuration with load (a usage error if it is wrong)
// and connects to its NATS; the caller closes the connection.
func loadAndDialNATS(load func(name string) (*config.Config, error), name string) (*config.Config, *nats.Conn, jetstream.JetStream, error) {
	cfg, err := load(name)
	if err != nil {
		return nil, nil, nil, usageError{err}
	}
	nc, js, err := dialNATS(cfg)
	return cfg, nc, js, err
}
