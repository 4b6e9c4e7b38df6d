// Package slowtoken builds a PKCS#11 module for tests and benchmarks that behaves like a smartcard:
// it forwards every call to SoftHSM and waits a configured time in C_Sign and C_SignFinal, one
// signature at a time for the whole module (the chip is one), and reports its slot as hardware
// (CKF_HW_SLOT). The module is C (csrc/slowtoken.c), compiled with gcc into a cache
// directory on first use; no binary is committed.
//
// It must never be used for production keys: it is SoftHSM underneath.
package slowtoken

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/signet-b24/signet/keyring/softhsm"
)

// The environment variables the module reads, once, when it is loaded (its first C_GetFunctionList).
const (
	// EnvSignMS is the wait of one signature in milliseconds (fractions allowed).
	EnvSignMS = "SIGNET_SLOWTOKEN_SIGN_MS"
	// EnvModule is the PKCS#11 module it forwards to (default libsofthsm2.so).
	EnvModule = "SIGNET_SLOWTOKEN_MODULE"
)

//go:embed csrc/slowtoken.c
var source []byte

// ErrNoCompiler means gcc (or the PKCS#11 headers it needs) is missing.
var ErrNoCompiler = errors.New("gcc is not installed; run `apt-get install gcc`")

var (
	mu    sync.Mutex
	built = map[string]string{}
)

// Build compiles the module into dir (made if missing) unless a build of the same source is there
// already, and returns its path. With dir empty it uses the user cache directory
// (~/.cache/signet/slowtoken/<source hash>), so that test runs share one build.
func Build(dir string) (string, error) {
	sum := sha256.Sum256(source)
	tag := hex.EncodeToString(sum[:8])
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		dir = filepath.Join(cache, "signet", "slowtoken", tag)
	}
	mu.Lock()
	defer mu.Unlock()
	out := filepath.Join(dir, "libslowtoken-"+tag+".so")
	if p, ok := built[out]; ok {
		return p, nil
	}
	if _, err := os.Stat(out); err == nil {
		built[out] = out
		return out, nil
	}
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		return "", ErrNoCompiler
	}
	include, err := headers()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("slowtoken: %w", err)
	}
	// Source and library under names of this process, the library renamed into place, so that test
	// binaries of several packages building at once never read half a file.
	src := filepath.Join(dir, fmt.Sprintf("slowtoken.%d.c", os.Getpid()))
	if err := os.WriteFile(src, source, 0o644); err != nil {
		return "", fmt.Errorf("slowtoken: %w", err)
	}
	defer os.Remove(src)
	tmp := fmt.Sprintf("%s.%d.tmp", out, os.Getpid())
	cmd := exec.Command(gcc, "-shared", "-fPIC", "-O2", "-Wall", "-I", include, "-o", tmp, src, "-ldl", "-lpthread")
	if b, err := cmd.CombinedOutput(); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("slowtoken: gcc: %v: %s", err, bytes.TrimSpace(b))
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", fmt.Errorf("slowtoken: %w", err)
	}
	built[out] = out
	return out, nil
}

// headers finds the PKCS#11 headers that github.com/miekg/pkcs11 (crypto11's binding, a dependency
// of this module) ships, in the module cache.
func headers() (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/miekg/pkcs11")
	b, err := cmd.Output()
	dir := strings.TrimSpace(string(b))
	if err != nil || dir == "" {
		return "", fmt.Errorf("slowtoken: locating the PKCS#11 headers of github.com/miekg/pkcs11 (`go list -m`, run inside the signet module): %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "pkcs11.h")); err != nil {
		return "", fmt.Errorf("slowtoken: %w (run `go mod download github.com/miekg/pkcs11`)", err)
	}
	return dir, nil
}

// Setenv points the module at SoftHSM and sets its wait per signature, for this process. Call it
// before the module is first opened (keyring.Open): the module reads both once.
func Setenv(perSignature time.Duration) error {
	mod, err := softhsm.Module()
	if err != nil {
		return err
	}
	if err := os.Setenv(EnvModule, mod); err != nil {
		return err
	}
	return os.Setenv(EnvSignMS, strconv.FormatFloat(float64(perSignature)/float64(time.Millisecond), 'f', -1, 64))
}

// Token is a slow token ready to open: the module to name in the token configuration, its label and
// a file holding the user PIN.
type Token struct {
	Module, Label, PinFile string
}

// Prepare makes a SoftHSM store under dir with a token labelled label (softhsm.Init), builds the
// module (Build, into the shared cache) and sets its environment (Setenv). The PIN is random, written
// only to dir/user.pin.
func Prepare(dir, label string, perSignature time.Duration) (Token, error) {
	pin := make([]byte, 12)
	if _, err := rand.Read(pin); err != nil {
		return Token{}, err
	}
	userPIN, soPIN := hex.EncodeToString(pin[:6]), hex.EncodeToString(pin[6:])
	if _, err := softhsm.Init(dir, label, soPIN, userPIN); err != nil {
		return Token{}, err
	}
	pinFile := filepath.Join(dir, "user.pin")
	if err := os.WriteFile(pinFile, []byte(userPIN), 0o600); err != nil {
		return Token{}, err
	}
	mod, err := Build("")
	if err != nil {
		return Token{}, err
	}
	if err := Setenv(perSignature); err != nil {
		return Token{}, err
	}
	return Token{Module: mod, Label: label, PinFile: pinFile}, nil
}
