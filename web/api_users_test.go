package web

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/signet-b24/signet/internal/testsupport/natstest"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/producer/identity"
)

// testAdmin stands in for the caller's administrator check: a fixed header.
func testAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Test-Admin") != "yes" {
			http.Error(w, "administrator only", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

type client struct {
	t   *testing.T
	srv *httptest.Server
}

func (c client) do(method, path string, body any, admin bool) (int, []byte, http.Header) {
	c.t.Helper()
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case url.Values:
		rd, ctype = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		j, _ := json.Marshal(b)
		rd, ctype = bytes.NewReader(j), "application/json"
	}
	req, _ := http.NewRequest(method, c.srv.URL+path, rd)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if admin {
		req.Header.Set("X-Test-Admin", "yes")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out, resp.Header
}

// The handlers' tests run on a real identity service (embedded NATS), under a clock the test moves.
const (
	portal = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
	cred   = "pkcs11:token=acme;object=mary-2026;id=%01"
)

type fixture struct {
	svc   *identity.Service
	js    jetstream.JetStream
	clock *testenv.Clock
	logs  *observer.ObservedLogs
}

// testKeys are a fresh set of the identity service's sealing keys.
func testKeys(t *testing.T) *identity.Keys {
	t.Helper()
	line, err := identity.GenerateKeyLine()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := identity.LoadKeys(line)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func newHTTPFixture(t *testing.T) (*fixture, client) {
	t.Helper()
	ns := natstest.Start(t)
	keys := testKeys(t)
	core, logs := observer.New(zap.DebugLevel)
	f := &fixture{js: ns.JS, clock: testenv.NewClock(), logs: logs}
	var err error
	f.svc, err = identity.New(context.Background(), ns.JS, identity.Config{Keys: keys, Clock: f.clock.Now, Log: zap.New(core), PublicURL: "http://signet.test:8080/"})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	(&Enrolment{ID: f.svc, Log: zap.New(core)}).Routes(mux)
	(&UsersAPI{ID: f.svc, Log: zap.New(core)}).Routes(mux, testAdmin)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return f, client{t: t, srv: srv}
}

// enrol runs the real enrolment (link → secret → oathtool code → confirm) and returns the secret;
// the clock is then moved one step on, so the confirming code's step is in the past.
func (f *fixture) enrol(t *testing.T, login string) string {
	t.Helper()
	ctx := context.Background()
	link, _, err := f.svc.StartEnrolment(ctx, login)
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.svc.PendingSecret(ctx, testenv.EnrolmentToken(t, link))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.ConfirmEnrolment(ctx, testenv.EnrolmentToken(t, link), testenv.TOTP(t, p.Secret, f.clock.Now())); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(30 * time.Second)
	return p.Secret
}

// addUser adds login, mapped to cred.
func (f *fixture) addUser(t *testing.T, login string) {
	t.Helper()
	if err := f.svc.AddUser(context.Background(), identity.User{Login: login, Description: "test user", Credentials: []string{cred}}); err != nil {
		t.Fatal(err)
	}
}

// noSecretsLogged fails if any log entry holds one of the secrets.
func (f *fixture) noSecretsLogged(t *testing.T, secrets ...string) {
	t.Helper()
	testenv.NoSecretsLogged(t, f.logs, secrets...)
}

var (
	secretRe = regexp.MustCompile(`<code id="secret"[^>]*>([A-Z2-7 ]+)</code>`)
	qrRe     = regexp.MustCompile(`<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]+)"`)
)

func TestEnrolmentPageFlow(t *testing.T) {
	f, c := newHTTPFixture(t)
	if st, _, _ := c.do("POST", "/v1/admin/users", identity.User{Login: "mary"}, false); st != http.StatusUnauthorized {
		t.Fatalf("add user without admin: %d", st)
	}
	if st, b, _ := c.do("POST", "/v1/admin/users", identity.User{Login: "mary", Description: "Accounts"}, true); st != http.StatusCreated {
		t.Fatalf("add user: %d %s", st, b)
	}
	st, b, _ := c.do("POST", "/v1/admin/users/mary/enrol", nil, true)
	var el EnrolmentLink
	if st != http.StatusCreated || json.Unmarshal(b, &el) != nil {
		t.Fatalf("enrol: %d %s", st, b)
	}
	link := "/enrol/" + testenv.EnrolmentToken(t, el.Link)

	st, b, h := c.do("GET", link, nil, false)
	if st != http.StatusOK {
		t.Fatalf("page: %d %s", st, b)
	}
	page := html.UnescapeString(string(b)) // html/template writes '+' in the data URI as &#43;
	if h.Get("Cache-Control") != "no-store" || h.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("page headers %v", h)
	}
	for _, want := range []string{`<label for="code">`, `id="code"`, `autocomplete="one-time-code"`, `name="viewport"`, `lang="en"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if regexp.MustCompile(`(src|href)="https?:`).MatchString(page) {
		t.Error("page loads an external asset")
	}
	m := secretRe.FindStringSubmatch(page)
	q := qrRe.FindStringSubmatch(page)
	if m == nil || q == nil {
		t.Fatalf("page shows no secret or no inline QR code:\n%s", page)
	}
	secret := strings.ReplaceAll(m[1], " ", "")
	if !strings.Contains(q[2], "mary") {
		t.Errorf("QR alt text %q does not name the account", q[2])
	}
	png, err := base64.StdEncoding.DecodeString(q[1])
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("inline QR is not a PNG: %v", err)
	}
	checkQR(t, png, "otpauth://totp/Signet:mary?secret="+secret+"&issuer=Signet&period=30&digits=6&algorithm=SHA1")
	if st, b, h := c.do("GET", link+"/qr.png", nil, false); st != http.StatusOK || h.Get("Content-Type") != "image/png" || !bytes.Equal(b, png) {
		t.Fatalf("qr.png: %d %s", st, h.Get("Content-Type"))
	}

	code := testenv.TOTP(t, secret, f.clock.Now())
	st, b, _ = c.do("POST", link, url.Values{"code": {testenv.WrongTOTP(code)}}, false)
	if st != http.StatusUnprocessableEntity || !strings.Contains(string(b), `role="alert"`) || !secretRe.Match(b) {
		t.Fatalf("wrong code: %d, want the form again with an alert", st)
	}
	st, b, _ = c.do("POST", link, url.Values{"code": {code[:3] + " " + code[3:]}}, false)
	if st != http.StatusOK || !strings.Contains(string(b), "Done") || secretRe.Match(b) {
		t.Fatalf("confirm: %d %s", st, b)
	}
	st, b, _ = c.do("GET", link, nil, false)
	if st != http.StatusGone || !strings.Contains(string(b), "already been used") || secretRe.Match(b) || qrRe.Match(b) {
		t.Fatalf("used link: %d %s", st, b)
	}
	if st, _, _ := c.do("GET", link+"/qr.png", nil, false); st != http.StatusGone {
		t.Fatalf("qr.png of a used link: %d", st)
	}
	st, b, _ = c.do("GET", "/v1/admin/users/mary", nil, true)
	var u identity.User
	if st != http.StatusOK || json.Unmarshal(b, &u) != nil || !u.Enrolled {
		t.Fatalf("show after enrolment: %d %s", st, b)
	}

	// An expired link gets a clear page too.
	_, b, _ = c.do("POST", "/v1/admin/users/mary/enrol", nil, true)
	json.Unmarshal(b, &el)
	f.clock.Advance(61 * time.Minute)
	st, b, _ = c.do("GET", "/enrol/"+testenv.EnrolmentToken(t, el.Link), nil, false)
	if st != http.StatusGone || !strings.Contains(string(b), "expired") || secretRe.Match(b) {
		t.Fatalf("expired link: %d %s", st, b)
	}
	if st, _, _ := c.do("GET", "/enrol/nonsense", nil, false); st != http.StatusNotFound {
		t.Fatalf("unknown link: %d", st)
	}
	f.noSecretsLogged(t, secret, testenv.EnrolmentToken(t, el.Link))
}

