package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/internal/config"
)

// `signet --version` and `signet version` print the same line; -ldflags -X values win over the
// embedded build information.
func TestVersion(t *testing.T) {
	defer func(v, r, rt string) { version, revision, revisionTime = v, r, rt }(version, revision, revisionTime)
	version, revision, revisionTime = "v1.2.3", "0123456789abcdef", "2026-12-03T12:00:00Z"
	var a, b, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--version"}, &a, &stderr); code != 0 {
		t.Fatalf("--version: exit %d: %s", code, stderr.String())
	}
	if code := run(context.Background(), []string{"version"}, &b, &stderr); code != 0 {
		t.Fatalf("version: exit %d: %s", code, stderr.String())
	}
	want := "signet v1.2.3, 0123456789abcdef of 2026-12-03T12:00:00Z, " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if a.String() != want || b.String() != want {
		t.Errorf("--version printed %q, version %q; want %q", a.String(), b.String(), want)
	}
	var j bytes.Buffer
	if code := run(context.Background(), []string{"version", "--json"}, &j, &stderr); code != 0 {
		t.Fatalf("version --json: exit %d", code)
	}
	var got map[string]any
	if err := json.Unmarshal(j.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got["version"] != "v1.2.3" || got["revision"] != "0123456789abcdef" || got["go_version"] != runtime.Version() {
		t.Errorf("version --json = %s", strings.TrimSpace(j.String()))
	}
}

// The metrics listener serves signet_build_info{version,revision,go_version} 1 for this build, so a
// dashboard can tell which build each process runs (issue 21 must 6).
func TestBuildInfoOnTheMetricsListener(t *testing.T) {
	cfg := &config.Config{}
	a := &app{cfg: cfg, log: zap.NewNop()}
	mux, err := a.metricsRoutes()
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b := currentBuild()
	want := fmt.Sprintf(`signet_build_info{go_version=%q,revision=%q,version=%q} 1`, b.GoVersion, b.Revision, b.Version)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), want+"\n") {
		t.Errorf("/metrics on the metrics listener: %d, lacks %s", rec.Code, want)
	}
}
