package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// replicaSilence is how long a stream replica may go unheard from before status names its node: the
// leader hears from each follower many times a second, so only a stopped or cut-off node stays silent.
const replicaSilence = 10 * time.Second

// replicaProblems names each NATS node that is offline (or silent) for some of Signet's streams and
// buckets, and each stream without a leader (issue 21 must 7: status shows the cluster truthfully).
// A single server has no cluster information and nothing to name.
func replicaProblems(ctx context.Context, js jetstream.JetStream, streams []string) []string {
	down := map[string][]string{}
	var problems []string
	for _, name := range streams {
		st, err := js.Stream(ctx, name)
		if err != nil {
			continue // a missing one is listed already
		}
		info, err := st.Info(ctx)
		if err != nil || info.Cluster == nil || info.Config.Replicas <= 1 {
			continue
		}
		if info.Cluster.Leader == "" {
			problems = append(problems, fmt.Sprintf("stream %s has no leader: fewer than a quorum of its %d NATS nodes answer", name, info.Config.Replicas))
			continue
		}
		for _, r := range info.Cluster.Replicas {
			if r != nil && (r.Offline || r.Active > replicaSilence) {
				down[r.Name] = append(down[r.Name], name)
			}
		}
	}
	nodes := make([]string, 0, len(down))
	for n := range down {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	for _, n := range nodes {
		s := down[n]
		list := strings.Join(s, ", ")
		if len(s) > 4 {
			list = strings.Join(s[:4], ", ") + fmt.Sprintf(" and %d more", len(s)-4)
		}
		problems = append(problems, fmt.Sprintf("NATS node %s is offline for %d stream(s) (%s): start it or check its network; the streams run on the other replicas meanwhile", n, len(s), list))
	}
	return problems
}
