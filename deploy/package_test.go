package deploy

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"
)

// built is what `go tool task deb` made once for this test run: the binary (through the build task
// it depends on) and the Debian package. TestMain starts it in the background when a test that needs
// it will run, so that it overlaps the NATS cluster test's waiting.
var built struct {
	once     sync.Once
	done     chan struct{}
	dir      string
	bin, deb string
	err      error
	out      []byte
}

// needsBuild are the tests that read what `go tool task deb` made.
var needsBuild = []string{"TestDebianPackage", "TestDebianPackageInstallsAndRuns", "TestBuildTaskStampsTheVersion",
	"TestSystemdExecStartIsASignetCommand"}

// startBuild runs `go tool task deb` (and so `go tool task build`) from the repository root into a
// scratch folder, once per test run, in the background.
func startBuild() {
	built.once.Do(func() {
		built.done = make(chan struct{})
		go func() {
			defer close(built.done)
			built.dir, built.err = os.MkdirTemp("", "signet-deploy-")
			if built.err != nil {
				return
			}
			built.bin = filepath.Join(built.dir, "signet")
			cmd := exec.Command("go", "tool", "task", "deb", "OUT="+built.bin, "DIST="+built.dir)
			cmd.Dir = ".."
			if built.out, built.err = cmd.CombinedOutput(); built.err != nil {
				return
			}
			debs, _ := filepath.Glob(filepath.Join(built.dir, "signet_*.deb"))
			if len(debs) != 1 {
				built.err = fmt.Errorf("go tool task deb made %v, want one signet_*.deb", debs)
				return
			}
			built.deb = debs[0]
		}()
	})
}

// buildPackage waits for startBuild's binary and package.
func buildPackage(t *testing.T) (bin, deb string) {
	t.Helper()
	startBuild()
	<-built.done
	if built.err != nil {
		t.Fatalf("go tool task deb: %v\n%s", built.err, built.out)
	}
	if want := "signet_" + releaseVersion(t) + "_" + debArch(t) + ".deb"; filepath.Base(built.deb) != want {
		t.Fatalf("go tool task deb made %s, want %s", filepath.Base(built.deb), want)
	}
	return built.bin, built.deb
}

// signetBinary is the binary `go tool task build` made.
func signetBinary(t *testing.T) string {
	bin, _ := buildPackage(t)
	return bin
}

