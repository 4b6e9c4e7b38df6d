package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Who may read a secret: the owner; a group only when the process is in it (a Kubernetes Secret
// mounted 0440 with the pod's fsGroup); never others, and no group may write.
func TestSecretModeRule(t *testing.T) {
	own := []int{10001, 0}
	for _, c := range []struct {
		perm os.FileMode
		gid  int
		ok   bool
		want string
	}{
		{0o600, 10001, true, ""},
		{0o400, 54321, true, ""},
		{0o440, 10001, true, ""}, // deploy/k8s: root:fsGroup 0440
		{0o640, 10001, true, ""},
		{0o440, 54321, false, "readable by group 54321, which this process is not in"},
		{0o440, -1, false, "which this process is not in"},
		{0o460, 10001, false, "mode 0460; run chmod 600"},
		{0o604, 10001, false, "mode 0604; run chmod 600"},
		{0o644, 10001, false, "mode 0644; run chmod 600"},
	} {
		err := secretModeProblem("/s/key", c.perm, c.gid, own)
		if c.ok != (err == nil) || err != nil && !strings.Contains(err.Error(), c.want) {
			t.Errorf("mode %04o group %d: %v", c.perm, c.gid, err)
		}
	}
}

// `signet config check` on a real file: 0440 with the process's own group passes; with a group the
// process is not in (made when the test runs as root, who may chgrp to any group) it is refused.
func TestConfigCheckGroupReadableSecret(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "nats.key")
	if err := os.WriteFile(key, []byte("secret-material\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(key, -1, os.Getegid()); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(key, 0o440); err != nil {
		t.Fatal(err)
	}
	cert := filepath.Join(dir, "nats.pem")
	if err := os.WriteFile(cert, []byte("certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "signet.yaml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("data_dir: %s/data\nnats:\n  tls_cert_file: %s\n  tls_key_file: %s\n", dir, cert, key)), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := signet("config", "check", "--config", conf)
	if code != 0 || strings.Contains(out, "secret-material") {
		t.Errorf("0440 with the process's own group: exit %d\n%s", code, out)
	}
	if os.Geteuid() != 0 {
		t.Log("not root: the foreign group is judged by TestSecretModeRule only")
		return
	}
	foreign := 54321
	for _, g := range processGroups() {
		if g == foreign {
			t.Skip("the process is in group 54321")
		}
	}
	if err := os.Chown(key, -1, foreign); err != nil {
		t.Fatal(err)
	}
	code, out, _ = signet("config", "check", "--config", conf)
	if code != 1 || !strings.Contains(out, "nats.tls_key_file: "+key+" holds a secret and is readable by group 54321") || strings.Contains(out, "secret-material") {
		t.Errorf("0440 with a group the process is not in: exit %d\n%s", code, out)
	}
}
