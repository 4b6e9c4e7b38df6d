package queue

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
)

// Missing names what Provision would make and changes nothing: everything on an empty server (which
// stays empty), nothing after Provision, and a deleted consumer by name.
func TestMissingOnlyLooks(t *testing.T) {
	ns := natstest.Start(t)
	ctx := context.Background()
	got, err := Missing(ctx, ns.JS)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"stream SIGN", "stream CALLBACK", "stream AUDIT", "stream DEAD"}
	if !slices.Equal(got, want) {
		t.Fatalf("empty server: missing %v, want %v", got, want)
	}
	names := ns.JS.StreamNames(ctx)
	for n := range names.Name() {
		t.Errorf("Missing created stream %s", n)
	}
	if err := names.Err(); err != nil {
		t.Fatal(err)
	}
	if err := MissingError(got); err == nil {
		t.Error("MissingError of missing streams is nil")
	}
	if err := Provision(ctx, ns.JS, Settings{Replicas: 1, AckWait: 30 * time.Second, MaxDeliver: 5, MaxAckPending: 10}); err != nil {
		t.Fatal(err)
	}
	if got, err := Missing(ctx, ns.JS); err != nil || len(got) != 0 || MissingError(got) != nil {
		t.Fatalf("after Provision: missing %v, %v", got, err)
	}
	if err := ns.JS.DeleteConsumer(ctx, contracts.StreamSign, contracts.ConsumerSignBatch); err != nil {
		t.Fatal(err)
	}
	got, err = Missing(ctx, ns.JS)
	if err != nil || !slices.Equal(got, []string{"consumer " + contracts.StreamSign + "/" + contracts.ConsumerSignBatch}) {
		t.Fatalf("after deleting a consumer: missing %v, %v", got, err)
	}
}
