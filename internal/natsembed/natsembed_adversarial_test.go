package natsembed

import (
	"errors"
	"testing"

	"github.com/nats-io/nats.go"
)

// The embedded server's client port (open to every local user of the machine) refuses a client
// without the password or with a wrong one; and it will not listen beyond loopback without one.
func TestAttackUnauthenticatedEmbeddedNATS(t *testing.T) {
	s, err := Start(Options{StoreDir: t.TempDir(), User: "signet", Password: "c0ffee"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	for name, opts := range map[string][]nats.Option{
		"no credentials": nil,
		"wrong password": {nats.UserInfo("signet", "guess")},
		"another user":   {nats.UserInfo("admin", "c0ffee")},
	} {
		nc, err := nats.Connect(s.ClientURL(), append(opts, nats.NoReconnect())...)
		if err == nil {
			nc.Close()
			t.Errorf("%s: connected, want refused", name)
		} else if !errors.Is(err, nats.ErrAuthorization) {
			t.Errorf("%s: %v, want an authorization violation", name, err)
		}
	}
	nc, err := nats.Connect(s.ClientURL(), nats.UserInfo("signet", "c0ffee"))
	if err != nil {
		t.Fatalf("the right password: %v", err)
	}
	nc.Close()
	if s, err := Start(Options{StoreDir: t.TempDir(), Host: "0.0.0.0"}); err == nil {
		s.Shutdown()
		t.Fatal("listening on 0.0.0.0 without a password was allowed")
	}
}
