package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/keyring"
)

// BucketSessions holds control-panel sessions, keyed by the SHA-256 of the cookie's token (the token
// itself is never stored), so a stolen bucket gives no session and a session works on every intake.
const BucketSessions = "signet_sessions"

// hashSlotWait is how long a sign-in waits for a free Argon2id slot before it is answered 503.
const hashSlotWait = time.Second

// SessionTTL is how long a control-panel session lasts after sign-in.
const SessionTTL = 8 * time.Hour

// session is one signed-in administrator. Kind is "local" (a local administrator account,
// Signet-wide) or "portal" (a Bitrix24 portal administrator, scoped to the portal MemberID: scope.go).
type session struct {
	Login    string `json:"login"`
	Kind     string `json:"kind"`
	MemberID string `json:"member_id,omitempty"`
	// Stamp is the local administrator's password stamp at sign-in (localAdminStamp).
	Stamp   string    `json:"stamp,omitempty"`
	CSRF    string    `json:"csrf"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

func (p *Pages) cookieName(base string) string {
	if p.secure {
		return "__Host-" + base // RFC 6265bis §4.1.3.2: Secure, Path=/, no Domain
	}
	return base
}

func (p *Pages) setCookie(w http.ResponseWriter, base, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: p.cookieName(base), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteStrictMode})
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func sessionKey(token string) string {
	h := sha256.Sum256([]byte(token))
	return "s." + hex.EncodeToString(h[:])
}

// bucket opens the sessions bucket on first use.
func (p *Pages) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sessions != nil {
		return p.sessions, nil
	}
	if p.cfg.JS == nil {
		return nil, errors.New("no NATS connection for sessions")
	}
	// Looked up first and created only when missing: an existing bucket's replicas are `signet
	// setup`'s to change, not the last intake's to start (issue 21 must 3).
	kv, err := p.cfg.JS.KeyValue(ctx, BucketSessions)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = ProvisionSessions(ctx, p.cfg.JS, p.cfg.Replicas)
	}
	if err != nil {
		return nil, fmt.Errorf("opening the sessions bucket %s: %w", BucketSessions, err)
	}
	p.sessions = kv
	return kv, nil
}

// ProvisionSessions creates or updates the sessions bucket (`signet setup`).
func ProvisionSessions(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	return js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: BucketSessions,
		Description: "Signet control-panel sessions (SHA-256 of the cookie token)", TTL: SessionTTL + time.Hour,
		History: 1, Replicas: max(replicas, 1)})
}

func (p *Pages) newSession(ctx context.Context, w http.ResponseWriter, login, kind, memberID, stamp string) error {
	kv, err := p.bucket(ctx)
	if err != nil {
		return err
	}
	now := p.cfg.Now().UTC()
	s := session{Login: login, Kind: kind, MemberID: memberID, Stamp: stamp, CSRF: randomToken(), Created: now, Expires: now.Add(SessionTTL)}
	b, _ := json.Marshal(s)
	token := randomToken()
	if _, err := kv.Create(ctx, sessionKey(token), b); err != nil {
		return fmt.Errorf("storing the session: %w", err)
	}
	p.setCookie(w, "signet_admin", token, int(SessionTTL/time.Second))
	return nil
}

// current returns the request's session, or nil when there is none or it ended.
func (p *Pages) current(r *http.Request) (*session, string) {
	c, err := r.Cookie(p.cookieName("signet_admin"))
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return nil, ""
	}
	kv, err := p.bucket(r.Context())
	if err != nil {
		p.log.Error("control panel: sessions unavailable", zap.Error(err))
		return nil, ""
	}
	e, err := kv.Get(r.Context(), sessionKey(c.Value))
	if err != nil {
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			p.log.Error("control panel: reading a session", zap.Error(err))
		}
		return nil, ""
	}
	var s session
	if json.Unmarshal(e.Value(), &s) != nil || p.cfg.Now().After(s.Expires) {
		return nil, ""
	}
	switch s.Kind {
	case "local":
		// Removed, or its password changed since this session began: the session is over.
		if st := localAdminStamp(r.Context(), p.admins(), s.Login); st == "" || !tokensEqual(st, s.Stamp) {
			return nil, ""
		}
	case "portal":
		// A portal administrator's session is scoped to one portal, and ends when that portal
		// uninstalls Signet (or cannot be read: fail closed).
		if s.MemberID == "" || p.cfg.Portals == nil {
			return nil, ""
		}
		if _, _, err := p.cfg.Portals.Get(r.Context(), s.MemberID); err != nil {
			return nil, ""
		}
	default:
		return nil, ""
	}
	return &s, c.Value
}

// sameOrigin refuses a state-changing request whose Origin (sent by browsers on every POST) is not
// Signet's own: a second line behind the CSRF token and the SameSite=Strict cookie.
func (p *Pages) sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	if p.origin != "" && o == p.origin {
		return true
	}
	return strings.TrimPrefix(strings.TrimPrefix(o, "https://"), "http://") == r.Host
}

