package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
	"github.com/signet-b24/signet/producer/identity"
)

// loginToken fetches the sign-in form and returns its CSRF cookie ("name=value") and field.
func (pn *panel) loginToken(t *testing.T) (string, string) {
	t.Helper()
	resp, page := pn.do(t, http.MethodGet, "/admin/login", "", nil)
	cookie := ""
	for _, c := range resp.Cookies() {
		if strings.HasSuffix(c.Name, "signet_login") {
			cookie = c.Name + "=" + c.Value
		}
	}
	return cookie, field(page, "csrf")
}

// sessions counts the session records stored (signet_sessions): a refused sign-in must leave none.
func (pn *panel) sessions(t *testing.T) int {
	t.Helper()
	kv, err := pn.pages.cfg.JS.KeyValue(context.Background(), BucketSessions)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return 0 // made with the first session
	}
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for range keys.Keys() {
		n++
	}
	return n
}

// auditChanges counts the audit events that record a change (anything but a refused sign-in).
func (pn *panel) auditChanges() int {
	pn.audit.mu.Lock()
	defer pn.audit.mu.Unlock()
	n := 0
	for _, e := range pn.audit.events {
		if e.Action == contracts.AuditAdminChange {
			n++
		}
	}
	return n
}

// parallelLogins sends the sign-ins at once and counts the answers by status.
func (pn *panel) parallelLogins(t *testing.T, logins []string, password string) map[int]int {
	t.Helper()
	cookie, csrf := pn.loginToken(t)
	var (
		mu    sync.Mutex
		count = map[int]int{}
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	for _, login := range logins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, _ := pn.do(t, http.MethodPost, "/admin/login", cookie, url.Values{"login": {login}, "password": {password}, "csrf": {csrf}})
			if resp.StatusCode != http.StatusUnauthorized && resp.Header.Get("Retry-After") == "" {
				t.Errorf("a refused sign-in (%d) says nothing about when to retry", resp.StatusCode)
			}
			mu.Lock()
			count[resp.StatusCode]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return count
}

// Thirty wrong passwords for one login sent at once: only as many are checked (hashed) as the lockout
// allows, never more than two Argon2id hashes (64 MiB each) run at once, the rest are refused without
// a hash, and the login is then locked even for the right password.
func TestAttackParallelLoginsPastTheLimit(t *testing.T) {
	pn := newPanel(t, "")
	logins := make([]string, 30)
	for i := range logins {
		logins[i] = "alice"
	}
	count := pn.parallelLogins(t, logins, "a wrong password, long enough")
	hashed, peak := pn.pages.hashed.Load(), pn.pages.peakHashing.Load()
	t.Logf("answers %v; %d hashes, at most %d at once", count, hashed, peak)
	if count[http.StatusUnauthorized] > DefaultLoginMaxFailures || hashed > DefaultLoginMaxFailures {
		t.Errorf("%d wrong passwords checked (%d hashes), want at most %d", count[http.StatusUnauthorized], hashed, DefaultLoginMaxFailures)
	}
	if peak > DefaultMaxConcurrentHashes {
		t.Errorf("%d Argon2id hashes ran at once, want at most %d", peak, DefaultMaxConcurrentHashes)
	}
	if count[http.StatusOK]+count[http.StatusSeeOther] != 0 {
		t.Errorf("a wrong password opened a session: %v", count)
	}
	// Make sure the lockout is reached whatever the semaphore refused, then try the right password.
	for range DefaultLoginMaxFailures {
		pn.parallelLogins(t, []string{"alice"}, "a wrong password, long enough")
	}
	before := pn.pages.hashed.Load()
	if resp, session, _ := pn.signIn(t, "alice's long password"); session != "" || resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("the right password during the lockout: %d, session %v", resp.StatusCode, session != "")
	}
	if pn.pages.hashed.Load() != before {
		t.Error("a locked login's password was hashed")
	}
	if n := pn.sessions(t); n != 0 {
		t.Errorf("%d sessions stored after refused sign-ins; want none", n)
	}
}

