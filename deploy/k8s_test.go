package deploy

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// k8sTyped is every object of deploy/k8s decoded into the Kubernetes API's own types, strictly: a
// field the API does not have (a typo, a wrong indentation) fails the test instead of being dropped,
// as `kubectl apply --validate=strict` would.
type k8sTyped struct {
	deployments []*appsv1.Deployment
	jobs        []*batchv1.Job
	pdbs        []*policyv1.PodDisruptionBudget
	policies    []*networkingv1.NetworkPolicy
	configMaps  []*corev1.ConfigMap
	services    []*corev1.Service
}

// podTemplate is one pod that a workload object makes.
type podTemplate struct {
	name string
	tmpl *corev1.PodTemplateSpec
}

func (k *k8sTyped) pods() []podTemplate {
	var out []podTemplate
	for _, d := range k.deployments {
		out = append(out, podTemplate{"Deployment " + d.Name, &d.Spec.Template})
	}
	for _, j := range k.jobs {
		out = append(out, podTemplate{"Job " + j.Name, &j.Spec.Template})
	}
	return out
}

func k8sDecodeStrict(t *testing.T) *k8sTyped {
	t.Helper()
	var k k8sTyped
	for _, d := range k8sDocuments(t) {
		var generic any
		if err := d.node.Decode(&generic); err != nil {
			t.Fatalf("%s: %v", d.file, err)
		}
		js, err := json.Marshal(generic)
		if err != nil {
			t.Fatalf("%s: %v", d.file, err)
		}
		var head metav1.TypeMeta
		if err := json.Unmarshal(js, &head); err != nil {
			t.Fatalf("%s: %v", d.file, err)
		}
		var into any
		switch head.APIVersion + " " + head.Kind {
		case "apps/v1 Deployment":
			o := &appsv1.Deployment{}
			k.deployments, into = append(k.deployments, o), o
		case "batch/v1 Job":
			o := &batchv1.Job{}
			k.jobs, into = append(k.jobs, o), o
		case "policy/v1 PodDisruptionBudget":
			o := &policyv1.PodDisruptionBudget{}
			k.pdbs, into = append(k.pdbs, o), o
		case "networking.k8s.io/v1 NetworkPolicy":
			o := &networkingv1.NetworkPolicy{}
			k.policies, into = append(k.policies, o), o
		case "v1 ConfigMap":
			o := &corev1.ConfigMap{}
			k.configMaps, into = append(k.configMaps, o), o
		case "v1 Service":
			o := &corev1.Service{}
			k.services, into = append(k.services, o), o
		default:
			t.Fatalf("%s: %s %s is not a kind this test knows; add it to k8sDecodeStrict", d.file, head.APIVersion, head.Kind)
		}
		dec := json.NewDecoder(bytes.NewReader(js))
		dec.DisallowUnknownFields()
		if err := dec.Decode(into); err != nil {
			t.Fatalf("%s: %s: %v", d.file, head.Kind, err)
		}
	}
	return &k
}

// Every pod that deploy/k8s makes passes the Pod Security Standard "restricted" (issue 21 must 6), as
// judged by the admission controller's own evaluator, so the manifests run in a namespace labelled
// pod-security.kubernetes.io/enforce: restricted.
func TestKubernetesPodSecurityRestricted(t *testing.T) {
	k := k8sDecodeStrict(t)
	eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	pods := k.pods()
	if len(pods) < 3 {
		t.Errorf("want the intake and worker Deployments and the setup Job, found %d pod templates", len(pods))
	}
	for _, p := range pods {
		res := policy.AggregateCheckResults(eval.EvaluatePod(psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()},
			&p.tmpl.ObjectMeta, &p.tmpl.Spec))
		if !res.Allowed {
			t.Errorf("%s violates Pod Security \"restricted\": %s", p.name, res.ForbiddenDetail())
		}
		for _, c := range p.tmpl.Spec.Containers {
			if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("%s: container %s must have a read-only root filesystem (data and /tmp are volumes)", p.name, c.Name)
			}
		}
		if a := p.tmpl.Spec.AutomountServiceAccountToken; a == nil || *a {
			t.Errorf("%s: Signet never calls the Kubernetes API; set automountServiceAccountToken: false", p.name)
		}
	}
}

// Each Deployment has a PodDisruptionBudget selecting exactly its pods that keeps at least one of them
// through a drain.
func TestKubernetesDisruptionBudgets(t *testing.T) {
	k := k8sDecodeStrict(t)
	for _, d := range k.deployments {
		podLabels := labels.Set(d.Spec.Template.Labels)
		var found bool
		for _, b := range k.pdbs {
			sel, err := metav1.LabelSelectorAsSelector(b.Spec.Selector)
			if err != nil {
				t.Fatalf("PodDisruptionBudget %s: %v", b.Name, err)
			}
			if !sel.Matches(podLabels) {
				continue
			}
			found = true
			if b.Spec.MinAvailable == nil || b.Spec.MinAvailable.IntValue() < 1 || int32(b.Spec.MinAvailable.IntValue()) >= *d.Spec.Replicas {
				t.Errorf("PodDisruptionBudget %s: minAvailable %v must keep one of %d replicas and still let a drain evict one",
					b.Name, b.Spec.MinAvailable, *d.Spec.Replicas)
			}
			for _, other := range k.deployments {
				if other != d && sel.Matches(labels.Set(other.Spec.Template.Labels)) {
					t.Errorf("PodDisruptionBudget %s also selects %s's pods", b.Name, other.Name)
				}
			}
		}
		if !found {
			t.Errorf("Deployment %s has no PodDisruptionBudget", d.Name)
		}
	}
}

