package faults

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// Hosts for the multi-host test (multihost_test.go): each a Linux network namespace made with
// `ip netns add`, joined by a veth pair to one bridge in the test's own namespace, on 10.213.77.0/24.
// The test's namespace is a host too (10.213.77.1: the load balancer, the Bitrix24 emulator and the
// operator's shell); every other process runs with `ip netns exec` and sees only its own addresses
// and loopback, as on a machine of its own.
const (
	netnsPrefix = "signet-"    // every namespace the test makes; a stale one is swept at start
	netBridge   = "signet-br0" // at most 15 bytes, like every interface name
	netSubnet   = "10.213.77."
	netLock     = "/run/signet-multihost.lock"
)

// netHost is one namespace with its address on the bridge.
type netHost struct {
	name, ns, ip string
}

type testNet struct {
	t     testing.TB
	hosts []*netHost
}

// requireNetns skips the test, saying why, unless it runs as root and `ip netns` works here.
func requireNetns(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the multi-host test makes network namespaces (ip netns, veth, a bridge): it needs root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("the multi-host test needs ip from iproute2 (apt-get install iproute2)")
	}
	probe := fmt.Sprintf("%sprobe-%d", netnsPrefix, os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", probe).CombinedOutput(); err != nil {
		t.Skipf("ip netns does not work here (%v: %s): the multi-host test needs network namespaces", err, strings.TrimSpace(string(out)))
	}
	_ = exec.Command("ip", "netns", "del", probe).Run()
}

// newTestNet takes the machine-wide lock (one multi-host run at a time: they share the bridge's name
// and subnet), sweeps what a crashed run left, and makes the bridge; everything is removed when the
// test ends, passed or failed.
func newTestNet(t testing.TB) *testNet {
	t.Helper()
	f, err := os.OpenFile(netLock, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	n := &testNet{t: t}
	sweepNetns(t)
	t.Cleanup(func() {
		sweepNetns(t)
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	})
	n.ip("link", "add", netBridge, "type", "bridge")
	n.ip("addr", "add", netSubnet+"1/24", "dev", netBridge)
	n.ip("link", "set", netBridge, "up")
	return n
}

// addHost makes a namespace with address 10.213.77.<octet>, loopback up, on the bridge.
func (n *testNet) addHost(name string, octet int) *netHost {
	n.t.Helper()
	h := &netHost{name: name, ns: netnsPrefix + name, ip: fmt.Sprintf("%s%d", netSubnet, octet)}
	outer, inner := fmt.Sprintf("sgv%d", octet), fmt.Sprintf("sgp%d", octet)
	n.ip("netns", "add", h.ns)
	n.ip("link", "add", outer, "type", "veth", "peer", "name", inner)
	n.ip("link", "set", inner, "netns", h.ns)
	n.ip("link", "set", outer, "master", netBridge, "up")
	n.ip("-n", h.ns, "link", "set", "lo", "up")
	n.ip("-n", h.ns, "link", "set", inner, "name", "eth0")
	n.ip("-n", h.ns, "addr", "add", h.ip+"/24", "dev", "eth0")
	n.ip("-n", h.ns, "link", "set", "eth0", "up")
	n.hosts = append(n.hosts, h)
	return h
}

func (n *testNet) ip(args ...string) {
	n.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		n.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// sweepNetns kills what runs in any signet-* namespace and deletes it (their veth ends go with them),
// then the bridge: what this test makes, or a crashed run of it left behind.
func sweepNetns(t testing.TB) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Logf("ip netns list: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], netnsPrefix) {
			continue
		}
		pids, _ := exec.Command("ip", "netns", "pids", f[0]).Output()
		for _, p := range strings.Fields(string(pids)) {
			var pid int
			if _, err := fmt.Sscan(p, &pid); err == nil && pid > 1 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if out, err := exec.Command("ip", "netns", "del", f[0]).CombinedOutput(); err != nil {
			t.Logf("ip netns del %s: %v: %s", f[0], err, out)
		}
	}
	_ = exec.Command("ip", "link", "del", netBridge).Run()
}
