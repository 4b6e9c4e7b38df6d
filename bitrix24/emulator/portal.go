// Package emulator is a fake Bitrix24 portal served over real HTTP on 127.0.0.1, for Signet's tests
// and the demo. It follows /work/shared/reference/bitrix24-rest.md and is as strict as the real
// portal where the reference says the portal is strict: wrong or expired auth is rejected with the
// documented envelope, the leaky-bucket limit answers 503 QUERY_LIMIT_EXCEEDED, batch reports
// per-command failures, bizproc.robot.* and placement.bind demand an application context, and
// bizproc.event.send is one-shot per event_token.
//
// It must never listen on anything but 127.0.0.1, never contact any host other than the handler URLs a
// test gives it, and never be used as a stand-in for checking Signet's own output (it only records).
package emulator

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Config describes the fake portal. Zero values get sensible defaults in New.
type Config struct {
	// Domain is the portal host as it appears in auth[domain] and client_endpoint. Empty: Start sets
	// it to the listener's 127.0.0.1:port. Set it when serving Handler from your own listener.
	Domain           string
	MemberID         string // default: random 32 hex
	ApplicationToken string // default: random 32 hex
	ClientID         string // OAuth app client_id, default "local.emulator"
	ClientSecret     string // default: random
	// Scope is the app's comma-separated scope list; a method outside it answers 403
	// insufficient_scope. Default: crm,bizproc,placement,disk,im,task,user_brief.
	Scope          string
	AccessTokenTTL time.Duration
	// Admins are further portal administrators besides AdminUserID: user.admin answers true for them
	// and they may register robots and placements (reference §3).
	Admins []int
	// Language is the portal's language id: LANGUAGE_ID of ONAPPINSTALL/ONAPPUNINSTALL and app.info, and
	// LANG of the installation page and placement requests (every user of the emulator reads the
	// portal's language). Default "en".
	Language string
	// TimeZones are the users' TIME_ZONE as user.get answers it (IANA names, "Europe/Moscow"); a user
	// not named has "", as a real user who never chose a zone.
	TimeZones map[int]string
	// Users are the portal's employees as user.get and user.search know them (people.go), besides
	// AdminUserID, who is always there.
	Users      []User
	RatePerSec float64 // leaky bucket drain per second (reference §8.1); 0 = no limit
	Burst      int     // bucket size; 0 = no limit
	Log        *zap.Logger
}

// Call is one REST call the portal answered (inner batch commands included, with Batch set).
type Call struct {
	Method    string
	Params    map[string]any // without the auth token
	ErrorCode string         // "" on success
	Time      time.Time
	Batch     bool // executed as a command inside batch
	Duplicate bool // bizproc.event.send for an event_token already completed (accepted, ignored)
	UserID    int
}

// Portal is the fake portal. All methods are safe for concurrent use.
type Portal struct {
	cfg    Config
	log    *zap.Logger
	secret []byte // signs event tokens (reference §5: HMAC-signed, salt "bizproc")

	mu        sync.Mutex
	servers   []*http.Server
	domain    string
	scheme    string
	oldHosts  map[string]bool // hosts the portal moved away from: answer 302
	access    map[string]*token
	refresh   map[string]int // refresh token → user id
	webhooks  map[string]int // "uid/code" → user id
	refreshes int

	robots      map[string]*robot
	robotOrder  []string
	placements  []placement
	deals       map[int]*deal
	items       map[int]map[int]*deal // entityTypeId → id → item, for types other than deals (crm_list.go)
	files       map[int]*crmFile
	disk        map[int]*diskFile
	nextID      int
	events      map[string]*eventState
	sent        map[string][]map[string]any
	onEventSent func(token string, returnValues map[string]any)
	conns       atomic.Int64
	logMsgs     map[string][]string
	calls       []Call
	comments    []TimelineComment
	logMessages []LogMessage
	notifies    []Notification
	tasks       []Task
	folders     map[int]*diskFolder
	docgen      map[int]*generatedDoc
	catalog     *crmCatalog // smart processes, pipelines, stages, item fields (crm_catalog.go)

	bucketLevel float64
	bucketAt    time.Time
	opReset     map[string]time.Time // method → operating_reset_at
	fail        failState
	table       map[string]method
}

type token struct {
	userID  int
	expires time.Time
}

