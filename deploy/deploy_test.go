// Package deploy holds the deployment files (NATS cluster, systemd, Kubernetes, Grafana, Prometheus,
// the Debian package and the container image);
// its test checks that each parses with the tool's own parser or a strict stand-in, and that every
// metric the dashboard and the alerts use is one Signet exports.
package deploy

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"gopkg.in/yaml.v3"

	"github.com/signet-b24/signet/internal/config"
	"github.com/signet-b24/signet/internal/metrics"
)

// The three NATS configurations parse with nats-server's own loader, and three servers started from
// them (ports and routes moved to loopback, certificates from gen-certs.sh, password hashes as
// gen-users.sh makes them) form a cluster over mutual-TLS routes that accepts an R3 stream.
func TestNATSClusterConfig(t *testing.T) {
	m := newNATSMaterial(t)
	files := m.configs
	if len(files) != 3 {
		t.Fatalf("want three node configurations, found %v", files)
	}
	ports := make([]int, 3)
	for i := range ports {
		ports[i] = freePort(t)
	}
	var servers []*server.Server
	defer func() {
		for _, s := range servers {
			s.Shutdown()
			s.WaitForShutdown()
		}
	}()
	for i, f := range files {
		opts, err := server.ProcessConfigFile(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !opts.JetStream || opts.Cluster.Name != "signet" || len(opts.Routes) != 3 || !opts.SyncAlways {
			t.Fatalf("%s: want JetStream, cluster signet, 3 routes, sync_interval always; got js=%v cluster=%q routes=%d sync=%v",
				f, opts.JetStream, opts.Cluster.Name, len(opts.Routes), opts.SyncAlways)
		}
		if opts.TLSConfig == nil || opts.Cluster.TLSConfig == nil || opts.Cluster.TLSConfig.ClientAuth != tls.RequireAndVerifyClientCert {
			t.Fatalf("%s: want TLS for clients and mutual TLS on routes", f)
		}
		opts.Host, opts.Port, opts.HTTPPort = "127.0.0.1", -1, -1
		opts.Cluster.Host, opts.Cluster.Port = "127.0.0.1", ports[i]
		opts.Routes = server.RoutesFromStr(fmt.Sprintf("nats-route://127.0.0.1:%d,nats-route://127.0.0.1:%d,nats-route://127.0.0.1:%d", ports[0], ports[1], ports[2]))
		opts.StoreDir = t.TempDir()
		opts.NoLog, opts.NoSigs = true, true
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		go s.Start()
		servers = append(servers, s)
	}
	for _, s := range servers {
		if !s.ReadyForConnections(20 * time.Second) {
			t.Fatal("a NATS node did not start")
		}
	}
	nc := m.connect(t, servers[0], "admin")
	defer nc.Close()
	js, _ := jetstream.New(nc)
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "PROBE", Subjects: []string{"probe"}, Replicas: 3})
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the three nodes did not accept an R3 stream within a minute: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Units are INI files whose [Service] runs `signet intake` / `signet worker` / `signet setup` (the
// path the Debian package installs) with the shared configuration, and that configuration loads with
// Signet's own strict loader and leaves provisioning to signet-setup.service.
func TestSystemdUnits(t *testing.T) {
	for unit, sub := range map[string]string{"systemd/signet-intake.service": "intake", "systemd/signet-worker.service": "worker",
		"systemd/signet-setup.service": "setup"} {
		sections, err := parseINI(unit)
		if err != nil {
			t.Fatalf("%s: %v", unit, err)
		}
		for _, s := range []string{"Unit", "Service", "Install"} {
			if sections[s] == nil {
				t.Errorf("%s: no [%s] section", unit, s)
			}
		}
		svc := sections["Service"]
		if exec := svc["ExecStart"]; len(exec) != 1 || exec[0] != "/usr/bin/signet "+sub {
			t.Errorf("%s: ExecStart %v, want /usr/bin/signet %s", unit, exec, sub)
		}
		if !slices.Contains(svc["Environment"], "SIGNET_CONFIG=/etc/signet/signet.yaml") {
			t.Errorf("%s: the unit must point SIGNET_CONFIG at /etc/signet/signet.yaml", unit)
		}
		if got := sections["Install"]["WantedBy"]; len(got) != 1 || got[0] != "multi-user.target" {
			t.Errorf("%s: WantedBy %v", unit, got)
		}
	}
	cfg, _, err := config.Load("deploy", []string{"--config", "systemd/signet.yaml"}, func(string) string { return "" })
	if err != nil {
		t.Fatalf("systemd/signet.yaml: %v", err)
	}
	if cfg.NATS.Provision || cfg.Storage.CredentialsFile == "" {
		t.Errorf("systemd/signet.yaml: want nats.provision false (signet-setup.service provisions) and storage.credentials_file; got %v, %q",
			cfg.NATS.Provision, cfg.Storage.CredentialsFile)
	}
}

// parseINI reads a systemd unit: [Section] headers, Key=Value lines, # and ; comments, no line
// outside a section, no key without '='.
func parseINI(path string) (map[string]map[string][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]map[string][]string{}
	var cur map[string][]string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("line %d: unterminated section header", n)
			}
			cur = map[string][]string{}
			out[line[1:len(line)-1]] = cur
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || cur == nil || strings.TrimSpace(k) == "" {
				return nil, fmt.Errorf("line %d: %q is not Key=Value inside a section", n, line)
			}
			cur[strings.TrimSpace(k)] = append(cur[strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return out, sc.Err()
}

type k8sObject struct {
	APIVersion string         `yaml:"apiVersion"`
	Kind       string         `yaml:"kind"`
	Metadata   map[string]any `yaml:"metadata"`
	Data       map[string]string
	Spec       struct {
		Selector any `yaml:"selector"`
		Template struct {
			Spec struct {
				Containers []struct {
					Name           string `yaml:"name"`
					Args           []string
					LivenessProbe  *probe `yaml:"livenessProbe"`
					ReadinessProbe *probe `yaml:"readinessProbe"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

// The Kubernetes manifests are YAML with Deployments for intake and worker whose probes are
// /healthz (liveness) and /readyz (readiness), a Service selecting the intake, and a ConfigMap whose
// signet.yaml Signet's loader accepts.
func TestKubernetesManifests(t *testing.T) {
	kinds := map[string]int{}
	deployments := map[string]bool{}
	for _, d := range k8sDocuments(t) {
		f := d.file
		var o k8sObject
		if err := d.node.Decode(&o); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if o.APIVersion == "" || o.Kind == "" || o.Metadata["name"] == nil {
			t.Fatalf("%s: an object without apiVersion, kind or name", f)
		}
		kinds[o.Kind]++
		switch o.Kind {
		case "Deployment":
			for _, c := range o.Spec.Template.Spec.Containers {
				if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
					t.Errorf("%s: container %s must probe /healthz (liveness) and /readyz (readiness)", f, c.Name)
				}
				deployments[strings.Join(c.Args, " ")] = true
			}
		case "ConfigMap":
			if _, err := loadSignetYAML(t, o.Data["signet.yaml"]); err != nil {
				t.Errorf("%s: signet.yaml: %v", f, err)
			}
		}
	}
	if kinds["Deployment"] != 2 || kinds["Service"] < 1 || kinds["ConfigMap"] != 1 || !deployments["intake"] || !deployments["worker"] {
		t.Fatalf("kinds %v, deployments %v; want intake and worker Deployments, a Service and a ConfigMap", kinds, deployments)
	}
}

// k8sDocument is one YAML document of a file in k8s/.
type k8sDocument struct {
	file string
	node *yaml.Node
}

// k8sDocuments reads every document of every file in k8s/.
func k8sDocuments(t *testing.T) []k8sDocument {
	t.Helper()
	files, _ := filepath.Glob("k8s/*.yaml")
	var out []k8sDocument
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		for {
			var n yaml.Node
			err := dec.Decode(&n)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			out = append(out, k8sDocument{file: f, node: &n})
		}
	}
	return out
}

// loadSignetYAML loads a signet.yaml text with Signet's own strict loader.
func loadSignetYAML(t *testing.T, text string) (*config.Config, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "signet.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _, err := config.Load("deploy", []string{"--config", p}, func(string) string { return "" })
	return c, err
}

var metricName = regexp.MustCompile(`\bsignet_[a-z0-9_]+`)

// usedMetrics returns the signet_ metric names in the expressions, histogram series mapped to
// their family.
func usedMetrics(exprs []string) []string {
	seen := map[string]bool{}
	for _, e := range exprs {
		for _, m := range metricName.FindAllString(e, -1) {
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(m, suf); ok && slices.Contains(metrics.Names(), base) {
					m = base
				}
			}
			seen[m] = true
		}
	}
	var out []string
	for m := range seen {
		out = append(out, m)
	}
	slices.Sort(out)
	return out
}

func checkExported(t *testing.T, what string, used []string) {
	t.Helper()
	if len(used) == 0 {
		t.Fatalf("%s uses no Signet metric", what)
	}
	for _, m := range used {
		if !slices.Contains(metrics.Names(), m) {
			t.Errorf("%s uses %s, which Signet does not export (internal/metrics.Names)", what, m)
		}
	}
}

// The Grafana dashboard is JSON whose every query uses metrics Signet exports.
func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile("grafana/signet.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	var exprs []string
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			exprs = append(exprs, q.Expr)
		}
	}
	used := usedMetrics(exprs)
	checkExported(t, "the dashboard", used)
	for _, want := range []string{"signet_jobs_total", "signet_stage_seconds", "signet_documents_bytes_total", "signet_consumer_num_pending",
		"signet_consumer_num_ack_pending", "signet_consumer_num_redelivered", "signet_dead_messages", "signet_token_sessions_in_use",
		"signet_token_online", "signet_bitrix24_rate_limit_waits_total", "signet_bitrix24_errors_total", "signet_grant_documents_total"} {
		if !slices.Contains(used, want) {
			t.Errorf("the dashboard does not show %s", want)
		}
	}
}

// The alert rules are Prometheus rule groups with the four alerts the operator asked for, over
// metrics Signet exports.
func TestPrometheusAlerts(t *testing.T) {
	b, err := os.ReadFile("prometheus/signet-alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&rules); err != nil {
		t.Fatal(err)
	}
	alerts := map[string]string{}
	var exprs []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" || r.Annotations["summary"] == "" || r.Labels["severity"] == "" {
				t.Errorf("rule %+v lacks alert, expr, severity or summary", r)
			}
			if r.For != "" {
				if _, err := time.ParseDuration(r.For); err != nil {
					t.Errorf("%s: for %q: %v", r.Alert, r.For, err)
				}
			}
			alerts[r.Alert] = r.Expr + " for " + r.For
			exprs = append(exprs, r.Expr)
		}
	}
	checkExported(t, "the alerts", usedMetrics(exprs))
	for name, want := range map[string]string{
		"SignetLagGrowing": "signet_consumer_num_pending", "SignetDeadLetters": "signet_dead_messages",
		"SignetTokenOffline": "signet_token_online", "SignetBitrix24Overload": "OVERLOAD_LIMIT",
	} {
		if !strings.Contains(alerts[name], want) {
			t.Errorf("alert %s missing or not over %s: %q", name, want, alerts[name])
		}
	}
	if !strings.HasSuffix(alerts["SignetLagGrowing"], "for 10m") || !strings.Contains(alerts["SignetLagGrowing"], "[10m]") {
		t.Errorf("the lag alert must fire when lag grew for 10 minutes: %q", alerts["SignetLagGrowing"])
	}
}