func tokensEqual(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// admin guards a control-panel handler: a session is required (otherwise the sign-in page), and on
// POST the form's csrf field must equal the session's token and the Origin must be Signet's.
func (p *Pages) admin(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, _ := p.current(r)
		if s == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
				return
			}
			p.render(w, r, http.StatusUnauthorized, "login", p.loginView(w, "", "web.login.sessionEnded"))
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 2<<20)
			if err := r.ParseMultipartForm(1 << 20); err != nil && !errors.Is(err, http.ErrNotMultipart) {
				http.Error(w, localizer(r).T("web.form.unreadable"), http.StatusBadRequest)
				return
			}
			if !p.sameOrigin(r) || !tokensEqual(r.PostFormValue("csrf"), s.CSRF) {
				p.log.Warn("control panel: form refused (CSRF token or Origin wrong)", zap.String("admin", s.Login), zap.String("path", r.URL.Path))
				http.Error(w, localizer(r).T("web.form.stale"), http.StatusForbidden)
				return
			}
		}
		// Key operations done by a worker for this intake are recorded under this administrator's name.
		h(w, r.WithContext(keyring.WithActor(r.Context(), s.Login+" ("+s.who()+")")), s)
	}
}

type loginData struct {
	LoginCSRF string
	Login     string
	NoAdmins  bool
	File      string
}

func (p *Pages) loginView(w http.ResponseWriter, login, errText string) view {
	token := randomToken()
	p.setCookie(w, "signet_login", token, 600)
	admins, _ := LocalAdminsIn(context.Background(), p.admins())
	return view{Title: "web.login.title", Error: errText, CSRF: token,
		Data: loginData{LoginCSRF: token, Login: login, NoAdmins: len(admins) == 0, File: p.admins().String()}}
}

func (p *Pages) loginForm(w http.ResponseWriter, r *http.Request) {
	if s, _ := p.current(r); s != nil {
		http.Redirect(w, r, "/admin/users", http.StatusSeeOther)
		return
	}
	p.render(w, r, http.StatusOK, "login", p.loginView(w, "", ""))
}

// login checks a local administrator's password. The login form carries its own CSRF token
// (double-submit: a cookie and a field that must match) so another site cannot sign a browser in.
func (p *Pages) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		p.render(w, r, http.StatusBadRequest, "login", p.loginView(w, "", "web.login.formUnreadable"))
		return
	}
	login := strings.TrimSpace(r.PostFormValue("login"))
	c, err := r.Cookie(p.cookieName("signet_login"))
	if err != nil || !p.sameOrigin(r) || !tokensEqual(c.Value, r.PostFormValue("csrf")) {
		p.render(w, r, http.StatusForbidden, "login", p.loginView(w, login, "web.login.formExpired"))
		return
	}
	if len(login) > 128 {
		p.render(w, r, http.StatusUnauthorized, "login", p.loginView(w, "", "web.login.wrong"))
		return
	}
	// Counted before hashing: attempts past a limit, however many arrive at once, are refused here.
	addr, now := clientAddress(r, p.verify.lim.TrustedProxies), p.cfg.Now() // the proxies of http.trusted_proxies
	if wait, ok := p.throttle.admit(login, addr, now); !ok {
		p.log.Warn("control panel: sign-in refused, too many wrong passwords for the login or from the address", zap.String("admin", login), zap.String("address", addr))
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		p.render(w, r, http.StatusTooManyRequests, "login", p.loginView(w, login,
			localizer(r).T("web.login.tooMany", int(wait.Minutes())+1)))
		return
	}
	wait := time.NewTimer(hashSlotWait)
	defer wait.Stop()
	select {
	case p.kdf <- struct{}{}:
	case <-wait.C:
		// Every Argon2id slot stayed busy: answer rather than queue more 64 MiB hashes.
		p.throttle.done(login, addr, false, true, now)
		w.Header().Set("Retry-After", "1")
		p.render(w, r, http.StatusServiceUnavailable, "login", p.loginView(w, login, "web.login.busy"))
		return
	}
	p.hashed.Add(1)
	for n := p.hashing.Add(1); ; {
		if old := p.peakHashing.Load(); n <= old || p.peakHashing.CompareAndSwap(old, n) {
			break
		}
	}
	err = checkLocalAdmin(r.Context(), p.admins(), login, []byte(r.PostFormValue("password")))
	p.hashing.Add(-1)
	<-p.kdf
	if err != nil {
		if errors.Is(err, ErrBadPassword) {
			p.throttle.done(login, addr, false, false, p.cfg.Now())
			p.log.Warn("control panel: wrong login or password", zap.String("admin", login), zap.String("address", addr))
			p.render(w, r, http.StatusUnauthorized, "login", p.loginView(w, login, "web.login.wrong"))
			return
		}
		p.throttle.done(login, addr, false, true, p.cfg.Now())
		p.log.Error("control panel: sign-in", zap.Error(err))
		p.render(w, r, http.StatusInternalServerError, "login", p.loginView(w, login, "Signet could not check the password; see its log."))
		return
	}
	p.throttle.done(login, addr, true, false, p.cfg.Now())
	if err := p.newSession(r.Context(), w, login, "local", "", localAdminStamp(r.Context(), p.admins(), login)); err != nil {
		p.log.Error("control panel: sign-in", zap.Error(err))
		p.render(w, r, http.StatusServiceUnavailable, "login", p.loginView(w, login, "web.login.storeDown"))
		return
	}
	p.setCookie(w, "signet_login", "", -1)
	p.log.Info("control panel: administrator signed in", zap.String("admin", login))
	http.Redirect(w, r, "/admin/users", http.StatusSeeOther)
}

func (p *Pages) logout(w http.ResponseWriter, r *http.Request, s *session) {
	if _, token := p.current(r); token != "" {
		if kv, err := p.bucket(r.Context()); err == nil {
			_ = kv.Delete(r.Context(), sessionKey(token))
		}
	}
	p.setCookie(w, "signet_admin", "", -1)
	p.log.Info("control panel: administrator signed out", zap.String("admin", s.Login))
	http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
}
