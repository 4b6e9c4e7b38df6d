package natstest

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

func TestStartGivesWorkingJetStream(t *testing.T) {
	s := Start(t)
	ctx := context.Background()
	kv, err := s.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "probe"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, "k")
	if err != nil || string(e.Value()) != "v" {
		t.Fatalf("KV round trip: %v %q", err, e)
	}
}
