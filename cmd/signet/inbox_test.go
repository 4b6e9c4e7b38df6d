package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/producer"
	"github.com/signet-b24/signet/producer/requests"
)

var inboxTokenRE = regexp.MustCompile(`data-token="([^"]+)"`)

// openInbox POSTs the inbox as the portal does when userID opens the left-menu item (reference
// bitrix24-people-notes.md §3: AUTH_ID of the viewer, member_id, APPLICATION_TOKEN, LANG), and
// returns the page and its inbox token.
func (e *b24env) openInbox(t *testing.T, userID int, mutate func(url.Values)) (int, string, string) {
	t.Helper()
	status, page, tok, _ := e.openInboxHeaders(t, userID, mutate)
	return status, page, tok
}

// openInboxHeaders is openInbox with the answer's headers.
func (e *b24env) openInboxHeaders(t *testing.T, userID int, mutate func(url.Values)) (int, string, string, http.Header) {
	t.Helper()
	h := e.portal.Placements()[producer.PlacementLeftMenu]
	// The inbox first; the route page (issue 20) is bound beside it.
	if len(h) != 2 || !strings.HasSuffix(h[0], producer.InboxPath) || !strings.HasSuffix(h[1], producer.RoutesPath) {
		t.Fatalf("the inbox is not bound to LEFT_MENU at install: %v", e.portal.Placements())
	}
	req, err := e.portal.PlacementRequest(context.Background(), h[0], producer.PlacementLeftMenu, userID, 1)
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		body, _ := io.ReadAll(req.Body)
		form, _ := url.ParseQuery(string(body))
		mutate(form)
		req.Body = io.NopCloser(strings.NewReader(form.Encode()))
		req.ContentLength = int64(len(form.Encode()))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	tok := ""
	if m := inboxTokenRE.FindSubmatch(page); m != nil {
		tok = string(m[1])
	}
	return resp.StatusCode, string(page), tok, resp.Header
}

// inboxCall makes one of the page's calls with its token.
func (e *b24env) inboxCall(t *testing.T, method, path, tok string, body any) (int, map[string]any) {
	t.Helper()
	return e.pageCall(t, method, path, producer.InboxTokenHeader, tok, body)
}

