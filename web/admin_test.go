package web

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
	"github.com/signet-b24/signet/producer/identity"
)

type recorder struct {
	mu     sync.Mutex
	events []contracts.AuditEvent
}

func (r *recorder) Record(_ context.Context, e contracts.AuditEvent) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return nil
}

type panel struct {
	pages  *Pages
	srv    *httptest.Server
	id     *identity.Service
	audit  *recorder
	logs   *observer.ObservedLogs
	client *http.Client
	file   string
	origin string
}

func newPanel(t *testing.T, publicURL string, extra ...func(*Config, *natstest.Server, *identity.Keys)) *panel {
	t.Helper()
	ns := natstest.Start(t)
	keys := testKeys(t)
	id, err := identity.New(context.Background(), ns.JS, identity.Config{Keys: keys, PublicURL: "http://signet.test"})
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	pn := &panel{id: id, audit: &recorder{}, logs: logs, file: filepath.Join(t.TempDir(), "admin.passwords"),
		client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	mux := http.NewServeMux()
	pn.srv = httptest.NewServer(mux)
	t.Cleanup(pn.srv.Close)
	if publicURL == "" {
		publicURL = pn.srv.URL
	}
	pn.origin = publicURL
	cfg := Config{Identity: id, JS: ns.JS, PublicURL: publicURL, PasswordsFile: pn.file, Audit: pn.audit, Log: zap.New(core)}
	for _, f := range extra {
		f(&cfg, ns, keys)
	}
	pn.pages = New(cfg)
	pn.pages.Routes(mux)
	if err := SetLocalAdmin(pn.file, "alice", []byte("alice's long password")); err != nil {
		t.Fatal(err)
	}
	return pn
}

func (pn *panel) do(t *testing.T, method, path, cookie string, form url.Values) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, pn.srv.URL+path, strings.NewReader(form.Encode()))
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", pn.origin)
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := pn.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// signIn returns the session cookie ("name=value") and the session's CSRF token.
func (pn *panel) signIn(t *testing.T, password string) (*http.Response, string, string) {
	t.Helper()
	resp, page := pn.do(t, http.MethodGet, "/admin/login", "", nil)
	var loginCookie string
	for _, c := range resp.Cookies() {
		loginCookie = c.Name + "=" + c.Value
	}
	resp, _ = pn.do(t, http.MethodPost, "/admin/login", loginCookie,
		url.Values{"login": {"alice"}, "password": {password}, "csrf": {field(page, "csrf")}})
	session := ""
	for _, c := range resp.Cookies() {
		if strings.HasSuffix(c.Name, "signet_admin") && c.Value != "" {
			session = c.Name + "=" + c.Value
		}
	}
	if session == "" {
		return resp, "", ""
	}
	_, page = pn.do(t, http.MethodGet, "/admin/users", session, nil)
	return resp, session, field(page, "csrf")
}

func field(page, name string) string {
	marker := `name="` + name + `" value="`
	i := strings.Index(page, marker)
	if i < 0 {
		return ""
	}
	rest := page[i+len(marker):]
	return rest[:strings.IndexByte(rest, '"')]
}