// The network policies: every pod is under a default deny both ways; the intake's http port is open;
// the metrics port only to the monitoring namespace; egress only to NATS, S3, DNS and HTTPS/HTTP
// outside the cluster's private networks, each rule naming its ports.
func TestKubernetesNetworkPolicies(t *testing.T) {
	k := k8sDecodeStrict(t)
	allowed := map[int]string{4222: "NATS", 9000: "S3 (MinIO)", 53: "DNS", 443: "HTTPS (portals, OAuth)", 80: "HTTP (TSA, OCSP, CRL)"}
	for _, p := range k.pods() {
		podLabels := labels.Set(p.tmpl.Labels)
		ports := map[string]int32{}
		for _, c := range p.tmpl.Spec.Containers {
			for _, cp := range c.Ports {
				ports[cp.Name] = cp.ContainerPort
			}
		}
		var ingressCovered, egressCovered bool
		var httpOpen bool
		for _, np := range k.policies {
			sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
			if err != nil {
				t.Fatalf("NetworkPolicy %s: %v", np.Name, err)
			}
			if !sel.Matches(podLabels) {
				continue
			}
			ingressCovered = ingressCovered || slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress)
			egressCovered = egressCovered || slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
			for _, r := range np.Spec.Ingress {
				if len(r.Ports) == 0 {
					t.Errorf("NetworkPolicy %s: an ingress rule without ports opens every port of %s", np.Name, p.name)
				}
				for _, rp := range r.Ports {
					name := rp.Port.String()
					switch {
					case name == "metrics" || (rp.Port.IntValue() != 0 && rp.Port.IntValue() == int(ports["metrics"])):
						if !onlyMonitoring(r.From) {
							t.Errorf("NetworkPolicy %s: %s's metrics port is open to %v, want only the monitoring namespace", np.Name, p.name, r.From)
						}
					case name == "http" || (rp.Port.IntValue() != 0 && rp.Port.IntValue() == int(ports["http"])):
						httpOpen = httpOpen || len(r.From) == 0
					default:
						t.Errorf("NetworkPolicy %s: %s lets in port %s, which Signet does not serve", np.Name, p.name, name)
					}
				}
			}
			for _, r := range np.Spec.Egress {
				if len(r.Ports) == 0 || len(r.To) == 0 {
					t.Errorf("NetworkPolicy %s: an egress rule of %s without ports or destinations lets it reach anything", np.Name, p.name)
				}
				for _, rp := range r.Ports {
					if allowed[rp.Port.IntValue()] == "" {
						t.Errorf("NetworkPolicy %s: %s may reach port %s; workers and intakes need only %v", np.Name, p.name, rp.Port.String(), allowed)
					}
				}
				for _, to := range r.To {
					if to.IPBlock != nil && !slices.Contains(to.IPBlock.Except, "10.0.0.0/8") {
						t.Errorf("NetworkPolicy %s: %s's Internet rule %s must exclude the cluster's private networks", np.Name, p.name, to.IPBlock.CIDR)
					}
				}
			}
		}
		if !ingressCovered || !egressCovered {
			t.Errorf("%s is not under an ingress and egress policy (ingress %v, egress %v)", p.name, ingressCovered, egressCovered)
		}
		isIntake := p.tmpl.Labels["app.kubernetes.io/component"] == "intake"
		if isIntake != httpOpen {
			t.Errorf("%s: http port open to all %v; want it open for the intake only", p.name, httpOpen)
		}
	}
}

// onlyMonitoring says the peers are exactly pods of the monitoring namespace.
func onlyMonitoring(from []networkingv1.NetworkPolicyPeer) bool {
	if len(from) == 0 {
		return false
	}
	for _, f := range from {
		if f.IPBlock != nil || f.NamespaceSelector == nil || f.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "monitoring" {
			return false
		}
	}
	return true
}

