package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/internal/config"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
)

// webEnv is a whole Signet (intake and workers, embedded NATS, the demo SoftHSM token) with an
// emulated Bitrix24 portal that installed it, as `signet demo` builds it.
type webEnv struct {
	cfg    *config.Config
	app    *app
	portal *emulator.Portal
	base   string
}

func startWebEnv(t *testing.T, ctx context.Context) *webEnv {
	t.Helper()
	a, cfg, portal := startInstalled(t, ctx, emulator.Config{Log: zap.NewNop()}, "--bitrix24-rate-per-sec", "1000", "--bitrix24-burst", "1000")
	return &webEnv{cfg: cfg, app: a, portal: portal, base: cfg.PublicURL}
}

// artefactDir keeps the screenshots: $SIGNET_ARTIFACTS/<test> when set, else the test's temp dir.
func artefactDir(t *testing.T) string {
	if d := os.Getenv("SIGNET_ARTIFACTS"); d != "" {
		dir := filepath.Join(d, t.Name())
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.TempDir()
}

// newBrowser starts Debian's Chromium headless with a fresh profile and without the background
// traffic (component updates, sync, safe browsing) that would otherwise try to leave the closed network.
func newBrowser(t *testing.T, chromium string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("password-store", "basic"),
		// The deal card is answered by the browser itself (Fetch.fulfillRequest), so Chromium sees no
		// address for it and treats it as public; its local-network checks would then block the
		// iframe to Signet on 127.0.0.1. A real portal page has an address and is not affected.
		chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,LocalNetworkAccessChecks,BlockInsecurePrivateNetworkRequests,PrivateNetworkAccessForNavigations,PrivateNetworkAccessForWorkers"),
		chromedp.WindowSize(1200, 900),
	)
	// The browser lives as long as this context: no timeout on it (chromedp's rule for the first Run).
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	bctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return bctx
}

// do runs browser steps, failing the test with the page's address and text when one fails.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, steps...); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, pageState(ctx))
	}
}

// get runs one browser action and returns its value.
func get[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, a)
	if err != nil {
		t.Fatalf("%s: %v\n%s", what, err, pageState(ctx))
	}
	return v
}

func pageState(ctx context.Context) string {
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(tctx, chromedp.Location())
	body, _ := chromedp.Run(tctx, chromedp.Text(chromedp.CSS("body")))
	return "at " + loc + ":\n" + body
}

// shot saves a full-page PNG screenshot as an artefact and returns its path.
func shot(t *testing.T, ctx context.Context, dir, name string) string {
	t.Helper()
	return save(t, dir, name, get(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100)))
}

