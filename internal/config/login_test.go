package config

import (
	"strings"
	"testing"
	"time"
)

// The sign-in limits are read from every source and cannot be set so that they no longer limit.
func TestLoginLimits(t *testing.T) {
	c, _, err := Load("serve", []string{"--security-login-max-failures", "3", "--security-login-lockout", "1h",
		"--security-login-max-per-address", "0", "--security-login-concurrent-hashes", "4"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Security; s.LoginMaxFailures != 3 || s.LoginLockout != time.Hour || s.LoginMaxPerAddress != 0 || s.LoginConcurrentHashes != 4 {
		t.Fatalf("flags not applied: %+v", s)
	}
	refused := map[string][]string{
		"security.login_max_failures":      {"--security-login-max-failures", "0"},
		"security.login_lockout":           {"--security-login-lockout", "0s"},
		"security.login_max_per_address":   {"--security-login-max-per-address", "-1"},
		"security.login_concurrent_hashes": {"--security-login-concurrent-hashes", "64"},
	}
	for key, args := range refused {
		if _, _, err := Load("serve", args, env(nil)); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%v: want an error naming %s, got %v", args, key, err)
		}
	}
	if _, _, err := Load("serve", nil, env(map[string]string{"SIGNET_SECURITY_LOGIN_LOCKOUT": "30s"})); err == nil ||
		!strings.Contains(err.Error(), "security.login_lockout") {
		t.Errorf("a 30s lockout from the environment: want refused, got %v", err)
	}
}
