package producer

import (
	"context"
	"github.com/signet-b24/signet/internal/jobkey"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/bitrix24/portals"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/queue"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
	"github.com/signet-b24/signet/producer/identity"
)

// newInstallFixture is newFixture with a portal configured by cfg and a REST client on it (as
// `signet serve` runs the intake): installs are proven through it.
func newInstallFixture(t *testing.T, cfg emulator.Config) *fixture {
	t.Helper()
	ctx := context.Background()
	ns := natstest.Start(t)
	if err := queue.Provision(ctx, ns.JS, queue.Settings{Replicas: 1, AckWait: 30 * time.Second, MaxDeliver: 5, MaxAckPending: 10}); err != nil {
		t.Fatal(err)
	}
	line, _ := identity.GenerateKeyLine()
	keys, err := identity.LoadKeys(line)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := portals.Open(ctx, ns.JS, 1, keys)
	if err != nil {
		t.Fatal(err)
	}
	id, err := identity.New(ctx, ns.JS, identity.Config{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	p := emulator.New(cfg)
	base, err := p.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	in := &Intake{JS: ns.JS, Portals: reg, Identity: id, Domains: []string{base}, RobotCode: "signet_sign_pdf", Log: zap.NewNop()}
	if in.JobKey, err = jobkey.Generate(0); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	in.Routes(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f := &fixture{in: in, js: ns.JS, portal: p, srv: srv, id: id}
	f.withBitrix(t)
	return f
}

// postInstallForm POSTs a form to the install URL as the Bitrix24 queue (or a forger) would.
func postInstallForm(t *testing.T, target string, form map[string]any) (int, string) {
	t.Helper()
	resp, err := http.Post(target, "application/x-www-form-urlencoded", strings.NewReader(bitrix24.EncodeForm(form).Encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// openInstallPage is the administrator opening the application's installation page in the portal.
func (f *fixture) openInstallPage(t *testing.T, userID int) (*http.Response, string) {
	t.Helper()
	req, err := f.portal.InstallPageRequest(context.Background(), f.srv.URL+"/bitrix24/install", userID)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (f *fixture) stored(t *testing.T) *portals.Portal {
	t.Helper()
	p, _, err := f.in.Portals.Get(context.Background(), f.portal.MemberID())
	if err != nil {
		t.Fatalf("portal not stored: %v", err)
	}
	return p
}

// Path (a), the current documentation: the administrator opens the installation page; Signet has the
// portal confirm the AUTH_ID, registers the robot with that administrator as AUTH_USER_ID, and answers a
// page ending with BX24.installFinish(). The portal then sends ONAPPINSTALL without tokens, which
// brings the application_token; robot calls work.
func TestInstallPageThenTokenlessEvent(t *testing.T) {
	f := newInstallFixture(t, emulator.Config{Admins: []int{5}})
	f.addSigner(t, true)
	resp, body := f.openInstallPage(t, 5)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "BX24.installFinish()") || !strings.Contains(body, `src="//api.bitrix24.com/api/v1/"`) {
		t.Fatalf("installation page: %d\n%s", resp.StatusCode, body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "frame-ancestors "+f.portal.BaseURL()) || !strings.Contains(csp, "script-src 'nonce-") || resp.Header.Get("X-Frame-Options") != "" {
		t.Errorf("CSP %q", csp)
	}
	if strings.Count(body, "<script src=") != 1 || strings.Contains(body, "http://") || strings.Contains(body, "https://") {
		t.Errorf("the page loads something besides the BX24 library:\n%s", body)
	}
	r, ok := f.portal.Robots()["signet_sign_pdf"]
	if !ok || r["AUTH_USER_ID"] != "5" {
		t.Fatalf("robot AUTH_USER_ID = %v, want the installing administrator 5 (user.current)", r["AUTH_USER_ID"])
	}
	if p := f.stored(t); p.Auth.ApplicationToken != "" || p.Install.Proven.IsZero() || p.Auth.UserID != 5 {
		t.Fatalf("after the page: %+v", p.Install)
	}
	st, err := f.portal.InstallWithoutTokens(context.Background(), f.srv.URL+"/bitrix24/install")
	if err != nil || st != http.StatusOK {
		t.Fatalf("token-less ONAPPINSTALL: %d %v", st, err)
	}
	if p := f.stored(t); p.Auth.ApplicationToken != f.portal.ApplicationToken() || p.Install.TokenSource != portals.TokenWindow {
		t.Fatalf("application_token not taken from ONAPPINSTALL: %+v", p.Install)
	}
	// The same event again (a repeat, an application update) carries the stored token: accepted.
	if st, err := f.portal.InstallWithoutTokens(context.Background(), f.srv.URL+"/bitrix24/install"); err != nil || st != http.StatusOK {
		t.Fatalf("repeated ONAPPINSTALL: %d %v", st, err)
	}
	_, status, err := f.portal.RobotCall(context.Background(), f.srv.URL+"/bitrix24/robot", "signet_sign_pdf", 1188, f.props("42"))
	if err != nil || status != http.StatusOK || streamMsgs(t, f.js, contracts.StreamSign) != 1 {
		t.Fatalf("robot call after install: %d %v", status, err)
	}
}

// Path (b), older pages: ONAPPINSTALL with the administrator's tokens, confirmed with the portal.
func TestInstallEventWithTokensIsProven(t *testing.T) {
	f := newInstallFixture(t, emulator.Config{})
	f.install(t)
	p := f.stored(t)
	if p.Auth.ApplicationToken != f.portal.ApplicationToken() || p.Install.TokenSource != portals.TokenProven || p.Auth.UserID != emulator.AdminUserID {
		t.Fatalf("stored %+v user %d", p.Install, p.Auth.UserID)
	}
	var proofCalls int
	for _, c := range f.portal.Calls() {
		if c.Method == "app.info" || c.Method == "user.admin" || c.Method == "user.current" {
			proofCalls++
		}
	}
	if proofCalls < 3 {
		t.Fatalf("the install was not checked with the portal (%d calls)", proofCalls)
	}
}

// A headless application counts as installed when the callback arrives; the installing user is asked
// from the portal, and Register never guesses user 1.
func TestRegisterNeedsTheInstallingUser(t *testing.T) {
	f := newInstallFixture(t, emulator.Config{})
	f.install(t)
	if _, err := f.in.Register(context.Background(), f.portal.MemberID(), 0); err == nil || !strings.Contains(err.Error(), "--auth-user-id") {
		t.Fatalf("Register without the installing user: %v", err)
	}
}

func TestPortalOrigin(t *testing.T) {
	entries := []string{"acme.bitrix24.ru", "http://127.0.0.1:8081", " Box.Example.com "}
	for _, tc := range []struct{ domain, want string }{
		{"acme.bitrix24.ru", "https://acme.bitrix24.ru"}, {"ACME.bitrix24.ru", "https://acme.bitrix24.ru"},
		{"127.0.0.1:8081", "http://127.0.0.1:8081"}, {"box.example.com", "https://box.example.com"},
		{"evil.bitrix24.ru", ""}, {"127.0.0.1:8082", ""}, {"", ""},
	} {
		u, ok := PortalOrigin(entries, tc.domain)
		got := ""
		if ok {
			got = u.String()
		}
		if got != tc.want {
			t.Errorf("%q: %q, want %q", tc.domain, got, tc.want)
		}
	}
}

// The install URL is also the application's page in the portal's menu: an ordinary user opening an
// installed Signet (the form carries APPLICATION_TOKEN) is told it is installed, and nothing changes.
func TestInstallURLAsApplicationPage(t *testing.T) {
	f := newInstallFixture(t, emulator.Config{})
	f.install(t)
	before := f.stored(t)
	req, err := f.portal.InstallPageRequest(context.Background(), f.srv.URL+"/bitrix24/install", 7)
	if err != nil {
		t.Fatal(err)
	}
	_ = req.ParseForm()
	form := req.PostForm
	form.Set("APPLICATION_TOKEN", f.portal.ApplicationToken())
	resp, err := http.Post(req.URL.String(), "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Signet is installed") {
		t.Fatalf("application page: %d %s", resp.StatusCode, body)
	}
	if after := f.stored(t); after.Updated != before.Updated || after.Auth.AccessToken != before.Auth.AccessToken {
		t.Fatal("opening the application changed the stored portal")
	}
}
