package bitrix24_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-b24/signet/bitrix24"
)

// Issue 15, found 4: a portal's REST endpoint answered 302 to another host and the client followed it,
// sending the access token there and storing the new endpoint. These tests run a "portal" that
// redirects and a second server (the attacker's) that counts every request it sees.

const secretToken = "s3cret-access-token"

// witness is the other host: it must see nothing.
func witness(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"result":true,"access_token":"x","refresh_token":"y"}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// redirectingPortal answers every request with 302 to loc (computed per request) and counts them.
func redirectingPortal(t *testing.T, tls bool, loc func(r *http.Request) string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Redirect(w, r, loc(r), http.StatusFound)
	})
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(h)
	} else {
		srv = httptest.NewServer(h)
	}
	t.Cleanup(srv.Close)
	return srv, &hits
}

func storedAuth(srv *httptest.Server) bitrix24.Auth {
	host := strings.TrimPrefix(strings.TrimPrefix(srv.URL, "https://"), "http://")
	return bitrix24.Auth{MemberID: "m1", Domain: host, ClientEndpoint: srv.URL + "/rest/", AccessToken: secretToken,
		RefreshToken: "s3cret-refresh", ApplicationToken: "app", Expires: time.Now().Add(time.Hour)}
}

func redirectClient(t *testing.T, portal *httptest.Server, oauthURL string) (*bitrix24.Client, *bitrix24.MemoryTokenStore) {
	t.Helper()
	store := bitrix24.NewMemoryTokenStore()
	if err := store.Save(context.Background(), storedAuth(portal)); err != nil {
		t.Fatal(err)
	}
	hc := portal.Client() // trusts the TLS portal's certificate; its own redirect policy is replaced
	hc.Timeout = 10 * time.Second
	c := bitrix24.NewClient(bitrix24.ClientConfig{ClientID: "app", ClientSecret: "s3cret-client", OAuthURL: oauthURL,
		HTTPClient: hc, AllowPrivate: true}, store)
	return c, store
}

func assertRefusedRedirect(t *testing.T, err error, store *bitrix24.MemoryTokenStore, before bitrix24.Auth) {
	t.Helper()
	if !errors.Is(err, bitrix24.ErrPortalMoved) {
		t.Fatalf("want ErrPortalMoved, got %v", err)
	}
	for _, secret := range []string{secretToken, "s3cret-refresh", "s3cret-client"} {
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("the error carries a secret: %v", err)
		}
	}
	a, _ := store.Load(context.Background(), "m1")
	if a.ClientEndpoint != before.ClientEndpoint || a.Domain != before.Domain || a.AccessToken != before.AccessToken {
		t.Fatalf("stored endpoint changed: %q %q", a.ClientEndpoint, a.Domain)
	}
}

// A 302 to another host: no request reaches it, the stored endpoint stays, the error says what to do.
func TestAttackRedirectToAnotherHost(t *testing.T) {
	other, otherHits := witness(t)
	portal, portalHits := redirectingPortal(t, false, func(r *http.Request) string { return other.URL + r.URL.RequestURI() })
	c, store := redirectClient(t, portal, other.URL+"/oauth/token/")
	err := c.Call(ctx(t), "m1", "app.info", nil, nil)
	assertRefusedRedirect(t, err, store, storedAuth(portal))
	if !strings.Contains(err.Error(), "signet admin bitrix24 move") {
		t.Errorf("the error does not tell the operator what to do: %v", err)
	}
	if portalHits.Load() != 1 || otherHits.Load() != 0 {
		t.Fatalf("portal saw %d requests (want 1), the other host %d (want 0)", portalHits.Load(), otherHits.Load())
	}
	// CallAs (a user's token) and EventSend go the same way.
	err = c.CallAs(ctx(t), "m1", "user-token", "user.current", nil, nil)
	assertRefusedRedirect(t, err, store, storedAuth(portal))
	err = c.EventSend(ctx(t), "m1", "event-token", map[string]any{"signed": "Y"}, "")
	assertRefusedRedirect(t, err, store, storedAuth(portal))
	if otherHits.Load() != 0 {
		t.Fatalf("the other host saw %d requests", otherHits.Load())
	}
}

