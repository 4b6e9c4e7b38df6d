package web

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/mail"
	"github.com/signet-b24/signet/internal/queue"
	"github.com/signet-b24/signet/internal/routes"
	"github.com/signet-b24/signet/internal/testsupport/mailpit"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
	"github.com/signet-b24/signet/producer/external"
	"github.com/signet-b24/signet/storage"
)

// externalPage is the page on a real NATS server and a real Mailpit, its logs observed.
type externalPage struct {
	srv  *httptest.Server
	x    *external.Service
	mp   *mailpit.Server
	logs *observer.ObservedLogs
}

func startExternalPage(t *testing.T) *externalPage {
	t.Helper()
	ctx := context.Background()
	ns := natstest.Start(t)
	ns.CreateStreams(t, queue.Streams(queue.Settings{}), contracts.StreamSign)
	mp := mailpit.Start(t)
	sender, err := mail.New(mail.Config{SMTPHost: mp.SMTP, From: "Signet <signet@example.com>", TLS: mail.TLSNone})
	if err != nil {
		t.Fatal(err)
	}
	st, err := storage.Open(ctx, "file://"+filepath.Join(t.TempDir(), "artefacts"), storage.Options{PruneInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Put(ctx, "incoming/r/1.pdf", strings.NewReader("%PDF-1.7 page"), -1, "application/pdf", ""); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	log := zap.New(core)
	_, priv, _ := ed25519.GenerateKey(nil)
	p := &externalPage{mp: mp, logs: logs}
	mux := routes.New()
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	p.x = &external.Service{JS: ns.JS, Store: st, Mail: sender, JobKey: contracts.NewJobSigner(priv, time.Hour),
		SealCredential: "pkcs11:token=acme;object=seal", PublicURL: p.srv.URL, Key: bytes.Repeat([]byte{3}, 32), Log: log}
	if err := p.x.Start(ctx); err != nil {
		t.Fatal(err)
	}
	(&External{Service: p.x, Log: log}).Routes(mux)
	return p
}

var pageLink = regexp.MustCompile(`http://\S+/x/[0-9a-f]{16}\.[A-Za-z0-9_-]{43}`)

// invite returns the e-mailed link of a new invitation for address.
func (p *externalPage) invite(t *testing.T, party, address string) string {
	t.Helper()
	if _, err := p.x.Invite(context.Background(), external.Invitation{RouteID: "r", StepID: "s", PartyID: party, Name: "Anna Lee",
		Email: address, DocumentKey: "incoming/r/1.pdf", Language: "en"}); err != nil {
		t.Fatal(err)
	}
	return pageLink.FindString(p.waitMail(t, address, 1))
}

func (p *externalPage) waitMail(t *testing.T, address string, n int) string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if ms := p.mp.To(t, address); len(ms) >= n {
			return ms[0].Text
		}
	}
	t.Fatalf("message %d to %s never arrived", n, address)
	return ""
}

type pageAnswer struct {
	status int
	header http.Header
	body   string
}

// call makes one request without following redirects, with the cookie if any.
func call(t *testing.T, method, u string, form url.Values, cookie *http.Cookie) pageAnswer {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, u, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	c := http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return pageAnswer{resp.StatusCode, resp.Header, string(b)}
}

// verified opens link, asks for the code and proves it; it returns the session cookie and the code.
func (p *externalPage) verified(t *testing.T, link, address string) (*http.Cookie, string) {
	t.Helper()
	if a := call(t, "POST", link+"/code", url.Values{}, nil); a.status != http.StatusSeeOther {
		t.Fatalf("asking for a code: %d\n%s", a.status, a.body)
	}
	code := regexp.MustCompile(`\b\d{6}\b`).FindString(p.waitMail(t, address, 2))
	a := call(t, "POST", link+"/verify", url.Values{"code": {code}}, nil)
	if a.status != http.StatusSeeOther {
		t.Fatalf("verifying the code: %d\n%s", a.status, a.body)
	}
	for _, c := range (&http.Response{Header: a.header}).Cookies() {
		if c.Name == ExternalCookie {
			if !c.HttpOnly || c.Path != "/x/" {
				t.Errorf("session cookie %+v: want HttpOnly, path /x/", c)
			}
			return c, code
		}
	}
	t.Fatal("no session cookie")
	return nil, ""
}

