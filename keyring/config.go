package keyring

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// TokenConfig names one PKCS#11 token Signet signs with.
type TokenConfig struct {
	Name            string        // how Signet refers to the token in logs/metrics; defaults to the label
	Module          string        // path of the PKCS#11 module (.so)
	Label, Serial   string        // exactly one of Label, Serial, Slot
	Slot            *int          //
	PinFile, PinEnv string        // exactly one; the PIN never comes from a flag or a log
	MaxSessions     int           // default 16
	PoolWaitTimeout time.Duration // default 10s
	// Concurrency is how many signatures the worker lets the token make at once (limits.go): 0 is 1
	// on a hardware slot (one chip for every key on it) and the session pool on a software one.
	Concurrency int
	// RatePerSec caps the signatures a second the worker asks of the token; 0: no cap.
	RatePerSec float64
}

const (
	// DefaultMaxSessions bounds the PKCS#11 sessions one token context opens. crypto11's own default
	// (1024) is more than small USB tokens allow, and 1 is rejected by crypto11.
	DefaultMaxSessions = 16
	// DefaultPoolWaitTimeout is how long a signature waits for a free session before giving up with
	// ErrTokenBusy (retry-later) instead of hanging a worker.
	DefaultPoolWaitTimeout = 10 * time.Second
)

// normalize checks the configuration and fills defaults. It does not read the PIN.
func (c TokenConfig) normalize() (TokenConfig, error) {
	if c.Name == "" {
		c.Name = c.Label
	}
	if c.Name == "" {
		c.Name = c.Serial
	}
	if c.Name == "" && c.Slot != nil {
		c.Name = fmt.Sprintf("slot-%d", *c.Slot)
	}
	fail := func(format string, a ...any) (TokenConfig, error) {
		return c, fmt.Errorf("%w: token %q: %s", ErrInvalidConfig, c.Name, fmt.Sprintf(format, a...))
	}
	if c.Module == "" {
		return fail("module path is empty; set it to the PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so")
	}
	if real, err := filepath.EvalSymlinks(c.Module); err == nil {
		// crypto11 counts contexts per path string; one spelling per library keeps its count right.
		c.Module = real
	} else {
		return fail("module %s: %v", c.Module, err)
	}
	n := 0
	if c.Label != "" {
		n++
	}
	if c.Serial != "" {
		n++
	}
	if c.Slot != nil {
		n++
	}
	if n != 1 {
		return fail("set exactly one of label, serial and slot (%d set)", n)
	}
	if (c.PinFile == "") == (c.PinEnv == "") {
		return fail("set exactly one of pin_file and pin_env")
	}
	if c.MaxSessions == 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	if c.MaxSessions < 2 {
		return fail("max_sessions must be at least 2 (one session stays logged in, the others sign)")
	}
	if c.PoolWaitTimeout == 0 {
		c.PoolWaitTimeout = DefaultPoolWaitTimeout
	}
	if c.PoolWaitTimeout < 0 {
		return fail("pool_wait_timeout must be positive")
	}
	if c.Concurrency < 0 || c.Concurrency > c.MaxSessions-1 {
		return fail("concurrency must be 0 (automatic) or 1 to max_sessions-1 (%d): a signature needs a session of its own", c.MaxSessions-1)
	}
	if c.RatePerSec < 0 {
		return fail("rate_per_sec must be 0 (no cap) or positive")
	}
	return c, nil
}

// readPIN reads the PIN from the file or environment variable. Trailing newlines (as `echo` writes
// them) are dropped. The error names the source, never the content.
func (c TokenConfig) readPIN() (string, error) {
	var pin string
	if c.PinFile != "" {
		b, err := os.ReadFile(c.PinFile)
		if err != nil {
			return "", fmt.Errorf("%w: token %q: read PIN file: %v", ErrInvalidConfig, c.Name, err)
		}
		pin = strings.TrimRight(string(b), "\r\n")
	} else {
		v, ok := os.LookupEnv(c.PinEnv)
		if !ok {
			return "", fmt.Errorf("%w: token %q: environment variable %s (PIN) is not set", ErrInvalidConfig, c.Name, c.PinEnv)
		}
		pin = v
	}
	if pin == "" {
		return "", fmt.Errorf("%w: token %q: the PIN source is empty", ErrInvalidConfig, c.Name)
	}
	return pin, nil
}
