package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `signet config check`: one line per problem, each naming its setting, exit 1; exit 0 and one line
// when all is well. Secret files are read but never quoted.
func TestConfigCheckGolden(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := write("nats.key", "-----BEGIN PRIVATE KEY-----\nsecret-material\n-----END PRIVATE KEY-----\n", 0o644)
	bad := write("bad.yaml", fmt.Sprintf(`data_dir: %s/data
storage:
  link_ttl: 300h
nats:
  tls_cert_file: %s/missing.pem
  tls_key_file: %s
tokens:
  - name: acme
    module: %s/no-such-module.so
    pin_env: SIGNET_TEST_NO_SUCH_PIN
`, dir, dir, key, dir), 0o644)
	unknown := write("unknown.yaml", "nats:\n  ur: nats://x\nworker:\n  batch: many\n", 0o644)
	good := write("good.yaml", fmt.Sprintf("data_dir: %s/data\n", dir), 0o644)

	run := func() string {
		var out string
		for _, c := range []struct {
			args []string
			code int
		}{
			{[]string{"config", "check", "--config", bad, "--role", "worker", "--nats-url", "nats://127.0.0.1:4222"}, 1},
			{[]string{"config", "check", "--config", unknown}, 1},
			{[]string{"config", "check", "--config", good}, 0},
			{[]string{"config", "check", "--config", good, "--role", "intake"}, 1},
			{[]string{"config", "check", "--config", good, "--mail-tls", "ssl", "--nats-replicas", "9"}, 1},
		} {
			code, stdout, _ := signet(c.args...)
			if code != c.code {
				t.Errorf("signet %v: exit %d, want %d\n%s", c.args, code, c.code, stdout)
			}
			out += fmt.Sprintf("$ signet %s\n%s(exit %d)\n\n", strings.Join(c.args, " "), stdout, code)
		}
		return normalise(out, dir)
	}
	golden(t, "config_check", run())
	// In Russian (issue 18, must 3): the settings' problems and the files' from the catalogue; the
	// operating system's and the YAML parser's words stay theirs.
	golden(t, "config_check.ru", inRussian(run))
}