// checkQR decodes the QR code with zbarimg, a decoder nobody here wrote.
func checkQR(t *testing.T, png []byte, want string) {
	t.Helper()
	tool := testenv.RequireTool(t, "zbarimg")
	p := filepath.Join(t.TempDir(), "qr.png")
	if err := os.WriteFile(p, png, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool, "--quiet", "--raw", p).Output()
	if err != nil {
		t.Fatalf("zbarimg: %v", err)
	}
	if got := strings.TrimSpace(string(out)); got != want {
		t.Fatalf("QR code holds\n %s\nwant\n %s", got, want)
	}
}

func TestAdminAndGrantAPI(t *testing.T) {
	f, c := newHTTPFixture(t)
	ctx := context.Background()
	add := identity.User{Login: "ivan", BitrixIDs: map[string]int{portal: 9}}
	if st, b, _ := c.do("POST", "/v1/admin/users", add, true); st != http.StatusCreated {
		t.Fatalf("add: %d %s", st, b)
	}
	if st, b, _ := c.do("POST", "/v1/admin/users", add, true); st != http.StatusConflict || !strings.Contains(string(b), `\"ivan\"`) {
		t.Fatalf("add twice: %d %s", st, b)
	}
	for _, a := range []struct { // in order: the user must end enabled, with OTP on
		action string
		check  func(identity.User) bool
	}{
		{"otp-disable", func(u identity.User) bool { return u.OTPDisabled }},
		{"otp-enable", func(u identity.User) bool { return !u.OTPDisabled }},
		{"disable", func(u identity.User) bool { return u.Disabled }},
		{"enable", func(u identity.User) bool { return !u.Disabled }},
	} {
		st, b, _ := c.do("POST", "/v1/admin/users/ivan/"+a.action, nil, true)
		var u identity.User
		if st != http.StatusOK || json.Unmarshal(b, &u) != nil || !a.check(u) {
			t.Errorf("%s: %d %s", a.action, st, b)
		}
	}
	if st, _, _ := c.do("POST", "/v1/admin/users/ivan/explode", nil, true); st != http.StatusNotFound {
		t.Errorf("unknown action: %d", st)
	}
	desc := "Night batch"
	if st, b, _ := c.do("PATCH", "/v1/admin/users/ivan", UserPatch{Description: &desc}, true); st != http.StatusOK || !strings.Contains(string(b), desc) {
		t.Fatalf("patch: %d %s", st, b)
	}
	st, b, _ := c.do("GET", "/v1/admin/users", nil, true)
	var list []identity.User
	if st != http.StatusOK || json.Unmarshal(b, &list) != nil || len(list) != 1 || list[0].BitrixIDs[portal] != 9 {
		t.Fatalf("list: %d %s", st, b)
	}

	if st, b, _ := c.do("POST", "/v1/admin/users/ivan/credentials", CredentialRequest{Credential: cred, Default: true}, true); st != http.StatusOK || !strings.Contains(string(b), `"default_credential"`) {
		t.Fatalf("map credential: %d %s", st, b)
	}
	if st, _, _ := c.do("POST", "/v1/admin/users/ivan/credentials", CredentialRequest{Credential: cred}, false); st != http.StatusUnauthorized && st != http.StatusForbidden {
		t.Fatalf("mapping a credential without the admin token: %d", st)
	}
	secret := f.enrol(t, "ivan")
	req := GrantRequest{Login: "ivan", Code: testenv.TOTP(t, secret, f.clock.Now()), Credential: cred, Max: 2, TTL: "2h"}
	st, b, _ = c.do("POST", "/v1/grants", req, true)
	var g identity.Grant
	if st != http.StatusCreated || json.Unmarshal(b, &g) != nil || g.Max != 2 || !g.Expires.Equal(f.clock.Now().Add(2*time.Hour)) {
		t.Fatalf("create grant: %d %s", st, b)
	}
	st, b, _ = c.do("POST", "/v1/grants", req, true)
	if st != http.StatusForbidden || !strings.Contains(string(b), "already used") {
		t.Fatalf("grant with a replayed code: %d %s", st, b)
	}
	if _, err := f.svc.Authorize(ctx, "ivan", "", g.ID, cred); err != nil {
		t.Fatal(err)
	}
	st, b, _ = c.do("GET", "/v1/grants/"+g.ID, nil, true)
	var got identity.Grant
	if st != http.StatusOK || json.Unmarshal(b, &got) != nil || got.Used != 1 {
		t.Fatalf("grant progress: %d %s", st, b)
	}
	if st, _, _ := c.do("GET", "/v1/grants", nil, false); st != http.StatusUnauthorized {
		t.Fatalf("grant list without admin: %d", st)
	}
	st, b, _ = c.do("GET", "/v1/grants", nil, true)
	var gs []identity.Grant
	if st != http.StatusOK || json.Unmarshal(b, &gs) != nil || len(gs) != 1 {
		t.Fatalf("grant list: %d %s", st, b)
	}
	st, b, _ = c.do("DELETE", "/v1/grants/"+g.ID, nil, true)
	if st != http.StatusOK || json.Unmarshal(b, &got) != nil || !got.Revoked {
		t.Fatalf("revoke: %d %s", st, b)
	}
	if st, _, _ := c.do("POST", "/v1/grants", map[string]any{"login": "ivan", "bogus": 1}, true); st != http.StatusBadRequest {
		t.Fatalf("unknown field: %d", st)
	}
	if st, _, _ := c.do("DELETE", "/v1/admin/users/ivan", nil, true); st != http.StatusNoContent {
		t.Fatalf("delete: %d", st)
	}
	if st, _, _ := c.do("GET", "/v1/admin/users/ivan", nil, true); st != http.StatusNotFound {
		t.Fatalf("show deleted: %d", st)
	}
}

// The admin API assigns a credential to a portal, behind the administrator check (producer/identity's
// TestAssignCredential checks the assignment itself).
func TestAssignCredentialAPI(t *testing.T) {
	f, c := newHTTPFixture(t)
	ctx := context.Background()
	if st, b, _ := c.do("POST", "/v1/admin/credentials/assign", CredentialRequest{Credential: cred, MemberID: "m-acme"}, false); st != http.StatusUnauthorized {
		t.Fatalf("assign without the admin token: %d %s", st, b)
	}
	if m, err := f.svc.CredentialPortal(ctx, cred); m != "" || err != nil {
		t.Fatalf("after a refused assignment: %q, %v", m, err)
	}
	if st, b, _ := c.do("POST", "/v1/admin/credentials/assign", CredentialRequest{Credential: cred, MemberID: "m-acme"}, true); st != http.StatusOK {
		t.Fatalf("assign: %d %s", st, b)
	}
	if m, _ := f.svc.CredentialPortal(ctx, "pkcs11:token=acme;object=mary-2026"); m != "m-acme" {
		t.Errorf("the same key by another URI: %q", m)
	}
}
