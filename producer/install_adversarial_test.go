package producer

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/contracts"
)

// Issue 15, found 1: member_id and domain of a portal are not secret, and an install event naming them
// replaced the stored application_token; the forger's robot calls were then signed and the real
// portal's refused. Each test below asserts the refusal and that nothing changed, was queued or sent.

// installForm is an ONAPPINSTALL/ONAPPUNINSTALL as anyone can POST it.
func installForm(event string, auth map[string]any) map[string]any {
	return map[string]any{"event": event, "data": map[string]any{"VERSION": "1", "LANGUAGE_ID": "en"},
		"ts": strconv.FormatInt(time.Now().Unix(), 10), "auth": auth}
}

func (f *fixture) portalAuth(appToken string) map[string]any {
	base := f.portal.BaseURL()
	return map[string]any{"domain": strings.TrimPrefix(base, "http://"), "client_endpoint": base + "/rest/",
		"server_endpoint": base + "/oauth/rest/", "member_id": f.portal.MemberID(), "application_token": appToken}
}

// forgedRobotCall is a robot call of the forger: the real portal's member_id, the forger's token.
func (f *fixture) forgedRobotCall(t *testing.T, appToken string) int {
	t.Helper()
	auth := f.portalAuth(appToken)
	auth["access_token"], auth["user_id"] = "whatever", "1"
	st, _ := postInstallForm(t, f.srv.URL+"/bitrix24/robot", map[string]any{
		"workflow_id": "wf1", "code": "signet_sign_pdf", "event_token": "wf1|A1|forged.sig",
		"document_id": []any{"crm", "CCrmDocumentDeal", "DEAL_1"}, "document_type": []any{"crm", "CCrmDocumentDeal", "DEAL"},
		"properties": f.props("42"), "auth": auth})
	return st
}

// assertUntouched: the stored portal is the real one, the forger's robot call is refused and queues
// nothing, and the real portal's robot call is still queued.
func (f *fixture) assertUntouched(t *testing.T, forgedToken string) {
	t.Helper()
	p := f.stored(t)
	if p.Auth.ApplicationToken != f.portal.ApplicationToken() {
		t.Fatal("the stored application_token was replaced")
	}
	if st := f.forgedRobotCall(t, forgedToken); st != http.StatusUnauthorized {
		t.Fatalf("the forger's robot call: HTTP %d, want 401", st)
	}
	if n := streamMsgs(t, f.js, contracts.StreamSign); n != 0 {
		t.Fatalf("%d jobs queued by the forger", n)
	}
	if n := streamMsgs(t, f.js, contracts.StreamCallback); n != 0 {
		t.Fatalf("%d callbacks queued by the forger", n)
	}
	_, st, err := f.portal.RobotCall(context.Background(), f.srv.URL+"/bitrix24/robot", "signet_sign_pdf", 1188, f.props("42"))
	if err != nil || st != http.StatusOK || streamMsgs(t, f.js, contracts.StreamSign) != 1 {
		t.Fatalf("the real portal's robot call: HTTP %d %v", st, err)
	}
}

// A token-less ONAPPINSTALL for an installed member_id with another application_token.
func TestAttackForgedReinstall(t *testing.T) {
	f := newInstallFixture(t, emulator.Config{})
	f.install(t)
	f.addSigner(t, true)
	before := f.stored(t)
	st, body := postInstallForm(t, f.srv.URL+"/bitrix24/install", installForm("ONAPPINSTALL", f.portalAuth("forged-app-token")))
	if st != http.StatusUnauthorized || strings.Contains(body, f.portal.ApplicationToken()) {
		t.Fatalf("forged re-install: HTTP %d %s", st, body)
	}
	if after := f.stored(t); after.Auth.AccessToken != before.Auth.AccessToken || after.Auth.RefreshToken != before.Auth.RefreshToken {
		t.Fatal("the forged re-install changed the stored tokens")
	}
	f.assertUntouched(t, "forged-app-token")
}

