package main

// Issue 15, must 3: every door listed, every door walked. The walk starts the real process in each
// topology (serve; intake alone; worker alone), lists every pattern of every listener from its
// routes.Table, and calls each one — every method it answers, its {params} filled with plausible
// values, a plausible body — without credentials, with a forged session cookie and with an expired
// one, and (where a portal's credentials mean anything) with another portal's. Every answer must be
// the one "Endpoints: who may call what" in docs/security/endpoints.md documents, every state-changing
// door must refuse, and afterwards nothing may have changed: no user, credential, grant or job, nothing sent to a portal.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/config"
	"github.com/signet-b24/signet/internal/jobkey"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/producer"
	"github.com/signet-b24/signet/producer/identity"
	"github.com/signet-b24/signet/web"
)

// endpointRow is one row of the endpoint table (docs/security/endpoints.md).
type endpointRow struct {
	pattern, listener string
	roles             []string // the topologies whose listener serves it: serve, intake, worker
	who, proof        string
	answers           []int // the documented answers without credentials
	answerText        string
}

var statusCode = regexp.MustCompile(`\b[1-5][0-9][0-9]\b`)

// endpointTable parses the table under heading in file: | `pattern` | listener (roles) | who | how | answer |.
func endpointTable(t *testing.T, file, heading string) []endpointRow {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("%s has no section %q", file, heading)
	}
	if i := strings.Index(sec, "\n## "); i >= 0 {
		sec = sec[:i]
	}
	var rows []endpointRow
	for _, line := range strings.Split(sec, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		if len(cells) != 5 {
			t.Fatalf("%s: a row of %d cells, want 5: %s", file, len(cells), line)
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		r := endpointRow{pattern: strings.Trim(cells[0], "`"), who: cells[2], proof: cells[3], answerText: cells[4]}
		name, roles, _ := strings.Cut(cells[1], " (")
		r.listener = name
		for _, role := range strings.Split(strings.TrimSuffix(roles, ")"), ",") {
			r.roles = append(r.roles, strings.TrimSpace(role))
		}
		for _, c := range statusCode.FindAllString(cells[4], -1) {
			n, _ := strconv.Atoi(c)
			r.answers = append(r.answers, n)
		}
		if len(r.answers) == 0 {
			t.Errorf("%s: the row of %s names no HTTP status in its answer column", file, r.pattern)
		}
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		t.Fatalf("%s: no rows under %q", file, heading)
	}
	return rows
}

// walkEnv is a running process to walk, with what plausible requests need.
type walkEnv struct {
	a          *app
	cfg        *config.Config
	role       string
	portalA    *emulator.Portal // installed, with user mary (Bitrix24 id 7)
	portalB    *emulator.Portal // installed too, with user bob; nil outside serve
	metricsTok string           // the metrics listener's bearer token, "" when none
}

