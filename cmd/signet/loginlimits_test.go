package main

import (
	"testing"
	"time"

	"github.com/signet-b24/signet/internal/config"
	"github.com/signet-b24/signet/web"
)

// The security.login_* settings reach the control panel's throttle: their defaults are the panel's own,
// and 0 for the per-address limit turns it off (web.Config says so with a negative number).
func TestLoginLimitSettingsReachThePanel(t *testing.T) {
	none := func(string) string { return "" }
	c, _, err := config.Load("serve", nil, none)
	if err != nil {
		t.Fatal(err)
	}
	got := (&app{cfg: c}).loginLimits(web.Config{})
	if got.LoginMaxFailures != web.DefaultLoginMaxFailures || got.LoginLockout != web.DefaultLoginLockout ||
		got.LoginMaxPerAddress != web.DefaultLoginMaxPerAddress || got.MaxConcurrentHashes != web.DefaultMaxConcurrentHashes {
		t.Errorf("defaults differ from the panel's: %d %s %d %d", got.LoginMaxFailures, got.LoginLockout, got.LoginMaxPerAddress, got.MaxConcurrentHashes)
	}
	c, _, err = config.Load("serve", []string{"--security-login-max-failures", "3", "--security-login-lockout", "1h",
		"--security-login-max-per-address", "0", "--security-login-concurrent-hashes", "4"}, none)
	if err != nil {
		t.Fatal(err)
	}
	got = (&app{cfg: c}).loginLimits(web.Config{RobotCode: "kept"})
	if got.LoginMaxFailures != 3 || got.LoginLockout != time.Hour || got.LoginMaxPerAddress >= 0 || got.MaxConcurrentHashes != 4 || got.RobotCode != "kept" {
		t.Errorf("settings not applied: %d %s %d %d %q", got.LoginMaxFailures, got.LoginLockout, got.LoginMaxPerAddress, got.MaxConcurrentHashes, got.RobotCode)
	}
}
