package faults

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/signet-b24/signet/contracts"
)

// soak reports whether the long runs are asked for (SIGNET_SOAK=1).
func soak() bool { return os.Getenv("SIGNET_SOAK") == "1" }

// TestClusterLeaderKilled runs three nats-server nodes on loopback (R3 streams and buckets,
// nats.replicas=3) and kills the node that leads the SIGN stream in the middle of a batch: every
// document completes, none is lost, none is signed twice. The batch is 2,000 documents under
// SIGNET_SOAK=1 and 300 in the normal suite (see bench/RESULTS.md for the 2,000 run).
func TestClusterLeaderKilled(t *testing.T) {
	n := 300
	if soak() {
		n = 2000
	}
	p := newPipeline(t, options{Nodes: 3, Workers: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	p.send(ctx, n)
	t.Logf("%d robot calls queued in %s", n, time.Since(start).Round(time.Millisecond))
	p.waitProgress(0.25, 5*time.Minute)

	st, err := p.js.Stream(ctx, contracts.StreamSign)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("SIGN is not replicated on three nodes: replicas %d, cluster %+v", info.Config.Replicas, info.Cluster)
	}
	leader := info.Cluster.Leader
	killed := -1
	for i, nd := range p.nats.nodes {
		if nd.opts.ServerName == leader {
			killed = i
		}
	}
	if killed < 0 {
		t.Fatalf("SIGN leader %q is not one of the nodes", leader)
	}
	p.nats.stop(killed)
	t.Logf("killed %s, the SIGN stream leader, at %d/%d completed", leader, p.completed(), n)
	if err := eventually(time.Minute, func() bool {
		info, err := st.Info(ctx)
		return err == nil && info.Cluster != nil && info.Cluster.Leader != "" && info.Cluster.Leader != leader
	}); err != nil {
		t.Fatalf("no new SIGN leader within a minute")
	}
	info, _ = st.Info(ctx)
	t.Logf("new SIGN leader %s", info.Cluster.Leader)
	p.verify(8 * time.Minute)
	t.Logf("%d documents through a three-node cluster with a leader killed in %s", n, time.Since(start).Round(time.Second))
}
