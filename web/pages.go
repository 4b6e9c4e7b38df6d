// pages.go wires the control panel (/admin/…) and the verification page (/verify): one Pages value
// holds what they share (the session bucket, the sign-in throttle, the upload limiter).

package web

import (
	"bytes"
	"context"
	"crypto/x509"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24/portals"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/internal/routes"
	"github.com/signet-b24/signet/keyring"
	"github.com/signet-b24/signet/producer/identity"
)

//go:embed templates/*.html static/*
var files embed.FS

// Recorder appends to the audit trail (internal/audit.Writer is one).
type Recorder interface {
	Record(ctx context.Context, e contracts.AuditEvent) error
}

// Bitrix calls a portal (bitrix24.Client is one): with the application's own token, for the portals
// page (are the robot and the Sign button registered?), and with a user's token from the portal, to
// learn whether a portal administrator is opening the application.
type Bitrix interface {
	Call(ctx context.Context, memberID, method string, params map[string]any, out any) error
	CallAs(ctx context.Context, memberID, accessToken, method string, params map[string]any, out any) error
}

// Config wires the pages to the services they show and change.
type Config struct {
	Identity *identity.Service
	// Keys are the PKCS#11 tokens; nil in an intake-only process, whose credentials page then says
	// so and the verification page trusts only the system roots.
	Keys    keyring.Admin
	Portals *portals.Registry
	Bitrix  Bitrix
	// JS holds the sessions bucket (signet_sessions), so a session works on every intake process.
	JS       jetstream.JetStream
	Replicas int
	// PublicURL is where browsers reach Signet; with https the session cookie is Secure (__Host-).
	PublicURL string
	// PasswordsFile holds the local administrators (security.admin_passwords_file) when Admins is
	// nil: one host. Admins, when set, is where they are instead (admins_store.go: NATS, shared by
	// every intake).
	PasswordsFile string
	Admins        AdminStore
	// RobotCode is the robot CODE the portals page looks for.
	RobotCode string
	// MaxPDFBytes bounds an upload to the verification page (default 100 MiB).
	MaxPDFBytes int64
	// Verify bounds the verification page per client and in total (verifylimit.go).
	Verify VerifyLimits
	// TrustAnchors are the roots the verification page trusts (verify.trust_anchors), exactly as
	// `signet verify --trust` does; none means the system's roots.
	TrustAnchors []*x509.Certificate
	// Mail sends enrolment links by e-mail (internal/mail.Sender, the mail.* settings); nil: no e-mail.
	Mail Mailer
	// InboxPass (producer.Intake.InboxPass) lets the application's page open the signer's inbox,
	// which wants a proof that Bitrix24 sends this page without; nil: the page shows no inbox link.
	InboxPass func(memberID string, userID int) string
	// Audit records every change made in the control panel; nil logs the change instead.
	Audit Recorder
	// Sign-in limits (throttle.go); zero takes the Default… constant. LoginMaxPerAddress < 0 turns
	// the per-address limit off; behind a reverse proxy, list it in VerifyLimits.TrustedProxies instead.
	LoginMaxFailures    int
	LoginLockout        time.Duration
	LoginMaxPerAddress  int
	MaxConcurrentHashes int
	Log                 *zap.Logger
	Now                 func() time.Time
}

// Pages is the control panel and the verification page.
type Pages struct {
	cfg      Config
	log      *zap.Logger
	secure   bool
	origin   string
	throttle *throttle
	kdf      chan struct{} // bounds concurrent Argon2id runs (64 MiB each)
	verify   *verifyLimiter
	// hashing and peakHashing count the Argon2id checks running now and at most at once; hashed
	// counts them all.
	hashing, peakHashing atomic.Int32
	hashed               atomic.Int64

	mu       sync.Mutex
	sessions jetstream.KeyValue
}