// With hash slots for every attempt, the count taken before hashing alone stops parallel attempts
// at the lockout threshold.
func TestAttackParallelLoginsCountedBeforeHashing(t *testing.T) {
	pn := newPanel(t, "", func(c *Config, _ *natstest.Server, _ *identity.Keys) { c.MaxConcurrentHashes = 30 })
	logins := make([]string, 30)
	for i := range logins {
		logins[i] = "alice"
	}
	count := pn.parallelLogins(t, logins, "a wrong password, long enough")
	hashed := pn.pages.hashed.Load()
	t.Logf("answers %v; %d hashes, at most %d at once", count, hashed, pn.pages.peakHashing.Load())
	if count[http.StatusUnauthorized] > DefaultLoginMaxFailures || hashed > DefaultLoginMaxFailures {
		t.Errorf("%d wrong passwords checked (%d hashes), want at most %d", count[http.StatusUnauthorized], hashed, DefaultLoginMaxFailures)
	}
	if count[http.StatusTooManyRequests] < 30-DefaultLoginMaxFailures {
		t.Errorf("%d attempts refused as too many, want at least %d: %v", count[http.StatusTooManyRequests], 30-DefaultLoginMaxFailures, count)
	}
}

// Many logins from one client address: the per-address limit stops the guessing of logins and
// passwords across accounts, with the hashes bounded the same way.
func TestAttackParallelLoginsFromOneAddress(t *testing.T) {
	pn := newPanel(t, "", func(c *Config, _ *natstest.Server, _ *identity.Keys) { c.LoginMaxPerAddress = 8 })
	logins := make([]string, 30)
	for i := range logins {
		logins[i] = fmt.Sprintf("guess%02d", i)
	}
	count := pn.parallelLogins(t, logins, "a wrong password, long enough")
	hashed, peak := pn.pages.hashed.Load(), pn.pages.peakHashing.Load()
	t.Logf("answers %v; %d hashes, at most %d at once", count, hashed, peak)
	if hashed > 8 || peak > DefaultMaxConcurrentHashes {
		t.Errorf("%d hashes (want at most 8), %d at once (want at most %d)", hashed, peak, DefaultMaxConcurrentHashes)
	}
	for i := 0; pn.pages.hashed.Load() < 8 && i < 20; i++ {
		pn.parallelLogins(t, []string{fmt.Sprintf("more%02d", i)}, "a wrong password, long enough")
	}
	if resp, session, _ := pn.signIn(t, "alice's long password"); session != "" || resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a sign-in from the locked address: %d, session %v", resp.StatusCode, session != "")
	}
	if n := pn.sessions(t); n != 0 {
		t.Errorf("%d sessions stored after refused sign-ins; want none", n)
	}
}

// A form posted from another site is refused even with the victim's session cookie and a valid CSRF
// token (the Origin check), and without the token even from Signet's own origin; nothing changes.
// The sign-in form is refused from another origin too (login CSRF).
func TestAttackCrossOriginPost(t *testing.T) {
	env := newTenancyEnv(t)
	ctx := context.Background()
	_, local, csrf := env.signIn(t, "alice's long password")
	sessB, csrfB := env.portalSession(t, memberB, "admin-of-beta")
	if err := env.id.AddUser(ctx, identity.User{Login: "carol", BitrixIDs: map[string]int{memberB: 3}}); err != nil {
		t.Fatal(err)
	}
	changes, sessions := env.auditChanges(), env.sessions(t)
	send := func(session, origin string, form url.Values, path string) int {
		req, _ := http.NewRequest(http.MethodPost, env.srv.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", origin)
		req.Header.Set("Cookie", session)
		resp, err := env.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		name, session, origin string
		form                  url.Values
	}{
		{"local, other origin, right token", local, "https://evil.example", url.Values{"csrf": {csrf}}},
		{"local, own origin, no token", local, env.origin, url.Values{}},
		{"local, own origin, B's token", local, env.origin, url.Values{"csrf": {csrfB}}},
		{"portal B, other origin, right token", sessB, "https://evil.example", url.Values{"csrf": {csrfB}}},
		{"portal B, own origin, no token", sessB, env.origin, url.Values{}},
	} {
		if st := send(c.session, c.origin, c.form, "/admin/users/carol/otp-disable"); st != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", c.name, st)
		}
	}
	if u, _ := env.id.GetUser(ctx, "carol"); u == nil || u.OTPDisabled {
		t.Errorf("a forged form changed the user: %+v", u)
	}
	if n := env.auditChanges() - changes; n != 0 {
		t.Errorf("forged forms recorded %d changes in the audit trail", n)
	}
	cookie, token := env.loginToken(t)
	if st := send(cookie, "https://evil.example", url.Values{"login": {"alice"}, "password": {"alice's long password"}, "csrf": {token}}, "/admin/login"); st != http.StatusForbidden {
		t.Errorf("a sign-in posted from another site: %d, want 403", st)
	}
	if n := env.sessions(t) - sessions; n != 0 {
		t.Errorf("a sign-in posted from another site stored %d sessions", n)
	}
}

