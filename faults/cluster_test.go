package faults

import (
	"context"
	"testing"
	"time"

	"github.com/signet-b24/signet/contracts"
)

// TestClusterLeaderKilled runs three nats-server nodes on loopback (R3 streams and buckets,
// nats.replicas=3) and kills the node that leads the SIGN stream during a 2,000-document batch: every
// document completes, none is lost, none is signed twice. (About 25 s here; SIGNET_CLUSTER_DOCS
// changes the size.)
func TestClusterLeaderKilled(t *testing.T) {
	n := envInt("SIGNET_CLUSTER_DOCS", 2000)
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
	// Each poll has its own short deadline: a JetStream API request that was in flight to the killed
	// node (or to a meta leader being replaced) gets no answer and would otherwise wait out ctx.
	var lastErr error
	newLeader := ""
	if err := eventually(time.Minute, func() bool {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		defer pcancel()
		info, err := st.Info(pctx)
		if err != nil {
			lastErr = err
			return false
		}
		if info.Cluster != nil && info.Cluster.Leader != "" && info.Cluster.Leader != leader {
			newLeader = info.Cluster.Leader
			return true
		}
		return false
	}); err != nil {
		t.Fatalf("no new SIGN leader within a minute (last error: %v)", lastErr)
	}
	t.Logf("new SIGN leader %s", newLeader)
	p.verify(8 * time.Minute)
	t.Logf("%d documents through a three-node cluster with a leader killed in %s", n, time.Since(start).Round(time.Second))
}
