package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"golang.org/x/text/language"

	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/internal/testsupport/i18ntext"
)

// pageCheck is the JavaScript that reports, for the document it is called on (this is an element of
// it), the page's language, its HTML, and every label, button, heading, cell or badge whose text is
// cut off or runs out of its box (scrollWidth beyond clientWidth), or out of the screen, and a
// document wider than the screen. Tables may scroll inside their .scroll box, by design.
const pageCheck = `function() {
	var d = this.ownerDocument || this, w = d.defaultView, bad = [];
	var vw = d.documentElement.clientWidth;
	d.querySelectorAll('label,button,a,th,td,h1,h2,legend,dt,dd,p,li,.badge,select,input,nav,header,form,fieldset,#position-text,#status').forEach(function(e) {
		var cs = w.getComputedStyle(e);
		if (cs.display === 'none' || cs.visibility === 'hidden' || e.getClientRects().length === 0 || e.closest('.visually-hidden')) return;
		var what = e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + ' "' + (e.innerText || e.value || '').trim().slice(0, 50) + '"';
		if (cs.display !== 'inline' && cs.overflowX !== 'auto' && cs.overflowX !== 'scroll' && e.scrollWidth > e.clientWidth + 1 && e.tagName !== 'SELECT' && e.type !== 'file') {
			bad.push(what + ' is cut off: ' + e.scrollWidth + ' px of text in ' + e.clientWidth + ' px');
		}
	});
	// The outermost elements that run out of the screen (inside a .scroll box that fits, nothing
	// does: the box scrolls).
	d.querySelectorAll('body *').forEach(function(e) {
		var r = e.getBoundingClientRect(), p = e.parentElement.getBoundingClientRect(), sc = e.parentElement.closest('.scroll');
		if (r.width === 0 || r.right <= vw + 1 || p.right > vw + 1 || (sc && sc.getBoundingClientRect().right <= vw + 1)) return;
		bad.push(e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : '') + ' "' + (e.innerText || e.value || '').trim().slice(0, 50) + '" runs out of the screen: right edge ' + Math.round(r.right) + ' px of ' + vw);
	});
	if (d.documentElement.scrollWidth > vw) {
		var widest = null, right = 0;
		d.querySelectorAll('body *').forEach(function(e) { var r = e.getBoundingClientRect(); if (r.right > right) { right = r.right; widest = e; } });
		bad.push('the page is ' + d.documentElement.scrollWidth + ' px wide on a ' + vw + ' px screen; the widest: ' + (widest ? widest.outerHTML.slice(0, 120) : '?'));
	}
	return {lang: d.documentElement.lang, html: d.documentElement.outerHTML, bad: bad};
}`

type pageReport struct {
	Lang string   `json:"lang"`
	HTML string   `json:"html"`
	Bad  []string `json:"bad"`
}

// reportOf runs pageCheck on the document that holds node, or on the top document when node is nil.
func reportOf(t *testing.T, b context.Context, what string, node *chromedp.Node) pageReport {
	t.Helper()
	if node == nil {
		return get(t, b, what, chromedp.Evaluate[pageReport]("("+pageCheck+").call(document)"))
	}
	res, err := chromedp.Call(b, dom.ResolveNode, dom.ResolveNodeParams{BackendNodeID: node.BackendNodeID})
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return get(t, b, what, chromedp.CallFunctionOn[pageReport](pageCheck, func(p *runtime.CallFunctionOnParams) { p.ObjectID = res.Object.ObjectID }))
}

