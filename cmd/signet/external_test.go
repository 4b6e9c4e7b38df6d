package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/audit"
	"github.com/signet-b24/signet/internal/config"
	"github.com/signet-b24/signet/internal/testsupport/mailpit"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/producer/external"
)

// externalEnv is a whole intake and worker with real Mailpit as its SMTP server and the demo token's
// key as the company's seal.
type externalEnv struct {
	*b24env
	mp *mailpit.Server
	x  *external.Service
}

func startExternal(t *testing.T) *externalEnv {
	t.Helper()
	mp := mailpit.Start(t)
	e := startB24(t, emulator.Config{}, "--mail-smtp-host", mp.SMTP, "--mail-from", "Signet <signet@example.com>", "--mail-tls", "none",
		"--external-seal-credential", config.Defaults().Demo.Credential, "--requests-sweep-interval", "500ms")
	if e.a.external == nil {
		t.Fatal("the intake has no external signers' service")
	}
	return &externalEnv{b24env: e, mp: mp, x: e.a.external}
}

var externalLink = regexp.MustCompile(`http://[^\s]+/x/[0-9a-f]{16}\.[A-Za-z0-9_-]{43}`)

// invite stores the demo invoice as the revision to sign and invites name at address; it returns the
// invitation and the link from the e-mail.
func (e *externalEnv) invite(t *testing.T, party, name, address, lang string) (*external.Invitation, string) {
	t.Helper()
	ctx := context.Background()
	key := "incoming/route-e2e/" + party + ".pdf"
	if _, err := e.a.store.Put(ctx, key, bytes.NewReader(demoInvoice), int64(len(demoInvoice)), "application/pdf", ""); err != nil {
		t.Fatal(err)
	}
	inv, err := e.x.Invite(ctx, external.Invitation{RouteID: "route-e2e", StepID: "step-1", PartyID: party, Name: name, Email: address,
		DocumentKey: key, FileName: "supply-contract.pdf", Language: lang})
	if err != nil {
		t.Fatal(err)
	}
	text := e.mail(t, address, 1)
	link := externalLink.FindString(text)
	if link == "" {
		t.Fatalf("no link in the invitation:\n%s", text)
	}
	return inv, link
}

// mail waits for the n-th message to address and returns the newest one's text.
func (e *externalEnv) mail(t *testing.T, address string, n int) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if ms := e.mp.To(t, address); len(ms) >= n {
			return ms[0].Text
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("message %d to %s never arrived", n, address)
	return ""
}

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