func TestExternalPageKeepsTheLinkAndTheCodeToItself(t *testing.T) {
	p := startExternalPage(t)
	link := p.invite(t, "p1", "anna@example.org")
	a := call(t, "GET", link, nil, nil)
	if a.status != http.StatusOK || !strings.Contains(a.body, `id="send-code"`) {
		t.Fatalf("the page: %d\n%s", a.status, a.body)
	}
	csp := a.header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if a.header.Get("Referrer-Policy") != "no-referrer" || a.header.Get("Cache-Control") != "no-store" || a.header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("headers %v", a.header)
	}
	cookie, code := p.verified(t, link, "anna@example.org")
	if a := call(t, "GET", link, nil, cookie); a.status != http.StatusOK || !strings.Contains(a.body, `id="sig"`) || !strings.Contains(a.body, "Anna Lee") {
		t.Fatalf("the signing page: %d\n%s", a.status, a.body)
	}
	if a := call(t, "GET", link+"/document", nil, cookie); a.status != http.StatusOK || a.body != "%PDF-1.7 page" || a.header.Get("Content-Type") != "application/pdf" {
		t.Errorf("the document: %d %q", a.status, a.body)
	}
	// Without the session: the link is spent, the document closed.
	if a := call(t, "GET", link, nil, nil); a.status != http.StatusGone || !strings.Contains(a.body, "used already") {
		t.Errorf("the link again without the session: %d\n%s", a.status, a.body)
	}
	if a := call(t, "GET", link+"/document", nil, nil); a.status != http.StatusForbidden {
		t.Errorf("the document without the session: %d", a.status)
	}
	_, secret, _ := external.ParseToken(link[strings.LastIndex(link, "/")+1:])
	for _, e := range p.logs.All() {
		line := fmt.Sprint(e.Message, e.ContextMap())
		if strings.Contains(line, secret) || strings.Contains(line, code) || strings.Contains(line, cookie.Value) {
			t.Errorf("a log line holds a secret: %s", line)
		}
	}
}

func TestExternalCookieOfAnotherInvitationOpensNothing(t *testing.T) {
	p := startExternalPage(t)
	linkA := p.invite(t, "pa", "a@example.org")
	linkB := p.invite(t, "pb", "b@example.org")
	cookieA, _ := p.verified(t, linkA, "a@example.org")
	// A's cookie on B's link: B's page still asks for B's code; B's document, confirm and decline refuse.
	if a := call(t, "GET", linkB, nil, cookieA); a.status != http.StatusOK || !strings.Contains(a.body, `id="send-code"`) {
		t.Errorf("B's page with A's cookie: %d\n%s", a.status, a.body)
	}
	if a := call(t, "GET", linkB+"/document", nil, cookieA); a.status != http.StatusForbidden {
		t.Errorf("B's document with A's cookie: %d", a.status)
	}
	for _, path := range []string{"/confirm", "/decline"} {
		if a := call(t, "POST", linkB+path, url.Values{"reason": {"no"}}, cookieA); a.status != http.StatusForbidden {
			t.Errorf("B's %s with A's cookie: %d\n%s", path, a.status, a.body)
		}
	}
	// A's session secret pasted under B's id is no session at all.
	idB, _, _ := external.ParseToken(linkB[strings.LastIndex(linkB, "/")+1:])
	_, secretA, _ := external.ParseToken(cookieA.Value)
	forged := &http.Cookie{Name: ExternalCookie, Value: idB + "." + secretA}
	if a := call(t, "POST", linkB+"/decline", url.Values{"reason": {"no"}}, forged); a.status != http.StatusForbidden {
		t.Errorf("a forged cookie declined B's: %d", a.status)
	}
}

func TestExternalPageSaysWhyALinkOpensNothing(t *testing.T) {
	p := startExternalPage(t)
	link := p.invite(t, "p", "c@example.org")
	base := link[:strings.LastIndex(link, "/")+1]
	for _, c := range []struct {
		u      string
		status int
		words  string
	}{
		{base + "not-a-token", http.StatusNotFound, "not known"},
		{link[:len(link)-1] + "A", http.StatusNotFound, "not known"},
	} {
		a := call(t, "GET", c.u, nil, nil)
		if a.status != c.status || !strings.Contains(a.body, c.words) || strings.Contains(a.body, "<form") {
			t.Errorf("GET %s: %d\n%s", c.u, a.status, a.body)
		}
	}
	// A wrong code says so and keeps the form.
	call(t, "POST", link+"/code", url.Values{}, nil)
	p.waitMail(t, "c@example.org", 2)
	if a := call(t, "POST", link+"/verify", url.Values{"code": {"12345x"}}, nil); a.status != http.StatusUnprocessableEntity ||
		!strings.Contains(a.body, "Wrong code") || !strings.Contains(a.body, `id="code"`) {
		t.Errorf("a wrong code: %d\n%s", a.status, a.body)
	}
}