func save(t *testing.T, dir, name string, png []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// dealPage is the deal card of the emulated portal as the browser sees it: Signet's Sign dialog in
// an iframe, opened by POSTing the placement form into it the way Bitrix24 does (reference §10).
var dealPage = template.Must(template.New("deal").Parse(`<!doctype html><html><head><meta charset="utf-8"><title>Deal {{.Deal}}</title>
<style>body{margin:0;font:14px sans-serif;background:#eef2f4}header{background:#2fc6f6;color:#fff;padding:10px 16px;font-weight:600}
iframe{display:block;border:0;width:min(620px,calc(100% - 32px));height:780px;margin:16px;background:#fff;box-shadow:0 1px 4px rgba(0,0,0,.2)}</style></head>
<body><header>Deal #{{.Deal}} · emulated Bitrix24 portal</header>
<form id="f" method="post" action="{{.Action}}" target="signet">{{range $k, $v := .Form}}<input type="hidden" name="{{$k}}" value="{{index $v 0}}">{{end}}</form>
<iframe name="signet" title="Sign with Signet"></iframe>
<script>document.getElementById('f').submit();</script></body></html>`))

// TestWebPagesInChromium walks the pages people use, in a real browser: the administrator signs in,
// creates a certificate, a user and an enrolment link; the user opens the link, scans the QR code
// (zbarimg reads the screenshot) and confirms with a code from the scanned secret; the user signs a
// deal's PDF from the Sign dialog inside the portal's deal card with a chosen position; the
// verification page shows the signature valid. Screenshots of every page are kept as artefacts.
func TestWebPagesInChromium(t *testing.T) {
	chromium := testenv.RequireTool(t, "chromium")
	zbarimg := testenv.RequireTool(t, "zbarimg")
	qpdf := testenv.RequireTool(t, "qpdf")
	pdfimages := testenv.RequireTool(t, "pdfimages")
	testenv.RequireTool(t, "softhsm2-util")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	env := startWebEnv(t, ctx)
	shots := artefactDir(t)

	// The on-premise administrator is made with the CLI, the password read from a file.
	password := "correct horse battery staple"
	pwFile := writeTemp(t, "pw", []byte(password+"\n"))
	var out, errOut bytes.Buffer
	if err := runAdminLocal(ctx, []string{"set", "alice", "--data-dir", env.cfg.DataDir, "--password-file", pwFile}, &out, &errOut); err != nil {
		t.Fatalf("signet admin local-admin set: %v\n%s", err, errOut.String())
	}
	if strings.Contains(out.String()+errOut.String(), password) {
		t.Fatal("the CLI printed the password")
	}

	b := newBrowser(t, chromium)
	base := env.base

	// 1. Administrator: sign in (a wrong password first), create a certificate, a user, a link.
	do(t, b, "sign-in page", chromedp.Navigate(base+"/admin"), chromedp.WaitVisible(chromedp.ID("password")))
	if loc := get(t, b, "location", chromedp.Location()); !strings.HasSuffix(loc, "/admin/login") {
		t.Fatalf("without a session /admin went to %s, want the sign-in page", loc)
	}
	shot(t, b, shots, "login.png")
	do(t, b, "wrong password",
		chromedp.SendKeys(chromedp.ID("login"), "alice"), chromedp.SendKeys(chromedp.ID("password"), "not the password"),
		chromedp.Click(chromedp.CSS("button[type=submit]")), chromedp.WaitVisible(chromedp.CSS(".alert")))
	if text := get(t, b, "alert", chromedp.Text(chromedp.CSS(".alert"))); !strings.Contains(text, "Wrong login or password") {
		t.Fatalf("wrong password: the page says %q", text)
	}
	do(t, b, "sign in",
		chromedp.SendKeys(chromedp.ID("password"), password), // the page comes back with the field empty
		chromedp.Click(chromedp.CSS("button[type=submit]")), chromedp.WaitVisible(chromedp.ID("add-h")))

	do(t, b, "create a certificate",
		chromedp.Navigate(base+"/admin/credentials"), chromedp.WaitVisible(chromedp.ID("create")),
		chromedp.SendKeys(chromedp.ID("label"), "mary-2026"), chromedp.SendKeys(chromedp.ID("subject"), "CN=Mary Smith,O=Acme Trading,C=GB"),
		chromedp.Click(chromedp.ID("create")), chromedp.WaitVisible(chromedp.CSS(".notice")))
	text := get(t, b, "credentials page", chromedp.Text(chromedp.CSS("main")))
	if !strings.Contains(text, "Certificate created.") || !strings.Contains(text, "CN=Mary Smith") || !strings.Contains(text, "days left") {
		t.Fatalf("after creating a certificate the page says:\n%s", text)
	}
	shot(t, b, shots, "admin-credentials.png")

	memberID := env.portal.MemberID()
	const bitrixUser = 7
	do(t, b, "fill the new user form",
		chromedp.Navigate(base+"/admin/users"), chromedp.WaitVisible(chromedp.ID("add-h")),
		chromedp.SendKeys(chromedp.ID("login"), "mary"), chromedp.SendKeys(chromedp.ID("description"), "Sales manager, signs contracts"),
		chromedp.SetValue(chromedp.ID("member_id"), memberID), chromedp.SendKeys(chromedp.ID("bitrix_id"), strconv.Itoa(bitrixUser)))
	if v := get(t, b, "choose the certificate", chromedp.Evaluate[string](`(function(){var s=document.getElementById('credential');
		s.value=[].find.call(s.options,function(o){return o.textContent.indexOf('mary-2026')>=0;}).value;return s.value;})()`)); !strings.Contains(v, "mary-2026") {
		t.Fatalf("certificate drop-down value %q", v)
	}
	do(t, b, "add the user", chromedp.Click(chromedp.CSS("#add-h + form button[type=submit]")), chromedp.WaitVisible(chromedp.ID("enrol")))
	text = get(t, b, "user page", chromedp.Text(chromedp.CSS("main")))
	if !strings.Contains(text, "User added.") || !strings.Contains(text, "mary-2026 (signet-demo)") || !strings.Contains(text, "user 7 on") {
		t.Fatalf("after adding the user the page says:\n%s", text)
	}
	do(t, b, "create an enrolment link", chromedp.Click(chromedp.ID("enrol")), chromedp.WaitVisible(chromedp.ID("enrol-link")))
	link := get(t, b, "the link", chromedp.Value(chromedp.ID("enrol-link")))
	if !strings.HasPrefix(link, base+"/enrol/") {
		t.Fatalf("enrolment link %q, want one under %s/enrol/", link, base)
	}
	if loc := get(t, b, "location", chromedp.Location()); strings.Contains(loc, strings.TrimPrefix(link, base+"/enrol/")) {
		t.Fatal("the enrolment token is in the control panel's URL")
	}
	shot(t, b, shots, "admin.png")

	// 2. The user opens the link, scans the QR code and confirms with the first code.
	do(t, b, "enrolment page", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("img")), chromedp.WaitVisible(chromedp.ID("code")))
	qr, err := exec.Command(zbarimg, "--raw", "-q", shot(t, b, shots, "enrol.png")).Output()
	if err != nil {
		t.Fatalf("zbarimg found no QR code in the enrolment page's screenshot: %v", err)
	}
	otpauth, err := url.Parse(strings.TrimSpace(string(qr)))
	if err != nil || otpauth.Scheme != "otpauth" || otpauth.Host != "totp" {
		t.Fatalf("the QR code holds %q, want an otpauth://totp/ URI", qr)
	}
	secret := otpauth.Query().Get("secret")
	if shown := get(t, b, "the secret as text", chromedp.Text(chromedp.ID("secret"))); strings.ReplaceAll(shown, " ", "") != secret {
		t.Fatal("the secret shown as text differs from the one in the QR code")
	}
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	do(t, b, "confirm the first code",
		chromedp.SendKeys(chromedp.ID("code"), code), chromedp.Click(chromedp.CSS("form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(".ok")))
	if text := get(t, b, "enrolled", chromedp.Text(chromedp.CSS(".ok"))); !strings.Contains(text, "mary") {
		t.Fatalf("after the first code the page says %q", text)
	}
	shot(t, b, shots, "enrol-done.png")
	do(t, b, "a used link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(".alert")))
	if text := get(t, b, "used link", chromedp.Text(chromedp.CSS(".alert"))); !strings.Contains(text, "already been used") {
		t.Fatalf("a used link says %q", text)
	}
	shot(t, b, shots, "enrol-used.png")

	// 3. The Sign dialog inside the portal's deal card: the second of two PDFs, first page, top left.
	const deal = 4200
	contract, err := os.ReadFile("../../testdata/pdf/multipage.pdf") // three pages, so "first" means something
	if err != nil {
		t.Fatal(err)
	}
	env.portal.AddDealFile(deal, "offer.pdf", demoInvoice)
	env.portal.AddDealFile(deal, "contract.pdf", contract)
	contractID := 0
	for id, name := range env.portal.DealFiles(deal) {
		if name == "contract.pdf" {
			contractID = id
		}
	}
	handlers := env.portal.Placements()["CRM_DEAL_DETAIL_TOOLBAR"]
	if len(handlers) != 1 {
		t.Fatalf("placements bound at install: %v, want the Sign button on CRM_DEAL_DETAIL_TOOLBAR", env.portal.Placements())
	}
	req, err := env.portal.PlacementRequest(ctx, handlers[0], "CRM_DEAL_DETAIL_TOOLBAR", bitrixUser, deal)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(req.Body)
	form, _ := url.ParseQuery(string(body))
	dealURL := env.portal.BaseURL() + "/crm/deal/details/" + strconv.Itoa(deal) + "/"
	var page bytes.Buffer
	if err := dealPage.Execute(&page, map[string]any{"Deal": deal, "Action": req.URL.String(), "Form": form}); err != nil {
		t.Fatal(err)
	}
	// openDeal opens the deal card again with the Sign dialog in the language lang (LANG of the
	// placement request, as Bitrix24 sends the viewer's interface language).
	openDeal := func(lang string) {
		t.Helper()
		u := *req.URL
		q := u.Query()
		q.Set("LANG", lang)
		u.RawQuery = q.Encode()
		page.Reset()
		if err := dealPage.Execute(&page, map[string]any{"Deal": deal, "Action": u.String(), "Form": form}); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Call(b, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: dealURL}}}); err != nil {
			t.Fatal(err)
		}
		do(t, b, "open the deal card in "+lang, chromedp.Navigate(dealURL), chromedp.WaitVisible(chromedp.CSS("iframe")))
	}
	// The deal card is answered by the browser itself at the portal's own origin, because the Sign
	// dialog may be framed by the portal only (CSP frame-ancestors).
	answerPaused(b, page.Bytes)
	if _, err := chromedp.Call(b, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: dealURL}}}); err != nil {
		t.Fatal(err)
	}
	do(t, b, "open the deal card", chromedp.Navigate(dealURL), chromedp.WaitVisible(chromedp.CSS("iframe")))
	in := chromedp.FromNode(waitFrame(t, b, "#sign"))
	signCode, err := totp.GenerateCode(secret, time.Now().Add(30*time.Second)) // the next step: the first one is used
	if err != nil {
		t.Fatal(err)
	}
	do(t, b, "fill the Sign dialog",
		chromedp.SetValue(chromedp.CSS("#document"), emulator.DealFileField+":"+strconv.Itoa(contractID), in),
		chromedp.SendKeys(chromedp.CSS("#otp"), signCode, in),
		chromedp.SetValue(chromedp.CSS("#page"), "first", in),
		chromedp.Click(chromedp.CSS(`button[data-position="top-left"]`), in))
	// A signature drawn on the dialog's pad with the mouse: real input events through Chromium (issue 19,
	// must 6). The box model's quad is in the top frame's viewport, where mouse events are dispatched.
	do(t, b, "scroll to the pad", chromedp.ScrollIntoView(chromedp.CSS("#signature-pad"), in))
	scribble(t, b, get(t, b, "the signature pad", chromedp.Dimensions(chromedp.CSS("#signature-pad"), in)))
	drawn := get(t, b, "the drawn signature", chromedp.AttributeValue(chromedp.CSS("#signature-image"), "value", in))
	for i := 0; i < 20 && !strings.HasPrefix(drawn.Value, "data:image/png;base64,"); i++ {
		time.Sleep(100 * time.Millisecond) // the page's pointerup handler writes it
		drawn = get(t, b, "the drawn signature", chromedp.AttributeValue(chromedp.CSS("#signature-image"), "value", in))
	}
	if !strings.HasPrefix(drawn.Value, "data:image/png;base64,") {
		t.Fatalf("the pad did not record the drawing: %.40q", drawn.Value)
	}
	words := get(t, b, "position words", chromedp.Text(chromedp.CSS("#position-text"), in))
	pressed := get(t, b, "aria-pressed", chromedp.AttributeValue(chromedp.CSS(`button[data-position="top-left"]`), "aria-pressed", in))
	if pressed.Value != "true" || !strings.Contains(words, "In the top left corner of the first page.") {
		t.Fatalf("after choosing top-left: aria-pressed=%q, description %q", pressed.Value, words)
	}
	save(t, shots, "sign-dialog.png", get(t, b, "screenshot the dialog", chromedp.Screenshot(chromedp.CSS("iframe"))))
	// A mistyped code first: refused in words, and the dialog stays usable.
	wrong := []byte(signCode)
	wrong[0] = '0' + (wrong[0]-'0'+1)%10
	do(t, b, "sign with a wrong code", chromedp.SetValue(chromedp.CSS("#otp"), string(wrong), in),
		chromedp.Click(chromedp.CSS("#sign"), in))
	if status := waitStatus(t, b, in); !strings.Contains(status, "wrong code") {
		t.Fatalf("a wrong code: the dialog says %q", status)
	}
	save(t, shots, "sign-wrong-code.png", get(t, b, "screenshot the refusal", chromedp.Screenshot(chromedp.CSS("iframe"))))
	do(t, b, "sign", chromedp.SetValue(chromedp.CSS("#otp"), signCode, in),
		chromedp.WaitEnabled(chromedp.CSS("#sign"), in), chromedp.Click(chromedp.CSS("#sign"), in))
	waitStatusNot(t, b, in, "error")
	if status := waitStatus(t, b, in); !strings.Contains(status, "Signed") || !strings.Contains(status, "Download the signed PDF") {
		t.Fatalf("the dialog must end with the result and a link to the signed file, it says %q", status)
	}
	if href := get(t, b, "signed file link", chromedp.AttributeValue(chromedp.CSS("#signed-link"), "href", in)); !strings.Contains(href.Value, "/files/") {
		t.Fatalf("the signed file link points to %q", href.Value)
	}
	save(t, shots, "sign-done.png", get(t, b, "screenshot the result", chromedp.Screenshot(chromedp.CSS("iframe"))))
	var signed []byte
	for _, content := range env.portal.DealFileContents(deal) {
		if len(content) > len(contract) && bytes.HasPrefix(content, contract) {
			signed = content
		}
		if bytes.HasPrefix(content, demoInvoice) && len(content) != len(demoInvoice) {
			t.Error("the offer was changed, though the contract was chosen")
		}
	}
	if signed == nil {
		t.Fatal("the signed contract did not replace the contract in the deal")
	}
	signedPath := save(t, shots, "contract-signed.pdf", signed)
	checkStampPlace(t, qpdf, signedPath)
	// The drawn signature (the pad's 360×120 canvas, re-encoded by the intake) is an image of the
	// signed PDF, in the signature's appearance.
	if out, _ := exec.Command(pdfimages, "-list", signedPath).CombinedOutput(); !regexp.MustCompile(`(?m)^\s*\d+\s+\d+\s+image\s+360\s+120\s`).Match(out) {
		t.Errorf("the drawn signature is not in the signed PDF:\n%s", out)
	}
	if _, err := chromedp.Call(b, fetch.Disable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}

	// 4. The verification page: upload the signed PDF, then an unsigned one.
	do(t, b, "verify the signed PDF",
		chromedp.Navigate(base+"/verify"), chromedp.WaitVisible(chromedp.ID("pdf")),
		chromedp.SetUploadFiles(chromedp.ID("pdf"), []string{signedPath}),
		chromedp.Click(chromedp.ID("check")), chromedp.WaitVisible(chromedp.CSS(".signature")))
	text = get(t, b, "verification page", chromedp.Text(chromedp.CSS("main")))
	for _, want := range []string{"Intact but signer not trusted", "Mary Smith", "intact: the signed bytes have not changed", "ETSI.CAdES.detached"} {
		if !strings.Contains(text, want) {
			t.Errorf("the verification page does not say %q:\n%s", want, text)
		}
	}
	shot(t, b, shots, "verify.png")
	// The validation report of this upload downloads from the page itself (a data: link, issue 17
	// must 7): a real browser saves it under the page's CSP, and it names the file the page checked.
	downloads := t.TempDir()
	if _, err := chromedp.CallBrowser(b, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads}); err != nil {
		t.Fatal(err)
	}
	do(t, b, "download the validation report", chromedp.Click(chromedp.ID("report")))
	reportFile := filepath.Join(downloads, "contract-signed.pdf.validation-report.json")
	var report struct {
		Document struct{ Name, SHA256 string }
		Verdict  string
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if raw, err := os.ReadFile(reportFile); err == nil && json.Unmarshal(raw, &report) == nil {
			break
		}
		if time.Now().After(deadline) {
			files, _ := os.ReadDir(downloads)
			t.Fatalf("the browser saved no validation report as %s (the folder holds %v)", reportFile, files)
		}
	}
	if report.Document.Name != "contract-signed.pdf" || report.Document.SHA256 != fmt.Sprintf("%x", sha256.Sum256(signed)) || report.Verdict != "untrusted" {
		t.Errorf("the downloaded report: %+v", report)
	}
	do(t, b, "verify an unsigned PDF",
		chromedp.SetUploadFiles(chromedp.ID("pdf"), []string{writeTemp(t, "unsigned.pdf", demoInvoice)}),
		chromedp.Click(chromedp.ID("check")), chromedp.WaitVisible(chromedp.CSS(".alert")))
	if text := get(t, b, "unsigned", chromedp.Text(chromedp.CSS(".alert"))); !strings.Contains(text, "no digital signature") {
		t.Errorf("an unsigned PDF: the page says %q", text)
	}

	// The portals page asks the portal whether the robot and the Sign button are registered.
	do(t, b, "portals page", chromedp.Navigate(base+"/admin/portals"), chromedp.WaitVisible(chromedp.CSS("table")))
	text = get(t, b, "portals page", chromedp.Text(chromedp.CSS("main")))
	if !strings.Contains(text, "registered") || strings.Contains(text, "not registered") || !strings.Contains(text, "bound to the deal card's toolbar") {
		t.Errorf("the portals page says:\n%s", text)
	}
	shot(t, b, shots, "admin-portals.png")

	// On a phone: no page is wider than the screen (tables scroll inside their box).
	do(t, b, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	for _, path := range []string{"/admin/users", "/admin/users/mary", "/admin/credentials", "/admin/portals", "/admin/grants", "/verify"} {
		do(t, b, "phone "+path, chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS("main")))
		if w := get(t, b, "page width", chromedp.Evaluate[int](`document.documentElement.scrollWidth - window.innerWidth`)); w > 0 {
			t.Errorf("on a 390 px wide phone %s is %d px too wide", path, w)
		}
		save(t, shots, "phone"+strings.ReplaceAll(path, "/", "-")+".png", get(t, b, "phone screenshot", chromedp.CaptureScreenshot()))
	}

	// 5. Every page and the Sign dialog in Russian and in English, at 1280 px and on a phone.
	checkLanguagesInChromium(t, b, env, shots, link, openDeal)
	t.Logf("screenshots in %s", shots)
}

