package testenv

import (
	"net"
	"sync/atomic"
	"testing"
)

// DialWitness listens on a loopback port and counts the TCP connections made to it: an address an
// attacker's input names (a document URL, a redirect), which the code under test must never dial.
// It counts connections, not requests, so a refusal after connecting still shows (issue 15, must 8).
func DialWitness(t testing.TB) (addr string, dials *atomic.Int32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	dials = new(atomic.Int32)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			dials.Add(1)
			c.Close()
		}
	}()
	return l.Addr().String(), dials
}
