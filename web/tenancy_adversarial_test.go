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
	"github.com/signet-b24/signet/keyring"
	"github.com/signet-b24/signet/producer/identity"
)

// Two portals that installed Signet, each with its own administrator: A (acme, member_id "m-acme")
// and B (beta, "m-beta"). Each portal confirms only its own administrator's token (user.current and
// user.admin, asked as the user), as a real portal would.
const (
	memberA, memberB = "m-acme", "m-beta"
	domainA, domainB = "acme.bitrix24.com", "beta.bitrix24.com"
)

type twoPortals struct{}

func (twoPortals) Call(context.Context, string, string, map[string]any, any) error {
	return errors.New("QUERY_LIMIT_EXCEEDED") // the portals page then shows "unknown"
}

func (twoPortals) CallAs(_ context.Context, memberID, token, method string, _ map[string]any, out any) error {
	admins := map[string]string{"admin-of-acme": memberA, "admin-of-beta": memberB}
	if admins[token] != memberID {
		return errors.New("expired_token")
	}
	switch method {
	case "user.current":
		out.(*struct {
			ID any `json:"ID"`
		}).ID = "1"
	case "user.admin":
		*out.(*bool) = true
	}
	return nil
}

type tenancyEnv struct {
	*panel
	keys *keyring.Keyring
	reg  *portals.Registry
}

