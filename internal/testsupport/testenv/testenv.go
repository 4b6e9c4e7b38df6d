// Package testenv lets tests ask for the outside tools they are judged by (pdfsig, qpdf, openssl,
// softhsm2-util, minio, …). Under `go tool task test` SIGNET_TEST_STRICT=1 is set, and a missing tool
// fails the test instead of skipping it, so CI can never pass by running nothing.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// Strict reports whether a missing tool must fail the test (set by the test task and CI).
func Strict() bool { return os.Getenv("SIGNET_TEST_STRICT") == "1" || os.Getenv("CI") == "true" }

// RequireTool returns the path of the named program, or skips the test (fails it when Strict).
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if Strict() {
			t.Fatalf("%s is required by this test and is not installed; run `go tool task test`, which installs it", name)
		}
		t.Skipf("%s not installed (run `go tool task test` to install it)", name)
	}
	return p
}

// RequireFile is RequireTool for a file that must exist, such as the SoftHSM module.
func RequireFile(t testing.TB, path, why string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if Strict() {
			t.Fatalf("%s is required (%s) and is missing", path, why)
		}
		t.Skipf("%s missing (%s)", path, why)
	}
}