// pageCall makes one call of a page the portal frames, its token in header (when there is one).
func (e *b24env) pageCall(t *testing.T, method, path, header, tok string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.cfg.PublicURL+path, rd)
	if tok != "" {
		req.Header.Set(header, tok)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestInboxInChromium: the signer opens the inbox inside the portal (the left-menu placement in an
// iframe of the portal's page), sees two requests, each document's first page drawn by pdf.js and
// where the stamp goes, selects both, types one code and sees both signed; then, in Russian (LANG
// ru), declines a third with a reason, and the workflow receives outcome declined with it.
func TestInboxInChromium(t *testing.T) {
	chromium := testenv.RequireTool(t, "chromium")
	testenv.RequireTool(t, "softhsm2-util")
	e := startB24(t, emulator.Config{}, "--bitrix24-rate-per-sec", "1000", "--bitrix24-burst", "1000")
	demo := e.cfg.Demo.Credential
	e.addUser(t, "mary", 7, false, demo)
	secret := e.enrol(t, "mary")
	toks := map[int]string{}
	ids := map[int]string{}
	for _, deal := range []int{901, 902} {
		doc, _ := e.portal.AddDealFile(deal, "contract-"+strconv.Itoa(deal)+".pdf", demoInvoice)
		toks[deal] = e.robot(t, deal, robotProps(strconv.Itoa(doc), "user_7", ""))
		ids[deal] = producer.RobotJobID(e.portal.MemberID(), toks[deal])
	}
	b := newBrowser(t, chromium)
	shots := artefactDir(t)

	frame := e.inboxInBrowser(t, b, "en", `.req canvas[data-drawn="true"]`)
	in := chromedp.FromNode(frame)
	waitNodes(t, b, in, `canvas[data-drawn="true"]`, 2)
	waitNodes(t, b, in, `.stamp.on`, 2)
	text := get(t, b, "inbox text", chromedp.Text(chromedp.CSS("main"), in))
	if !strings.Contains(text, "Requests to sign") || !strings.Contains(text, "bottom right corner") || strings.Count(text, "Waiting for you") != 2 {
		t.Fatalf("the inbox says:\n%s", text)
	}
	save(t, shots, "inbox.png", get(t, b, "screenshot", chromedp.Screenshot(chromedp.CSS("iframe"))))
	code, err := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	// A mistyped code first: refused in words, nothing queued, the page stays usable.
	wrong := []byte(code)
	wrong[0] = '0' + (wrong[0]-'0'+1)%10
	do(t, b, "select both, a wrong code",
		chromedp.Click(chromedp.CSS(`#req-`+ids[901]+` .pick`), in), chromedp.Click(chromedp.CSS(`#req-`+ids[902]+` .pick`), in),
		chromedp.SendKeys(chromedp.CSS("#code"), string(wrong), in), chromedp.Click(chromedp.CSS("#sign"), in))
	deadline := time.Now().Add(30 * time.Second)
	for m := ""; !strings.Contains(m, "wrong code for mary"); m = get(t, b, "message", chromedp.Text(chromedp.CSS("#message"), in)) {
		if time.Now().After(deadline) {
			t.Fatalf("a wrong code: the inbox says %q", m)
		}
		time.Sleep(200 * time.Millisecond)
	}
	do(t, b, "sign both with the code",
		chromedp.SetValue(chromedp.CSS("#code"), code, in), chromedp.Click(chromedp.CSS("#sign"), in))
	waitNodes(t, b, in, `.status[data-state="done"]`, 2)
	save(t, shots, "inbox-done.png", get(t, b, "screenshot", chromedp.Screenshot(chromedp.CSS("iframe"))))
	sent := e.waitEvents(t, []string{toks[901], toks[902]}, 2*time.Minute)
	for _, deal := range []int{901, 902} {
		if ret := sent[toks[deal]][0]; ret["outcome"] != "signed" {
			t.Errorf("deal %d: %v", deal, ret)
		}
	}

	// In Russian: decline a third request with a reason.
	doc, _ := e.portal.AddDealFile(903, "offer.pdf", demoInvoice)
	tok3 := e.robot(t, 903, robotProps(strconv.Itoa(doc), "user_7", ""))
	id3 := producer.RobotJobID(e.portal.MemberID(), tok3)
	frame = e.inboxInBrowser(t, b, "ru", `#req-`+id3)
	in = chromedp.FromNode(frame)
	text = get(t, b, "inbox text (ru)", chromedp.Text(chromedp.CSS("main"), in))
	if !strings.Contains(text, "Запросы на подпись") || !strings.Contains(text, "Ждёт вас") {
		t.Fatalf("the Russian inbox says:\n%s", text)
	}
	do(t, b, "decline",
		chromedp.Click(chromedp.CSS(`#req-`+id3+` .decline-open`), in),
		chromedp.SendKeys(chromedp.CSS(`#req-`+id3+` .reason`), "сумма неверна", in),
		chromedp.Click(chromedp.CSS(`#req-`+id3+` .decline-send`), in))
	waitNodes(t, b, in, `#req-`+id3+` .status[data-state="declined"]`, 1)
	if s := get(t, b, "declined status", chromedp.Text(chromedp.CSS(`#req-`+id3+` .status`), in)); !strings.Contains(s, "Отклонено: сумма неверна") {
		t.Errorf("after declining the page says %q", s)
	}
	save(t, shots, "inbox-declined-ru.png", get(t, b, "screenshot", chromedp.Screenshot(chromedp.CSS("iframe"))))
	ret := e.waitEvents(t, []string{tok3}, time.Minute)[tok3][0]
	if ret["outcome"] != "declined" || ret["outcomeReason"] != "сумма неверна" {
		t.Errorf("the workflow received %v", ret)
	}
}

// inboxInBrowser opens the inbox in an iframe of a portal page (answered by the browser at the
// portal's origin: the inbox may be framed by the portal only), with LANG lang, and waits for sel.
func (e *b24env) inboxInBrowser(t *testing.T, b context.Context, lang, sel string) *chromedp.Node {
	t.Helper()
	h := e.portal.Placements()[producer.PlacementLeftMenu]
	req, err := e.portal.PlacementRequest(context.Background(), h[0], producer.PlacementLeftMenu, 7, 1)
	if err != nil {
		t.Fatal(err)
	}
	q := req.URL.Query()
	q.Set("LANG", lang)
	req.URL.RawQuery = q.Encode()
	body, _ := io.ReadAll(req.Body)
	form, _ := url.ParseQuery(string(body))
	frame := framedInBrowser(t, b, req.URL.String(), form, e.portal.BaseURL()+"/marketplace/app/signet-"+lang+"/", sel)
	// The module script (and pdf.js, which it imports) loads after the page shows: wait for its handlers.
	waitNodes(t, b, chromedp.FromNode(frame), `body[data-ready="true"]`, 1)
	return frame
}

// framedInBrowser opens a portal page at pageURL (answered by the browser itself, at the portal's
// origin) whose iframe POSTs form to action, as the portal opens an application's page, and waits
// for sel in the frame.
func framedInBrowser(t *testing.T, b context.Context, action string, form url.Values, pageURL, sel string) *chromedp.Node {
	t.Helper()
	var page bytes.Buffer
	if err := dealPage.Execute(&page, map[string]any{"Deal": 0, "Action": action, "Form": form}); err != nil {
		t.Fatal(err)
	}
	paused := chromedp.Events(b, fetch.RequestPaused)
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			if ev.Request.URL != pageURL { // another call's page: its own listener answers it
				continue
			}
			_, _ = chromedp.Call(b, fetch.FulfillRequest, fetch.FulfillRequestParams{RequestID: ev.RequestID, ResponseCode: 200,
				ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "text/html; charset=utf-8"}}, Body: page.Bytes()})
		}
	}()
	if _, err := chromedp.Call(b, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: pageURL}}}); err != nil {
		t.Fatal(err)
	}
	do(t, b, "open the portal page", chromedp.Navigate(pageURL), chromedp.WaitVisible(chromedp.CSS("iframe")))
	return waitFrame(t, b, sel)
}