// checkStampPlace asks qpdf where the signature widget is: on the first page, in its top-left corner,
// as chosen in the dialog.
func checkStampPlace(t *testing.T, qpdf, path string) {
	t.Helper()
	out, err := exec.Command(qpdf, "--json=2", "--json-key=pages", "--json-key=qpdf", path).Output()
	if err != nil {
		t.Fatalf("qpdf --json %s: %v", path, err)
	}
	var doc struct {
		Pages []struct {
			Object string `json:"object"`
		} `json:"pages"`
		QPDF []json.RawMessage `json:"qpdf"`
	}
	if err := json.Unmarshal(out, &doc); err != nil || len(doc.QPDF) < 2 || len(doc.Pages) < 2 {
		t.Fatalf("qpdf --json %s: %v (%d pages)", path, err, len(doc.Pages))
	}
	var objects map[string]struct {
		Value map[string]any `json:"value"`
	}
	if err := json.Unmarshal(doc.QPDF[1], &objects); err != nil {
		t.Fatal(err)
	}
	first := objects["obj:"+doc.Pages[0].Object].Value
	box, _ := first["/MediaBox"].([]any)
	found := false
	for _, o := range objects {
		if o.Value["/FT"] != "/Sig" || o.Value["/Rect"] == nil {
			continue
		}
		found = true
		if o.Value["/P"] != doc.Pages[0].Object {
			t.Errorf("the signature widget is on page object %v, want the first page %s", o.Value["/P"], doc.Pages[0].Object)
		}
		r, _ := o.Value["/Rect"].([]any)
		if len(r) != 4 || len(box) != 4 {
			t.Fatalf("widget /Rect %v, page /MediaBox %v", r, box)
		}
		w, h := box[2].(float64)-box[0].(float64), box[3].(float64)-box[1].(float64)
		if x := r[0].(float64) - box[0].(float64); x > w/3 {
			t.Errorf("the stamp starts at x=%.0f of %.0f: not at the left", x, w)
		}
		if y := r[3].(float64) - box[1].(float64); y < h*2/3 {
			t.Errorf("the stamp's top is at y=%.0f of %.0f: not at the top", y, h)
		}
	}
	if !found {
		t.Error("qpdf finds no signature widget with a /Rect: the signature is not visible")
	}
}

