// Package natsembed runs an in-process nats-server with JetStream: the embedded default of
// `signet serve` when no NATS URL is configured, and the real JetStream every test runs against.
// It never listens on anything but loopback unless told to, and never on anything but loopback
// without a password.
package natsembed

import (
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options for the embedded server. Zero values are the embedded defaults.
type Options struct {
	// StoreDir is where JetStream keeps its file store. Required.
	StoreDir string
	// Host and Port of the client listener; Port -1 picks a free port. Default 127.0.0.1:-1.
	Host string
	Port int
	// MonitorPort serves /jsz, /healthz (0 = off, -1 = a free port).
	MonitorPort int
	// SyncAlways makes JetStream fsync every write (sync_interval: always), trading speed for a zero
	// loss window on power failure; see the README.
	SyncAlways bool
	// ServerName is the node's name in advisories and `nats server ls`. Default "signet".
	ServerName string
	// User and Password, when set, are the only credentials the server accepts (in-process
	// connections included). `signet serve` always sets them: its client port is open to every
	// local user of the machine.
	User, Password string
}

// Start starts the server and waits until it accepts clients.
func Start(o Options) (*server.Server, error) {
	if o.StoreDir == "" {
		return nil, fmt.Errorf("embedded NATS: no JetStream store directory given")
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Port == 0 {
		o.Port = -1
	}
	if o.ServerName == "" {
		o.ServerName = "signet"
	}
	opts := &server.Options{
		ServerName: o.ServerName,
		Host:       o.Host,
		Port:       o.Port,
		JetStream:  true,
		StoreDir:   o.StoreDir,
		NoSigs:     true,
		NoLog:      true,
		MaxPayload: 8 << 20,
	}
	if o.MonitorPort != 0 {
		opts.HTTPHost = o.Host
		opts.HTTPPort = o.MonitorPort
	}
	if o.SyncAlways {
		opts.SyncAlways = true
	}
	if o.User != "" {
		opts.Users = []*server.User{{Username: o.User, Password: o.Password}}
	} else if o.Host != "127.0.0.1" && o.Host != "localhost" && o.Host != "::1" {
		return nil, fmt.Errorf("embedded NATS: refusing to listen on %s without a password", o.Host)
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(15 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("embedded NATS did not become ready within 15 s (store %s)", o.StoreDir)
	}
	return s, nil
}