// startWalkEnv starts one process of the topology (serve, intake or worker) on its own embedded NATS.
func startWalkEnv(t *testing.T, ctx context.Context, topology string) *walkEnv {
	t.Helper()
	testenv.RequireTool(t, "softhsm2-util")
	secret := hex.EncodeToString(randomBytes(t, 16))
	start := func() *emulator.Portal {
		p := emulator.New(emulator.Config{ClientSecret: secret, Log: zap.NewNop()})
		if _, err := p.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	e := &walkEnv{role: topology, portalA: start()}
	dir := t.TempDir()
	settings, err := emulatorSettings(e.portalA, dir)
	if err != nil {
		t.Fatal(err)
	}
	r := role{intake: topology != "worker", worker: topology != "intake"}
	if topology == "serve" {
		e.portalB = start()
		tokFile := filepath.Join(dir, "metrics.token")
		settings = append(settings, "--bitrix24-portals", e.portalA.BaseURL()+","+e.portalB.BaseURL(), "--metrics-token-file", tokFile)
	}
	if e.cfg, _, err = config.Load("walk", settings, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	if topology == "worker" {
		// A worker alone trusts the keys an intake made; make them as an intake's first run does.
		sec := e.cfg.Security
		if _, err := jobkey.LoadOrCreateSigner(sec.JobSigningKeyFile, sec.JobVerifyKeysFile, sec.JobTTL); err != nil {
			t.Fatal(err)
		}
	}
	if e.a, err = openApp(ctx, e.cfg, zap.NewNop(), r); err != nil {
		t.Fatal(err)
	}
	srv, err := e.a.start(ctx, r)
	if err != nil {
		e.a.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = srv.stop()
		e.a.Close()
	})
	if f := e.cfg.Metrics.TokenFile; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		e.metricsTok = strings.TrimSpace(string(b))
	}
	if r.intake {
		for _, p := range []*emulator.Portal{e.portalA, e.portalB} {
			if p != nil {
				if err := p.Install(ctx, e.cfg.PublicURL+"/bitrix24/install"); err != nil {
					t.Fatal(err)
				}
			}
		}
		demo := e.cfg.Demo.Credential
		if err := e.a.identity.AddUser(ctx, identity.User{Login: "mary", BitrixIDs: map[string]int{e.portalA.MemberID(): 7},
			Credentials: []string{demo}, DefaultCredential: demo}); err != nil {
			t.Fatal(err)
		}
		if e.portalB != nil {
			if err := e.a.identity.AddUser(ctx, identity.User{Login: "bob", BitrixIDs: map[string]int{e.portalB.MemberID(): 7},
				Credentials: []string{demo}, DefaultCredential: demo}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return e
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func randomText(t *testing.T) string { return base64.RawURLEncoding.EncodeToString(randomBytes(t, 32)) }

// door is one request of the walk.
type door struct {
	method, path string
	body         []byte
	ctype        string
}

// fill puts plausible values in a pattern's {params}: a real user, real actions, well-formed ids.
func (e *walkEnv) fill(t *testing.T, pattern string) []string {
	path := pattern
	if _, p, ok := strings.Cut(pattern, " "); ok {
		path = p
	}
	values := map[string][]string{
		"{token}":      {randomText(t)}, // an enrolment link's token nobody sent
		"{login}":      {"mary"},        // a real user of portal A
		"{domain}":     {"nosuch.bitrix24.ru"},
		"{id}":         {"p" + hex.EncodeToString(randomBytes(t, 16))},
		"{seq}":        {"1"},
		"{ca}":         {hex.EncodeToString(randomBytes(t, 20))},                // a CA key id this Signet does not hold
		"{request...}": {base64.StdEncoding.EncodeToString(randomBytes(t, 32))}, // not an OCSP request
	}
	switch {
	case strings.HasPrefix(path, "/v1/admin/users/"):
		values["{action}"] = []string{"disable", "enable", "otp-disable", "otp-enable", "enrol"}
	case strings.HasPrefix(path, "/admin/users/"):
		values["{action}"] = []string{"edit", "disable", "enable", "otp-disable", "otp-enable", "delete", "map", "default", "unmap", "enrol"}
	case strings.HasPrefix(path, "/v1/admin/credentials/"), strings.HasPrefix(path, "/admin/credentials/"):
		values["{action}"] = []string{"disable", "enable", "assign", "self-signed", "ca-init", "ca-issue", "import", "revoke"}
	case strings.HasPrefix(path, "/v1/grants/"):
		values["{id}"] = []string{"g" + hex.EncodeToString(randomBytes(t, 16))}
	case strings.HasPrefix(path, "/verify/"):
		values["{id}"] = []string{hex.EncodeToString(randomBytes(t, 16))}
	case strings.HasPrefix(path, "/routes/final/"):
		values["{route}"] = []string{"rt" + hex.EncodeToString(randomBytes(t, 12))} // a route id, its final link guessed
		values["{token}"] = []string{hex.EncodeToString(randomBytes(t, 32))}
	case strings.HasPrefix(path, "/bitrix24/inbox/"):
		values["{id}"] = []string{"r" + hex.EncodeToString(randomBytes(t, 16))} // a request id
		values["{name}"] = []string{"inbox.js", "pdf.worker.min.mjs"}           // the inbox's fixed assets
	}
	if path == "/files/" {
		return []string{"/files/signed/" + e.portalA.MemberID() + "/2026/01/robot/r" + hex.EncodeToString(randomBytes(t, 16)) + ".pdf?expires=" +
			strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10) + "&sig=" + randomText(t)}
	}
	if path == "/static/" {
		return []string{"/static/signet.css"}
	}
	paths := []string{path}
	for name, vs := range values {
		var next []string
		for _, p := range paths {
			if !strings.Contains(p, name) {
				next = append(next, p)
				continue
			}
			for _, v := range vs {
				next = append(next, strings.ReplaceAll(p, name, url.PathEscape(v)))
			}
		}
		paths = next
	}
	for _, p := range paths {
		if strings.Contains(p, "{") {
			t.Fatalf("pattern %s: no plausible value for a parameter of %s; add one to walkEnv.fill", pattern, p)
		}
	}
	return paths
}

// body is a plausible body for a request to path: what the real caller sends, less its credentials.
func (e *walkEnv) body(t *testing.T, method, path string) ([]byte, string) {
	form := func(v url.Values) ([]byte, string) {
		return []byte(v.Encode()), "application/x-www-form-urlencoded"
	}
	js := func(v any) ([]byte, string) {
		b, _ := json.Marshal(v)
		return b, "application/json"
	}
	a := e.portalA
	demo := e.cfg.Demo.Credential
	switch {
	case method == http.MethodGet || method == http.MethodHead:
		return nil, ""
	case path == "/bitrix24/robot", path == producer.RouteRobotPath:
		code := e.cfg.Bitrix24.RobotCode
		if path == producer.RouteRobotPath {
			code = producer.RouteRobotCode
		}
		return form(url.Values{"code": {code}, "workflow_id": {"walk.1"}, "event_token": {randomText(t)},
			"document_id[0]": {"crm"}, "document_id[1]": {"CCrmDocumentDeal"}, "document_id[2]": {"DEAL_601"},
			"document_type[0]": {"crm"}, "document_type[1]": {"CCrmDocumentDeal"}, "document_type[2]": {"DEAL"},
			"use_subscription": {"Y"}, "timeout_duration": {"0"}, "ts": {strconv.FormatInt(time.Now().Unix(), 10)},
			"auth[domain]": {strings.TrimPrefix(a.BaseURL(), "http://")}, "auth[member_id]": {a.MemberID()},
			"auth[client_endpoint]": {a.BaseURL() + "/rest/"}, "auth[status]": {"L"},
			// A stranger's guess: the fields are there (a form without them is refused as malformed, 400).
			"auth[application_token]":                   {hex.EncodeToString(randomBytes(t, 16))},
			"properties[" + producer.PropDocument + "]": {"1"}, "properties[" + producer.PropSigner + "]": {"user_7"},
			"properties[" + producer.PropCredential + "]": {demo}, "properties[otp]": {"123456"}})
	case path == "/bitrix24/install":
		return form(url.Values{"event": {"ONAPPINSTALL"}, "data[VERSION]": {"1"}, "data[LANGUAGE_ID]": {"ru"}, "ts": {strconv.FormatInt(time.Now().Unix(), 10)},
			"auth[domain]": {strings.TrimPrefix(a.BaseURL(), "http://")}, "auth[member_id]": {a.MemberID()},
			"auth[client_endpoint]": {a.BaseURL() + "/rest/"}, "auth[application_token]": {hex.EncodeToString(randomBytes(t, 16))}})
	case path == "/bitrix24/placement", path == "/admin/bitrix24":
		return form(url.Values{"DOMAIN": {strings.TrimPrefix(a.BaseURL(), "http://")}, "PROTOCOL": {"0"}, "LANG": {"ru"}, "APP_SID": {"walk"},
			"member_id": {a.MemberID()}, "PLACEMENT": {"CRM_DEAL_DETAIL_TOOLBAR"}, "PLACEMENT_OPTIONS": {`{"ID":"601"}`},
			// A stranger's guesses: without the fields the request is refused as malformed (400).
			"AUTH_ID": {hex.EncodeToString(randomBytes(t, 16))}, "APPLICATION_TOKEN": {hex.EncodeToString(randomBytes(t, 16))}})
	case path == "/bitrix24/placement/sign":
		return form(url.Values{"ctx": {randomText(t)}, "csrf": {randomText(t)}, "document": {"file_1"}, "credential": {demo},
			"otp": {"123456"}, "visible": {"Y"}, "page": {"last"}, "position": {"bottom-right"}})
	case strings.HasPrefix(path, "/enrol/"):
		return form(url.Values{"code": {"123456"}})
	case path == "/verify":
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		fw, _ := mw.CreateFormFile("pdf", "invoice.pdf")
		fw.Write(demoInvoice)
		mw.Close()
		return buf.Bytes(), mw.FormDataContentType()
	case path == "/admin/login":
		return form(url.Values{"login": {"root"}, "password": {"not the password"}, "csrf": {randomText(t)}})
	case path == "/admin/portal-session":
		return form(url.Values{"ticket": {randomText(t)}})
	case strings.HasPrefix(path, "/admin/") || strings.HasPrefix(path, "/ops/"):
		// A control-panel form, with a CSRF field the session does not know.
		return form(url.Values{"csrf": {randomText(t)}, "login": {"eve"}, "member_id": {a.MemberID()}, "bitrix_id": {"9"},
			"credential": {demo}, "description": {"walk"}, "id": {"g" + hex.EncodeToString(randomBytes(t, 16))},
			"token": {e.cfg.Demo.Token}, "label": {"walk"}, "subject": {"CN=Walk"}, "days": {"30"}})
	case path == "/v1/grants":
		return js(map[string]any{"login": "mary", "code": "123456", "credential": demo, "max": 10000})
	case strings.HasSuffix(path, "/credentials") && strings.HasPrefix(path, "/v1/admin/users/"):
		return js(map[string]any{"credential": demo, "default": true})
	case strings.HasPrefix(path, "/v1/admin/users"):
		return js(map[string]any{"login": "eve", "description": "walk", "bitrix_ids": map[string]int{a.MemberID(): 9}, "credentials": []string{demo}})
	case strings.HasPrefix(path, "/v1/admin/credentials/") && !strings.Contains(path, "self-signed") && !strings.Contains(path, "import"):
		return js(map[string]any{"credential": demo, "member_id": a.MemberID()})
	case strings.HasPrefix(path, "/v1/admin/"):
		return js(map[string]any{"token": e.cfg.Demo.Token, "label": "walk", "subject": "CN=Walk", "days": 30})
	}
	return nil, ""
}

// doors lists the requests for one pattern: each method it answers (GET also HEAD; a pattern
// without a method every method), each filled path.
func (e *walkEnv) doors(t *testing.T, pattern string) []door {
	method, _, ok := strings.Cut(pattern, " ")
	methods := []string{method}
	if !ok {
		methods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}
	} else if method == http.MethodGet {
		methods = append(methods, http.MethodHead)
	}
	var out []door
	for _, m := range methods {
		for _, p := range e.fill(t, pattern) {
			b, ct := e.body(t, m, strings.SplitN(p, "?", 2)[0])
			out = append(out, door{method: m, path: p, body: b, ctype: ct})
		}
	}
	return out
}

// caller is one way of arriving: no credentials, a forged or expired session, another portal's.
type caller struct {
	name   string
	cookie *http.Cookie
	csrf   string // the form's csrf field, for a session that has one
}

var noRedirects = &http.Client{Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func (e *walkEnv) call(t *testing.T, base string, d door, c caller) (int, string) {
	t.Helper()
	body := d.body
	if c.csrf != "" && d.ctype == "application/x-www-form-urlencoded" {
		v, _ := url.ParseQuery(string(body))
		v.Set("csrf", c.csrf)
		body = []byte(v.Encode())
	}
	req, err := http.NewRequest(d.method, base+d.path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if d.ctype != "" {
		req.Header.Set("Content-Type", d.ctype)
	}
	if d.method != http.MethodGet && d.method != http.MethodHead {
		req.Header.Set("Origin", e.cfg.PublicURL) // as a browser on Signet's own page sends it
	}
	if c.cookie != nil {
		req.AddCookie(c.cookie)
	}
	if d.method == http.MethodPost && d.path == "/admin/login" {
		// The sign-in form's own CSRF pair (cookie = field) is what a browser has from the form; the
		// refusal must be about the password.
		login, err := noRedirects.Get(base + "/admin/login")
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(login.Body)
		login.Body.Close()
		for _, k := range login.Cookies() {
			req.AddCookie(k)
		}
		v, _ := url.ParseQuery(string(body))
		v.Set("csrf", between(string(page), `name="csrf" value="`, `"`))
		body = []byte(v.Encode())
		req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", d.method, d.path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

// expiredSession signs a real local administrator in, checks the session opens the control panel,
// then moves its end an hour into the past in the sessions bucket (the SHA-256 of the cookie's token
// names the record, as web stores it): everything about it is genuine but its age.
func (e *walkEnv) expiredSession(t *testing.T, ctx context.Context) caller {
	t.Helper()
	const password = "a password of the walk"
	if err := web.SetLocalAdminIn(ctx, e.a.admins, "root", []byte(password)); err != nil {
		t.Fatal(err)
	}
	base := e.cfg.PublicURL
	form, err := noRedirects.Get(base + "/admin/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(form.Body)
	form.Body.Close()
	body := url.Values{"login": {"root"}, "password": {password}, "csrf": {between(string(page), `name="csrf" value="`, `"`)}}.Encode()
	req, _ := http.NewRequest(http.MethodPost, base+"/admin/login", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	for _, k := range form.Cookies() {
		req.AddCookie(k)
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	c := caller{name: "an expired session"}
	for _, k := range resp.Cookies() {
		if k.Name == "signet_admin" {
			c.cookie = &http.Cookie{Name: k.Name, Value: k.Value}
		}
	}
	if c.cookie == nil {
		t.Fatalf("signing in as root: HTTP %d, no session", resp.StatusCode)
	}
	status, users := e.call(t, base, door{method: http.MethodGet, path: "/admin/users"}, c)
	if c.csrf = between(users, `name="csrf" value="`, `"`); status != http.StatusOK || c.csrf == "" {
		t.Fatalf("root's fresh session does not open the control panel: HTTP %d", status)
	}
	kv, err := e.a.js.KeyValue(ctx, web.BucketSessions)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(c.cookie.Value))
	key := "s." + hex.EncodeToString(sum[:])
	entry, err := kv.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(entry.Value(), &rec); err != nil || rec["expires"] == nil {
		t.Fatalf("the session record %s has no end to move: %v", entry.Value(), err)
	}
	rec["expires"] = time.Now().Add(-time.Hour).UTC()
	b, _ := json.Marshal(rec)
	if _, err := kv.Put(ctx, key, b); err != nil {
		t.Fatal(err)
	}
	return c
}

// portalBSession opens a control-panel session as portal B's administrator, through the app as a
// person does, and reads its CSRF token from a page.
func (e *walkEnv) portalBSession(t *testing.T, ctx context.Context) caller {
	t.Helper()
	req, err := e.portalB.PlacementRequest(ctx, e.cfg.PublicURL+"/admin/bitrix24", "DEFAULT", emulator.AdminUserID, 1)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	ticket := between(string(page), `name="ticket" value="`, `"`)
	if resp.StatusCode != http.StatusOK || ticket == "" {
		t.Fatalf("portal B's administrator gets no ticket: HTTP %d", resp.StatusCode)
	}
	resp, err = noRedirects.PostForm(e.cfg.PublicURL+"/admin/portal-session", url.Values{"ticket": {ticket}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var c caller
	for _, k := range resp.Cookies() {
		if k.Name == "signet_admin" {
			c = caller{name: "portal B's administrator", cookie: k}
		}
	}
	if c.cookie == nil {
		t.Fatalf("portal B's ticket gave no session: HTTP %d", resp.StatusCode)
	}
	_, users := e.call(t, e.cfg.PublicURL, door{method: http.MethodGet, path: "/admin/users"}, c)
	if c.csrf = between(users, `name="csrf" value="`, `"`); c.csrf == "" {
		t.Fatal("no CSRF token on portal B's users page")
	}
	return c
}

func between(s, start, end string) string {
	_, rest, ok := strings.Cut(s, start)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, end)
	return v
}

// walkState is what no refused call may change.
type walkState struct {
	users, grants, disabled string
	signJobs                uint64
	portalCalls             []string
}

func (e *walkEnv) state(t *testing.T, ctx context.Context) walkState {
	t.Helper()
	var s walkState
	if e.a.identity != nil {
		users, err := e.a.identity.ListUsers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(users)
		s.users = string(b)
		grants, _ := e.a.identity.ListGrants(ctx)
		b, _ = json.Marshal(grants)
		s.grants = string(b)
		disabled, _ := e.a.identity.DisabledCredentials(ctx)
		s.disabled = strings.Join(disabled, " ")
	}
	if st, err := e.a.js.Stream(ctx, contracts.StreamSign); err == nil {
		if info, err := st.Info(ctx); err == nil {
			s.signJobs = info.State.LastSeq // a work queue: count what was ever published
		}
	}
	for _, p := range []*emulator.Portal{e.portalA, e.portalB} {
		if p == nil {
			continue
		}
		for _, c := range p.Calls() {
			switch c.Method {
			case "bizproc.event.send", "disk.file.uploadversion", "crm.timeline.comment.add", "im.notify.system.add":
				s.portalCalls = append(s.portalCalls, c.Method)
			}
		}
	}
	return s
}

// walk calls every door of every listener as c and hands each answer to check.
func (e *walkEnv) walk(t *testing.T, c caller, rows []endpointRow, check func(r endpointRow, d door, status int, body string)) {
	t.Helper()
	for _, s := range e.a.served {
		for _, pattern := range s.Routes.Patterns() {
			r, ok := findRow(rows, s.Name, pattern)
			if !ok {
				continue // reported by the table check
			}
			for _, d := range e.doors(t, pattern) {
				cc := c
				if s.Name == listenerMetrics {
					cc = caller{name: c.name} // no cookie is a credential there
				}
				status, body := e.call(t, s.URL(), d, cc)
				check(r, d, status, body)
			}
		}
	}
}

func findRow(rows []endpointRow, listener, pattern string) (endpointRow, bool) {
	for _, r := range rows {
		if r.listener == listener && r.pattern == pattern {
			return r, true
		}
	}
	return endpointRow{}, false
}

// checkTable compares the process's listeners with the table rows for its topology, both ways.
func checkTable(t *testing.T, e *walkEnv, rows []endpointRow, file string) {
	t.Helper()
	registered := map[string]bool{}
	for _, s := range e.a.served {
		for _, p := range s.Routes.Patterns() {
			registered[s.Name+" "+p] = true
			if _, ok := findRow(rows, s.Name, p); !ok {
				t.Errorf("%s: `%s` on the %s listener is registered (signet %s) but has no row", file, p, s.Name, e.role)
			}
		}
	}
	for _, r := range rows {
		if slices.Contains(r.roles, e.role) && !registered[r.listener+" "+r.pattern] {
			t.Errorf("%s: the row `%s` (%s listener, %v) names a pattern signet %s does not register", file, r.pattern, r.listener, r.roles, e.role)
		}
		if !slices.Contains(r.roles, e.role) && registered[r.listener+" "+r.pattern] {
			t.Errorf("%s: signet %s registers `%s` on the %s listener but its row says %v", file, e.role, r.pattern, r.listener, r.roles)
		}
	}
}

// stateChanging is every method but GET and HEAD.
func stateChanging(m string) bool { return m != http.MethodGet && m != http.MethodHead }

// refusals are the answers a state-changing door gives a caller it does not accept (405: a download
// link is read, never written).
var refusals = []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusMethodNotAllowed}

func TestEveryRouteWalkedWithoutCredentials(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	rows := endpointTable(t, "../../docs/security/endpoints.md", "## Endpoints: who may call what")
	ru := endpointTable(t, "../../docs/security/endpoints.ru.md", "## Точки входа: кто что может вызвать")
	var en, rus []string
	for _, r := range rows {
		en = append(en, r.listener+" "+r.pattern)
	}
	for _, r := range ru {
		rus = append(rus, r.listener+" "+r.pattern)
	}
	sort.Strings(en)
	sort.Strings(rus)
	if !slices.Equal(en, rus) {
		t.Errorf("docs/security/endpoints.ru.md lists other endpoints than docs/security/endpoints.md:\n en %v\n ru %v", en, rus)
	}
	for _, r := range rows {
		if x, ok := findRow(ru, r.listener, r.pattern); ok && (!slices.Equal(x.answers, r.answers) || !slices.Equal(x.roles, r.roles)) {
			t.Errorf("docs/security/endpoints.ru.md: %s (%s) says %v %v, docs/security/endpoints.md %v %v", r.pattern, r.listener, x.roles, x.answers, r.roles, r.answers)
		}
	}

	for _, topology := range []string{"serve", "intake", "worker"} {
		t.Run(topology, func(t *testing.T) {
			e := startWalkEnv(t, ctx, topology)
			checkTable(t, e, rows, "docs/security/endpoints.md")
			before := e.state(t, ctx)
			seen := 0
			// Without credentials: exactly the documented answer; a state-changing door refuses
			// unless the table calls it public (who may call it: anyone).
			e.walk(t, caller{name: "no credentials"}, rows, func(r endpointRow, d door, status int, body string) {
				seen++
				t.Logf("%-8s %-7s %-60s %d", r.listener, d.method, clip(d.path, 60), status)
				if !slices.Contains(r.answers, status) {
					t.Errorf("%s %s (%s listener) without credentials: HTTP %d, docs/security/endpoints.md says %q\n%s", d.method, d.path, r.listener, status, r.answerText, clip(body, 300))
				}
				if r.listener == listenerMetrics && e.metricsTok != "" && status != http.StatusUnauthorized {
					t.Errorf("%s %s on the metrics listener with metrics.token_file set: HTTP %d without the token, want 401", d.method, d.path, status)
				}
				if stateChanging(d.method) && !strings.HasPrefix(r.who, "anyone") && !slices.Contains(refusals, status) {
					t.Errorf("%s %s without credentials: HTTP %d; a state-changing door must refuse (401/403/404)", d.method, d.path, status)
				}
			})
			if seen == 0 {
				t.Fatal("the walk called no door")
			}
			// A forged session cookie, and a real administrator's session that has expired, get
			// exactly what no credentials get.
			callers := []caller{{name: "a forged session", cookie: &http.Cookie{Name: "signet_admin", Value: randomText(t)}, csrf: randomText(t)}}
			if e.a.identity != nil {
				callers = append(callers, e.expiredSession(t, ctx))
			}
			for _, c := range callers {
				e.walk(t, c, rows, func(r endpointRow, d door, status int, body string) {
					if !slices.Contains(r.answers, status) {
						t.Errorf("%s %s with %s: HTTP %d, docs/security/endpoints.md says %q\n%s", d.method, d.path, c.name, status, r.answerText, clip(body, 300))
					}
				})
			}
			if e.portalB != nil {
				e.walkAsPortalB(t, ctx)
			}
			if e.metricsTok != "" {
				e.metricsWithToken(t, ctx)
			}
			if after := e.state(t, ctx); !equalState(before, after) {
				t.Errorf("the walk changed something:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}
}

func equalState(a, b walkState) bool {
	return a.users == b.users && a.grants == b.grants && a.disabled == b.disabled && a.signJobs == b.signJobs && slices.Equal(a.portalCalls, b.portalCalls)
}

// walkAsPortalB uses portal B's real credentials on portal A's things: B's control-panel session on
// A's user, A's credential and the Signet-wide pages; B's application token on A's robot and
// placement handlers. Each is refused, as if A's things did not exist where scoping hides them.
func (e *walkEnv) walkAsPortalB(t *testing.T, ctx context.Context) {
	t.Helper()
	b := e.portalBSession(t, ctx)
	base := e.cfg.PublicURL
	for _, pattern := range []string{"GET /admin/users/{login}", "POST /admin/users/{login}/{action}", "POST /admin/credentials/{action}",
		"GET /ops", "POST /ops/dead/{seq}/retry", "GET /v1/admin/users", "POST /v1/grants", "GET /v1/admin/tokens"} {
		for _, d := range e.doors(t, pattern) {
			if d.method == http.MethodHead {
				continue
			}
			if strings.HasPrefix(d.path, "/admin/credentials/") && !slices.Contains([]string{"disable", "enable", "assign", "import"}, path.Base(d.path)) {
				continue // making a credential of its own is what a portal administrator may do
			}
			status, body := e.call(t, base, d, b)
			want := []int{http.StatusNotFound}
			if strings.HasPrefix(d.path, "/v1/") || strings.HasPrefix(d.path, "/ops") {
				want = []int{http.StatusUnauthorized} // the admin API and /ops take the bearer token only
			}
			if strings.HasPrefix(d.path, "/admin/credentials/") {
				// Signet-wide credentials are not a portal administrator's: unknown to them (404), or an
				// action only a local administrator may take (403).
				want = []int{http.StatusNotFound, http.StatusForbidden}
			}
			if !slices.Contains(want, status) {
				t.Errorf("%s %s as portal B's administrator: HTTP %d, want %v\n%s", d.method, d.path, status, want, clip(body, 300))
			}
		}
	}
	// B's lists show B's things only: portal A's user is not even named.
	for _, list := range []string{"/admin/users", "/admin/grants", "/admin/portals"} {
		status, body := e.call(t, base, door{method: http.MethodGet, path: list}, b)
		if status != http.StatusOK || strings.Contains(body, ">mary<") || strings.Contains(body, "/admin/users/mary") || strings.Contains(body, e.portalA.MemberID()) {
			t.Errorf("GET %s as portal B's administrator: HTTP %d, and it names portal A or its user", list, status)
		}
		if list == "/admin/users" && !strings.Contains(body, "/admin/users/bob") {
			t.Errorf("GET /admin/users as portal B's administrator does not list bob, B's own user")
		}
	}
	// Portal B's application token on a robot call and a Sign dialog that name portal A.
	for _, path := range []string{"/bitrix24/robot", producer.RouteRobotPath, "/bitrix24/placement"} {
		d := door{method: http.MethodPost, path: path}
		d.body, d.ctype = e.body(t, http.MethodPost, path)
		v, _ := url.ParseQuery(string(d.body))
		if path != "/bitrix24/placement" {
			v.Set("auth[application_token]", e.portalB.ApplicationToken())
		} else {
			v.Set("APPLICATION_TOKEN", e.portalB.ApplicationToken())
			v.Set("AUTH_ID", e.portalB.NewAuth(emulator.AdminUserID).AccessToken)
		}
		d.body = []byte(v.Encode())
		if status, body := e.call(t, base, d, caller{name: "portal B"}); status != http.StatusUnauthorized {
			t.Errorf("POST %s for portal A with portal B's application token: HTTP %d, want 401\n%s", path, status, clip(body, 300))
		}
	}
}

// metricsWithToken: the token of metrics.token_file opens the metrics listener; `signet status` needs
// neither it nor the listener: it reads the workers' token records from NATS (issue 21 must 3).
func (e *walkEnv) metricsWithToken(t *testing.T, ctx context.Context) {
	t.Helper()
	m := e.a.listener(listenerMetrics)
	// The worker's monitor sets the token gauges at start; wait for its first round.
	waitFor(t, 30*time.Second, "the token gauges behind the metrics token", func() bool {
		req, _ := http.NewRequest(http.MethodGet, m.URL()+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+e.metricsTok)
		resp, err := noRedirects.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK && strings.Contains(string(b), `signet_token_online{token="`)
	})
	var stdout, stderr bytes.Buffer
	if code := run(ctx, []string{"status", "--json", "--sample", "100ms", "--data-dir", e.cfg.DataDir}, &stdout, &stderr); code != 0 {
		t.Fatalf("status: exit %d %s", code, stderr.String())
	}
	var rep statusReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil || len(rep.Tokens) != 1 || rep.Tokens[0].State != contracts.TokenOnline {
		t.Errorf("status without the metrics token: tokens %+v (%v)", rep.Tokens, err)
	}
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