func TestMain(m *testing.M) {
	flag.Parse()
	if run := flag.Lookup("test.run").Value.String(); run == "" || slices.ContainsFunc(needsBuild, regexp.MustCompile(run).MatchString) {
		startBuild()
	}
	code := m.Run()
	if built.done != nil {
		<-built.done
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// releaseVersion is deploy/VERSION: the Debian version, the image tag, and (with a v) the module
// version `signet version` prints.
func releaseVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("VERSION")
	if err != nil {
		t.Fatal(err)
	}
	v := strings.TrimSpace(string(b))
	if !regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`).MatchString(v) {
		t.Fatalf("deploy/VERSION %q is not MAJOR.MINOR.PATCH", v)
	}
	return v
}

func debArch(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("dpkg", "--print-architecture").Output()
	if err != nil {
		t.Fatalf("dpkg --print-architecture: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// taskfile is the part of Taskfile.yml these tests read.
type taskfile struct {
	Vars  map[string]any `yaml:"vars"`
	Tasks map[string]struct {
		Cmds []any `yaml:"cmds"`
	} `yaml:"tasks"`
}

func readTaskfile(t *testing.T) taskfile {
	t.Helper()
	b, err := os.ReadFile("../Taskfile.yml")
	if err != nil {
		t.Fatal(err)
	}
	var tf taskfile
	if err := yaml.Unmarshal(b, &tf); err != nil {
		t.Fatal(err)
	}
	return tf
}

// taskCommand is the one shell command of a task that starts with prefix.
func taskCommand(t *testing.T, tf taskfile, task, prefix string) string {
	t.Helper()
	for _, c := range tf.Tasks[task].Cmds {
		if s, ok := c.(string); ok && strings.HasPrefix(s, prefix) {
			return s
		}
	}
	t.Fatalf("Taskfile.yml: task %s has no command starting %q", task, prefix)
	return ""
}

var taskVar = regexp.MustCompile(`\{\{\.([A-Z_]+)\}\}`)

// The Dockerfile builds the binary with exactly `go tool task build`'s command (Task variables
// become build arguments of the same names), with go.mod's Go, and runs it as the user the
// Kubernetes manifests name; the image tag the manifests run is the one `go tool task image` builds.
func TestDockerfileMatchesBuildTask(t *testing.T) {
	df, err := os.ReadFile("docker/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var run, user, goVersion, copyFrom string
	args := map[string]string{}
	for _, l := range strings.Split(string(df), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch f[0] {
		case "RUN":
			if strings.Contains(l, "go build") {
				run = strings.TrimSpace(strings.TrimPrefix(l, "RUN"))
			}
		case "USER":
			user = f[1]
		case "ARG":
			k, v, _ := strings.Cut(f[1], "=")
			args[k] = v
			if k == "GO_VERSION" {
				goVersion = v
			}
		case "COPY":
			if strings.HasPrefix(f[1], "--from=build") {
				copyFrom = f[2]
			}
		case "HEALTHCHECK":
			t.Error("the Dockerfile has a HEALTHCHECK; Kubernetes probes /healthz and /readyz itself")
		}
	}
	tf := readTaskfile(t)
	want := taskVar.ReplaceAllString(taskCommand(t, tf, "build", "CGO_ENABLED=1 go build"), "$${$1}")
	if run != want {
		t.Errorf("the Dockerfile builds with\n  %s\nbut go tool task build runs\n  %s", run, want)
	}
	for _, v := range taskVar.FindAllStringSubmatch(taskCommand(t, tf, "build", "CGO_ENABLED=1 go build"), -1) {
		if _, ok := args[v[1]]; !ok {
			t.Errorf("the Dockerfile has no ARG %s for the build line", v[1])
		}
	}
	if copyFrom != args["OUT"] {
		t.Errorf("the final stage copies %s, the build writes %s", copyFrom, args["OUT"])
	}

	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod); m == nil || string(m[1]) != goVersion {
		t.Errorf("the Dockerfile builds with Go %s, go.mod says %s", goVersion, m)
	}

	image := tf.Vars["IMAGE"].(string) + ":" + releaseVersion(t)
	if !strings.Contains(string(df), tf.Vars["IMAGE"].(string)+":VERSION") {
		t.Errorf("the Dockerfile does not document its tag %s:VERSION", tf.Vars["IMAGE"])
	}
	if c := taskCommand(t, tf, "image", "docker build"); !strings.Contains(c, "-f deploy/docker/Dockerfile") || !strings.Contains(c, "-t {{.IMAGE}}:{{.VERSION}} .") {
		t.Errorf("go tool task image runs %q; want -f deploy/docker/Dockerfile and -t {{.IMAGE}}:{{.VERSION}}", c)
	}
	k := k8sDecodeStrict(t)
	for _, p := range k.pods() {
		for _, c := range p.tmpl.Spec.Containers {
			if c.Image != image {
				t.Errorf("%s runs %s; the Dockerfile builds %s (go tool task image)", p.name, c.Image, image)
			}
		}
		sc := p.tmpl.Spec.SecurityContext
		if sc == nil || sc.RunAsUser == nil || sc.RunAsGroup == nil || user != strconv.FormatInt(*sc.RunAsUser, 10)+":"+strconv.FormatInt(*sc.RunAsGroup, 10) {
			t.Errorf("%s: runAsUser/runAsGroup must be the image's USER %s", p.name, user)
		}
	}
}

// `go tool task build` stamps the binary: `signet version --json` shows deploy/VERSION as v…, the
// commit and its time, not "(devel)".
func TestBuildTaskStampsTheVersion(t *testing.T) {
	out, err := exec.Command(signetBinary(t), "version", "--json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Version  string `json:"version"`
		Revision string `json:"revision"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatal(err)
	}
	if v.Version != "v"+releaseVersion(t) {
		t.Errorf("signet version says %q, want v%s (deploy/VERSION)", v.Version, releaseVersion(t))
	}
	if _, err := exec.LookPath("git"); err == nil && (v.Revision == "" || v.Revision == "unknown") {
		t.Errorf("signet version --json = %s: want the commit", bytes.TrimSpace(out))
	}
}
