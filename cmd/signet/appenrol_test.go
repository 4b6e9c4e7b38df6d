package main

import (
	"context"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/producer/identity"
)

// portalPage is a page of the emulated portal as the browser sees it — the deal card, the
// application's own page — with Signet in an iframe, opened by POSTing the portal's form into it the
// way Bitrix24 does (reference §10, bitrix24-people-notes.md §3).
var portalPage = template.Must(template.New("portal").Parse(`<!doctype html><html><head><meta charset="utf-8"><title>{{.Header}}</title>
<style>body{margin:0;font:14px sans-serif;background:#eef2f4}header{background:#2fc6f6;color:#fff;padding:10px 16px;font-weight:600}
iframe{display:block;border:0;width:640px;height:{{.Height}}px;margin:16px;background:#fff;box-shadow:0 1px 4px rgba(0,0,0,.2)}</style></head>
<body><header>{{.Header}} · emulated Bitrix24 portal</header>
<form id="f" method="post" action="{{.Action}}" target="signet">{{range $k, $v := .Form}}<input type="hidden" name="{{$k}}" value="{{index $v 0}}">{{end}}</form>
<iframe name="signet" title="{{.Frame}}"></iframe>
<script>document.getElementById('f').submit();</script></body></html>`))

// openInPortal opens pageURL, a page of the portal answered by the browser itself at the portal's own
// origin (Signet's pages may be framed by the portal only: CSP frame-ancestors), with req — the
// portal's POST to Signet — submitted into its iframe.
func openInPortal(t *testing.T, b context.Context, req *http.Request, pageURL, header, frame string, height int) {
	t.Helper()
	body, _ := io.ReadAll(req.Body)
	form, _ := url.ParseQuery(string(body))
	var page strings.Builder
	if err := portalPage.Execute(&page, map[string]any{"Header": header, "Frame": frame, "Height": height, "Action": req.URL.String(), "Form": form}); err != nil {
		t.Fatal(err)
	}
	answerPaused(b, func() []byte { return []byte(page.String()) })
	if _, err := chromedp.Call(b, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: pageURL}}}); err != nil {
		t.Fatal(err)
	}
	do(t, b, "open "+header, chromedp.Navigate(pageURL), chromedp.WaitVisible(chromedp.CSS("iframe")))
}

// TestInAppEnrolmentInChromium: an employee whom the administrator allowed to enrol opens Signet from
// the portal's left menu in Russian (LANG=ru, Accept-Language ru), sees the QR code inside the portal's
// frame (zbarimg reads the screenshot), confirms the first code and is enrolled; an employee Signet
// does not know gets a page in Russian saying what to ask the administrator for, not a bare 403.
func TestInAppEnrolmentInChromium(t *testing.T) {
	chromium := testenv.RequireTool(t, "chromium")
	zbarimg := testenv.RequireTool(t, "zbarimg")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	a, cfg, portal := startInstalled(t, ctx, emulator.Config{Log: zap.NewNop(), Language: "ru"})
	const ivan, stranger = 7, 9
	if err := a.identity.AddUser(ctx, identity.User{Login: "ivan", BitrixIDs: map[string]int{portal.MemberID(): ivan}, SelfEnrol: true}); err != nil {
		t.Fatal(err)
	}
	shots := artefactDir(t)

	// The unlinked employee, over plain HTTP for the status.
	st, page, _ := openAppPage(t, portal, cfg.PublicURL, stranger, "ru", nil)
	if st != http.StatusForbidden || !strings.Contains(page, `lang="ru"`) || !strings.Contains(page, "Попросите администратора Signet") || !strings.Contains(page, "id 9") {
		t.Fatalf("an unlinked employee: %d\n%s", st, page)
	}

	b := newBrowser(t, chromium)
	if _, err := chromedp.Call(b, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(b, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Language": "ru-RU,ru;q=0.9"}}); err != nil {
		t.Fatal(err)
	}
	req, err := portal.AppPageRequest(ctx, cfg.PublicURL+"/admin/bitrix24", ivan, "ru")
	if err != nil {
		t.Fatal(err)
	}
	openInPortal(t, b, req, portal.BaseURL()+"/marketplace/app/signet/", "Applications · Signet", "Signet", 1000)
	in := chromedp.FromNode(waitFrame(t, b, "#qr"))
	if title := get(t, b, "title", chromedp.Text(chromedp.ID("title"), in)); title != "Настройка кодов для подписи" {
		t.Fatalf("the page's title is %q, want it in Russian", title)
	}
	qr, err := exec.Command(zbarimg, "--raw", "-q", shot(t, b, shots, "app-enrol.png")).Output()
	if err != nil {
		t.Fatalf("zbarimg found no QR code in the application page's screenshot: %v", err)
	}
	otpauth, err := url.Parse(strings.TrimSpace(string(qr)))
	if err != nil || otpauth.Scheme != "otpauth" || !strings.Contains(otpauth.Path, "ivan") {
		t.Fatalf("the QR code holds %q, want ivan's otpauth://totp/ URI", qr)
	}
	secret := otpauth.Query().Get("secret")
	if shown := get(t, b, "the secret as text", chromedp.Text(chromedp.ID("secret"), in)); strings.ReplaceAll(shown, " ", "") != secret {
		t.Fatal("the secret shown as text differs from the one in the QR code")
	}
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	do(t, b, "confirm the first code", chromedp.SendKeys(chromedp.ID("code"), code, in), chromedp.Click(chromedp.ID("confirm"), in))
	in = chromedp.FromNode(waitFrame(t, b, "#done"))
	if text := get(t, b, "done", chromedp.Text(chromedp.ID("done"), in)); !strings.Contains(text, "Готово") || !strings.Contains(text, "ivan") {
		t.Fatalf("after the first code the page says %q", text)
	}
	shot(t, b, shots, "app-enrol-done.png")
	if u, err := a.identity.GetUser(ctx, "ivan"); err != nil || !u.Enrolled {
		t.Fatalf("ivan is not enrolled after confirming in the portal: %v", err)
	}
	// Reopened: enrolled already, no new link.
	if st, page, _ := openAppPage(t, portal, cfg.PublicURL, ivan, "ru", nil); st != http.StatusOK || hiddenToken.MatchString(page) || !strings.Contains(page, "Коды для подписи настроены") {
		t.Fatalf("reopened after enrolling: %d\n%s", st, page)
	}
}

// answerPaused answers every request the browser pauses (fetch.Enable with a pattern) with the HTML
// body returns at that moment: a page of the portal, served at the portal's own origin.
func answerPaused(b context.Context, body func() []byte) {
	paused := chromedp.Events(b, fetch.RequestPaused)
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(b, fetch.FulfillRequest, fetch.FulfillRequestParams{RequestID: ev.RequestID, ResponseCode: 200,
				ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "text/html; charset=utf-8"}}, Body: body()})
		}
	}()
}
