package web

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLocalAdminPasswords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.passwords")
	if err := SetLocalAdmin(path, "alice", []byte("short")); err == nil {
		t.Fatal("a 5-character password was accepted")
	}
	if err := SetLocalAdmin(path, "al:ice", []byte("long enough password")); err == nil {
		t.Fatal("a login with ':' was accepted (it would break the file format)")
	}
	if err := SetLocalAdmin(path, "alice", []byte("long enough password")); err != nil {
		t.Fatal(err)
	}
	if err := SetLocalAdmin(path, "bob", []byte("bob's own long password")); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("passwords file mode %v, want 0600", st.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), "long enough password") {
		t.Fatal("the password is in the file in clear")
	}
	if !strings.Contains(string(b), "alice:$argon2id$v=19$m=65536,t=3,p=4$") {
		t.Errorf("the file does not hold a PHC Argon2id string for alice:\n%s", b)
	}
	cases := []struct {
		login, password string
		ok              bool
	}{
		{"alice", "long enough password", true},
		{"bob", "bob's own long password", true},
		{"alice", "bob's own long password", false},
		{"alice", "long enough passwor", false},
		{"carol", "long enough password", false},
		{"", "", false},
	}
	for _, c := range cases {
		err := checkLocalAdmin(context.Background(), AdminsFile(path), c.login, []byte(c.password))
		if (err == nil) != c.ok {
			t.Errorf("check %q: %v, want ok=%t", c.login, err, c.ok)
		}
	}
	// Changing a password replaces the hash; removing an administrator ends their sign-ins.
	if err := SetLocalAdmin(path, "alice", []byte("a brand new password")); err != nil {
		t.Fatal(err)
	}
	if checkLocalAdmin(context.Background(), AdminsFile(path), "alice", []byte("long enough password")) == nil {
		t.Error("the old password still works after a change")
	}
	if err := RemoveLocalAdmin(path, "alice"); err != nil {
		t.Fatal(err)
	}
	if localAdminStamp(context.Background(), AdminsFile(path), "alice") != "" || localAdminStamp(context.Background(), AdminsFile(path), "bob") == "" {
		t.Error("remove took the wrong administrator")
	}
	if got, _ := LocalAdmins(path); len(got) != 1 || got[0] != "bob" {
		t.Errorf("LocalAdmins = %v, want [bob]", got)
	}
}

func TestCheckHashRefusesMalformed(t *testing.T) {
	good, err := hashPassword([]byte("password password"))
	if err != nil {
		t.Fatal(err)
	}
	for _, phc := range []string{
		"", "$argon2i$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", strings.Replace(good, "v=19", "v=16", 1),
		strings.Replace(good, "m=65536", "m=99999999", 1), // a hostile file must not make a login allocate 95 GiB
		good[:strings.LastIndex(good, "$")] + "$c2hvcnQ",
	} {
		if checkHash(phc, []byte("password password")) {
			t.Errorf("checkHash accepted %q", phc)
		}
	}
	if !checkHash(good, []byte("password password")) {
		t.Error("checkHash refused its own hash")
	}
}

func TestThrottleLocksAfterFailures(t *testing.T) {
	th := newThrottle(DefaultLoginMaxFailures, DefaultLoginMaxPerAddress, DefaultLoginLockout)
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	fail := func(login, addr string) {
		t.Helper()
		if _, ok := th.admit(login, addr, now); !ok {
			t.Fatalf("attempt for %s from %s refused", login, addr)
		}
		th.done(login, addr, false, false, now)
	}
	blocked := func(login, addr string, at time.Time) bool {
		wait, ok := th.admit(login, addr, at)
		if ok {
			th.done(login, addr, false, true, at)
		}
		return !ok && wait > 0
	}
	for range DefaultLoginMaxFailures - 1 {
		fail("alice", "192.0.2.1")
	}
	if blocked("alice", "192.0.2.1", now) {
		t.Fatalf("locked after %d failures, want %d", DefaultLoginMaxFailures-1, DefaultLoginMaxFailures)
	}
	fail("alice", "192.0.2.1")
	if !blocked("alice", "192.0.2.9", now) || blocked("bob", "192.0.2.1", now) {
		t.Fatal("the lockout hit the wrong login")
	}
	if blocked("alice", "192.0.2.1", now.Add(DefaultLoginLockout+time.Second)) {
		t.Fatal("the lockout does not end")
	}
	fail("bob", "192.0.2.2")
	th.admit("bob", "192.0.2.2", now)
	th.done("bob", "192.0.2.2", true, false, now)
	for range DefaultLoginMaxFailures - 1 {
		fail("bob", "192.0.2.2")
	}
	if blocked("bob", "192.0.2.2", now) {
		t.Fatal("a successful sign-in did not reset the count")
	}
	// One address trying many logins is stopped by the per-address limit.
	for i := range DefaultLoginMaxPerAddress {
		fail(fmt.Sprintf("guess%d", i), "198.51.100.7")
	}
	if !blocked("someone-else", "198.51.100.7", now) || blocked("someone-else", "198.51.100.8", now) {
		t.Fatal("the per-address limit did not hold, or hit another address")
	}
}