// New returns the pages; nothing is opened until the first request.
func New(cfg Config) *Pages {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxPDFBytes <= 0 {
		cfg.MaxPDFBytes = 100 << 20
	}
	if cfg.LoginMaxFailures <= 0 {
		cfg.LoginMaxFailures = DefaultLoginMaxFailures
	}
	if cfg.LoginLockout <= 0 {
		cfg.LoginLockout = DefaultLoginLockout
	}
	if cfg.LoginMaxPerAddress == 0 {
		cfg.LoginMaxPerAddress = DefaultLoginMaxPerAddress
	}
	if cfg.MaxConcurrentHashes <= 0 {
		cfg.MaxConcurrentHashes = DefaultMaxConcurrentHashes
	}
	p := &Pages{cfg: cfg, log: cfg.Log, throttle: newThrottle(cfg.LoginMaxFailures, cfg.LoginMaxPerAddress, cfg.LoginLockout),
		kdf: make(chan struct{}, cfg.MaxConcurrentHashes), verify: newVerifyLimiter(cfg.Verify)}
	if u, err := url.Parse(cfg.PublicURL); err == nil && u.Host != "" {
		p.secure = u.Scheme == "https"
		p.origin = u.Scheme + "://" + u.Host
	}
	return p
}

// Routes mounts the pages on mux.
func (p *Pages) Routes(mux routes.Mux) {
	static, _ := fs.Sub(files, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", staticHandler(http.FileServerFS(static))))
	mux.HandleFunc("GET /lang", SetLanguage)
	mux.HandleFunc("GET /verify", p.verifyForm)
	mux.HandleFunc("POST /verify", p.verifyUpload)

	mux.HandleFunc("POST /admin/bitrix24", p.portalAdminPage)
	mux.HandleFunc("POST /admin/bitrix24/enrol", p.appConfirm)
	mux.HandleFunc("GET /admin/bitrix24/users", p.admin(p.employeeSearch))
	mux.HandleFunc("POST /admin/portal-session", p.portalSession)
	mux.HandleFunc("GET /admin/login", p.loginForm)
	mux.HandleFunc("POST /admin/login", p.login)
	mux.HandleFunc("POST /admin/logout", p.admin(p.logout))
	mux.HandleFunc("GET /admin", p.admin(func(w http.ResponseWriter, r *http.Request, s *session) {
		http.Redirect(w, r, "/admin/users", http.StatusSeeOther)
	}))
	mux.HandleFunc("GET /admin/users", p.admin(p.usersPage))
	mux.HandleFunc("POST /admin/users", p.admin(p.addUser))
	mux.HandleFunc("GET /admin/users/{login}", p.admin(p.userPage))
	mux.HandleFunc("POST /admin/users/{login}/{action}", p.admin(p.userAction))
	mux.HandleFunc("GET /admin/credentials", p.admin(p.credentialsPage))
	mux.HandleFunc("POST /admin/credentials/{action}", p.admin(p.credentialAction))
	mux.HandleFunc("GET /admin/ca/root", p.admin(p.caRoot))
	mux.HandleFunc("GET /admin/portals", p.admin(p.portalsPage))
	mux.HandleFunc("GET /admin/portals/allowed", p.admin(p.allowedPage))
	mux.HandleFunc("POST /admin/portals/allowed", p.admin(p.allowedAction(true)))
	mux.HandleFunc("POST /admin/portals/allowed/remove", p.admin(p.allowedAction(false)))
	mux.HandleFunc("GET /admin/grants", p.admin(p.grantsPage))
	mux.HandleFunc("POST /admin/grants/revoke", p.admin(p.revokeGrant))
}

func staticHandler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	})
}

var funcs = template.FuncMap{
	"join":      strings.Join,
	"wrap":      wrap,
	"credLabel": credentialLabel,
	"short":     grantName,
	// pathEscape makes a login one path segment: a Bitrix24 login may hold '?' or '#'.
	"pathEscape": url.PathEscape,
}