// https → http, even on a host that looks like the portal's, is not followed.
func TestAttackRedirectHTTPSToHTTP(t *testing.T) {
	other, otherHits := witness(t)
	portal, portalHits := redirectingPortal(t, true, func(r *http.Request) string {
		return "http://" + r.Host + r.URL.RequestURI() // same host, plain http
	})
	c, store := redirectClient(t, portal, other.URL+"/oauth/token/")
	err := c.Call(ctx(t), "m1", "app.info", nil, nil)
	assertRefusedRedirect(t, err, store, storedAuth(portal))
	if !strings.Contains(err.Error(), "http://") {
		t.Errorf("the error does not say where it was sent: %v", err)
	}
	portal2, _ := redirectingPortal(t, true, func(r *http.Request) string { return other.URL + r.URL.RequestURI() })
	c2, store2 := redirectClient(t, portal2, other.URL+"/oauth/token/")
	assertRefusedRedirect(t, c2.Call(ctx(t), "m1", "app.info", nil, nil), store2, storedAuth(portal2))
	if portalHits.Load() != 1 || otherHits.Load() != 0 {
		t.Fatalf("portal saw %d requests, the http host %d", portalHits.Load(), otherHits.Load())
	}
}

// A redirect to an internal address (loopback, RFC 1918) is not followed either.
func TestAttackRedirectToPrivateAddress(t *testing.T) {
	other, otherHits := witness(t) // listens on 127.0.0.1
	for _, target := range []string{other.URL, "http://10.0.0.1", "http://169.254.169.254", "http://[::1]:1"} {
		portal, _ := redirectingPortal(t, false, func(r *http.Request) string { return target + "/latest/meta-data/" })
		c, store := redirectClient(t, portal, other.URL+"/oauth/token/")
		start := time.Now()
		assertRefusedRedirect(t, c.Call(ctx(t), "m1", "app.info", nil, nil), store, storedAuth(portal))
		if time.Since(start) > 5*time.Second {
			t.Fatalf("%s: the client tried to connect", target)
		}
	}
	if otherHits.Load() != 0 {
		t.Fatalf("the loopback host saw %d requests", otherHits.Load())
	}
}

// The OAuth token endpoint redirecting: the client secret and refresh token go nowhere else.
func TestAttackOAuthRefreshRedirect(t *testing.T) {
	other, otherHits := witness(t)
	oauth, _ := redirectingPortal(t, false, func(r *http.Request) string { return other.URL + r.URL.RequestURI() })
	expired := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":"expired_token","error_description":"The access token provided has expired"}`)
	}))
	defer expired.Close()
	c, store := redirectClient(t, expired, oauth.URL+"/oauth/token/")
	err := c.Call(ctx(t), "m1", "app.info", nil, nil)
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("refresh through a redirect: %v", err)
	}
	if otherHits.Load() != 0 {
		t.Fatalf("the other host saw %d requests (client secret and refresh token sent there)", otherHits.Load())
	}
	if a, _ := store.Load(context.Background(), "m1"); a.RefreshToken != "s3cret-refresh" || a.ClientEndpoint != expired.URL+"/rest/" {
		t.Fatal("stored tokens or endpoint changed")
	}
}

// The OAuth server's answer names another client_endpoint: the tokens are stored, the endpoint is not.
func TestAttackRefreshAnswerMovesEndpoint(t *testing.T) {
	other, otherHits := witness(t)
	var portalCalls atomic.Int32
	portal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		if portalCalls.Add(1) == 1 {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"expired_token"}`)
			return
		}
		_, _ = io.WriteString(w, `{"result":{"ok":true}}`)
	}))
	defer portal.Close()
	oauth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "new-at", "refresh_token": "new-rt", "expires_in": 3600,
			"client_endpoint": other.URL + "/rest/", "member_id": "m1"})
	}))
	defer oauth.Close()
	c, store := redirectClient(t, portal, oauth.URL+"/oauth/token/")
	if err := c.Call(ctx(t), "m1", "app.info", nil, nil); err != nil {
		t.Fatal(err)
	}
	a, _ := store.Load(context.Background(), "m1")
	if a.ClientEndpoint != portal.URL+"/rest/" || a.AccessToken != "new-at" {
		t.Fatalf("endpoint %q token %q: the refresh answer moved the portal", a.ClientEndpoint, a.AccessToken)
	}
	if otherHits.Load() != 0 {
		t.Fatalf("the other host saw %d requests", otherHits.Load())
	}
}

// A file download redirected off the portal: the auth= of the URL is not sent there.
func TestAttackDownloadRedirectToAnotherHost(t *testing.T) {
	other, otherHits := witness(t)
	portal, _ := redirectingPortal(t, false, func(r *http.Request) string { return other.URL + r.URL.RequestURI() })
	c, _ := redirectClient(t, portal, other.URL+"/oauth/token/")
	_, err := c.Download(ctx(t), "m1", portal.URL+"/upload/x.pdf?auth="+secretToken, 1<<20, io.Discard)
	if !errors.Is(err, bitrix24.ErrPortalMoved) || strings.Contains(err.Error(), secretToken) {
		t.Fatalf("download redirect: %v", err)
	}
	if otherHits.Load() != 0 {
		t.Fatalf("the other host saw %d requests", otherHits.Load())
	}
}
