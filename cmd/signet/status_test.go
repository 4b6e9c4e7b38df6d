package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// `signet status` on a three-node cluster provisioned with R3 lists no problem while every node runs,
// and names the node that stopped (its replicas offline) until it is back (issue 21 must 7: status
// shows the cluster truthfully). No worker runs here: --expect-workers 0.
func TestStatusNamesAStoppedNATSNode(t *testing.T) {
	t.Setenv("SIGNET_CONFIG", "")
	url, nodes := startClusterNodes(t, 3)
	dir := t.TempDir()
	common := []string{"--nats-url", url, "--data-dir", dir, "--storage-url", "file://" + filepath.Join(dir, "artefacts")}
	if out, code := runCLI(t, append([]string{"setup", "--nats-replicas", "3"}, common...)...); code != 0 {
		t.Fatalf("signet setup: exit %d\n%s", code, out)
	}
	status := func() (string, int) {
		return runCLI(t, append([]string{"status", "--sample", "10ms", "--expect-workers", "0"}, common...)...)
	}
	if out, code := status(); code != 0 || strings.Contains(out, "Problems:") || !strings.Contains(out, "NATS nodes") {
		t.Fatalf("status on a healthy cluster: exit %d\n%s", code, out)
	} else {
		for _, n := range nodes {
			if !strings.Contains(out, "\n  "+n.Name()+" ") {
				t.Errorf("node %s not shown:\n%s", n.Name(), out)
			}
		}
	}
	stopped := nodes[2]
	name := stopped.Name()
	stopped.Shutdown()
	stopped.WaitForShutdown()
	// The streams whose leader it was elect another within seconds; until then status may say so.
	var out string
	var code int
	waitFor(t, 45*time.Second, "status naming the stopped node", func() bool {
		out, code = status()
		return code == 1 && strings.Contains(out, "NATS node "+name+" is offline for ")
	})
	if !strings.Contains(out, "(SIGN, ") {
		t.Errorf("the stopped node's streams are not named:\n%s", out)
	}
}
