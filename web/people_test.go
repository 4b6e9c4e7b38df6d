package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/bitrix24/portals"
	"github.com/signet-b24/signet/internal/mail"
	"github.com/signet-b24/signet/internal/testsupport/mailpit"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
	"github.com/signet-b24/signet/producer/identity"
)

// The control panel finds a portal's employee by name (user.search on the emulated portal, with the
// portal's stored token), adds them allowed to enrol inside Bitrix24, and sends them an enrolment link
// as a Bitrix24 notification whose link the enrolment page answers.
func TestPeoplePickedFromThePortal(t *testing.T) {
	portal := emulator.New(emulator.Config{Language: "ru", Users: []emulator.User{
		{ID: 7, Name: "Ivan", LastName: "Petrov", WorkPosition: "Accountant"}, {ID: 8, Name: "Irina", LastName: "Sokolova"}}})
	if _, err := portal.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { portal.Close() })
	mp := mailpit.Start(t)
	sender, err := mail.New(mail.Config{SMTPHost: mp.SMTP, From: "Signet <signet@example.test>", TLS: mail.TLSNone})
	if err != nil {
		t.Fatal(err)
	}
	pn := newPanel(t, "", func(c *Config, ns *natstest.Server, keys *identity.Keys) {
		reg, err := portals.Open(context.Background(), ns.JS, 1, keys)
		if err != nil {
			t.Fatal(err)
		}
		a := portal.NewAuth(1)
		a.ApplicationToken = portal.ApplicationToken()
		if err := reg.Put(context.Background(), a, time.Now()); err != nil {
			t.Fatal(err)
		}
		pt, rev, err := reg.Get(context.Background(), a.MemberID)
		if err != nil {
			t.Fatal(err)
		}
		pt.Language = "ru" // as ONAPPINSTALL's LANGUAGE_ID leaves it
		if err := reg.Store(context.Background(), *pt, rev); err != nil {
			t.Fatal(err)
		}
		c.Portals, c.Mail = reg, sender
		c.Bitrix = bitrix24.NewClient(bitrix24.ClientConfig{ClientID: portal.ClientID(), ClientSecret: portal.ClientSecret(),
			OAuthURL: portal.OAuthURL(), AllowPrivate: true}, reg)
	})
	_, session, csrf := pn.signIn(t, "alice's long password")
	if session == "" {
		t.Fatal("no session")
	}
	member := portal.MemberID()
	resp, body := pn.do(t, http.MethodGet, "/admin/bitrix24/users?member_id="+url.QueryEscape(member)+"&q=iv", session, nil)
	var found []employee
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &found) != nil || len(found) != 1 || found[0].ID != 7 || found[0].Name != "Ivan Petrov" {
		t.Fatalf("search iv: %d %s", resp.StatusCode, body)
	}
	if resp, _ := pn.do(t, http.MethodGet, "/admin/bitrix24/users?member_id=unknown&q=iv", session, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("search on a portal that is not installed: %d", resp.StatusCode)
	}
	if resp, _ := pn.do(t, http.MethodGet, "/admin/bitrix24/users?member_id="+url.QueryEscape(member)+"&q=iv", "", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("search without a session: %d", resp.StatusCode)
	}

	resp, page := pn.do(t, http.MethodPost, "/admin/users", session, url.Values{"csrf": {csrf}, "login": {"ivan@example.test"},
		"member_id": {member}, "bitrix_id": {"7"}, "self_enrol": {"on"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add user: %d\n%s", resp.StatusCode, page)
	}
	if u, err := pn.id.GetUser(context.Background(), "ivan@example.test"); err != nil || !u.SelfEnrol || u.BitrixIDs[member] != 7 {
		t.Fatalf("added user: %+v %v", u, err)
	}
	if resp, page := pn.do(t, http.MethodPost, "/admin/users/ivan@example.test/enrol-bitrix24", session, url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("send the link in Bitrix24: %d\n%s", resp.StatusCode, page)
	}
	n := portal.Notifications()
	if len(n) != 1 || n[0].UserID != 7 || !strings.Contains(n[0].Message, "[URL=") || !strings.Contains(n[0].Message, "настройте") {
		t.Fatalf("notifications: %+v", n)
	}
	link := n[0].Out[strings.Index(n[0].Out, "http"):]
	link = strings.Fields(link)[0]
	tok := strings.TrimSuffix(link[strings.LastIndex(link, "/")+1:], ".")
	if _, err := pn.id.PendingSecret(context.Background(), tok); err != nil {
		t.Fatalf("the link sent (%s) is not a live enrolment link: %v", link, err)
	}
	for _, e := range pn.logs.All() {
		if strings.Contains(e.Message, tok) || strings.Contains(fmtFields(e.ContextMap()), tok) {
			t.Fatal("the link was logged")
		}
	}
	// By e-mail, to the login, in the portal's language, through a real SMTP server.
	if resp, page := pn.do(t, http.MethodPost, "/admin/users/ivan@example.test/enrol-email", session, url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("e-mail the link: %d\n%s", resp.StatusCode, page)
	}
	mails := mp.To(t, "ivan@example.test")
	if len(mails) != 1 || mails[0].Subject != "Signet: настройка кодов для подписи" {
		t.Fatalf("mail received: %+v", mails)
	}
	mailed := strings.Fields(mails[0].Text[strings.Index(mails[0].Text, "http"):])[0]
	mailed = strings.TrimSuffix(mailed[strings.LastIndex(mailed, "/")+1:], ".")
	if _, err := pn.id.PendingSecret(context.Background(), mailed); err != nil {
		t.Fatalf("the e-mailed link is not live: %v", err)
	}
	if _, err := pn.id.PendingSecret(context.Background(), tok); err == nil {
		t.Fatal("the link sent in Bitrix24 still works after a newer one was e-mailed")
	}
	if resp, _ := pn.do(t, http.MethodPost, "/admin/users/ivan@example.test/self-enrol-off", session, url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("forbid self-enrolment: %d", resp.StatusCode)
	}
	if u, _ := pn.id.GetUser(context.Background(), "ivan@example.test"); u.SelfEnrol {
		t.Fatal("self-enrolment still allowed")
	}
}

func fmtFields(m map[string]any) string { return fmt.Sprint(m) }