func newTenancyEnv(t *testing.T) *tenancyEnv {
	t.Helper()
	env := &tenancyEnv{keys: testKeyring(t, "acme")}
	env.panel = newPanel(t, "", func(c *Config, ns *natstest.Server, keys *identity.Keys) {
		reg, err := portals.Open(context.Background(), ns.JS, 1, keys)
		if err != nil {
			t.Fatal(err)
		}
		for m, d := range map[string]string{memberA: domainA, memberB: domainB} {
			if err := reg.Put(context.Background(), bitrix24.Auth{MemberID: m, Domain: d, ClientEndpoint: "https://" + d + "/rest/",
				AccessToken: "a", RefreshToken: "r", ApplicationToken: "app-" + m}, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		c.Portals, c.Bitrix, c.Keys = reg, twoPortals{}, env.keys
		env.reg = reg
	})
	return env
}

// portalSession opens the control panel as the administrator of memberID, through the application
// page and its single-use ticket, and returns the session cookie and its CSRF token.
func (env *tenancyEnv) portalSession(t *testing.T, memberID, token string) (string, string) {
	t.Helper()
	resp, page := env.do(t, http.MethodPost, "/admin/bitrix24", "", url.Values{"member_id": {memberID}, "AUTH_ID": {token}})
	if resp.StatusCode != http.StatusOK || field(page, "ticket") == "" {
		t.Fatalf("application page for %s: %d", memberID, resp.StatusCode)
	}
	resp, _ = env.do(t, http.MethodPost, "/admin/portal-session", "", url.Values{"ticket": {field(page, "ticket")}})
	session := ""
	for _, c := range resp.Cookies() {
		if c.Name == "signet_admin" && c.Value != "" {
			session = c.Name + "=" + c.Value
		}
	}
	if session == "" {
		t.Fatalf("no session for the administrator of %s: %d", memberID, resp.StatusCode)
	}
	_, page = env.do(t, http.MethodGet, "/admin/users", session, nil)
	return session, field(page, "csrf")
}

func (env *tenancyEnv) post(t *testing.T, session, csrf, path string, form url.Values) (*http.Response, string) {
	t.Helper()
	form.Set("csrf", csrf)
	return env.do(t, http.MethodPost, path, session, form)
}

// B's administrator, with a real session and its CSRF token, can neither see nor change anything of
// portal A: not A's users (list, page, edit, re-map, OTP off, disable, enrol, map, unmap, delete), not
// A's certificates (list, map, disable, issue with A's CA, download A's CA root, assign, import), not
// A's grants (list, revoke), not A's portal. Every one of A's objects answers as a missing one does,
// and nothing of A's changes; the same requests by A's administrator work.
func TestAttackPortalAdministratorCrossesPortals(t *testing.T) {
	env := newTenancyEnv(t)
	ctx := context.Background()
	sessA, csrfA := env.portalSession(t, memberA, "admin-of-acme")
	sessB, csrfB := env.portalSession(t, memberB, "admin-of-beta")

	// Portal A's administrator sets up A: a CA, Mary's certificate issued by it, and Mary.
	mustRedirect := func(resp *http.Response, body, what string) {
		t.Helper()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s: %d\n%s", what, resp.StatusCode, body)
		}
	}
	resp, body := env.post(t, sessA, csrfA, "/admin/credentials/ca-init", url.Values{"token": {"acme"}, "label": {"acme-ca"}, "subject": {"CN=Acme CA"}, "key_type": {"p256"}})
	mustRedirect(resp, body, "A creates its CA")
	caA := findCredential(t, env.keys, "acme-ca")
	resp, body = env.post(t, sessA, csrfA, "/admin/credentials/self-signed", url.Values{"token": {"acme"}, "label": {"qmary-acme"}, "subject": {"CN=Mary"}, "key_type": {"p256"}, "ca": {caA}})
	mustRedirect(resp, body, "A issues Mary's certificate")
	credA := findCredential(t, env.keys, "qmary-acme")
	resp, body = env.post(t, sessA, csrfA, "/admin/users", url.Values{"login": {"qmary"}, "description": {"Acme sales"}, "member_id": {memberA}, "bitrix_id": {"7"}, "credential": {credA}})
	mustRedirect(resp, body, "A adds Mary")
	if _, err := env.id.SetOTPDisabled(ctx, "qmary", true); err != nil {
		t.Fatal(err)
	}
	grant, err := env.id.CreateGrant(ctx, "qmary", "", credA, 100, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.id.SetOTPDisabled(ctx, "qmary", false); err != nil {
		t.Fatal(err)
	}
	maryBefore, err := env.id.GetUser(ctx, "qmary")
	if err != nil {
		t.Fatal(err)
	}
	// B's administrator adds a user of B's own, and a certificate of B's own: allowed.
	resp, body = env.post(t, sessB, csrfB, "/admin/credentials/self-signed", url.Values{"token": {"acme"}, "label": {"bob-beta"}, "subject": {"CN=Bob"}, "key_type": {"p256"}})
	mustRedirect(resp, body, "B creates its own certificate")
	credB := findCredential(t, env.keys, "bob-beta")
	resp, body = env.post(t, sessB, csrfB, "/admin/users", url.Values{"login": {"bob"}, "member_id": {memberB}, "bitrix_id": {"5"}, "credential": {credB}})
	mustRedirect(resp, body, "B adds Bob")
	eventsBefore := len(env.audit.events)

	// What a missing user looks like to B, to compare A's user with.
	_, missing := env.do(t, http.MethodGet, "/admin/users/nobody", sessB, nil)
	sameAsMissing := func(what, page string) {
		t.Helper()
		if strings.ReplaceAll(page, "qmary", "nobody") != missing {
			a, b := strings.ReplaceAll(page, "qmary", "nobody"), missing
			i := 0
			for i < len(a) && i < len(b) && a[i] == b[i] {
				i++
			}
			t.Errorf("%s: the answer differs from a missing user's (existence leaks): …%s… vs …%s…", what, a[max(i-100, 0):min(i+100, len(a))], b[max(i-100, 0):min(i+100, len(b))])
		}
	}

	// Lists and pages: nothing of A's.
	for _, path := range []string{"/admin/users", "/admin/credentials", "/admin/grants", "/admin/portals", "/admin/users/bob"} {
		resp, page := env.do(t, http.MethodGet, path, sessB, nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s as B: %d", path, resp.StatusCode)
		}
		for _, secret := range []string{"qmary", "Acme sales", "acme-ca", "qmary-acme", domainA, memberA, grantName(grant.ID)} {
			if strings.Contains(page, secret) {
				i := strings.Index(page, secret)
				t.Errorf("GET %s as B shows A's %q: …%s…", path, secret, page[max(i-200, 0):min(i+100, len(page))])
			}
		}
	}
	resp, page := env.do(t, http.MethodGet, "/admin/users/qmary", sessB, nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET A's user as B: %d, want 404", resp.StatusCode)
	}
	sameAsMissing("GET /admin/users/qmary", page)

	// Every change to A's user.
	for _, c := range []struct {
		action string
		form   url.Values
	}{
		{"edit", url.Values{"description": {"owned"}, "member_id": {memberB}, "bitrix_id": {"1"}}},
		{"edit", url.Values{"description": {"owned"}}},
		{"otp-disable", url.Values{}},
		{"disable", url.Values{}},
		{"enrol", url.Values{}},
		{"map", url.Values{"credential": {credB}}},
		{"default", url.Values{"credential": {credA}}},
		{"unmap", url.Values{"credential": {credA}}},
		{"delete", url.Values{}},
	} {
		resp, page := env.post(t, sessB, csrfB, "/admin/users/qmary/"+c.action, c.form)
		if resp.StatusCode != http.StatusNotFound || strings.Contains(page, "/enrol/") {
			t.Errorf("B's %s of A's user: %d, want 404", c.action, resp.StatusCode)
		}
		sameAsMissing("POST /admin/users/qmary/"+c.action, page)
	}

	// Pulling A's user id, A's portal or A's certificate into B's own users.
	for _, c := range []struct {
		what, path string
		form       url.Values
	}{
		{"link Bob to a user of A", "/admin/users/bob/edit", url.Values{"member_id": {memberA}, "bitrix_id": {"8"}}},
		{"unlink Bob from B (making him Signet-wide)", "/admin/users/bob/edit", url.Values{"member_id": {memberB}, "bitrix_id": {""}}},
		{"map A's certificate to Bob", "/admin/users/bob/map", url.Values{"credential": {credA}}},
		{"make A's certificate Bob's default", "/admin/users/bob/default", url.Values{"credential": {credA}}},
		{"add a user on A", "/admin/users", url.Values{"login": {"eve"}, "member_id": {memberA}, "bitrix_id": {"9"}}},
		{"add a user with A's certificate", "/admin/users", url.Values{"login": {"eve"}, "bitrix_id": {"9"}, "credential": {credA}}},
		{"add a user on no portal", "/admin/users", url.Values{"login": {"eve"}}},
		{"disable A's certificate", "/admin/credentials/disable", url.Values{"credential": {credA}}},
		{"issue with A's CA", "/admin/credentials/self-signed", url.Values{"token": {"acme"}, "label": {"eve-beta"}, "subject": {"CN=Eve"}, "ca": {caA}}},
		{"assign A's certificate to B", "/admin/credentials/assign", url.Values{"credential": {credA}, "member_id": {memberB}}},
		{"import a certificate for A's key", "/admin/credentials/import", url.Values{"key": {credA}, "cert_pem": {"x"}}},
		{"revoke A's grant", "/admin/grants/revoke", url.Values{"id": {grant.ID}}},
	} {
		resp, _ := env.post(t, sessB, csrfB, c.path, c.form)
		if resp.StatusCode < 400 {
			t.Errorf("B could %s: %d", c.what, resp.StatusCode)
		}
	}
	resp, _ = env.do(t, http.MethodGet, "/admin/ca/root?ca="+url.QueryEscape(caA), sessB, nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("B downloads A's CA root: %d, want 404", resp.StatusCode)
	}
	_, revokeA := env.post(t, sessB, csrfB, "/admin/grants/revoke", url.Values{"id": {grant.ID}})
	_, revokeMissing := env.post(t, sessB, csrfB, "/admin/grants/revoke", url.Values{"id": {"gnosuchgrant"}})
	if strings.ReplaceAll(revokeA, grantName(grant.ID), "gnosuchg…") != revokeMissing {
		t.Error("revoking A's grant answers differently from a missing grant (existence leaks)")
	}

	// Nothing of A's changed, nothing was created for B from A's, and no change was recorded.
	mary, err := env.id.GetUser(ctx, "qmary")
	if err != nil {
		t.Fatalf("A's user after the attack: %v", err)
	}
	if !mary.Updated.Equal(maryBefore.Updated) || mary.OTPDisabled || mary.Disabled || mary.Description != "Acme sales" ||
		mary.BitrixIDs[memberA] != 7 || len(mary.BitrixIDs) != 1 || len(mary.Credentials) != 1 {
		t.Errorf("A's user changed: %+v", mary)
	}
	bob, err := env.id.GetUser(ctx, "bob")
	if err != nil || len(bob.BitrixIDs) != 1 || bob.BitrixIDs[memberB] != 5 || len(bob.Credentials) != 1 || !identity.SameCredential(bob.Credentials[0], credB) {
		t.Errorf("B's user after the attack: %+v, %v", bob, err)
	}
	if _, err := env.id.GetUser(ctx, "eve"); !errors.Is(err, identity.ErrUserNotFound) {
		t.Errorf("a user was added: %v", err)
	}
	if d, _ := env.id.CredentialDisabled(ctx, credA); d {
		t.Error("A's certificate was disabled")
	}
	if m, _ := env.id.CredentialPortal(ctx, credA); m != memberA {
		t.Errorf("A's certificate moved to %q", m)
	}
	if g, _ := env.id.GetGrant(ctx, grant.ID); g == nil || g.Revoked {
		t.Error("A's grant was revoked")
	}
	if creds, _ := env.keys.List(ctx, "acme"); len(creds) != 3 {
		t.Errorf("%d credentials on the token, want 3 (A's CA, Mary's, Bob's): a certificate was made", len(creds))
	}
	if len(env.audit.events) != eventsBefore {
		t.Errorf("the attack recorded changes: %+v", env.audit.events[eventsBefore:])
	}

	// A's own administrator still does all of it.
	resp, page = env.do(t, http.MethodGet, "/admin/users", sessA, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "qmary") || strings.Contains(page, ">bob<") {
		t.Errorf("A's users page: %d", resp.StatusCode)
	}
	if resp, _ := env.post(t, sessA, csrfA, "/admin/users/qmary/edit", url.Values{"description": {"Acme head of sales"}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("A edits its own user: %d", resp.StatusCode)
	}
	if resp, _ := env.post(t, sessA, csrfA, "/admin/grants/revoke", url.Values{"id": {grant.ID}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("A revokes its own user's grant: %d", resp.StatusCode)
	}
	// A local administrator sees both portals' users.
	_, local, _ := env.signIn(t, "alice's long password")
	if _, page := env.do(t, http.MethodGet, "/admin/users", local, nil); !strings.Contains(page, "qmary") || !strings.Contains(page, "bob") {
		t.Error("the local administrator does not see every portal's users")
	}
}

// A portal administrator's session ends when the portal is uninstalled.
func TestAttackPortalSessionOutlivesItsPortal(t *testing.T) {
	env := newTenancyEnv(t)
	ctx := context.Background()
	sessB, csrfB := env.portalSession(t, memberB, "admin-of-beta")
	if err := env.id.AddUser(ctx, identity.User{Login: "carol", BitrixIDs: map[string]int{memberB: 3}}); err != nil {
		t.Fatal(err)
	}
	if err := env.reg.Delete(ctx, memberB); err != nil {
		t.Fatal(err)
	}
	changes := env.auditChanges()
	if resp, _ := env.do(t, http.MethodGet, "/admin/users", sessB, nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the session of an uninstalled portal's administrator still works: %d", resp.StatusCode)
	}
	// A change with the session and its CSRF token, from Signet's origin: refused, nothing changed.
	if resp, _ := env.do(t, http.MethodPost, "/admin/users/carol/otp-disable", sessB, url.Values{"csrf": {csrfB}}); resp.StatusCode < 300 {
		t.Errorf("a change through the session of an uninstalled portal: %d", resp.StatusCode)
	}
	if u, _ := env.id.GetUser(ctx, "carol"); u == nil || u.OTPDisabled {
		t.Errorf("the session of an uninstalled portal changed its user: %+v", u)
	}
	if n := env.auditChanges() - changes; n != 0 {
		t.Errorf("%d changes audited through the session of an uninstalled portal", n)
	}
}

func findCredential(t *testing.T, k *keyring.Keyring, label string) string {
	t.Helper()
	creds, err := k.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range creds {
		if c.Label == label {
			return c.URI
		}
	}
	t.Fatalf("no credential %q on the token", label)
	return ""
}
