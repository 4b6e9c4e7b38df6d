package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// replicaSilence is how long a stream replica may go unheard from before status names its node: the
// leader hears from each follower many times a second, so only a stopped or cut-off node stays silent.
const replicaSilence = 10 * time.Second

// statusNode is one NATS server as Signet's replicated streams and buckets see it.
type statusNode struct {
	Name string `json:"name"`
	// Leads, Current and Offline count streams (buckets included) it leads, follows in step, and is
	// offline or silent for.
	Leads   int `json:"leads"`
	Current int `json:"current"`
	Offline int `json:"offline"`
	// OfflineFor names those streams.
	OfflineFor []string `json:"offline_for,omitempty"`
}

// clusterView asks each of Signet's streams and buckets for its replicas and sums them per NATS node;
// it lists as problems each node offline (or silent) for some of them and each stream without a leader
// (issue 21 must 7: status shows the cluster truthfully). A single server has no cluster information:
// no nodes, no problems.
func clusterView(ctx context.Context, js jetstream.JetStream, streams []string, rep *statusReport) []statusNode {
	byName := map[string]*statusNode{}
	node := func(name string) *statusNode {
		n := byName[name]
		if n == nil {
			n = &statusNode{Name: name}
			byName[name] = n
		}
		return n
	}
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
			rep.problem("cli.status.noLeader", "stream %[1]s has no leader: fewer than a quorum of its %[2]d NATS nodes answer", name, info.Config.Replicas)
		} else {
			node(info.Cluster.Leader).Leads++
		}
		for _, r := range info.Cluster.Replicas {
			if r == nil {
				continue
			}
			n := node(r.Name)
			switch {
			case r.Offline || r.Active > replicaSilence:
				n.Offline++
				n.OfflineFor = append(n.OfflineFor, name)
			case r.Current:
				n.Current++
			}
		}
	}
	nodes := make([]statusNode, 0, len(byName))
	for _, n := range byName {
		nodes = append(nodes, *n)
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	for _, n := range nodes {
		if n.Offline == 0 {
			continue
		}
		list := strings.Join(n.OfflineFor, ", ")
		if len(n.OfflineFor) > 4 {
			list = strings.Join(n.OfflineFor[:4], ", ") + fmt.Sprintf(" +%d", len(n.OfflineFor)-4)
		}
		rep.problem("cli.status.nodeOffline", "NATS node %[1]s is offline for %[2]d stream(s) (%[3]s): start it or check its network; the streams run on the other replicas meanwhile", n.Name, n.Offline, list)
	}
	return nodes
}

func printNodes(w io.Writer, nodes []statusNode) {
	if len(nodes) == 0 {
		return // one server: nothing replicated to show
	}
	fmt.Fprintln(w, tr("cli.status.nodesHeading", "\nNATS nodes (Signet's streams and buckets):"))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, tr("cli.status.nodesHeader", "  NODE\tLEADS\tIN STEP\tOFFLINE FOR"))
	for _, n := range nodes {
		off := "-"
		if n.Offline > 0 {
			off = fmt.Sprintf("%d", n.Offline)
		}
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%s\n", n.Name, n.Leads, n.Current, off)
	}
	tw.Flush()
}