// A description and a login carrying markup are shown as text on every page, never run.
func TestAttackStoredXSS(t *testing.T) {
	pn := newPanel(t, "")
	_, session, csrf := pn.signIn(t, "alice's long password")
	login := `<img src=x onerror=alert(1)>`
	desc := `<script>alert(document.cookie)</script>`
	resp, body := pn.do(t, http.MethodPost, "/admin/users", session, url.Values{"login": {login}, "description": {desc}, "csrf": {csrf}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add user: %d\n%s", resp.StatusCode, body)
	}
	for _, path := range []string{"/admin/users", "/admin/users/" + url.PathEscape(login)} {
		resp, page := pn.do(t, http.MethodGet, path, session, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		if strings.Contains(page, desc) || strings.Contains(page, login) {
			t.Errorf("GET %s: markup from a user's fields is in the page unescaped", path)
		}
		if !strings.Contains(page, "&lt;script&gt;alert(document.cookie)&lt;/script&gt;") {
			t.Errorf("GET %s: the description is not shown as text", path)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("GET %s: CSP %q allows inline script", path, csp)
		}
	}
}

// A session stolen before the administrator changed the password (or before the login was removed)
// is over at its next request: it reads nothing and changes nothing.
func TestAttackSessionOutlivesItsPassword(t *testing.T) {
	pn := newPanel(t, "")
	ctx := context.Background()
	if err := pn.id.AddUser(ctx, identity.User{Login: "carol"}); err != nil {
		t.Fatal(err)
	}
	_, stolen, csrf := pn.signIn(t, "alice's long password")
	if stolen == "" || csrf == "" {
		t.Fatal("sign-in failed")
	}
	if resp, _ := pn.do(t, http.MethodGet, "/admin/users", stolen, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("the fresh session does not work: %d", resp.StatusCode)
	}
	// The same password set again is a new hash with a new salt: it counts as a change.
	if err := SetLocalAdmin(pn.file, "alice", []byte("alice's new long password")); err != nil {
		t.Fatal(err)
	}
	changes := pn.auditChanges()
	if resp, _ := pn.do(t, http.MethodGet, "/admin/users", stolen, nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the session opened before the password change still reads: %d", resp.StatusCode)
	}
	if resp, _ := pn.do(t, http.MethodPost, "/admin/users/carol/otp-disable", stolen, url.Values{"csrf": {csrf}}); resp.StatusCode < 300 {
		t.Errorf("the session opened before the password change still changes: %d", resp.StatusCode)
	}
	if u, _ := pn.id.GetUser(ctx, "carol"); u == nil || u.OTPDisabled {
		t.Errorf("the old session changed a user: %+v", u)
	}
	if n := pn.auditChanges() - changes; n != 0 {
		t.Errorf("%d changes audited through the old session", n)
	}
	// The new password opens a session that works; removing the login ends it too.
	_, fresh, _ := pn.signIn(t, "alice's new long password")
	if resp, _ := pn.do(t, http.MethodGet, "/admin/users", fresh, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("a session with the new password does not work: %d", resp.StatusCode)
	}
	if err := SetLocalAdmin(pn.file, "bob", []byte("bob's long password!")); err != nil {
		t.Fatal(err)
	}
	if err := RemoveLocalAdmin(pn.file, "alice"); err != nil {
		t.Fatal(err)
	}
	if resp, _ := pn.do(t, http.MethodGet, "/admin/users", fresh, nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the session of a removed administrator still reads: %d", resp.StatusCode)
	}
}
