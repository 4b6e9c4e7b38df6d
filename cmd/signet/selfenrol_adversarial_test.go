package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/producer/identity"
)

var hiddenToken = regexp.MustCompile(`name="token" value="([^"]+)"`)

// openApp posts the application page the portal sends when employee uid opens Signet, with extra
// form fields a forger adds, and returns the status and page.
func openAppPage(t *testing.T, portal *emulator.Portal, base string, uid int, lang string, extra url.Values) (int, string, url.Values) {
	t.Helper()
	req, err := portal.AppPageRequest(context.Background(), base+"/admin/bitrix24", uid, lang)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(req.Body)
	form, _ := url.ParseQuery(string(body))
	for k, v := range extra {
		form[k] = v
	}
	resp, err := http.PostForm(req.URL.String(), form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(page), form
}

// TestAttackSelfEnrolAsSomeoneElse: an employee, or another portal's employee, tries to enrol an
// authenticator as a colleague whom the administrator allowed to enrol inside Bitrix24 — by forging
// the user id in the application page's POST, by a token the portal does not confirm, by a token of
// another portal, or by confirming the colleague's own enrolment link (say, seen over a shoulder)
// with their own session. The colleague stays unenrolled and no link or QR code of theirs is shown.
func TestAttackSelfEnrolAsSomeoneElse(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, cfg, portal := startInstalled(t, ctx, emulator.Config{Log: zap.NewNop()})
	base := cfg.PublicURL
	const victim, attacker = 7, 8
	for login, id := range map[string]int{"ivan": victim, "petr": attacker} {
		if err := a.identity.AddUser(ctx, identity.User{Login: login, BitrixIDs: map[string]int{portal.MemberID(): id}, SelfEnrol: true}); err != nil {
			t.Fatal(err)
		}
	}
	victimUnenrolled := func(what string) {
		t.Helper()
		if u, err := a.identity.GetUser(ctx, "ivan"); err != nil || u.Enrolled {
			t.Fatalf("%s: ivan enrolled (%v)", what, err)
		}
	}

	// 1. The attacker's own session with the victim's id in every field a forger might try.
	forged := url.Values{"USER_ID": {"7"}, "user_id": {"7"}, "auth[user_id]": {"7"}, "AUTH_USER_ID": {"7"}}
	st, page, _ := openAppPage(t, portal, base, attacker, "en", forged)
	if st != http.StatusOK || !strings.Contains(page, "petr") || strings.Contains(page, "ivan") {
		t.Fatalf("forged user id: %d, want petr's own page\n%s", st, page)
	}
	// 2. An AUTH_ID the portal does not confirm.
	if st, page, _ := openAppPage(t, portal, base, victim, "en", url.Values{"AUTH_ID": {"forged-token"}}); st != http.StatusUnauthorized || hiddenToken.MatchString(page) {
		t.Fatalf("forged AUTH_ID: %d\n%s", st, page)
	}
	// 3. Another portal's employee 7: its token under this portal's member_id, and its own member_id.
	other := emulator.New(emulator.Config{Log: zap.NewNop()})
	if _, err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	otherAuth := other.NewAuth(victim).AccessToken
	if st, page, _ := openAppPage(t, portal, base, victim, "en", url.Values{"AUTH_ID": {otherAuth}}); st != http.StatusUnauthorized || hiddenToken.MatchString(page) {
		t.Fatalf("another portal's token under this member_id: %d\n%s", st, page)
	}
	if st, page, _ := openAppPage(t, other, base, victim, "en", nil); st != http.StatusUnauthorized || hiddenToken.MatchString(page) {
		t.Fatalf("another portal's employee: %d\n%s", st, page)
	}
	victimUnenrolled("opening the page")

	// 4. The victim's own page holds a link; the attacker confirms it with their own session.
	st, page, victimForm := openAppPage(t, portal, base, victim, "en", nil)
	m := hiddenToken.FindStringSubmatch(page)
	if st != http.StatusOK || m == nil {
		t.Fatalf("the victim's own page: %d\n%s", st, page)
	}
	tok := m[1]
	pend, err := a.identity.PendingSecret(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.GenerateCode(pend.Secret, time.Now())
	_, _, attackerForm := openAppPage(t, portal, base, attacker, "en", nil)
	confirm := func(auth, member string) (int, string) {
		resp, err := http.PostForm(base+"/admin/bitrix24/enrol", url.Values{"token": {tok}, "code": {code}, "AUTH_ID": {auth}, "member_id": {member}, "LANG": {"en"}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, page := confirm(attackerForm.Get("AUTH_ID"), portal.MemberID()); st != http.StatusGone || strings.Contains(page, "ivan") {
		t.Fatalf("the victim's link confirmed with the attacker's session: %d\n%s", st, page)
	}
	if st, _ := confirm(other.NewAuth(victim).AccessToken, portal.MemberID()); st != http.StatusUnauthorized {
		t.Fatalf("the victim's link confirmed with another portal's employee 7: %d", st)
	}
	if st, _ := confirm("", portal.MemberID()); st != http.StatusUnauthorized {
		t.Fatalf("the victim's link confirmed with the token alone: %d", st)
	}
	victimUnenrolled("confirming someone else's link")
	// The link itself is untouched: the victim still enrols with it.
	if st, page := confirm(victimForm.Get("AUTH_ID"), portal.MemberID()); st != http.StatusOK || !strings.Contains(page, "ivan") {
		t.Fatalf("the victim's own confirmation: %d\n%s", st, page)
	}
}