// waitNodes waits until the frame holds at least n nodes matching sel.
func waitNodes(t *testing.T, b context.Context, in chromedp.QueryOption, sel string, n int) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		tctx, cancel := context.WithTimeout(b, 2*time.Second)
		found, err := chromedp.Run(tctx, chromedp.Nodes(chromedp.CSSAll(sel), in))
		cancel()
		if err == nil && len(found) >= n {
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
	tctx, cancel := context.WithTimeout(b, 5*time.Second)
	defer cancel()
	text, _ := chromedp.Run(tctx, chromedp.Text(chromedp.CSS("main"), in))
	if png, err := chromedp.Run(tctx, chromedp.FullScreenshot(100)); err == nil {
		save(t, artefactDir(t), "inbox-failed.png", png)
	}
	t.Fatalf("the inbox never showed %d of %s; it says:\n%s", n, sel, text)
}

// TestInboxEstimateInChromium: a request the signer signed earlier waits at a smartcard behind a
// night batch. The inbox lists it with its estimated completion, computed from the token's record in
// the jobs bucket as the workers write it (contracts.TokenRate): the signatures under way and the
// people's jobs waiting are ahead of it, the batch's are not; the page's poll shows the estimate move
// when the record changes, in English and in Russian, at the time in the signer's zone. The token is
// one no worker here has ("card"), so the record the test writes is the only one, and the request's
// job, which a real Sign would have put on SIGN, is not there to be signed meanwhile.
func TestInboxEstimateInChromium(t *testing.T) {
	chromium := testenv.RequireTool(t, "chromium")
	ctx := context.Background()
	e := startB24(t, emulator.Config{})
	e.addUser(t, "mary", 7, false, e.cfg.Demo.Credential)
	id := producer.RobotJobID(e.portal.MemberID(), "night-batch-neighbour")
	now := time.Now().UTC()
	if err := e.a.requests.Store.Create(ctx, &requests.Request{ID: id, State: requests.Queued, Title: "supply-contract.pdf",
		Created: now.Add(-time.Hour), Since: now, Deadline: now.Add(24 * time.Hour), Sent: true,
		Job: contracts.SignJob{ID: id, Kind: contracts.KindRobot, Credential: "pkcs11:token=card;object=mary-card", TimeZone: "Europe/Moscow",
			Portal: contracts.Portal{MemberID: e.portal.MemberID()}, Signer: contracts.Signer{Login: "mary", BitrixUserID: 7},
			Stamp: contracts.Stamp{Visible: true, Page: "last", Position: "bottom-right"}}}); err != nil {
		t.Fatal(err)
	}
	jobs, err := e.a.js.KeyValue(ctx, contracts.BucketJobs)
	if err != nil {
		t.Fatal(err)
	}
	record := func(interactive int) {
		b, _ := json.Marshal(contracts.TokenRate{Token: "card", Worker: "other-host/42", Rate: 0.1, Updated: time.Now().UTC(),
			Signing: 1, WaitingInteractive: interactive, WaitingBatch: 500})
		if _, err := jobs.Put(ctx, contracts.TokenRateKey("card", "other-host/42"), b); err != nil {
			t.Fatal(err)
		}
	}
	moscow, err := i18n.LoadZone("Europe/Moscow")
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, chromium)
	status := chromedp.CSS(`#req-` + id + ` .status`)
	// waitETA waits until the request's status says it is queued and will be done in about minutes
	// (the words of key with minutes), by a time in Moscow between from+after and now+after.
	waitETA := func(in chromedp.QueryOption, lang, key string, minutes int, after time.Duration, from time.Time) {
		t.Helper()
		l := i18n.New(lang)
		deadline := time.Now().Add(60 * time.Second)
		for {
			s := get(t, b, "status", chromedp.Text(status, in))
			for at := from.Add(after).Truncate(time.Minute); !at.After(time.Now().Add(after)); at = at.Add(time.Minute) {
				if strings.Contains(s, l.T(key, minutes, l.DateTime(at.In(moscow)))) && strings.HasPrefix(s, l.T("inbox.state.queued")) {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("the queued request says %q; want %q", s, l.T(key, minutes, "…"))
			}
			time.Sleep(300 * time.Millisecond)
		}
	}

	// (1 under way + 29 people's jobs + itself) at 0.1 signatures a second: 310 s, about 5 minutes.
	record(29)
	from := time.Now()
	frame := e.inboxInBrowser(t, b, "en", `#req-`+id)
	in := chromedp.FromNode(frame)
	waitETA(in, "en", "inbox.eta.minutes", 5, 310*time.Second, from)
	if n := len(get(t, b, "checkboxes", chromedp.Nodes(chromedp.CSSAll(`#req-`+id+` .pick:disabled`), in))); n != 1 {
		t.Errorf("a queued request can be selected to sign again (%d disabled checkboxes)", n)
	}
	save(t, artefactDir(t), "inbox-eta.png", get(t, b, "screenshot", chromedp.Screenshot(chromedp.CSS("iframe"))))
	// The people's jobs before it are signed: (1 + 9 + 1) / 0.1 = 110 s, about 2 minutes; the page's
	// poll shows it without a reload.
	from = time.Now()
	record(9)
	waitETA(in, "en", "inbox.eta.minutes", 2, 110*time.Second, from)

	// In Russian, with Russian plural forms: (1 + 4 + 1) / 0.1 = 60 s, "примерно через 1 минуту".
	record(4)
	from = time.Now()
	frame = e.inboxInBrowser(t, b, "ru", `#req-`+id)
	in = chromedp.FromNode(frame)
	waitETA(in, "ru", "inbox.eta.minutes", 1, 60*time.Second, from)
	from = time.Now()
	record(29)
	waitETA(in, "ru", "inbox.eta.minutes", 5, 310*time.Second, from)
	if s := get(t, b, "status (ru)", chromedp.Text(status, in)); !strings.Contains(s, "примерно через 5 минут, к ") || !strings.Contains(s, "(UTC+03:00)") {
		t.Errorf("the Russian estimate says %q", s)
	}
	// The request's own times are in the same zone; nothing waits for a code, so no Sign form.
	text := get(t, b, "inbox text (ru)", chromedp.Text(chromedp.CSS("main"), in))
	if requested := i18n.New("ru").DateTime(now.Add(-time.Hour).In(moscow)); !strings.Contains(text, requested) || !strings.Contains(text, i18n.New("ru").T("inbox.empty")) {
		t.Errorf("the Russian inbox does not say it was requested %s, nor that nothing waits:\n%s", requested, text)
	}
	if n := len(get(t, b, "sign button", chromedp.Nodes(chromedp.CSSAll("#sign"), in, chromedp.AtLeast(0)))); n != 0 {
		t.Errorf("a Sign button with nothing to sign")
	}
	save(t, artefactDir(t), "inbox-eta-ru.png", get(t, b, "screenshot", chromedp.Screenshot(chromedp.CSS("iframe"))))
}
