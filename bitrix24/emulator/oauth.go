package emulator

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/signet-b24/signet/bitrix24"
)

// AdminUserID is the installing administrator; robots and placements need an admin (reference §3).
const AdminUserID = 1

const defaultScope = "crm,bizproc,placement,disk,im,task,user_brief"

// methodScope is the scope a method needs (module prefix); "" = any authorised app.
func methodScope(name string) string {
	switch {
	case strings.HasPrefix(name, "bizproc."):
		return "bizproc"
	case strings.HasPrefix(name, "placement."):
		return "placement"
	case strings.HasPrefix(name, "disk."):
		return "disk"
	case strings.HasPrefix(name, "crm."):
		return "crm"
	case strings.HasPrefix(name, "im."):
		return "im"
	case strings.HasPrefix(name, "tasks."):
		return "task"
	case name == "user.get", name == "user.search":
		return "user_brief" // or the wider user_basic or user (bitrix24-people-notes.md §2)
	}
	return ""
}

func (p *Portal) hasScope(name string) bool {
	need := methodScope(name)
	if need == "" {
		return true
	}
	for _, s := range strings.Split(p.cfg.Scope, ",") {
		s = strings.TrimSpace(s)
		if s == need || need == "user_brief" && (s == "user_basic" || s == "user") { // wider user scopes include user_brief
			return true
		}
	}
	return false
}

// NewAuth issues a fresh access/refresh token pair for userID and returns it with the portal's
// endpoints, as ONAPPINSTALL and robot calls deliver it.
func (p *Portal) NewAuth(userID int) bitrix24.Auth {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.newAuthLocked(userID)
}

func (p *Portal) newAuthLocked(userID int) bitrix24.Auth {
	at, rt := randHex(16), randHex(16)
	exp := time.Now().Add(p.cfg.AccessTokenTTL)
	p.access[at] = &token{userID: userID, expires: exp}
	p.refresh[rt] = userID
	return bitrix24.Auth{
		AccessToken: at, RefreshToken: rt, ApplicationToken: p.cfg.ApplicationToken,
		MemberID: p.cfg.MemberID, Domain: p.domain,
		ClientEndpoint: p.scheme + "://" + p.domain + "/rest/",
		ServerEndpoint: p.scheme + "://" + p.domain + "/oauth/rest/",
		Scope:          p.cfg.Scope, Status: "L", UserID: userID, Expires: exp,
	}
}

// AddWebhook creates an incoming webhook for userID and returns its base URL
// (http://{domain}/rest/{uid}/{code}/); it has no application context (reference §9.3).
func (p *Portal) AddWebhook(userID int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	code := randHex(8)
	p.webhooks[strconv.Itoa(userID)+"/"+code] = userID
	return p.scheme + "://" + p.domain + "/rest/" + strconv.Itoa(userID) + "/" + code + "/"
}

// authFormFields renders auth[...] as Bitrix24 sends it to handlers (reference §4, §9.2).
func authFormFields(a bitrix24.Auth, ttl time.Duration) map[string]any {
	return map[string]any{
		"access_token": a.AccessToken, "expires": strconv.FormatInt(a.Expires.Unix(), 10),
		"expires_in": strconv.Itoa(int(ttl / time.Second)), "scope": a.Scope, "domain": a.Domain,
		"server_endpoint": a.ServerEndpoint, "status": a.Status, "client_endpoint": a.ClientEndpoint,
		"member_id": a.MemberID, "user_id": strconv.Itoa(a.UserID), "refresh_token": a.RefreshToken,
		"application_token": a.ApplicationToken,
	}
}

// serveOAuth is the refresh_token grant of reference §9.1: GET (or POST) with grant_type,
// client_id, client_secret, refresh_token. Every refresh rotates the refresh token; the old one stops
// working at once (the reference assumes so).
func (p *Portal) serveOAuth(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_request", "error_description": "Malformed request"})
		return
	}
	q := r.Form
	oauthErr := func(status int, code, desc string) {
		writeJSON(w, status, map[string]any{"error": code, "error_description": desc})
	}
	switch q.Get("grant_type") {
	case "refresh_token":
	case "":
		oauthErr(http.StatusBadRequest, "invalid_request", "grant_type is required")
		return
	default:
		oauthErr(http.StatusBadRequest, "invalid_request", "unsupported grant_type")
		return
	}
	if q.Get("client_id") != p.cfg.ClientID || !bitrix24.VerifyApplicationToken(p.cfg.ClientSecret, q.Get("client_secret")) {
		oauthErr(http.StatusUnauthorized, "invalid_client", "Invalid client credentials")
		return
	}
	p.mu.Lock()
	uid, ok := p.refresh[q.Get("refresh_token")]
	if !ok {
		p.mu.Unlock()
		oauthErr(http.StatusBadRequest, "invalid_grant", "Invalid grant")
		return
	}
	delete(p.refresh, q.Get("refresh_token"))
	p.refreshes++
	a := p.newAuthLocked(uid)
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": a.AccessToken, "refresh_token": a.RefreshToken, "expires": a.Expires.Unix(),
		"expires_in": int(p.cfg.AccessTokenTTL / time.Second), "scope": a.Scope, "domain": "oauth.bitrix.info",
		"server_endpoint": a.ServerEndpoint, "client_endpoint": a.ClientEndpoint, "member_id": a.MemberID,
		"status": a.Status, "user_id": a.UserID,
	})
}

// checkToken is the auth step of every REST call (reference §8.2): missing → NO_AUTH_FOUND,
// unknown → invalid_token, past expiry → expired_token; all 401.
func (p *Portal) checkTokenLocked(tok string) (int, *apiError) {
	if tok == "" {
		return 0, &apiError{status: 401, code: bitrix24.ErrCodeNoAuthFound, desc: "Wrong authorization data"}
	}
	t, ok := p.access[tok]
	if !ok {
		return 0, &apiError{status: 401, code: bitrix24.ErrCodeInvalidToken, desc: "The access token provided is invalid."}
	}
	if !time.Now().Before(t.expires) {
		return 0, &apiError{status: 401, code: bitrix24.ErrCodeExpiredToken, desc: "The access token provided has expired."}
	}
	return t.userID, nil
}

// validDownloadAuth accepts the auth= of a download URL: a current access token.
func (p *Portal) validDownloadAuth(q url.Values) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, err := p.checkTokenLocked(q.Get("auth"))
	return err == nil
}