// A re-install with tokens that are not an administrator's of this portal: tokens of the forger's own
// portal (where Signet's application is installed too), and a token of an ordinary user of the real
// portal (any user can read their AUTH_ID from a placement). client_endpoint points at a server that
// would confirm anything: it must not be asked.
func TestAttackForgedReinstallWithTokens(t *testing.T) {
	f := newInstallFixture(t, emulator.Config{})
	f.install(t)
	f.addSigner(t, true)
	other := emulator.New(emulator.Config{ClientID: f.portal.ClientID()})
	if _, err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	var liarHits atomic.Int32
	liar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		liarHits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"result":{"ID":"1","CODE":"` + f.portal.ClientID() + `","ADMIN":true}}`))
	}))
	defer liar.Close()
	for name, a := range map[string]bitrix24.Auth{
		"another portal's administrator": other.NewAuth(emulator.AdminUserID),
		"an ordinary user of the portal": f.portal.NewAuth(7),
	} {
		auth := f.portalAuth("forged-app-token")
		auth["access_token"], auth["refresh_token"], auth["user_id"] = a.AccessToken, a.RefreshToken, "1"
		auth["client_endpoint"] = liar.URL + "/rest/"
		st, body := postInstallForm(t, f.srv.URL+"/bitrix24/install", installForm("ONAPPINSTALL", auth))
		if st != http.StatusUnauthorized {
			t.Fatalf("%s: HTTP %d %s", name, st, body)
		}
		if strings.Contains(body, a.AccessToken) {
			t.Fatalf("%s: the answer repeats the token", name)
		}
	}
	if liarHits.Load() != 0 {
		t.Fatalf("the client_endpoint of the request was asked %d times; only the registered address may be", liarHits.Load())
	}
	f.assertUntouched(t, "forged-app-token")
}

// A new member_id on a listed domain: without proof it is refused; with the domain already installed
// under another member_id it is refused even with proof-looking tokens.
func TestAttackNewMemberIDOnListedDomain(t *testing.T) {
	f := newInstallFixture(t, emulator.Config{})
	// Nothing installed yet: a token-less event, and one with another portal's tokens.
	other := emulator.New(emulator.Config{ClientID: f.portal.ClientID()})
	if _, err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	auth := f.portalAuth("forged-app-token")
	auth["member_id"] = "0123456789abcdef0123456789abcdef"
	if st, _ := postInstallForm(t, f.srv.URL+"/bitrix24/install", installForm("ONAPPINSTALL", auth)); st != http.StatusUnauthorized {
		t.Fatalf("token-less new member_id: HTTP %d", st)
	}
	a := other.NewAuth(emulator.AdminUserID)
	auth["access_token"], auth["refresh_token"] = a.AccessToken, a.RefreshToken
	if st, _ := postInstallForm(t, f.srv.URL+"/bitrix24/install", installForm("ONAPPINSTALL", auth)); st != http.StatusUnauthorized {
		t.Fatalf("new member_id with another portal's tokens: HTTP %d", st)
	}
	if list, _ := f.in.Portals.List(context.Background()); len(list) != 0 {
		t.Fatalf("refused installs stored %d portals", len(list))
	}
	// The real portal installs; a second member_id for its domain is refused even with the real
	// administrator's tokens (a domain belongs to one member_id).
	f.install(t)
	f.addSigner(t, true)
	real := f.portal.NewAuth(emulator.AdminUserID)
	auth["access_token"], auth["refresh_token"] = real.AccessToken, real.RefreshToken
	if st, _ := postInstallForm(t, f.srv.URL+"/bitrix24/install", installForm("ONAPPINSTALL", auth)); st != http.StatusConflict {
		t.Fatalf("second member_id for an installed domain: HTTP %d", st)
	}
	if list, _ := f.in.Portals.List(context.Background()); len(list) != 1 {
		t.Fatalf("%d portals stored", len(list))
	}
	f.assertUntouched(t, "forged-app-token")
}

// ONAPPUNINSTALL without the stored application_token removes nothing.
func TestAttackForgedUninstall(t *testing.T) {
	f := newInstallFixture(t, emulator.Config{})
	f.install(t)
	f.addSigner(t, true)
	for _, tok := range []string{"forged-app-token", ""} {
		form := installForm("ONAPPUNINSTALL", f.portalAuth(tok))
		form["data"] = map[string]any{"LANGUAGE_ID": "en", "CLEAN": "1"}
		if st, _ := postInstallForm(t, f.srv.URL+"/bitrix24/install", form); st != http.StatusUnauthorized && st != http.StatusBadRequest {
			t.Fatalf("forged uninstall (%q): HTTP %d", tok, st)
		}
	}
	f.assertUntouched(t, "forged-app-token")
}

// The installation page with an AUTH_ID the portal does not confirm as an administrator's: no
// installFinish, nothing stored, no robot registered.
func TestAttackInstallPageWithoutAdministrator(t *testing.T) {
	f := newInstallFixture(t, emulator.Config{})
	resp, body := f.openInstallPage(t, 7) // an ordinary user
	if resp.StatusCode != http.StatusForbidden || strings.Contains(body, "installFinish") {
		t.Fatalf("installation page by a non-administrator: %d\n%s", resp.StatusCode, body)
	}
	req, _ := f.portal.InstallPageRequest(context.Background(), f.srv.URL+"/bitrix24/install", emulator.AdminUserID)
	req.Body = http.NoBody
	form := strings.NewReader("AUTH_ID=forged&REFRESH_ID=x&member_id=" + f.portal.MemberID())
	req2, _ := http.NewRequest(http.MethodPost, req.URL.String(), form)
	req2.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp2, err := http.DefaultClient.Do(req2)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusForbidden {
		t.Fatalf("installation page with a forged AUTH_ID: %d", resp2.StatusCode)
	}
	if _, _, err := f.in.Portals.Get(context.Background(), f.portal.MemberID()); err == nil {
		t.Fatal("a refused installation page stored the portal")
	}
	if len(f.portal.Robots()) != 0 {
		t.Fatal("a refused installation page registered the robot")
	}
}

// A token-less ONAPPINSTALL is accepted only shortly after the installation page proved the portal.
func TestAttackTokenlessInstallOutsideWindow(t *testing.T) {
	f := newInstallFixture(t, emulator.Config{})
	f.addSigner(t, true)
	if resp, _ := f.openInstallPage(t, emulator.AdminUserID); resp.StatusCode != http.StatusOK {
		t.Fatalf("installation page: %d", resp.StatusCode)
	}
	later := time.Now().Add(DefaultInstallWindow + time.Minute)
	f.in.Now = func() time.Time { return later }
	st, _ := postInstallForm(t, f.srv.URL+"/bitrix24/install", installForm("ONAPPINSTALL", f.portalAuth("forged-app-token")))
	if st != http.StatusUnauthorized {
		t.Fatalf("token-less install after the window: HTTP %d", st)
	}
	if p := f.stored(t); p.Auth.ApplicationToken != "" {
		t.Fatal("an application_token was stored")
	}
	if st := f.forgedRobotCall(t, "forged-app-token"); st != http.StatusUnauthorized || streamMsgs(t, f.js, contracts.StreamSign) != 0 {
		t.Fatalf("robot call with the refused token: HTTP %d", st)
	}
}

// Inside the window a forger who knows the member_id can send the first token-less ONAPPINSTALL. When
// the real one follows with another application_token, neither is kept: the race ends in a refusal to
// sign for that portal (until an administrator reopens the application), never in a take-over.
func TestAttackTokenlessInstallRace(t *testing.T) {
	f := newInstallFixture(t, emulator.Config{})
	f.addSigner(t, true)
	if resp, _ := f.openInstallPage(t, emulator.AdminUserID); resp.StatusCode != http.StatusOK {
		t.Fatalf("installation page: %d", resp.StatusCode)
	}
	if st, _ := postInstallForm(t, f.srv.URL+"/bitrix24/install", installForm("ONAPPINSTALL", f.portalAuth("forged-app-token"))); st != http.StatusOK {
		t.Fatalf("the first token-less event inside the window: HTTP %d", st)
	}
	st, err := f.portal.InstallWithoutTokens(context.Background(), f.srv.URL+"/bitrix24/install")
	if err != nil || st != http.StatusConflict {
		t.Fatalf("the real event after a forged one: HTTP %d %v, want 409", st, err)
	}
	if p := f.stored(t); p.Auth.ApplicationToken != "" {
		t.Fatal("an unproven application_token survived the conflict")
	}
	if st := f.forgedRobotCall(t, "forged-app-token"); st != http.StatusUnauthorized {
		t.Fatalf("the forger's robot call: HTTP %d", st)
	}
	if n := streamMsgs(t, f.js, contracts.StreamSign); n != 0 {
		t.Fatalf("%d jobs queued", n)
	}
	// Recovery: the administrator opens the application again; the portal's event then completes it.
	if resp, _ := f.openInstallPage(t, emulator.AdminUserID); resp.StatusCode != http.StatusOK {
		t.Fatalf("reopening: %d", resp.StatusCode)
	}
	if st, err := f.portal.InstallWithoutTokens(context.Background(), f.srv.URL+"/bitrix24/install"); err != nil || st != http.StatusOK {
		t.Fatalf("the real event after reopening: %d %v", st, err)
	}
	if p := f.stored(t); p.Auth.ApplicationToken != f.portal.ApplicationToken() {
		t.Fatal("recovery did not store the real application_token")
	}
}

// The window's residual risk, closed where the robot handler asks: a forger who won the race has a
// token marked TokenWindow; their call must also carry the installing administrator's access token,
// which the portal does not confirm for them. The real administrator's call confirms the real token.
func TestAttackWindowTokenNeedsAnAdministratorsCall(t *testing.T) {
	f := newInstallFixture(t, emulator.Config{})
	if resp, _ := f.openInstallPage(t, emulator.AdminUserID); resp.StatusCode != http.StatusOK {
		t.Fatalf("installation page: %d", resp.StatusCode)
	}
	if st, _ := postInstallForm(t, f.srv.URL+"/bitrix24/install", installForm("ONAPPINSTALL", f.portalAuth("forged-app-token"))); st != http.StatusOK {
		t.Fatalf("token-less event: HTTP %d", st)
	}
	p := f.stored(t)
	ctx := context.Background()
	for name, a := range map[string]bitrix24.Auth{
		"a forged access token":                {AccessToken: "forged", ApplicationToken: "forged-app-token"},
		"an ordinary user's token":             {AccessToken: f.portal.NewAuth(7).AccessToken, ApplicationToken: "forged-app-token"},
		"no access token (AUTH_USER_ID unset)": {ApplicationToken: "forged-app-token"},
	} {
		if err := f.in.ConfirmApplicationToken(ctx, p, a); !errorsIs(err, bitrix24.ErrNotProven) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if f.stored(t).Install.TokenSource != "window" {
		t.Fatal("a refused call confirmed the token")
	}
	// The administrator's own call confirms it (here the forger's token, had the forger won; in
	// practice the portal's, which is the only one its calls carry).
	if err := f.in.ConfirmApplicationToken(ctx, p, bitrix24.Auth{AccessToken: f.portal.NewAuth(emulator.AdminUserID).AccessToken,
		ApplicationToken: "forged-app-token"}); err != nil {
		t.Fatal(err)
	}
	if f.stored(t).Install.TokenSource != "proven" {
		t.Fatal("not confirmed")
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

// A forger who wins the token-less window has their application_token stored, but their robot calls
// carry no access token the portal confirms as the installing administrator's: refused at the robot
// handler, nothing queued, and the token stays unconfirmed.
func TestAttackWindowTokenRobotCallRefused(t *testing.T) {
	f := newInstallFixture(t, emulator.Config{})
	if resp, _ := f.openInstallPage(t, emulator.AdminUserID); resp.StatusCode != http.StatusOK {
		t.Fatalf("installation page: %d", resp.StatusCode)
	}
	if st, _ := postInstallForm(t, f.srv.URL+"/bitrix24/install", installForm("ONAPPINSTALL", f.portalAuth("forged-app-token"))); st != http.StatusOK {
		t.Fatalf("token-less event: HTTP %d", st)
	}
	if st := f.forgedRobotCall(t, "forged-app-token"); st != http.StatusUnauthorized {
		t.Fatalf("the forger's robot call with the window token: HTTP %d, want 401", st)
	}
	if n := streamMsgs(t, f.js, contracts.StreamSign); n != 0 {
		t.Fatalf("%d jobs queued by the forger", n)
	}
	if n := streamMsgs(t, f.js, contracts.StreamCallback); n != 0 {
		t.Fatalf("%d callbacks queued by the forger", n)
	}
	if f.stored(t).Install.TokenSource != "window" {
		t.Fatal("the forger's call confirmed the token")
	}
}