// New makes a portal; call Start to serve it, or mount Handler yourself (then set Config.Domain).
func New(cfg Config) *Portal {
	if cfg.MemberID == "" {
		cfg.MemberID = randHex(16)
	}
	if cfg.ApplicationToken == "" {
		cfg.ApplicationToken = randHex(16)
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "local.emulator"
	}
	if cfg.ClientSecret == "" {
		cfg.ClientSecret = randHex(16)
	}
	if cfg.Scope == "" {
		cfg.Scope = defaultScope
	}
	if cfg.Language == "" {
		cfg.Language = "en"
	}
	if cfg.AccessTokenTTL <= 0 {
		cfg.AccessTokenTTL = time.Hour
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	p := &Portal{
		cfg: cfg, log: cfg.Log, secret: []byte(randHex(32)),
		domain: cfg.Domain, scheme: "http", oldHosts: map[string]bool{},
		access: map[string]*token{}, refresh: map[string]int{}, webhooks: map[string]int{},
		robots: map[string]*robot{}, deals: map[int]*deal{}, files: map[int]*crmFile{}, disk: map[int]*diskFile{},
		nextID: 100, folders: map[int]*diskFolder{}, events: map[string]*eventState{}, sent: map[string][]map[string]any{}, logMsgs: map[string][]string{},
		opReset: map[string]time.Time{},
	}
	p.table = p.methods()
	return p
}

// Start listens on 127.0.0.1:0 and returns the base URL (http://127.0.0.1:port). Close stops it.
func (p *Portal) Start() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("emulator: listen on 127.0.0.1: %w", err)
	}
	srv := &http.Server{Handler: p.Handler(), ReadHeaderTimeout: 10 * time.Second,
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				p.conns.Add(1)
			}
		}}
	p.mu.Lock()
	if p.domain == "" {
		p.domain = ln.Addr().String()
	}
	p.servers = append(p.servers, srv)
	base := p.scheme + "://" + p.domain
	p.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
	return base, nil
}

// Connections is how many TCP connections the portal has accepted: a client that keeps its
// connections alive opens about as many as it has requests in flight at once, not one per request.
func (p *Portal) Connections() int64 { return p.conns.Load() }

// Close stops every listener the portal started and drops open connections.
func (p *Portal) Close() error {
	p.mu.Lock()
	srvs := p.servers
	p.servers = nil
	p.mu.Unlock()
	var errs []error
	for _, s := range srvs {
		errs = append(errs, s.Close()) // not Shutdown: it waits for idle-but-new client connections
	}
	return errors.Join(errs...)
}

// BaseURL is http://{current domain}; it changes after a MoveDomain failure.
func (p *Portal) BaseURL() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.scheme + "://" + p.domain
}

// MemberID and ApplicationToken are what the app stores at install.
func (p *Portal) MemberID() string         { return p.cfg.MemberID }
func (p *Portal) ApplicationToken() string { return p.cfg.ApplicationToken }

// ClientID and ClientSecret are the OAuth app credentials the client must present on refresh.
func (p *Portal) ClientID() string     { return p.cfg.ClientID }
func (p *Portal) ClientSecret() string { return p.cfg.ClientSecret }

// OAuthURL is the token endpoint (the real one is https://oauth.bitrix.info/oauth/token/).
func (p *Portal) OAuthURL() string { return p.BaseURL() + "/oauth/token/" }

// Refreshes counts accepted refresh_token grants.
func (p *Portal) Refreshes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refreshes
}

// Calls returns a copy of the REST call log.
func (p *Portal) Calls() []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Call(nil), p.calls...)
}

// EventsSent returns event_token → RETURN_VALUES of every accepted bizproc.event.send (duplicates are
// not accepted: they show up in Calls with Duplicate set). When the robot was registered, keys are
// those of its RETURN_PROPERTIES (matched case-insensitively, unknown keys dropped, reference §5);
// otherwise they are kept as sent.
func (p *Portal) EventsSent() map[string][]map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string][]map[string]any, len(p.sent))
	for k, v := range p.sent {
		out[k] = append([]map[string]any(nil), v...)
	}
	return out
}

// OnEventSent has f called for every accepted bizproc.event.send that completes a robot, with its
// event token and return values, the moment the portal accepts it. f runs with the portal locked: it
// must be quick and must not call the Portal. A benchmark waits on it instead of polling EventsSent,
// which copies every event so far.
func (p *Portal) OnEventSent(f func(token string, returnValues map[string]any)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.onEventSent = f
}

// LogMessages returns event_token → LOG_MESSAGE of every accepted bizproc.event.send (the portal's
// default text when it was empty).
func (p *Portal) LogMessages() map[string][]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string][]string, len(p.logMsgs))
	for k, v := range p.logMsgs {
		out[k] = append([]string(nil), v...)
	}
	return out
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("emulator: crypto/rand: " + err.Error())
	}
	return hex.EncodeToString(b)
}

func (p *Portal) newIDLocked() int {
	p.nextID++
	return p.nextID
}