// pageSet parses the layout with one page's template.
func pageSet(name string) *template.Template {
	return template.Must(template.New(name).Funcs(baseLangFuncs).Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/langswitch.html", "templates/"+name+".html"))
}

var tmpl = map[string]*template.Template{}

func init() {
	for _, n := range []string{"login", "users", "user", "credentials", "portals", "grants", "verify", "portaladmin", "allowed"} {
		tmpl[n] = pageSet(n)
	}
}

// view is what every page gets; Data is the page's own. Title, Notice and Error are catalogue keys
// (render translates them) or text already in the reader's language.
type view struct {
	Title   string
	Section string // users, credentials, portals, grants, verify
	Admin   string // the administrator signed in, "" on public pages
	CSRF    string
	Notice  string
	Error   string
	Data    any
	// Bitrix24Lang is LANG of a page shown inside Bitrix24: it decides the language (i18n.FromBitrix24)
	// and the page has no switch.
	Bitrix24Lang string
	// Zone is the reader's time zone (the tz cookie, viewerZone), set by render; nil is UTC.
	Zone *time.Location
	// Lang and Switch are set by render: the page's language and the visible language switch.
	Lang   string
	Switch []langLink
}

// render writes a page with the security headers every page carries: no framing (the control panel
// is never shown inside another site), nothing from elsewhere, no caching, no Referer to other sites.
func (p *Pages) render(w http.ResponseWriter, r *http.Request, status int, name string, v view) {
	p.renderFramed(w, r, status, "'none'", name, v)
}

// renderFramed is render for a page that frameAncestors (a CSP source list) may frame.
func (p *Pages) renderFramed(w http.ResponseWriter, r *http.Request, status int, frameAncestors, name string, v view) {
	l := localizer(r)
	v.Switch, v.Zone = langSwitch(l, backPath(r)), viewerZone(r)
	buf, err := renderPage(l, name, v)
	if err != nil {
		p.log.Error("rendering page", zap.String("page", name), zap.Error(err))
		http.Error(w, l.T("web.page.renderFailed"), http.StatusInternalServerError)
		return
	}
	// same-origin, not no-referrer: under no-referrer a browser sends "Origin: null" with the page's own
	// forms, and the Origin check could not tell them from a forged one.
	writePage(w, status, "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'",
		frameAncestors, "same-origin", buf)
}

// writePage writes an HTML page with its policy (csp, without frame-ancestors), the sources that
// may frame it and the headers every page carries: no sniffing, no caching.
func writePage(w http.ResponseWriter, status int, csp, frameAncestors, referrer string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp+"; frame-ancestors "+frameAncestors+"; base-uri 'none'")
	if frameAncestors == "'none'" {
		h.Set("X-Frame-Options", "DENY")
	}
	h.Set("Referrer-Policy", referrer)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// renderPage executes the page name in the language of l. Title, Notice and Error that are catalogue
// keys are translated; other text is shown as it is.
func renderPage(l *i18n.Localizer, name string, v view) ([]byte, error) {
	if v.Bitrix24Lang != "" {
		l, v.Switch = i18n.For(i18n.FromBitrix24(v.Bitrix24Lang)), nil
	}
	v.Lang = l.Code()
	v.Title, v.Notice, v.Error = l.Text(v.Title), l.Text(v.Notice), l.Text(v.Error)
	t, err := inLanguage(tmpl[name], l, v.Zone)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// credentialLabel names a pkcs11: URI for people: "object (token)".
func credentialLabel(uri string) string {
	u, err := keyring.ParseURI(uri)
	if err != nil || u.Object == "" {
		return uri
	}
	if u.Token != "" {
		return u.Object + " (" + u.Token + ")" // no words: the label is read in every language
	}
	return u.Object
}

// record puts an administrator's change in the audit trail.
func (p *Pages) record(ctx context.Context, s *session, action, login, credential, detail string) {
	e := contracts.AuditEvent{Time: p.cfg.Now().UTC(), Action: action, Login: login, Credential: credential,
		Outcome: contracts.AuditOK, Detail: "by administrator " + s.Login + " (" + s.who() + "): " + detail}
	p.log.Info("control panel change", zap.String("admin", s.Login), zap.String("scope", s.who()), zap.String("action", action), zap.String("login", login),
		zap.String("credential", credential), zap.String("detail", detail))
	if p.cfg.Audit == nil {
		return
	}
	if err := p.cfg.Audit.Record(ctx, e); err != nil {
		p.log.Error("audit trail unavailable: control panel change not recorded there", zap.String("action", action), zap.Error(err))
	}
}
