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
			return nil, nil, fmt.Errorf("no NATS to connect to: set nats.url, or start `signet serve` with data_dir %s first (it writes %s)", cfg.DataDir, natsURLFile(cfg))
		}
		if err != nil {
			return nil, nil, err
		}
		url = strings.TrimSpace(string(b))
	}
	opts := []nats.Option{nats.Name("signet-cli"), nats.Timeout(5 * time.Second)}
	if cfg.NATS.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.NATS.CredsFile))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to NATS at %s: %w (is `signet serve` running?)", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
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
