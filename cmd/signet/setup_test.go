package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/internal/config"
	"github.com/signet-b24/signet/internal/natsembed"
	"github.com/signet-b24/signet/storage"
	"github.com/signet-b24/signet/storage/miniotest"
)

// startCluster runs an n-node JetStream cluster on loopback (as faults/ does), for replicas > 1.
func startCluster(t *testing.T, n int) string {
	t.Helper()
	url, _ := startClusterNodes(t, n)
	return url
}

// startClusterNodes is startCluster that also returns the nodes, for a test that stops one.
func startClusterNodes(t *testing.T, n int) (string, []*server.Server) {
	t.Helper()
	free := func() int {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
	routes := make([]int, n)
	for i := range routes {
		routes[i] = free()
	}
	var urls []string
	var nodes []*server.Server
	for i := range n {
		o := &server.Options{ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: free(), JetStream: true,
			StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
			Cluster: server.ClusterOpts{Name: "signet-setup-test", Host: "127.0.0.1", Port: routes[i]}}
		for j, p := range routes {
			if j != i {
				o.Routes = append(o.Routes, server.RoutesFromStr(fmt.Sprintf("nats://127.0.0.1:%d", p))...)
			}
		}
		s, err := server.NewServer(o)
		if err != nil {
			t.Fatal(err)
		}
		go s.Start()
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
		if !s.ReadyForConnections(20 * time.Second) {
			t.Fatalf("nats node %d not ready", i+1)
		}
		nodes = append(nodes, s)
		urls = append(urls, s.ClientURL())
	}
	waitFor(t, 30*time.Second, "a JetStream meta leader", func() bool {
		for _, s := range nodes {
			if !s.JetStreamIsCurrent() {
				return false
			}
		}
		return true
	})
	return strings.Join(urls, ","), nodes
}

// clusterState is every stream's (KV buckets included) and consumer's configuration.
func clusterState(t *testing.T, ctx context.Context, js jetstream.JetStream) map[string]any {
	t.Helper()
	out := map[string]any{}
	names := js.StreamNames(ctx)
	for name := range names.Name() {
		st, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		out["stream "+name] = st.CachedInfo().Config
		cons := st.ListConsumers(ctx)
		for ci := range cons.Info() {
			out["consumer "+name+"/"+ci.Name] = ci.Config
		}
		if err := cons.Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := names.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Issue 21 must 3: on a cluster provisioned by `signet setup` with R3 and a retention of 14 days,
// the read-only commands run with a configuration that says R1, other worker settings and a 1-day
// retention change no stream, consumer or bucket (StreamInfo.Config compared before and after) and
// set no S3 lifecycle rule; `signet status` exits 0 on the healthy cluster.
func TestReadOnlyCommandsLeaveTheClusterAlone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	mio := miniotest.Start(t)
	t.Setenv("SIGNET_S3_ACCESS_KEY", mio.AccessKey)
	t.Setenv("SIGNET_S3_SECRET_KEY", mio.SecretKey)
	t.Setenv("SIGNET_CONFIG", "")
	url := startCluster(t, 3)
	dir := t.TempDir()
	if _, err := loadOrCreateSecretKeys(filepath.Join(dir, "secret.keys")); err != nil {
		t.Fatal(err)
	}
	storageURL := mio.URL("signet-ro", "artefacts")
	owner := []string{"--nats-url", url, "--data-dir", dir, "--storage-url", storageURL}
	if out, code := runCLI(t, append([]string{"setup", "--nats-replicas", "3", "--storage-retention", "336h"}, owner...)...); code != 0 {
		t.Fatalf("signet setup: exit %d\n%s", code, out)
	}

	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	before := clusterState(t, ctx, js)
	for _, want := range []string{"stream SIGN", "stream KV_signet_portals", "stream KV_signet_jobs", "stream KV_signet_users", "consumer SIGN/sign-batch"} {
		c, ok := before[want]
		if !ok {
			t.Fatalf("setup did not make %s: %v", want, slices.Sorted(func(yield func(string) bool) {
				for k := range before {
					if !yield(k) {
						return
					}
				}
			}))
		}
		if r := replicasOf(c); r != 3 {
			t.Errorf("%s has %d replicas after setup, want 3", want, r)
		}
	}
	mc := mio.Client(t)
	lifecycle := func() string {
		lc, err := mc.GetBucketLifecycle(ctx, "signet-ro")
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%+v", lc.Rules)
	}
	rules := lifecycle()
	if !strings.Contains(rules, "Days:14") {
		t.Fatalf("setup's lifecycle rule: %s", rules)
	}

	// A configuration that says otherwise, on every read-only command.
	t.Setenv("SIGNET_NATS_REPLICAS", "1")
	t.Setenv("SIGNET_WORKER_MAX_DELIVER", "3")
	t.Setenv("SIGNET_WORKER_ACK_WAIT", "5s")
	t.Setenv("SIGNET_STORAGE_RETENTION", "24h")
	other := []string{"--nats-url", url, "--data-dir", dir, "--storage-url", storageURL}
	out, code := runCLI(t, append([]string{"status", "--sample", "10ms", "--expect-workers", "0"}, other...)...)
	if code != 0 || strings.Contains(out, "Problems:") {
		t.Errorf("status on a healthy cluster: exit %d\n%s", code, out)
	}
	for _, cmd := range [][]string{{"status", "--json", "--sample", "10ms", "--expect-workers", "0"},
		{"dlq", "list"}, {"batch", "list"}, {"admin", "bitrix24", "portals"}, {"admin", "user", "list"},
		{"audit", "verify"}, {"config", "print"}} {
		runCLI(t, append(cmd, other...)...) // some fail (nothing to list); none may change anything
	}
	after := clusterState(t, ctx, js)
	for k, b := range before {
		if a, ok := after[k]; !ok {
			t.Errorf("%s disappeared", k)
		} else if !reflect.DeepEqual(a, b) {
			t.Errorf("%s changed:\nbefore %+v\nafter  %+v", k, b, a)
		}
	}
	for k := range after {
		// Readers' ordered consumers are ephemeral and deleted when done; anything else is new.
		if _, ok := before[k]; !ok && !strings.HasPrefix(k, "consumer ") {
			t.Errorf("%s was created by a read-only command", k)
		}
	}
	if got := lifecycle(); got != rules {
		t.Errorf("lifecycle rule changed by a read-only command:\nbefore %s\nafter  %s", rules, got)
	}
}

func replicasOf(c any) int {
	switch c := c.(type) {
	case jetstream.StreamConfig:
		return c.Replicas
	case jetstream.ConsumerConfig:
		return c.Replicas
	}
	return -1
}

// `signet status` on a NATS nobody provisioned lists what is missing and exits 1, creating nothing;
// after `signet setup` it still exits 1 while no worker reports its tokens, and 0 when none is
// expected (--expect-workers 0; exit codes: docs/operations.md).
func TestStatusExitCodesGolden(t *testing.T) {
	t.Setenv("SIGNET_CONFIG", "")
	dir := t.TempDir()
	serveLikeNATS(t, dir)
	d := []string{"--data-dir", dir, "--sample", "10ms"}
	status := func() string { return transcript([]string{dir}, nil, append([]string{"status"}, d...)) }
	before := inRussian(status) // status only reads
	got := transcript([]string{dir}, nil,
		append([]string{"status"}, d...),
		[]string{"setup", "--data-dir", dir},
		append([]string{"status"}, d...),
		append([]string{"status", "--expect-workers", "0"}, d...))
	golden(t, "status_setup", got)
	golden(t, "status_setup.ru", before+inRussian(status))
}

// A server with nats.provision false only checks (issue 21 must 3): on a NATS nobody provisioned it
// refuses to start and names `signet setup`; after setup it starts with other worker settings and
// leaves every stream and consumer as setup made it.
func TestServerWithoutProvisionOnlyChecks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t.Setenv("SIGNET_CONFIG", "")
	dir := t.TempDir()
	srv, err := natsembed.Start(natsembed.Options{StoreDir: filepath.Join(dir, "jetstream")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	url := srv.ClientURL()
	load := func(extra ...string) *config.Config {
		t.Helper()
		cfg, _, err := config.Load("test", append([]string{"--nats-url", url, "--data-dir", dir}, extra...), func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	noProvision := load("--nats-provision=false", "--worker-max-deliver", "3", "--worker-ack-wait", "7s")
	if _, err := openApp(ctx, noProvision, zap.NewNop(), role{}); err == nil || !strings.Contains(err.Error(), "signet setup") {
		t.Fatalf("a non-provisioning server on an empty NATS: %v, want an error naming signet setup", err)
	}
	if out, code := runCLI(t, "setup", "--nats-url", url, "--data-dir", dir); code != 0 {
		t.Fatalf("signet setup: exit %d\n%s", code, out)
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	before := clusterState(t, ctx, js)
	a, err := openApp(ctx, noProvision, zap.NewNop(), role{})
	if err != nil {
		t.Fatalf("after setup: %v", err)
	}
	a.Close()
	after := clusterState(t, ctx, js)
	for k, b := range before {
		if !reflect.DeepEqual(after[k], b) {
			t.Errorf("%s changed by a server with nats.provision false:\nbefore %+v\nafter  %+v", k, b, after[k])
		}
	}
	// The default still provisions, as `signet serve` always did.
	a, err = openApp(ctx, load("--worker-max-deliver", "3", "--worker-ack-wait", "7s"), zap.NewNop(), role{})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	c, ok := clusterState(t, ctx, js)["consumer SIGN/sign-batch"].(jetstream.ConsumerConfig)
	if !ok || c.MaxDeliver != 3 || c.AckWait != 7*time.Second {
		t.Errorf("a provisioning server did not apply its worker settings: %+v", c)
	}
}

// storage.credentials_file reaches the S3 client (the deploy/ files give S3 keys as a file, never in
// the environment): a file that is not there is named in the error before anything is dialled.
func TestStorageCredentialsFileIsUsed(t *testing.T) {
	t.Setenv("SIGNET_S3_ACCESS_KEY", "from-env")
	t.Setenv("SIGNET_S3_SECRET_KEY", "from-env-secret")
	cfg := &config.Config{}
	cfg.Storage.URL = "s3://bucket?endpoint=127.0.0.1:1&secure=false"
	cfg.Storage.CredentialsFile = filepath.Join(t.TempDir(), "s3.credentials")
	_, err := openStorage(context.Background(), cfg, storage.Options{}, false)
	if err == nil || !strings.Contains(err.Error(), "s3.credentials") {
		t.Fatalf("openStorage with a missing credentials file: %v, want an error naming it", err)
	}
}
