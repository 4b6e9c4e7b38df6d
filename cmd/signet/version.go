package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Build identity. The module version, the VCS revision and its time come from the build information
// the Go toolchain embeds (`go build` in a git checkout records vcs.revision, vcs.time and
// vcs.modified; `go install module@version` records the module version). A build made where that
// information is missing (a source tarball, `go build -buildvcs=false`) can set them itself:
//
//	go build -ldflags "-X main.version=v1.2.3 -X main.revision=$(git rev-parse HEAD) -X main.revisionTime=2026-12-03T12:00:00Z" ./cmd/signet
//
// A value set with -X wins over the embedded one.
var (
	version      string
	revision     string
	revisionTime string
)

// buildInfo is what `signet version` prints and the signet_build_info gauge carries.
type buildInfo struct {
	Version      string `json:"version"`
	Revision     string `json:"revision"`
	RevisionTime string `json:"revision_time"`
	Modified     bool   `json:"modified"`
	GoVersion    string `json:"go_version"`
	Platform     string `json:"platform"`
}

// currentBuild reads the embedded build information, then the -ldflags -X overrides.
func currentBuild() buildInfo {
	b := buildInfo{Version: "(devel)", GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			b.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Revision = s.Value
			case "vcs.time":
				b.RevisionTime = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	for _, o := range []struct{ from, to *string }{{&version, &b.Version}, {&revision, &b.Revision}, {&revisionTime, &b.RevisionTime}} {
		if *o.from != "" {
			*o.to = *o.from
		}
	}
	return b
}

// String is the one line of `signet --version`.
func (b buildInfo) String() string {
	rev := b.Revision
	if rev == "" {
		rev = "unknown revision"
	} else if b.Modified {
		rev += " (modified)"
	}
	s := fmt.Sprintf("signet %s, %s", b.Version, rev)
	if b.RevisionTime != "" {
		s += " of " + b.RevisionTime
	}
	return s + fmt.Sprintf(", %s %s", b.GoVersion, b.Platform)
}

// buildInfoGauge is the Prometheus convention for a build's identity (a gauge always 1 whose labels
// say which build runs), so a dashboard can tell which version each process is.
var buildInfoGauge = promauto.NewGaugeVec(prometheus.GaugeOpts{
	Name: "signet_build_info",
	Help: "Always 1; the labels say which build of Signet this process runs.",
}, []string{"version", "revision", "go_version"})

func init() {
	b := currentBuild()
	buildInfoGauge.WithLabelValues(b.Version, b.Revision, b.GoVersion).Set(1)
}

const versionUsage = `Usage: signet version [--json]

Prints the module version, the VCS revision and its time, and the Go version this binary was built
with (the same as ` + "`signet --version`" + `).
`

func runVersion(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", versionUsage, stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parseArgs(fs, args, 0); err != nil {
		return err
	}
	b := currentBuild()
	if *asJSON {
		return writeJSON(stdout, b)
	}
	_, err := fmt.Fprintln(stdout, b)
	return err
}

// writeJSON prints v as one line of JSON (so that `--watch --json` is JSON lines): what every --json
// flag writes. Field names are snake_case (issue 16, must 6).
func writeJSON(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}
