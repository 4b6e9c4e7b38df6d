// Package softhsm prepares SoftHSM v2 token stores for tests, `go tool task run` and the demo: it
// finds the module, writes a softhsm2.conf under a directory of the caller's choosing, points
// SOFTHSM2_CONF at it, and initialises a token with softhsm2-util when it does not exist yet.
//
// It must never be used for production keys (SoftHSM keeps keys in files, protected only by the
// PIN), and never writes a PIN to a log, an error or a file.
package softhsm

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// ModuleCandidates are the places Debian and Ubuntu install libsofthsm2.so.
var ModuleCandidates = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
}

// ErrNotInstalled means SoftHSM (the module or softhsm2-util) is missing.
var ErrNotInstalled = errors.New("SoftHSM v2 is not installed; run `apt-get install softhsm2`")

// Module returns the path of libsofthsm2.so, resolved through symlinks so that every caller in a
// process names the module the same way (crypto11 counts its users per path string, and two names
// for one library would let one Close finalize the other's sessions).
func Module() (string, error) {
	for _, p := range ModuleCandidates {
		if _, err := os.Stat(p); err == nil {
			if real, err := filepath.EvalSymlinks(p); err == nil {
				return real, nil
			}
			return p, nil
		}
	}
	return "", fmt.Errorf("libsofthsm2.so not found in %s: %w", strings.Join(ModuleCandidates, ", "), ErrNotInstalled)
}

// mu serialises Init calls: SOFTHSM2_CONF is process-wide.
var mu sync.Mutex

// Init makes (or reuses) a SoftHSM token store under dir: it writes dir/softhsm2.conf pointing at
// dir/tokens, sets SOFTHSM2_CONF for this process, and initialises a token labelled label unless
// one exists. It returns the module path.
//
// SoftHSM reads SOFTHSM2_CONF and scans its token directory in C_Initialize, so call Init before
// the module is opened (keyring.Open). One store per process at a time: a later Init with another
// dir switches SOFTHSM2_CONF, which the module only sees after every context on it was closed.
//
// The PINs go to softhsm2-util as arguments (it reads them from a terminal otherwise); they are not
// logged and are cut out of any error message.
func Init(dir, label, soPIN, userPIN string) (module string, err error) {
	module, err = Module()
	if err != nil {
		return "", err
	}
	util, err := exec.LookPath("softhsm2-util")
	if err != nil {
		return "", fmt.Errorf("softhsm2-util not in PATH: %w", ErrNotInstalled)
	}
	if label == "" || len(label) > 32 {
		return "", fmt.Errorf("softhsm: token label %q must be 1 to 32 bytes", label)
	}
	if len(soPIN) < 4 || len(userPIN) < 4 {
		return "", errors.New("softhsm: SO PIN and user PIN must be at least 4 characters (SoftHSM's minimum)")
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("softhsm: %w", err)
	}
	tokens := filepath.Join(dir, "tokens")
	if err := os.MkdirAll(tokens, 0o700); err != nil {
		return "", fmt.Errorf("softhsm: create token directory: %w", err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	body := fmt.Sprintf("# written by signet keyring/softhsm\ndirectories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", tokens)

	mu.Lock()
	defer mu.Unlock()
	if old, err := os.ReadFile(conf); err != nil || string(old) != body {
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			return "", fmt.Errorf("softhsm: write %s: %w", conf, err)
		}
	}
	if err := os.Setenv("SOFTHSM2_CONF", conf); err != nil {
		return "", fmt.Errorf("softhsm: set SOFTHSM2_CONF: %w", err)
	}

	exists, err := hasToken(util, conf, label)
	if err != nil {
		return "", err
	}
	if exists {
		return module, nil
	}
	cmd := exec.Command(util, "--init-token", "--free", "--label", label, "--so-pin", soPIN, "--pin", userPIN)
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+conf)
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := redact(string(out), soPIN, userPIN)
		return "", fmt.Errorf("softhsm: initialise token %q in %s: %v: %s", label, tokens, err, strings.TrimSpace(msg))
	}
	return module, nil
}

// hasToken reports whether the store already holds an initialised token with the label.
func hasToken(util, conf, label string) (bool, error) {
	cmd := exec.Command(util, "--show-slots")
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+conf)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return false, fmt.Errorf("softhsm: softhsm2-util --show-slots with %s: %v: %s", conf, err, bytes.TrimSpace(out))
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, val, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && name == "Label" && strings.TrimSpace(val) == label {
			return true, nil
		}
	}
	return false, nil
}

func redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "…")
		}
	}
	return s
}