// waitMainText waits until the page's main text holds want (the page reloads itself while the seal's job runs).
func waitMainText(t *testing.T, b context.Context, want string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	text := ""
	for time.Now().Before(deadline) {
		tctx, cancel := context.WithTimeout(b, 3*time.Second)
		text, _ = chromedp.Run(tctx, chromedp.Text(chromedp.CSS("main")))
		cancel()
		if strings.Contains(text, want) {
			return text
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("the page never said %q; it says:\n%s", want, text)
	return ""
}

// openAndVerify opens the link in the browser, asks for the code, reads it from Mailpit and types it.
func (e *externalEnv) openAndVerify(t *testing.T, b context.Context, link, address string) {
	t.Helper()
	do(t, b, "open the link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("send-code")))
	do(t, b, "ask for the code", chromedp.Click(chromedp.ID("send-code")), chromedp.WaitVisible(chromedp.ID("code")))
	code := sixDigits.FindString(e.mail(t, address, 2))
	do(t, b, "type the code", chromedp.SendKeys(chromedp.ID("code"), code), chromedp.Click(chromedp.ID("verify")),
		chromedp.WaitVisible(chromedp.ID("sig")))
	// The page's module script (and pdf.js) has run: the DOM chromedp queries is the final one.
	do(t, b, "wait for the page's script", chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"]`)))
}

// TestExternalSignerInChromium: an external party opens the e-mailed link in Chromium, asks for the
// code, types the one Mailpit received, reads the document in the viewer, draws a signature and
// signs; the worker seals the PDF with the company's credential, pdfsig finds the signature valid and
// the party's name is on the page. The link then opens nothing. A second party declines, in Russian.
func TestExternalSignerInChromium(t *testing.T) {
	chromium := testenv.RequireTool(t, "chromium")
	pdfsig := testenv.RequireTool(t, "pdfsig")
	pdftotext := testenv.RequireTool(t, "pdftotext")
	e := startExternal(t)
	ctx := context.Background()
	inv, link := e.invite(t, "party-ivan", "Ivan Petrov", "ivan@example.org", "en")
	b := newBrowser(t, chromium)
	shots := artefactDir(t)
	e.openAndVerify(t, b, link, "ivan@example.org")
	waitMainText(t, b, "For Ivan Petrov", 10*time.Second)
	do(t, b, "wait for the viewer", chromedp.WaitVisible(chromedp.CSS(`#viewer canvas[data-drawn="true"]`)),
		chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"]`)))
	do(t, b, "draw mode", chromedp.Click(chromedp.ID("mode-draw")), chromedp.ScrollIntoView(chromedp.ID("sig")))
	scribble(t, b, get(t, b, "the signature pad", chromedp.Dimensions(chromedp.ID("sig"))))
	shot(t, b, shots, "external-sign.png")
	do(t, b, "sign", chromedp.Click(chromedp.ID("confirm")))
	waitMainText(t, b, "Done: the document is signed", 2*time.Minute)
	shot(t, b, shots, "external-signed.png")

	// The seal's signature: valid, with the party's name and the evidence in the signed /Reason.
	got, err := e.x.Get(ctx, inv.ID)
	if err != nil || got.State != external.Signed {
		t.Fatalf("invitation after signing: %+v %v", got, err)
	}
	kv, err := e.a.js.KeyValue(ctx, contracts.BucketJobs)
	if err != nil {
		t.Fatal(err)
	}
	res, err := kv.Get(ctx, "res."+got.JobID)
	if err != nil {
		t.Fatal(err)
	}
	var signed contracts.Signed
	if err := json.Unmarshal(res.Value(), &signed); err != nil {
		t.Fatal(err)
	}
	rc, _, err := e.a.store.Get(ctx, signed.PDFKey)
	if err != nil {
		t.Fatal(err)
	}
	pdf, _ := io.ReadAll(rc)
	rc.Close()
	out := filepath.Join(shots, "external-signed.pdf")
	if err := os.WriteFile(out, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	sig, _ := exec.Command(pdfsig, out).CombinedOutput()
	if !strings.Contains(string(sig), "Signature is Valid.") || !strings.Contains(string(sig), "Total document signed") {
		t.Errorf("pdfsig:\n%s", sig)
	}
	// The evidence is the signature dictionary's /Reason and /Location, inside the signed byte ranges
	// (ASCII here: literal strings, their parentheses escaped).
	for _, want := range []string{"/Reason (Ivan Petrov, external party \\(company seal\\): code sent by e-mail to ivan@example.org, verified ",
		"/Location (IP 127.0.0.1, browser \"Mozilla/5.0"} {
		if !bytes.Contains(pdf, []byte(want)) {
			t.Errorf("the signed PDF lacks %q", want)
		}
	}
	text, _ := exec.Command(pdftotext, "-raw", out, "-").CombinedOutput()
	if !strings.Contains(string(text), "Ivan Petrov") {
		t.Errorf("the visible signature does not name the party:\n%s", text)
	}

	// Every step is in the document's story, before the signature. The sweeper records the end just
	// after the page can show it: the story is read until it holds every step.
	wantSteps := []string{external.ActionInvited, external.ActionCodeSent, external.ActionCodeVerified, external.ActionConfirmed,
		contracts.AuditRequestAccepted, contracts.AuditJobSigned, external.ActionEnded}
	var actions []string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		story, err := audit.Story(ctx, e.a.js, contracts.StreamAudit, got.JobID)
		if err != nil {
			t.Fatal(err)
		}
		actions = actions[:0]
		for _, ev := range story {
			actions = append(actions, ev.Action)
		}
		if !slices.ContainsFunc(wantSteps, func(a string) bool { return !slices.Contains(actions, a) }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the story of %s lacks some of %v: %v", got.JobID, wantSteps, actions)
		}
	}

	// The link is spent: without the session it opens nothing.
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusGone || !strings.Contains(string(body), "used already") {
		t.Errorf("the used link: HTTP %d\n%s", resp.StatusCode, body)
	}

	// A second party declines with a reason, in Russian.
	inv2, link2 := e.invite(t, "party-olga", "Ольга Смирнова", "olga@example.org", "ru")
	e.openAndVerify(t, b, link2, "olga@example.org")
	do(t, b, "decline", chromedp.Click(chromedp.CSS("#decline-box summary")), chromedp.SendKeys(chromedp.ID("reason"), "сумма неверна"),
		chromedp.Click(chromedp.ID("decline")))
	waitMainText(t, b, "Вы отказались подписать: сумма неверна", 20*time.Second)
	shot(t, b, shots, "external-declined-ru.png")
	if got, _ := e.x.Get(ctx, inv2.ID); got == nil || got.State != external.Declined || got.Reason != "сумма неверна" {
		t.Errorf("after declining: %+v", got)
	}
}

// TestExternalWrongCodesLockTheLink: five wrong codes over HTTP lock the invitation; the right code
// is refused after.
func TestExternalWrongCodesLockTheLink(t *testing.T) {
	e := startExternal(t)
	_, link := e.invite(t, "party-x", "Mallory", "mallory@example.org", "en")
	jar := http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(path string, form url.Values) (int, string) {
		resp, err := jar.PostForm(link+path, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, _ := post("/code", nil); st != http.StatusSeeOther {
		t.Fatalf("asking for a code: HTTP %d", st)
	}
	code := sixDigits.FindString(e.mail(t, "mallory@example.org", 2))
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	for i := 1; i <= 5; i++ {
		st, body := post("/verify", url.Values{"code": {wrong}})
		want := http.StatusUnprocessableEntity
		if i == 5 {
			want = http.StatusGone
		}
		if st != want {
			t.Fatalf("wrong code %d: HTTP %d\n%s", i, st, body)
		}
	}
	if st, body := post("/verify", url.Values{"code": {code}}); st != http.StatusGone || !strings.Contains(body, "locked") {
		t.Errorf("the right code after the lock: HTTP %d\n%s", st, body)
	}
}
