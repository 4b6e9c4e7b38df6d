// Package natstest gives a test a real, embedded JetStream server in a temporary directory.
package natstest

import (
	"context"
	"slices"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/internal/natsembed"
)

// Server is a running embedded nats-server with a connected client.
type Server struct {
	Srv *server.Server
	NC  *nats.Conn
	JS  jetstream.JetStream
	Dir string
}

// Start runs an embedded JetStream server for the test; it is shut down by t.Cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	dir := t.TempDir()
	srv, err := natsembed.Start(natsembed.Options{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		srv.Shutdown()
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		nc.Close()
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return &Server{Srv: srv, NC: nc, JS: js, Dir: dir}
}

// CreateStreams makes the streams of configs that names lists, as Signet provisions them when
// configs is queue.Streams (natstest cannot call it: queue's own tests use natstest).
func (s *Server) CreateStreams(t testing.TB, configs []jetstream.StreamConfig, names ...string) {
	t.Helper()
	for _, sc := range configs {
		if slices.Contains(names, sc.Name) {
			if _, err := s.JS.CreateStream(context.Background(), sc); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// Msgs is the number of messages stream holds now; the test fails when the stream cannot be read.
func (s *Server) Msgs(t testing.TB, stream string) uint64 {
	t.Helper()
	st, err := s.JS.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}