// Secrets reach the pods as files, never as environment variables (a process's environment shows in
// /proc, crash reports and `kubectl describe`); each secret volume item is one the role names in its
// settings; the servers do not provision, a Job running `signet setup` as the NATS admin does.
func TestKubernetesSecretsAndSetup(t *testing.T) {
	k := k8sDecodeStrict(t)
	if len(k.configMaps) != 1 {
		t.Fatalf("want one ConfigMap, found %d", len(k.configMaps))
	}
	cfg, err := loadSignetYAML(t, k.configMaps[0].Data["signet.yaml"])
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NATS.Provision {
		t.Error("the ConfigMap's signet.yaml must set nats.provision: false: the servers must not set cluster-wide settings (issue 21)")
	}
	if cfg.Storage.CredentialsFile == "" {
		t.Error("the ConfigMap must name storage.credentials_file: S3 keys come from a file, not the environment")
	}
	var setup bool
	for _, p := range k.pods() {
		for _, c := range p.tmpl.Spec.Containers {
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					t.Errorf("%s: %s comes from a Secret through the environment; mount it as a file", p.name, e.Name)
				}
				if strings.Contains(strings.ToUpper(e.Name), "PASSWORD") && !strings.HasSuffix(e.Name, "_FILE") {
					t.Errorf("%s: %s looks like a secret value in the environment", p.name, e.Name)
				}
			}
			if slices.Equal(c.Args, []string{"setup"}) {
				setup = true
				if !strings.HasPrefix(p.name, "Job ") || envValue(c.Env, "SIGNET_NATS_USER") != "admin" {
					t.Errorf("%s runs signet setup; want a Job as the NATS admin user", p.name)
				}
			}
		}
		for _, v := range p.tmpl.Spec.Volumes {
			if v.Secret == nil {
				continue
			}
			if m := v.Secret.DefaultMode; m == nil || *m&0o007 != 0 {
				t.Errorf("%s: secret volume %s must not be readable by others (defaultMode %v)", p.name, v.Name, m)
			}
		}
	}
	if !setup {
		t.Error("no Job runs `signet setup`")
	}
}

func envValue(env []corev1.EnvVar, name string) string {
	for _, e := range env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// The worker's token mount works the way Kubernetes lays out a Secret volume (each key a symlink into
// a hidden timestamped folder through ..data): SoftHSM, configured by the ConfigMap's softhsm2.conf
// with its tokendir moved here, finds the token initialised and labelled.
func TestKubernetesSoftHSMTokenFromASecretVolume(t *testing.T) {
	util, err := exec.LookPath("softhsm2-util")
	if err != nil {
		t.Fatal("softhsm2-util is missing: run sh deploy/dev/packages.sh test")
	}
	k := k8sDecodeStrict(t)
	conf := k.configMaps[0].Data["softhsm2.conf"]
	var tokendir, mount string
	for _, l := range strings.Split(conf, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && strings.TrimSpace(k) == "directories.tokendir" {
			tokendir = strings.TrimSpace(v)
		}
	}
	for _, d := range k.deployments {
		for _, c := range d.Spec.Template.Spec.Containers {
			for _, m := range c.VolumeMounts {
				if m.Name == "token-acme" {
					mount = m.MountPath
				}
			}
		}
	}
	if tokendir == "" || filepath.Dir(mount) != tokendir {
		t.Fatalf("the token volume is mounted at %q, not in softhsm2.conf's tokendir %q", mount, tokendir)
	}

	// A token made the usual way, then its files laid out as a Secret volume.
	tmp := t.TempDir()
	made := filepath.Join(tmp, "made")
	os.MkdirAll(made, 0o700)
	writeConf := func(dir string) string {
		p := filepath.Join(tmp, filepath.Base(dir)+".conf")
		os.WriteFile(p, []byte(strings.ReplaceAll(conf, tokendir, dir)), 0o600)
		return p
	}
	mk := exec.Command(util, "--init-token", "--free", "--label", "acme", "--so-pin", "5678", "--pin", "1234")
	mk.Env = append(os.Environ(), "SOFTHSM2_CONF="+writeConf(made))
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	uuids, _ := filepath.Glob(filepath.Join(made, "*"))
	if len(uuids) != 1 {
		t.Fatalf("want one token directory, found %v", uuids)
	}
	secretDir := filepath.Join(tmp, "tokens", filepath.Base(mount))
	hidden := filepath.Join(secretDir, "..2026_12_03_00_00_00.000000000")
	os.MkdirAll(hidden, 0o755)
	files, _ := os.ReadDir(uuids[0])
	for _, f := range files {
		copyFile(t, filepath.Join(uuids[0], f.Name()), filepath.Join(hidden, f.Name()))
		os.Chmod(filepath.Join(hidden, f.Name()), 0o440)
		if err := os.Symlink(filepath.Join("..data", f.Name()), filepath.Join(secretDir, f.Name())); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Base(hidden), filepath.Join(secretDir, "..data")); err != nil {
		t.Fatal(err)
	}
	show := exec.Command(util, "--show-slots")
	show.Env = append(os.Environ(), "SOFTHSM2_CONF="+writeConf(filepath.Join(tmp, "tokens")))
	out, err := show.CombinedOutput()
	if err != nil || !regexp.MustCompile(`Initialized:\s+yes`).Match(out) || !regexp.MustCompile(`Label:\s+acme\s`).Match(out) {
		t.Errorf("SoftHSM does not see the token from a Secret-shaped folder: %v\n%s", err, out)
	}
}
