package deploy

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/signet-b24/signet/internal/config"
)

// /metrics is off the public listener (issue 15, must 9): the deployments serve it on metrics.listen
// behind metrics.token_file, every place that names its port agrees, and Prometheus scrapes it with
// the token.
func TestMetricsListenerInDeployments(t *testing.T) {
	// Kubernetes: the ConfigMap's metrics.listen port is each Deployment's "metrics" container port and
	// its scrape annotation; each Deployment mounts the token file; the Service does not expose it.
	var cm *config.Config
	type pod struct {
		annotations map[string]string
		ports       map[string]int
		secrets     []string
	}
	pods := map[string]pod{}
	var servicePorts []string
	for _, d := range k8sDocuments(t) {
		var o struct {
			Kind     string
			Metadata struct{ Name string }
			Data     map[string]string
			Spec     struct {
				Ports    []struct{ Name, TargetPort string } `yaml:"ports"`
				Template struct {
					Metadata struct{ Annotations map[string]string }
					Spec     struct {
						Containers []struct {
							Ports []struct {
								Name          string
								ContainerPort int `yaml:"containerPort"`
							}
						}
						Volumes []struct {
							Name   string
							Secret struct {
								Items []struct{ Key, Path string }
							}
						}
					}
				}
			}
		}
		if err := d.node.Decode(&o); err != nil {
			t.Fatalf("%s: %v", d.file, err)
		}
		switch o.Kind {
		case "ConfigMap":
			var err error
			if cm, err = loadSignetYAML(t, o.Data["signet.yaml"]); err != nil {
				t.Fatalf("%s: %v", d.file, err)
			}
		case "Deployment":
			pd := pod{annotations: o.Spec.Template.Metadata.Annotations, ports: map[string]int{}}
			for _, c := range o.Spec.Template.Spec.Containers {
				for _, p := range c.Ports {
					pd.ports[p.Name] = p.ContainerPort
				}
			}
			for _, v := range o.Spec.Template.Spec.Volumes {
				for _, it := range v.Secret.Items {
					pd.secrets = append(pd.secrets, it.Path)
				}
			}
			pods[o.Metadata.Name] = pd
		case "Service":
			for _, p := range o.Spec.Ports {
				servicePorts = append(servicePorts, p.Name, p.TargetPort)
			}
		}
	}
	if cm == nil || cm.Metrics.Listen == "" || cm.Metrics.TokenFile == "" {
		t.Fatalf("the ConfigMap must set metrics.listen and metrics.token_file: %+v", cm)
	}
	_, port, _ := net.SplitHostPort(cm.Metrics.Listen)
	if len(pods) != 2 {
		t.Fatalf("deployments %v", pods)
	}
	for name, p := range pods {
		if got := p.ports["metrics"]; got == 0 || port != strconv.Itoa(got) {
			t.Errorf("%s: container port metrics %d, metrics.listen %s", name, got, cm.Metrics.Listen)
		}
		if p.annotations["prometheus.io/port"] != port {
			t.Errorf("%s: prometheus.io/port %q, metrics.listen %s", name, p.annotations["prometheus.io/port"], cm.Metrics.Listen)
		}
		if !slices.Contains(p.secrets, filepath.Base(cm.Metrics.TokenFile)) {
			t.Errorf("%s does not mount %s", name, cm.Metrics.TokenFile)
		}
	}
	if slices.Contains(servicePorts, "metrics") || slices.Contains(servicePorts, port) {
		t.Errorf("the Service exposes the metrics port: %v", servicePorts)
	}

	// systemd: both units on one host listen for metrics on different ports, with the token.
	sys, _, err := config.Load("deploy", []string{"--config", "systemd/signet.yaml"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	units, err := parseINI("systemd/signet-worker.service")
	if err != nil {
		t.Fatal(err)
	}
	worker := sys.Metrics.Listen
	for _, e := range units["Service"]["Environment"] {
		if v, ok := strings.CutPrefix(e, "SIGNET_METRICS_LISTEN="); ok {
			worker = v
		}
	}
	if sys.Metrics.TokenFile == "" || sys.Metrics.Listen == "" || worker == sys.Metrics.Listen {
		t.Errorf("systemd: intake metrics %q, worker metrics %q, token %q: want two ports and a token", sys.Metrics.Listen, worker, sys.Metrics.TokenFile)
	}

	// Prometheus: every Signet job sends the token, and the host job scrapes both units' ports.
	b, err := os.ReadFile("prometheus/scrape.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var scrape struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			Authorization struct {
				Type            string `yaml:"type"`
				CredentialsFile string `yaml:"credentials_file"`
			} `yaml:"authorization"`
			KubernetesSD  []map[string]any `yaml:"kubernetes_sd_configs"`
			Relabel       []map[string]any `yaml:"relabel_configs"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&scrape); err != nil {
		t.Fatal(err)
	}
	var hostPorts []string
	for _, j := range scrape.ScrapeConfigs {
		if j.Authorization.Type != "Bearer" || j.Authorization.CredentialsFile == "" {
			t.Errorf("scrape job %s sends no bearer token", j.JobName)
		}
		for _, s := range j.StaticConfigs {
			for _, tg := range s.Targets {
				_, p, _ := net.SplitHostPort(tg)
				hostPorts = append(hostPorts, p)
			}
		}
		for _, r := range j.Relabel {
			if r["regex"] == "metrics" && pods["signet-intake"].ports["metrics"] == 0 {
				t.Errorf("scrape job %s keeps a port named metrics the pods do not have", j.JobName)
			}
		}
	}
	_, sysPort, _ := net.SplitHostPort(sys.Metrics.Listen)
	_, workerPort, _ := net.SplitHostPort(worker)
	if !slices.Contains(hostPorts, sysPort) || !slices.Contains(hostPorts, workerPort) {
		t.Errorf("scrape targets on ports %v; the units serve metrics on %s and %s", hostPorts, sysPort, workerPort)
	}
}
