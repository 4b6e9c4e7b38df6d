package keyring

import (
	"errors"
	"strings"
	"testing"
)

// SoftHSM's slots do not say CKF_HW_SLOT: left at 0, a SoftHSM token gets as many signatures at once
// as its session pool, and configured values are kept as they are. (The slow module of
// keyring/softhsm/slowtoken, which says CKF_HW_SLOT, gets 1: its own test.)
func TestLimitsOfASoftwareToken(t *testing.T) {
	_, cfgs := softhsmStore(t, "soft", "paced")
	cfgs[0].MaxSessions = 6
	cfgs[1].Concurrency, cfgs[1].RatePerSec = 2, 5
	k := openKeyring(t, cfgs)
	if l := k.Limits("soft"); l.Hardware || l.Concurrency != 5 || l.RatePerSec != 0 {
		t.Errorf("SoftHSM token, max_sessions 6: %+v, want software, concurrency 5, no rate cap", l)
	}
	if l := k.Limits("paced"); l.Concurrency != 2 || l.RatePerSec != 5 {
		t.Errorf("configured token: %+v, want concurrency 2 and 5 signatures/s", l)
	}
	if l := k.Limits("nosuch"); l.Concurrency != 1 {
		t.Errorf("unknown token: %+v, want concurrency 1", l)
	}
}

// A concurrency beyond the session pool or a negative rate is a configuration error that names the
// setting.
func TestLimitsConfigurationRefused(t *testing.T) {
	_, cfgs := softhsmStore(t, "bad")
	for name, c := range map[string]TokenConfig{
		"concurrency above the pool": func() TokenConfig { c := cfgs[0]; c.MaxSessions, c.Concurrency = 4, 4; return c }(),
		"negative concurrency":       func() TokenConfig { c := cfgs[0]; c.Concurrency = -1; return c }(),
		"negative rate":              func() TokenConfig { c := cfgs[0]; c.RatePerSec = -2; return c }(),
	} {
		_, err := c.normalize()
		if !errors.Is(err, ErrInvalidConfig) || !(strings.Contains(err.Error(), "concurrency") || strings.Contains(err.Error(), "rate_per_sec")) {
			t.Errorf("%s: %v, want ErrInvalidConfig naming the setting", name, err)
		}
	}
}
