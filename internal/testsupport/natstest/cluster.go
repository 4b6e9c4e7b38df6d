package natstest

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Cluster is a three-node JetStream cluster in this process, on loopback, with a client connected to
// every node (it reconnects to another when one goes). It is the cheap stand-in for the multi-host
// test (faults/multihost_test.go) where a test needs replicated consumers and their leader changes.
type Cluster struct {
	Nodes []*server.Server
	NC    *nats.Conn
	JS    jetstream.JetStream
}

// StartCluster runs three nodes and waits for a JetStream meta leader; all are shut down by
// t.Cleanup. opts are added to the client's connection options (an ErrorHandler, say). Ports are picked free and then bound, so another test may take one in between: a
// cluster that cannot start is started again on other ports (at most three times).
func StartCluster(t testing.TB, opts ...nats.Option) *Cluster {
	t.Helper()
	var (
		nodes []*server.Server
		err   error
	)
	for attempt := 1; ; attempt++ {
		if nodes, err = tryCluster(t, 3); err == nil {
			break
		}
		if attempt == 3 {
			t.Fatal(err)
		}
	}
	c := &Cluster{Nodes: nodes}
	t.Cleanup(func() {
		if c.NC != nil {
			c.NC.Close()
		}
		for _, s := range c.Nodes {
			s.Shutdown()
			s.WaitForShutdown()
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for !c.current() {
		if time.Now().After(deadline) {
			t.Fatal("the NATS cluster did not elect a JetStream meta leader within 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	var urls []string
	for _, s := range nodes {
		urls = append(urls, s.ClientURL())
	}
	if c.NC, err = nats.Connect(strings.Join(urls, ","), append([]nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(100 * time.Millisecond)}, opts...)...); err != nil {
		t.Fatal(err)
	}
	if c.JS, err = jetstream.New(c.NC); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *Cluster) current() bool {
	for _, s := range c.Nodes {
		if !s.JetStreamIsCurrent() {
			return false
		}
	}
	return true
}

func tryCluster(t testing.TB, n int) ([]*server.Server, error) {
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	var nodes []*server.Server
	for i := range n {
		o := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: -1,
			JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true, MaxPayload: 8 << 20,
			Cluster: server.ClusterOpts{Name: "natstest", Host: "127.0.0.1", Port: ports[i]},
		}
		for j, p := range ports {
			if j != i {
				o.Routes = append(o.Routes, server.RoutesFromStr(fmt.Sprintf("nats://127.0.0.1:%d", p))...)
			}
		}
		s, err := server.NewServer(o)
		if err == nil {
			go s.Start()
			if !s.ReadyForConnections(20 * time.Second) {
				s.Shutdown()
				err = fmt.Errorf("nats node %s not ready (cluster port %d)", o.ServerName, ports[i])
			}
		}
		if err != nil {
			for _, s := range nodes {
				s.Shutdown()
				s.WaitForShutdown()
			}
			return nil, err
		}
		nodes = append(nodes, s)
	}
	return nodes, nil
}