// Every change made in the control panel reaches the audit trail with the administrator's name, and
// the enrolment link reaches neither the trail, nor a log line, nor a URL.
func TestControlPanelChangesAreAudited(t *testing.T) {
	pn := newPanel(t, "")
	if resp, session, _ := pn.signIn(t, "wrong password, long"); session != "" || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a wrong password: %d, session %q", resp.StatusCode, session)
	}
	_, session, csrf := pn.signIn(t, "alice's long password")
	if session == "" || csrf == "" {
		t.Fatal("no session after signing in")
	}
	post := func(path string, form url.Values) *http.Response {
		form.Set("csrf", csrf)
		resp, _ := pn.do(t, http.MethodPost, path, session, form)
		return resp
	}
	if resp := post("/admin/users", url.Values{"login": {"mary"}, "description": {"Sales"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add user: %d", resp.StatusCode)
	}
	post("/admin/users/mary/disable", url.Values{})
	post("/admin/users/mary/enable", url.Values{})
	post("/admin/users/mary/otp-disable", url.Values{})
	post("/admin/users/mary/map", url.Values{"credential": {"pkcs11:token=acme;object=mary-2026"}})
	post("/admin/users/mary/edit", url.Values{"description": {"Head of sales"}})
	req := url.Values{"csrf": {csrf}}
	resp, page := pn.do(t, http.MethodPost, "/admin/users/mary/enrol", session, req)
	link := ""
	if i := strings.Index(page, `id="enrol-link" type="text" readonly value="`); i >= 0 {
		rest := page[i+len(`id="enrol-link" type="text" readonly value="`):]
		link = rest[:strings.IndexByte(rest, '"')]
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(link, "http://signet.test/enrol/") {
		t.Fatalf("enrol: %d, link %q", resp.StatusCode, link)
	}
	token := strings.TrimPrefix(link, "http://signet.test/enrol/")

	u, err := pn.id.GetUser(context.Background(), "mary")
	if err != nil {
		t.Fatal(err)
	}
	if u.Description != "Head of sales" || !u.OTPDisabled || u.Disabled || len(u.Credentials) != 1 {
		t.Errorf("after the changes: %+v", u)
	}
	want := []string{"added user", "disabled user", "enabled user", "turned one-time passwords off", "mapped credential", "edited description", "enrolment link"}
	if len(pn.audit.events) != len(want) {
		t.Fatalf("%d audit events, want %d: %+v", len(pn.audit.events), len(want), pn.audit.events)
	}
	for i, e := range pn.audit.events {
		if e.Login != "mary" || !strings.Contains(e.Detail, "by administrator alice (local)") || !strings.Contains(e.Detail, want[i]) {
			t.Errorf("event %d: %+v, want %q by alice about mary", i, e, want[i])
		}
		if strings.Contains(e.Detail, token) {
			t.Error("the enrolment token is in the audit trail")
		}
	}
	if pn.audit.events[6].Action != contracts.AuditEnrolment || pn.audit.events[4].Credential == "" {
		t.Errorf("enrolment or mapping event wrong: %+v", pn.audit.events)
	}
	for _, e := range pn.logs.All() {
		for _, f := range e.Context {
			if strings.Contains(f.String, token) || strings.Contains(f.String, "alice's long password") {
				t.Errorf("a log line holds a secret: %s %v", e.Message, f)
			}
		}
	}

	// Signing out ends the session: the old cookie opens nothing.
	if resp, _ := pn.do(t, http.MethodPost, "/admin/logout", session, url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out: %d", resp.StatusCode)
	}
	if resp, _ := pn.do(t, http.MethodGet, "/admin/users", session, nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the session still works after signing out: %d", resp.StatusCode)
	}
	// Removing the local administrator ends their other sessions too.
	_, session, _ = pn.signIn(t, "alice's long password")
	if err := RemoveLocalAdmin(pn.file, "alice"); err != nil {
		t.Fatal(err)
	}
	if resp, _ := pn.do(t, http.MethodGet, "/admin/users", session, nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("a removed administrator's session still works: %d", resp.StatusCode)
	}
}

// With an https public_url the session cookie is Secure, __Host- prefixed, HttpOnly and SameSite=Strict.
func TestSessionCookieOverHTTPS(t *testing.T) {
	pn := newPanel(t, "https://signet.example.com")
	resp, session, _ := pn.signIn(t, "alice's long password")
	if session == "" {
		t.Fatalf("no session: %d", resp.StatusCode)
	}
	for _, c := range resp.Cookies() {
		if c.Name != "__Host-signet_admin" {
			continue
		}
		if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Domain != "" {
			t.Errorf("session cookie %+v", c)
		}
		return
	}
	t.Fatal("no __Host-signet_admin cookie")
}

// A login with characters that mean something in a URL still has its own page and its own actions.
func TestLoginWithURLCharacters(t *testing.T) {
	pn := newPanel(t, "")
	_, session, csrf := pn.signIn(t, "alice's long password")
	login := "o'brien?#1@acme.example"
	if resp, _ := pn.do(t, http.MethodPost, "/admin/users", session, url.Values{"login": {login}, "csrf": {csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add %q: %d", login, resp.StatusCode)
	}
	_, page := pn.do(t, http.MethodGet, "/admin/users", session, nil)
	href := "/admin/users/" + url.PathEscape(login)
	if !strings.Contains(page, `href="`+strings.ReplaceAll(href, "'", "%27")+`"`) && !strings.Contains(page, `href="`+href+`"`) {
		t.Fatalf("the users page does not link to %s:\n%s", href, page)
	}
	resp, page := pn.do(t, http.MethodGet, href, session, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "User o&#39;brien?#1@acme.example") {
		t.Fatalf("GET %s: %d", href, resp.StatusCode)
	}
	if resp, _ := pn.do(t, http.MethodPost, href+"/disable", session, url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable: %d", resp.StatusCode)
	}
	if u, err := pn.id.GetUser(context.Background(), login); err != nil || !u.Disabled {
		t.Errorf("after disable: %+v, %v", u, err)
	}
}