// checkLanguagesInChromium opens every page and the Sign dialog with Accept-Language ru and en (the
// dialog with LANG ru and en, as Bitrix24 sends it) at 1280 px and at a 390 px phone's width: each
// page declares its language, says its key phrase in it, shows no word outside that language's
// catalogue (in the Russian run: no English left over) and has no label, button or heading cut off
// or running out of the screen (issue 18, must 5).
func checkLanguagesInChromium(t *testing.T, b context.Context, env *webEnv, shots, usedLink string, openDeal func(lang string)) {
	tok, err := loadOrCreateSecret(env.cfg.Security.AdminTokenFile)
	if err != nil {
		t.Fatal(err)
	}
	domain := strings.TrimPrefix(strings.TrimPrefix(env.portal.BaseURL(), "http://"), "https://")
	// What the pages show as it is: the data this test made, and the names of streams, consumers and
	// tokens on the operator's dashboard.
	data := []string{"alice", "mary", "Sales manager, signs contracts", "mary-2026 (signet-demo)", "mary-2026", "signet-demo", "Mary Smith",
		"CN=Mary Smith,O=Acme Trading,C=GB", "pkcs11:token=signet-demo;object=mary-2026", domain, env.portal.MemberID(), "offer.pdf", "contract.pdf",
		"ufCrmSignetFiles", "/metrics", "/readyz", "SIGN", "CALLBACK", "AUDIT", "DEAD", "sign-interactive", "sign-batch", "callback-batch", "callback", "signet_token_online",
		"Prometheus", "user_brief", "crm", "bizproc", "placement", "user", "task", "signet serve", "POST /v1/grants", "/bitrix24/install", "bitrix24.portals",
		"signet_sign_pdf", "signet verify --online", "http://host:port", "demo-signer", "Signet Demo Signer", "CN=Signet Demo Signer,O=Signet", "no-such-document", "disk", "im", "pkcs11:token=usb;object=mary-2026", "CN=Mary Smith,O=Acme,C=GB", "-----BEGIN CERTIFICATE-----", "JetStream", "↖", "↑", "↗", "↙", "↓", "↘"}
	pages := []struct{ path, key string }{
		{"/admin/users", "web.users.list"}, {"/admin/users/mary", "web.user.enrol"}, {"/admin/credentials", "web.credentials.create"},
		{"/admin/portals", "web.portals.robot.registered"}, {"/admin/portals/allowed", "web.allowed.domain"}, {"/admin/grants", "web.grants.none"}, {"/verify", "web.verify.check"},
		{"/verify/no-such-document", "web.trail.unknown"}, {strings.TrimPrefix(usedLink, env.base), "web.enrol.title.gone"}, {"/ops", "web.ops.consumers"},
	}
	check := func(lang string, l *i18n.Localizer, width int, what string, r pageReport, key string) {
		t.Helper()
		if r.Lang != l.Code() {
			t.Errorf("%s, %s, %d px: <html lang=%q>, want %q", what, lang, width, r.Lang, l.Code())
		}
		if phrase := l.T(key); !strings.Contains(strings.Join(strings.Fields(strings.ReplaceAll(r.HTML, "&#39;", "'")), " "), phrase) {
			t.Errorf("%s, %s, %d px: the page does not say %q", what, lang, width, phrase)
		}
		left, err := i18ntext.Foreign(l, []byte(r.HTML), data...)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range left {
			t.Errorf("%s, %s, %d px: not from the %s catalogue: %s", what, lang, width, lang, s)
		}
		for _, s := range r.Bad {
			t.Errorf("%s, %s, %d px: %s", what, lang, width, s)
		}
	}
	// A reader in Moscow: the pages' script tells Signet the zone (the tz cookie), and the pages show
	// their times in it, with the offset.
	if _, err := chromedp.Call(b, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Europe/Moscow"}); err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"ru", "en"} {
		l := i18n.For(language.Make(lang))
		for _, width := range []int64{1280, 390} {
			opts := []chromedp.EmulateViewportOption{}
			if width < 600 {
				opts = append(opts, chromedp.EmulateMobile)
			}
			do(t, b, fmt.Sprintf("viewport %d", width), chromedp.EmulateViewport(width, 844, opts...))
			for _, p := range pages {
				headers := network.Headers{"Accept-Language": lang}
				if p.path == "/ops" {
					headers["Authorization"] = "Bearer " + hex.EncodeToString(tok)
				}
				if _, err := chromedp.Call(b, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: headers}); err != nil {
					t.Fatal(err)
				}
				do(t, b, lang+" "+p.path, chromedp.Navigate(env.base+p.path), chromedp.WaitVisible(chromedp.CSS("h1")))
				r := reportOf(t, b, "check "+p.path, nil)
				check(lang, l, int(width), p.path, r, p.key)
				if zone := map[string]string{"ru": "(UTC+03:00)", "en": "UTC+3"}[lang]; p.path == "/admin/users/mary" && !strings.Contains(r.HTML, zone) {
					t.Errorf("%s, %s: a reader in Moscow does not see the times in %s", p.path, lang, zone)
				}
				name := strings.ReplaceAll(p.path, "/", "-")
				if strings.HasPrefix(p.path, "/enrol/") {
					name = "-enrol-used" // not the link's token, though it is spent
				}
				save(t, shots, fmt.Sprintf("%s-%d%s.png", lang, width, name), get(t, b, "screenshot", chromedp.CaptureScreenshot()))
			}
			if _, err := chromedp.Call(b, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{}}); err != nil {
				t.Fatal(err)
			}
			// The Sign dialog, inside the deal card, in the language of LANG.
			openDeal(lang)
			frame := waitFrame(t, b, "#sign")
			in := chromedp.FromNode(frame)
			body := get(t, b, "the dialog's body", chromedp.Nodes(chromedp.CSS("body"), in))
			check(lang, l, int(width), "the Sign dialog", reportOf(t, b, "check the Sign dialog", body[0]), "placement.where.bottom-right.last")
			// Choosing a place says it in a whole sentence of the language.
			do(t, b, "choose the top centre of the first page", chromedp.SetValue(chromedp.CSS("#page"), "first", in),
				chromedp.Click(chromedp.CSS(`button[data-position="top-center"]`), in))
			if words := get(t, b, "position words", chromedp.Text(chromedp.CSS("#position-text"), in)); words != l.T("placement.where.top-center.first") {
				t.Errorf("the Sign dialog, %s: after choosing the top centre of the first page it says %q", lang, words)
			}
			save(t, shots, fmt.Sprintf("%s-%d-sign-dialog.png", lang, width), get(t, b, "screenshot the dialog", chromedp.CaptureScreenshot()))
		}
	}
	// The language switch: the Russian reader of /verify switches to English and back; the choice is
	// remembered over the browser's language.
	if _, err := chromedp.Call(b, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Language": "ru"}}); err != nil {
		t.Fatal(err)
	}
	do(t, b, "the switch", chromedp.Navigate(env.base+"/verify?id="), chromedp.WaitVisible(chromedp.CSS(`.langs a[lang="en"]`)),
		chromedp.Click(chromedp.CSS(`.langs a[lang="en"]`)), chromedp.WaitVisible(chromedp.CSS(`.langs a[lang="ru"]`)))
	if r := reportOf(t, b, "after the switch", nil); r.Lang != "en" || !strings.Contains(r.HTML, "Check the signatures of a PDF") {
		t.Errorf("after choosing EN on a Russian browser: lang %q\n%s", r.Lang, pageState(b))
	}
	if loc := get(t, b, "location", chromedp.Location()); !strings.HasPrefix(loc, env.base+"/verify") {
		t.Errorf("the switch went to %s, want back to /verify", loc)
	}
	do(t, b, "back to Russian", chromedp.Click(chromedp.CSS(`.langs a[lang="ru"]`)), chromedp.WaitVisible(chromedp.CSS(`.langs a[lang="en"]`)))
	if r := reportOf(t, b, "after switching back", nil); r.Lang != "ru" {
		t.Errorf("after choosing RU: lang %q", r.Lang)
	}
	_, _ = chromedp.Call(b, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{}})
}
