package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/producer"
	"github.com/signet-b24/signet/producer/requests"
)

// TestAttackInboxOtherSignersRequests: a signer's inbox acts only on their own requests on their own
// portal. Bob's request id, and a request of Mary's login on another portal, are 404 on every call
// of Mary's inbox (document, status, decline, sign with her valid code) and stay pending; without
// the token, or with a forged one, nothing answers; a form without a valid AUTH_ID opens no inbox,
// whatever user it names.
func TestAttackInboxOtherSignersRequests(t *testing.T) {
	e := startB24(t, emulator.Config{})
	ctx := context.Background()
	demo := e.cfg.Demo.Credential
	e.addUser(t, "mary", 7, false, demo)
	secret := e.enrol(t, "mary")
	e.addUser(t, "bob", 9, false, demo)
	e.enrol(t, "bob")
	doc, _ := e.portal.AddDealFile(801, "bob.pdf", demoInvoice)
	bobTok := e.robot(t, 801, robotProps(strconv.Itoa(doc), "user_9", ""))
	bobs := producer.RobotJobID(e.portal.MemberID(), bobTok)
	if _, err := e.a.requests.Get(ctx, "bob", bobs); err != nil {
		t.Fatalf("bob's request: %v", err)
	}
	// Mary's login on another portal (a user mapped on two portals).
	other := &requests.Request{ID: "r" + strings.Repeat("ab", 16), Deadline: time.Now().Add(time.Hour), Title: "other.pdf",
		Job: contracts.SignJob{ID: "r" + strings.Repeat("ab", 16), Portal: contracts.Portal{MemberID: strings.Repeat("f", 32)},
			Signer: contracts.Signer{Login: "mary", BitrixUserID: 7}, Credential: demo}}
	if err := e.a.requests.Create(ctx, other); err != nil {
		t.Fatal(err)
	}

	status, page, tok, h := e.openInboxHeaders(t, 7, nil)
	if status != http.StatusOK || tok == "" {
		t.Fatalf("mary's inbox: HTTP %d\n%s", status, page)
	}
	// Scripts only from Signet with this page's nonce, pdf.js's worker from Signet, framed by the portal only.
	csp := h.Get("Content-Security-Policy")
	nonce := regexp.MustCompile(`<script type="module" nonce="([0-9a-f]{32})"`).FindStringSubmatch(page)
	if nonce == nil || !strings.Contains(csp, "script-src 'self' 'nonce-"+nonce[1]+"'") || !strings.Contains(csp, "worker-src 'self'") ||
		!strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors "+e.portal.BaseURL()) || strings.Contains(csp, "unsafe") {
		t.Errorf("the inbox's CSP: %q (script tag nonce %v)", csp, nonce)
	}
	if strings.Contains(page, bobs) || strings.Contains(page, other.ID) {
		t.Fatal("mary's inbox lists a request that is not hers on this portal")
	}
	code, err := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{bobs, other.ID} {
		for _, c := range []struct {
			method, path string
			body         any
		}{
			{"GET", producer.InboxPath + "/document/" + id, nil},
			{"GET", producer.InboxPath + "/status/" + id, nil},
			{"POST", producer.InboxPath + "/decline", map[string]any{"id": id, "reason": "not mine"}},
			{"POST", producer.InboxPath + "/sign", map[string]any{"ids": []string{id}, "code": code}},
		} {
			if st, ans := e.inboxCall(t, c.method, c.path, tok, c.body); st != http.StatusNotFound {
				t.Errorf("%s %s with %s: HTTP %d %v, want 404", c.method, c.path, id, st, ans)
			}
		}
	}
	for _, tk := range []string{"", tok + "x", strings.Replace(tok, ".", "x.", 1)} {
		if st, _ := e.inboxCall(t, "GET", producer.InboxPath+"/status/"+bobs, tk, nil); st != http.StatusNotFound {
			t.Errorf("token %q: HTTP %d, want 404", tk, st)
		}
	}
	for _, q := range []*requests.Request{{ID: bobs}, other} {
		r, _, err := e.a.requests.Store.Get(ctx, q.ID)
		if err != nil || r.State != requests.Pending || r.GrantRef != "" {
			t.Errorf("request %s after the attack: %+v %v", q.ID, r, err)
		}
	}
	// A form without the viewer's own AUTH_ID: nobody is recognised, whatever the form says.
	status, _, tok2 := e.openInbox(t, 7, func(f url.Values) { f.Set("AUTH_ID", "forged"); f.Set("USER_ID", "9") })
	if status != http.StatusUnauthorized || tok2 != "" {
		t.Errorf("a forged AUTH_ID: HTTP %d, token %q", status, tok2)
	}
	status, _, _ = e.openInbox(t, 7, func(f url.Values) { f.Set("APPLICATION_TOKEN", "forged") })
	if status != http.StatusUnauthorized {
		t.Errorf("a forged APPLICATION_TOKEN: HTTP %d", status)
	}
	// The deal card's tab lists the viewer's requests of that deal only.
	tab := e.portal.Placements()[producer.PlacementDealTab]
	if len(tab) != 2 || !strings.HasSuffix(tab[0], producer.InboxPath) || !strings.HasSuffix(tab[1], producer.RoutesPath) {
		t.Fatalf("the inbox is not bound to the deal card's tab: %v", e.portal.Placements())
	}
	for deal, want := range map[int]bool{801: true, 802: false} {
		req, err := e.portal.PlacementRequest(ctx, tab[0], producer.PlacementDealTab, 9, deal)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || strings.Contains(string(body), bobs) != want {
			t.Errorf("bob's tab of deal %d: HTTP %d, lists his request of deal 801: %v, want %v", deal, resp.StatusCode, !want, want)
		}
	}
	if n := len(e.portal.EventsSent()[bobTok]); n != 0 {
		t.Errorf("bob's robot was completed %d times by mary's calls", n)
	}
}
