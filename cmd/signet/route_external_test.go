package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/internal/config"
	"github.com/signet-b24/signet/internal/testsupport/mailpit"
	"github.com/signet-b24/signet/producer/external"
	"github.com/signet-b24/signet/producer/routes"
)

// startRoutesWithExternal is one Signet process (intake and worker, NATS, SoftHSM, the emulated
// portal) with real Mailpit as its SMTP server and the demo token's key as the company's seal, so
// that the route engine and the external signers' service are wired as serve wires them; mary (7)
// is enrolled with the demo certificate.
func startRoutesWithExternal(t *testing.T) (*routeEnv, *mailpit.Server) {
	t.Helper()
	mp := mailpit.Start(t)
	e := &routeEnv{b24env: startB24(t, emulator.Config{}, "--mail-smtp-host", mp.SMTP, "--mail-from", "Signet <signet@example.com>",
		"--mail-tls", "none", "--external-seal-credential", config.Defaults().Demo.Credential, "--requests-sweep-interval", "200ms"),
		secrets: map[string]string{}}
	if e.a.routes.Externals == nil {
		t.Fatal("the route engine has no external signing although external.seal_credential is set")
	}
	e.addUser(t, "mary", 7, false, e.cfg.Demo.Credential)
	e.secrets["mary"] = e.enrol(t, "mary")
	return e, mp
}

// externalParty is an external signer's browser without a browser: the link's page over HTTP with
// a cookie jar, as the page's forms post it.
type externalParty struct {
	t    *testing.T
	link string
	c    *http.Client
}

func newExternalParty(t *testing.T, link string) *externalParty {
	jar, _ := cookiejar.New(nil)
	return &externalParty{t: t, link: link, c: &http.Client{Jar: jar}}
}

// post posts form to the page's path and returns the status and body after the redirect to the page.
func (p *externalParty) post(path string, form url.Values) (int, string) {
	p.t.Helper()
	resp, err := p.c.PostForm(p.link+path, form)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// verify asks for a code, reads it from the next message to address and types it.
func (p *externalParty) verify(mp *mailpit.Server, address string) {
	p.t.Helper()
	before := len(mp.To(p.t, address))
	if st, body := p.post("/code", nil); st != http.StatusOK {
		p.t.Fatalf("asking for a code: HTTP %d\n%s", st, body)
	}
	code := sixDigits.FindString((&externalEnv{mp: mp}).mail(p.t, address, before+1))
	if st, body := p.post("/verify", url.Values{"code": {code}}); st != http.StatusOK || !strings.Contains(body, `id="sig"`) {
		p.t.Fatalf("typing the code: HTTP %d\n%s", st, body)
	}
}

// externalLinkOf waits for an invitation to address whose link is not one of old and returns it.
func externalLinkOf(t *testing.T, mp *mailpit.Server, address string, old ...string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range mp.To(t, address) {
			if link := externalLink.FindString(m.Text); link != "" && !slices.Contains(old, link) {
				return link
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no new invitation to %s arrived", address)
	return ""
}

// Issue 20, must 2 and 3, wired: a route of mary (internal, her inbox) then Ivan (external, by
// e-mail). Ivan is invited only after mary signed, verifies the mailed code and confirms; the seal
// job carries his party's job id, so the route files his signature on mary's revision and completes
// with two valid signatures. In a second route Ivan declines, and the route ends declined with his
// reason.
func TestRouteExternalPartySignsAndDeclines(t *testing.T) {
	e, mp := startRoutesWithExternal(t)
	ctx := context.Background()
	mary := routes.Party{Kind: routes.KindSignet, Login: "mary"}
	ivan := routes.Party{Kind: routes.KindExternal, Name: "Ivan Petrov", Email: "ivan@example.org"}

	r := e.start(t, []routes.Step{{Parties: []routes.Party{mary}}, {Parties: []routes.Party{ivan}}}, 911)
	if n := len(mp.To(t, "ivan@example.org")); n != 0 {
		t.Fatalf("Ivan got %d messages before mary signed", n)
	}
	e.sign(t, r, "mary")
	first := externalLinkOf(t, mp, "ivan@example.org")
	p := newExternalParty(t, first)
	p.verify(mp, "ivan@example.org")
	if st, body := p.post("/confirm", url.Values{"signature": {drawnSignature(t)}}); st != http.StatusOK {
		t.Fatalf("confirming: HTTP %d\n%s", st, body)
	}
	r = e.waitRoute(t, r.ID, ended)
	// Revision 1 is mary's, 2 Ivan's; with a seal credential configured (external signing needs
	// one) the route completes with the company's seal over them as revision 3 (completion.go).
	if r.State != routes.Completed || r.Revision != 3 {
		t.Fatalf("route: %s, revision %d, %s\n%s", r.State, r.Revision, r.Reason, r.Summary())
	}
	if q := r.Steps[1].Parties[0]; q.State != routes.PartySigned {
		t.Fatalf("Ivan's party: %+v", q)
	}
	e.final(t, r, 3)
	// The invitation ends signed at the service's sweep (the route heard the job's outcome itself),
	// and telling the route so counts nothing twice.
	if err := e.a.external.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	inv := invitationOf(t, e, r.Steps[1].Parties[0].JobID)
	if inv.State != external.Signed || !inv.Told || inv.DocumentKey != routes.RevisionKey(r.ID, 1) {
		t.Fatalf("Ivan's invitation: %s (told %v), sealed %s", inv.State, inv.Told, inv.DocumentKey)
	}
	if again := e.waitRoute(t, r.ID, ended); again.Revision != 3 || again.State != routes.Completed {
		t.Fatalf("after the external sweep: %s, revision %d", again.State, again.Revision)
	}

	r = e.start(t, []routes.Step{{Parties: []routes.Party{mary}}, {Parties: []routes.Party{ivan}}}, 912)
	e.sign(t, r, "mary")
	e.waitRoute(t, r.ID, func(r *routes.Route) bool { return r.Current == 1 })
	p = newExternalParty(t, externalLinkOf(t, mp, "ivan@example.org", first))
	p.verify(mp, "ivan@example.org")
	if st, body := p.post("/decline", url.Values{"reason": {"the price is wrong"}}); st != http.StatusOK {
		t.Fatalf("declining: HTTP %d\n%s", st, body)
	}
	r = e.waitRoute(t, r.ID, ended)
	if r.State != routes.Declined || !strings.Contains(r.Reason, "Ivan Petrov: the price is wrong") {
		t.Fatalf("declined route: %s %q\n%s", r.State, r.Reason, r.Summary())
	}
	if q := r.Steps[1].Parties[0]; q.State != routes.PartyDeclined || q.Reason != "the price is wrong" {
		t.Fatalf("Ivan's party: %+v", q)
	}
}

// invitationOf finds the invitation made for a route party's job id.
func invitationOf(t *testing.T, e *routeEnv, jobID string) *external.Invitation {
	t.Helper()
	inv, err := e.a.external.ByJob(context.Background(), jobID)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// drawnSignature is a stroke drawn on the page's canvas, as the page posts it: a PNG data: URL.
func drawnSignature(t *testing.T) string {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 120, 40))
	for x := 10; x < 110; x++ {
		img.Set(x, 20+(x%7)-3, color.NRGBA{0, 0, 128, 255})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(b.Bytes())
}
