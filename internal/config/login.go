package config

import (
	"errors"
	"fmt"
	"time"
)

// Bounds of the control panel's sign-in limits (security.login_*). Issue 15 (found 6): the lockout must
// not be switched off by a setting, and each Argon2id check holds 64 MiB, so the number running at once
// stays small whatever the setting says.
const (
	maxLoginFailures      = 100
	minLoginLockout       = time.Minute
	maxLoginLockout       = 24 * time.Hour
	maxConcurrentHashes   = 16 // 1 GiB of Argon2id memory
	argon2MiBPerPassCheck = 64
)

// checkLogin refuses sign-in limits that would not limit, naming the setting and what to use.
func (c *Config) checkLogin() error {
	s := c.Security
	var errs []error
	if s.LoginMaxFailures < 1 || s.LoginMaxFailures > maxLoginFailures {
		errs = append(errs, fmt.Errorf("security.login_max_failures %d: use 1 to %d (default 5)", s.LoginMaxFailures, maxLoginFailures))
	}
	if s.LoginLockout < minLoginLockout || s.LoginLockout > maxLoginLockout {
		errs = append(errs, fmt.Errorf("security.login_lockout %s: use %s to %s (default 15m)", s.LoginLockout, minLoginLockout, maxLoginLockout))
	}
	if s.LoginMaxPerAddress < 0 {
		errs = append(errs, fmt.Errorf("security.login_max_per_address %d: use 0 (off) or a positive number (default 20)", s.LoginMaxPerAddress))
	}
	if s.LoginConcurrentHashes < 1 || s.LoginConcurrentHashes > maxConcurrentHashes {
		errs = append(errs, fmt.Errorf("security.login_concurrent_hashes %d: use 1 to %d (each check holds %d MiB; default 2)",
			s.LoginConcurrentHashes, maxConcurrentHashes, argon2MiBPerPassCheck))
	}
	return errors.Join(errs...)
}
