package web

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"

	"github.com/signet-b24/signet/producer/identity"
)

// Local administrator accounts, for on-premise set-up where nobody comes through a Bitrix24 portal:
// a file of "login:<PHC string>" lines (like htpasswd), one per administrator, written by
// `signet admin local-admin set LOGIN`. The hash is Argon2id (RFC 9106) in the PHC string format
// $argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>, so the parameters can be raised later without
// invalidating stored hashes. The file is read at every login: a change needs no restart.

// RFC 9106 §4, second recommended option (64 MiB, 3 passes), with 4 lanes.
const (
	argonTime    = 3
	argonMemory  = 64 * 1024 // KiB
	argonThreads = 4
	argonKeyLen  = 32
	saltLen      = 16
	// MinPasswordLength is the shortest administrator password accepted.
	MinPasswordLength = 12
)

// ErrBadPassword is returned for an unknown login or a wrong password alike.
var ErrBadPassword = errors.New("wrong login or password")

func hashPassword(password []byte) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	sum := argon2.IDKey(password, salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(sum)), nil
}

// checkHash compares password with a PHC Argon2id string, with the parameters the string records.
func checkHash(phc string, password []byte) bool {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || m > 1<<20 || t == 0 || t > 20 || p == 0 {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) < 16 || len(want) > 128 {
		return false
	}
	got := argon2.IDKey(password, salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is checked against when the login is unknown, so the answer takes as long either way.
// It is made on first use: Argon2id takes 64 MiB and a fraction of a second, which every CLI run
// would otherwise pay at start-up.
var dummyHash = sync.OnceValue(func() string {
	h, err := hashPassword([]byte("signet-no-such-administrator"))
	if err != nil {
		panic(err)
	}
	return h
})

func readAccounts(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("administrator passwords file %s: %w", path, err)
	}
	return parseAccounts(b, "administrator passwords file "+path)
}

// parseAccounts reads "login:<PHC string>" lines, from the file or from the sealed NATS record
// (admins_nats.go); src names where, for the error.
func parseAccounts(b []byte, src string) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		login, phc, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(phc, "$argon2id$") {
			return nil, fmt.Errorf("%s, line %d: want LOGIN:$argon2id$…; set the password again with `signet admin local-admin set LOGIN`", src, n)
		}
		out[login] = phc
	}
	return out, sc.Err()
}

// formatAccounts is the text of the accounts, one "login:hash" line each, sorted.
func formatAccounts(accounts map[string]string) string {
	logins := make([]string, 0, len(accounts))
	for l := range accounts {
		logins = append(logins, l)
	}
	sort.Strings(logins)
	var b strings.Builder
	b.WriteString("# Signet local administrators: LOGIN:Argon2id hash. Written by `signet admin local-admin set`.\n")
	for _, l := range logins {
		b.WriteString(l + ":" + accounts[l] + "\n")
	}
	return b.String()
}

func writeAccounts(path string, accounts map[string]string) error {
	text := formatAccounts(accounts)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".admin-passwords-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(text); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// SetLocalAdmin creates or changes the local administrator login with password in the file at path.
func SetLocalAdmin(path, login string, password []byte) error {
	return SetLocalAdminIn(context.Background(), AdminsFile(path), login, password)
}

// SetLocalAdminIn creates or changes the local administrator login with password in store.
func SetLocalAdminIn(ctx context.Context, store AdminStore, login string, password []byte) error {
	if err := identity.ValidateLogin(login); err != nil {
		return err
	}
	if strings.ContainsAny(login, ": \t") {
		return fmt.Errorf("administrator login %q must not contain ':' or spaces", login)
	}
	if n := len([]rune(string(password))); n < MinPasswordLength {
		return fmt.Errorf("the password for %q has %d characters; use at least %d", login, n, MinPasswordLength)
	}
	h, err := hashPassword(password)
	if err != nil {
		return err
	}
	return store.Change(ctx, func(accounts map[string]string) error {
		accounts[login] = h
		return nil
	})
}

// RemoveLocalAdmin deletes the local administrator login; its open sessions end at their next request
// (as they do when SetLocalAdmin changes its password: localAdminStamp).
func RemoveLocalAdmin(path, login string) error {
	return RemoveLocalAdminIn(context.Background(), AdminsFile(path), login)
}

// RemoveLocalAdminIn deletes the local administrator login from store.
func RemoveLocalAdminIn(ctx context.Context, store AdminStore, login string) error {
	return store.Change(ctx, func(accounts map[string]string) error {
		if _, ok := accounts[login]; !ok {
			return fmt.Errorf("no local administrator %q in %s", login, store)
		}
		delete(accounts, login)
		return nil
	})
}

// LocalAdmins lists the local administrator logins in the file at path.
func LocalAdmins(path string) ([]string, error) {
	return LocalAdminsIn(context.Background(), AdminsFile(path))
}

// LocalAdminsIn lists the local administrator logins in store.
func LocalAdminsIn(ctx context.Context, store AdminStore) ([]string, error) {
	accounts, err := store.Load(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(accounts))
	for l := range accounts {
		out = append(out, l)
	}
	sort.Strings(out)
	return out, nil
}

// checkLocalAdmin verifies a login and password against store; ErrBadPassword when either is wrong.
func checkLocalAdmin(ctx context.Context, store AdminStore, login string, password []byte) error {
	accounts, err := store.Load(ctx)
	if err != nil {
		return err
	}
	phc, ok := accounts[login]
	if !ok {
		checkHash(dummyHash(), password)
		return ErrBadPassword
	}
	if !checkHash(phc, password) {
		return ErrBadPassword
	}
	return nil
}

// localAdminStamp names the login's current password: a digest of its stored hash, which has a fresh
// salt each time the password is set. A session keeps the stamp it was opened with, so a removed
// login or a changed password ends every session opened before — a stolen session dies with the
// password. "" when the login is not (or no longer) a local administrator.
func localAdminStamp(ctx context.Context, store AdminStore, login string) string {
	accounts, err := store.Load(ctx)
	if err != nil {
		return ""
	}
	phc, ok := accounts[login]
	if !ok {
		return ""
	}
	sum := sha256.Sum256([]byte("signet local admin session\x00" + phc))
	return hex.EncodeToString(sum[:16])
}
