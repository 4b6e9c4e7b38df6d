package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/portals"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
	"github.com/signet-b24/signet/producer/identity"
)

// fakePortal answers user.current and user.admin for two user tokens, as a portal would.
type fakePortal struct{}

func (f *fakePortal) Call(context.Context, string, string, map[string]any, any) error {
	return errors.New("not used")
}

func (f *fakePortal) CallAs(_ context.Context, memberID, token, method string, _ map[string]any, out any) error {
	users := map[string]struct {
		id    string
		admin bool
	}{"admin-token": {"1", true}, "user-token": {"7", false}}
	u, ok := users[token]
	if !ok || memberID != "m1" {
		return errors.New("expired_token")
	}
	switch method {
	case "user.current":
		out.(*struct {
			ID any `json:"ID"`
		}).ID = u.id
	case "user.admin":
		*out.(*bool) = u.admin
	}
	return nil
}

// A portal administrator opening the application gets a single-use button that opens the control
// panel with a session of its own; a portal user who is not an administrator, or a token the portal
// does not confirm, gets nothing.
func TestPortalAdministratorSignIn(t *testing.T) {
	fake := &fakePortal{}
	pn := newPanel(t, "", func(c *Config, ns *natstest.Server, keys *identity.Keys) {
		reg, err := portals.Open(context.Background(), ns.JS, 1, keys)
		if err != nil {
			t.Fatal(err)
		}
		if err := reg.Put(context.Background(), bitrix24.Auth{MemberID: "m1", Domain: "acme.bitrix24.com", ClientEndpoint: "https://acme.bitrix24.com/rest/",
			AccessToken: "a", RefreshToken: "r", ApplicationToken: "app"}, time.Now()); err != nil {
			t.Fatal(err)
		}
		c.Portals, c.Bitrix = reg, fake
	})
	open := func(memberID, token string) (*http.Response, string) {
		return pn.do(t, http.MethodPost, "/admin/bitrix24?DOMAIN=evil.example&PROTOCOL=1", "", url.Values{"member_id": {memberID}, "AUTH_ID": {token}})
	}
	if resp, page := open("m1", "user-token"); resp.StatusCode != http.StatusForbidden || strings.Contains(page, `name="ticket"`) {
		t.Errorf("a portal user who is not an administrator: %d\n%s", resp.StatusCode, page)
	}
	if resp, _ := open("m1", "forged"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a token the portal does not confirm: %d", resp.StatusCode)
	}
	if resp, _ := open("m2", "admin-token"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a portal that has not installed Signet: %d", resp.StatusCode)
	}
	resp, page := open("m1", "admin-token")
	tok := field(page, "ticket")
	if resp.StatusCode != http.StatusOK || tok == "" {
		t.Fatalf("a portal administrator: %d\n%s", resp.StatusCode, page)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors https://acme.bitrix24.com;") || resp.Header.Get("X-Frame-Options") != "" {
		t.Errorf("the application page must be framed by its portal only: CSP %q, X-Frame-Options %q", csp, resp.Header.Get("X-Frame-Options"))
	}
	if len(resp.Cookies()) != 0 {
		t.Error("a cookie was set inside the portal's iframe")
	}

	resp, _ = pn.do(t, http.MethodPost, "/admin/portal-session", "", url.Values{"ticket": {tok}})
	session := ""
	for _, c := range resp.Cookies() {
		if c.Name == "signet_admin" {
			session = c.Name + "=" + c.Value
		}
	}
	if resp.StatusCode != http.StatusSeeOther || session == "" {
		t.Fatalf("the ticket gave no session: %d", resp.StatusCode)
	}
	if resp, page := pn.do(t, http.MethodGet, "/admin/users", session, nil); resp.StatusCode != http.StatusOK || !strings.Contains(page, "user 1 of acme.bitrix24.com") {
		t.Errorf("the portal administrator's session: %d", resp.StatusCode)
	}
	if resp, _ := pn.do(t, http.MethodPost, "/admin/portal-session", "", url.Values{"ticket": {tok}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a ticket used twice: %d, want 403", resp.StatusCode)
	}
}