// waitFrame waits until the iframe's document has the element sel, and returns the iframe's node.
func waitFrame(t *testing.T, ctx context.Context, sel string) *chromedp.Node {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		frames, err := chromedp.Run(tctx, chromedp.Nodes(chromedp.CSS("iframe")))
		if err == nil && len(frames) == 1 {
			if found, err := chromedp.Run(tctx, chromedp.Nodes(chromedp.CSS(sel), chromedp.FromNode(frames[0]))); err == nil && len(found) > 0 {
				cancel()
				return frames[0]
			}
		}
		cancel()
		time.Sleep(200 * time.Millisecond)
	}
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		save(t, artefactDir(t), "deal-card-failed.png", png)
	}
	t.Fatalf("the Sign dialog (%s) did not appear in the deal card's iframe\n%s", sel, pageState(ctx))
	return nil
}

// waitStatusNot waits until the dialog's status line leaves the class it had (a new submission started).
func waitStatusNot(t *testing.T, ctx context.Context, in chromedp.QueryOption, class string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c := get(t, ctx, "status class", chromedp.AttributeValue(chromedp.CSS("#status"), "class", in)); c.Value != class {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the Sign dialog did not take the second submission\n%s", pageState(ctx))
}

// waitStatus waits for the dialog's status line to end in done or error and returns its text.
func waitStatus(t *testing.T, ctx context.Context, in chromedp.QueryOption) string {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var text string
	for time.Now().Before(deadline) {
		// The dialog sets the text before the class, so once the class is final the text is too.
		class := get(t, ctx, "status class", chromedp.AttributeValue(chromedp.CSS("#status"), "class", in))
		text = get(t, ctx, "status", chromedp.Text(chromedp.CSS("#status"), in))
		if class.Value == "done" || class.Value == "error" {
			return text
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("the Sign dialog did not finish; it says %q", text)
	return ""
}

// TestControlPanelRefusesWithoutSession checks the guards without a browser: no session, no page; a
// form without the session's CSRF token, or from another origin, changes nothing.
func TestControlPanelRefusesWithoutSession(t *testing.T) {
	testenv.RequireTool(t, "softhsm2-util")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env := startWebEnv(t, ctx)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(env.base + "/admin/users")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/login" {
		t.Fatalf("GET /admin/users without a session: %d → %q, want 303 to /admin/login", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err = noRedirect.PostForm(env.base+"/admin/users", url.Values{"login": {"eve"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("POST /admin/users without a session: %d, want 401", resp.StatusCode)
	}
	if _, err := env.app.identity.GetUser(ctx, "eve"); err == nil {
		t.Fatal("a user was added without a session")
	}

	// Signed in, but the form lacks the CSRF token: refused.
	pw := "another long password"
	pwFile := writeTemp(t, "pw", []byte(pw+"\n"))
	if err := runAdminLocal(ctx, []string{"set", "bob", "--data-dir", env.cfg.DataDir, "--password-file", pwFile}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	cookie, csrf := signIn(t, noRedirect, env.base, "bob", pw)
	post := func(form url.Values, origin string) int {
		req, _ := http.NewRequest(http.MethodPost, env.base+"/admin/users", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Cookie", cookie)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := post(url.Values{"login": {"eve"}}, ""); s != http.StatusForbidden {
		t.Errorf("a form without the CSRF token: %d, want 403", s)
	}
	if s := post(url.Values{"login": {"eve"}, "csrf": {csrf}}, "http://evil.example"); s != http.StatusForbidden {
		t.Errorf("a form from another origin: %d, want 403", s)
	}
	if _, err := env.app.identity.GetUser(ctx, "eve"); err == nil {
		t.Fatal("a user was added by a forged form")
	}
	if s := post(url.Values{"login": {"eve"}, "csrf": {csrf}}, env.base); s != http.StatusSeeOther {
		t.Errorf("the real form: %d, want 303", s)
	}
	if _, err := env.app.identity.GetUser(ctx, "eve"); err != nil {
		t.Errorf("the real form did not add the user: %v", err)
	}
}

// signIn signs in through the form like a browser and returns the session cookie and CSRF token.
func signIn(t *testing.T, c *http.Client, base, login, password string) (cookie, csrf string) {
	t.Helper()
	resp, err := c.Get(base + "/admin/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	loginCookie := resp.Cookies()[0]
	token := hiddenValue(t, string(page), "csrf")
	req, _ := http.NewRequest(http.MethodPost, base+"/admin/login", strings.NewReader(url.Values{"login": {login}, "password": {password}, "csrf": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(loginCookie)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == "signet_admin" {
			if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
				t.Errorf("session cookie: HttpOnly=%t SameSite=%v, want HttpOnly and Strict", ck.HttpOnly, ck.SameSite)
			}
			cookie = ck.Name + "=" + ck.Value
		}
	}
	if cookie == "" {
		t.Fatal("sign-in set no session cookie")
	}
	req, _ = http.NewRequest(http.MethodGet, base+"/admin/users", nil)
	req.Header.Set("Cookie", cookie)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	return cookie, hiddenValue(t, string(page), "csrf")
}

func hiddenValue(t *testing.T, page, name string) string {
	t.Helper()
	marker := fmt.Sprintf(`name="%s" value="`, name)
	i := strings.Index(page, marker)
	if i < 0 {
		t.Fatalf("no hidden field %s in the page", name)
	}
	rest := page[i+len(marker):]
	return rest[:strings.IndexByte(rest, '"')]
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A portal administrator who opens the application in Bitrix24 reaches the control panel through a
// single-use ticket, checked against the (emulated) portal with their own AUTH_ID and user.admin; an
// ordinary portal user does not.
func TestPortalAdministratorThroughTheApp(t *testing.T) {
	testenv.RequireTool(t, "softhsm2-util")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env := startWebEnv(t, ctx)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	open := func(userID int) (int, string) {
		req, err := env.portal.PlacementRequest(ctx, env.base+"/admin/bitrix24", "DEFAULT", userID, 1)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, page := open(7); st != http.StatusForbidden || strings.Contains(page, `name="ticket"`) {
		t.Fatalf("a portal user who is not an administrator: %d", st)
	}
	st, page := open(emulator.AdminUserID)
	const marker = `name="ticket" value="`
	i := strings.Index(page, marker)
	if st != http.StatusOK || i < 0 {
		t.Fatalf("the portal administrator gets no ticket: %d\n%s", st, page)
	}
	ticket := page[i+len(marker):]
	ticket = ticket[:strings.IndexByte(ticket, '"')]
	resp, err := noRedirect.PostForm(env.base+"/admin/portal-session", url.Values{"ticket": {ticket}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "signet_admin" {
			cookie = c
		}
	}
	if resp.StatusCode != http.StatusSeeOther || cookie == nil {
		t.Fatalf("the ticket gave no session: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, env.base+"/admin/users", nil)
	req.AddCookie(cookie)
	resp, err = noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the portal administrator's session does not open the control panel: %d", resp.StatusCode)
	}
}

// scribble draws a zigzag across a pad with the mouse: real input events through Chromium. The box
// model's quad is in the top frame's viewport, where mouse events are dispatched.
func scribble(t *testing.T, b context.Context, pad *dom.BoxModel) {
	t.Helper()
	x0, y0 := pad.Content[0], pad.Content[1]
	w, h := pad.Content[2]-x0, pad.Content[5]-y0
	held := func(p *input.DispatchMouseEventParams) { p.Button, p.Buttons = input.MouseButtonLeft, 1 }
	stroke := []chromedp.Action[chromedp.Void]{chromedp.MouseEvent(input.DispatchMouseEventTypeMousePressed, x0+w*0.1, y0+h*0.6, held, chromedp.ClickCount(1))}
	for i := 1; i <= 20; i++ {
		f := float64(i) / 20
		stroke = append(stroke, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, x0+w*(0.1+0.8*f), y0+h*(0.6-0.3*float64(i%4)/3), held))
	}
	stroke = append(stroke, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseReleased, x0+w*0.9, y0+h*0.5, held, chromedp.ClickCount(1)))
	do(t, b, "draw a signature on the pad", stroke...)
}
