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

	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/producer"
)

var appInboxFormRE = regexp.MustCompile(`(?s)<form method="post" action="([^"]+)" id="inbox">(.*?)</form>`)
var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// appPage POSTs the application's own page as the portal does when employee userID opens it.
func (e *b24env) appPage(t *testing.T, userID int) (int, string) {
	t.Helper()
	return e.appPageIn(t, userID, "en")
}

// appPageIn is appPage with LANG lang.
func (e *b24env) appPageIn(t *testing.T, userID int, lang string) (int, string) {
	t.Helper()
	req, err := e.portal.AppPageRequest(context.Background(), e.cfg.PublicURL+"/admin/bitrix24", userID, lang)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func postForm(t *testing.T, target string, form url.Values) (int, string) {
	t.Helper()
	resp, err := http.PostForm(target, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The application's page (POST /admin/bitrix24) of an enrolled employee has a button to their
// inbox; the form it submits opens the inbox with their pending request, although Bitrix24 sends
// the application's page no APPLICATION_TOKEN. The pass in it serves nobody else: another
// employee's AUTH_ID with it, or the form without it, is refused.
func TestAppPageLinksToTheInbox(t *testing.T) {
	e := startB24(t, emulator.Config{})
	demo := e.cfg.Demo.Credential
	e.addUser(t, "mary", 7, false, demo)
	e.enrol(t, "mary")
	e.addUser(t, "john", 9, false, demo)
	e.enrol(t, "john")
	disk, _ := e.portal.AddDealFile(801, "supply-contract-801.pdf", demoInvoice)
	e.robot(t, 801, robotProps(strconv.Itoa(disk), "user_7", ""))

	status, page := e.appPage(t, 7)
	m := appInboxFormRE.FindStringSubmatch(page)
	if m == nil { // 200 or 403 (enrolment here not allowed): a Signet user has an inbox either way
		t.Fatalf("the application's page (HTTP %d) has no inbox form:\n%s", status, page)
	}
	if !strings.Contains(m[2], "My requests to sign") {
		t.Fatalf("the inbox button has no words: %s", m[2])
	}
	action, err := url.Parse(strings.ReplaceAll(m[1], "&amp;", "&"))
	if err != nil || action.Path != producer.InboxPath {
		t.Fatalf("the form goes to %q, want %s", m[1], producer.InboxPath)
	}
	form := url.Values{}
	for _, h := range hiddenRE.FindAllStringSubmatch(m[2], -1) {
		form.Set(h[1], h[2])
	}
	if form.Get(producer.InboxPassField) == "" || form.Get("AUTH_ID") == "" || form.Get("member_id") != e.portal.MemberID() {
		t.Fatalf("the inbox form lacks what the inbox needs: %v", form)
	}
	target := e.cfg.PublicURL + action.String()
	if st, inbox := postForm(t, target, form); st != http.StatusOK || !strings.Contains(inbox, "supply-contract-801.pdf") || !inboxTokenRE.MatchString(inbox) {
		t.Fatalf("the inbox through the link: HTTP %d, want mary's request:\n%s", st, inbox)
	}

	// john's own AUTH_ID with mary's pass: refused, and so is the form without the pass.
	req, err := e.portal.AppPageRequest(context.Background(), e.cfg.PublicURL+"/admin/bitrix24", 9, "en")
	if err != nil {
		t.Fatal(err)
	}
	if err := req.ParseForm(); err != nil {
		t.Fatal(err)
	}
	other := url.Values{"member_id": {form.Get("member_id")}, "AUTH_ID": {req.PostForm.Get("AUTH_ID")}, producer.InboxPassField: {form.Get(producer.InboxPassField)}}
	if st, _ := postForm(t, target, other); st != http.StatusUnauthorized {
		t.Fatalf("another employee with mary's pass: HTTP %d, want 401", st)
	}
	form.Del(producer.InboxPassField)
	if st, _ := postForm(t, target, form); st != http.StatusUnauthorized {
		t.Fatalf("the form without the pass: HTTP %d, want 401", st)
	}
}
