package web

import (
	"bytes"
	"fmt"
	"html"
	"html/template"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/language"

	"github.com/signet-b24/signet/bitrix24/portals"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/internal/ops"
	"github.com/signet-b24/signet/internal/queue"
	"github.com/signet-b24/signet/internal/testsupport/i18ntext"
	"github.com/signet-b24/signet/keyring"
	"github.com/signet-b24/signet/pades"
	"github.com/signet-b24/signet/producer/identity"
)

// Issue 18, must 1: every string a page shows comes from the catalogue. The test renders every page
// in every catalogue language with data that reaches each branch it can, takes the text a person
// reads (text nodes outside script and style, and the title, aria-label, placeholder, alt and
// data-confirm attributes) and takes out of it the data (names, ids, dates, numbers) and the
// catalogue's own messages in that language. Whatever has a letter left is a string a template or a
// handler wrote itself: a new hard-coded sentence fails here, in English and in Russian alike.

// untranslated are the commands, addresses and examples the pages show as they are, in every
// language (beside i18ntext.Untranslated: Signet's name, technical names, the switch's labels).
var untranslated = []string{"/readyz", "pkcs11:token=usb;object=mary-2026", "-----BEGIN CERTIFICATE-----", "POST /v1/grants",
	"signet admin local-admin set LOGIN", "signet serve", "sha256sum file.pdf", "signet audit verify", "signet verify --online", "http://host:port", "/bitrix24/install", "bitrix24.portals", "/metrics"}

// pageFixture holds the data values a page may show as they are.
var pageFixture = struct {
	values []string
	now    time.Time
}{
	values: []string{"mary", "Mary Smith, sales", "acme.bitrix24.ru", "b1c2d3e4f5", "pkcs11:token=acme;object=mary-2026", "mary-2026",
		"mary-2026 (acme)", "acme", "CN=Mary Smith,O=Acme,C=GB", "CN=Acme CA,O=Acme", "ab12cd34", "p256", "ECDSA P-256", "sign_pdf",
		"crm, bizproc, placement, user_brief", "grant-7", "contract.pdf", "Signature1", "Mary Smith", "adbe.pkcs7.detached",
		"job-42", "evt-1", "evt-2", "3f9c", "DOCUMENT_ID", "signet_jobs/sign-interactive", "SIGN", "signet.sign.interactive",
		"the token did not answer", "signet-admin-passwords", "a form field filled", "127.0.0.1:9090", "https://acme.example/enrol/x",
		"Acme Signet", "JBSW Y3DP EHPK 3PXP", "user 7 of acme.bitrix24.ru", "worker restarted", "15m0s", "data:image/png;base64,AAAA"},
	now: time.Date(2026, 12, 3, 14, 5, 0, 0, time.UTC),
}

// pageViews are the pages of the layout with data that shows each branch once or more.
func pageViews() map[string][]view {
	now := pageFixture.now
	user := &identity.User{Login: "mary", Description: "Mary Smith, sales", BitrixIDs: map[string]int{"b1c2d3e4f5": 7},
		Credentials: []string{"pkcs11:token=acme;object=mary-2026"}, Created: now}
	cred := keyring.CredentialView{URI: "pkcs11:token=acme;object=mary-2026", Label: "mary-2026", KeyType: "ECDSA P-256",
		Subject: "CN=Mary Smith,O=Acme,C=GB", Issuer: "CN=Acme CA,O=Acme", Serial: "ab12cd34", NotBefore: now, NotAfter: now.AddDate(1, 0, 0), Status: "valid", DaysLeft: 365}
	expiring, expired, self, ca := cred, cred, cred, cred
	expiring.Status, expiring.DaysLeft = "expiring", 3
	expired.Status = "expired"
	self.Issuer = self.Subject
	ca.IsCA = true
	portalsOpt := []portalOption{{MemberID: "b1c2d3e4f5", Domain: "acme.bitrix24.ru"}}
	sig := signatureRow{Field: "Signature1", Signer: "Mary Smith", Subject: "CN=Mary Smith,O=Acme,C=GB", Issuer: "CN=Acme CA,O=Acme", Serial: "ab12cd34",
		SubFilter: "adbe.pkcs7.detached", Time: now, Timestamp: now, NotBefore: now, NotAfter: now, Intact: true, WholeFile: true, Trusted: true, Verdict: pades.VerdictValid}
	appended, modified, broken, untrusted := sig, sig, sig, sig
	appended.WholeFile, appended.Changes = false, []pades.Change{{What: "a form field filled", Allowed: true}, {What: "a form field filled"}}
	modified.Intact, modified.Modified, modified.Verdict = false, true, pades.VerdictInvalid
	broken.Intact, broken.Verdict, broken.Problems = false, pades.VerdictInvalid, []string{"the token did not answer"}
	untrusted.Trusted, untrusted.Verdict, untrusted.Issuer, untrusted.Timestamp = false, pades.VerdictUntrusted, untrusted.Subject, time.Time{}
	indeterminate := sig
	sig.Revocation, appended.Revocation, untrusted.Revocation, modified.Revocation, broken.Revocation = "not checked", "good", "unavailable", "revoked", "unknown"
	indeterminate.Verdict, indeterminate.Revocation = pades.VerdictIndeterminate, "unavailable"
	return map[string][]view{
		"login": {{Title: "web.login.title", Error: "web.login.wrong", Data: loginData{Login: "mary", NoAdmins: true, File: "signet-admin-passwords"}}},
		"users": {
			{Title: "web.users.title", Admin: "mary", Notice: "web.notice.added", Data: usersData{Portals: portalsOpt, Credentials: []credOption{{URI: cred.URI, Label: "mary-2026"}},
				Users: []identity.User{*user, {Login: "mary", Enrolled: true, Disabled: true}, {Login: "mary", OTPDisabled: true}}}},
			{Title: "web.users.title", Admin: "mary", Data: usersData{}},
		},
		"user": {
			{Title: "web.users.title", Admin: "mary", Data: userData{User: user, Portals: portalsOpt, Credentials: []credOption{{URI: cred.URI, Label: "mary-2026"}},
				Link: "https://acme.example/enrol/x", LinkExpires: now, Bitrix: []bitrixID{{MemberID: "b1c2d3e4f5", Domain: "acme.bitrix24.ru", ID: 7}},
				Mapped: []mappedCred{{URI: cred.URI, Label: "mary-2026", Default: true, Known: true, Status: "valid", NotAfter: now},
					{URI: cred.URI, Label: "mary-2026", Disabled: true}, {URI: cred.URI, Label: "mary-2026"},
					{URI: cred.URI, Label: "mary-2026", Known: true, Status: "expiring"}, {URI: cred.URI, Label: "mary-2026", Known: true, Status: "expired"},
					{URI: cred.URI, Label: "mary-2026", Known: true, Status: "not-yet-valid"}}}},
			{Title: "web.users.title", Admin: "mary", Data: userData{User: &identity.User{Login: "mary", Disabled: true, OTPDisabled: true}}},
			{Title: "web.users.title", Admin: "mary", Data: userData{User: &identity.User{Login: "mary", Enrolled: true}}},
		},
		"credentials": {
			{Title: "web.credentials.title", Admin: "mary", Data: credentialsData{Wide: true, Portals: portalsOpt, Expiring: 2, Names: []string{"acme"},
				CAs: []credOption{{URI: cred.URI, Label: "mary-2026"}}, Tokens: []tokenGroup{
					{TokenStatus: keyring.TokenStatus{Name: "acme", Online: true, SessionsInUse: 1, MaxSessions: 16}, Credentials: []credRow{
						{CredentialView: cred, Users: []string{"mary"}, Portal: "acme.bitrix24.ru", Revocable: true},
						{CredentialView: expiring, Disabled: true}, {CredentialView: expired, Revoked: true}, {CredentialView: self}, {CredentialView: ca}}},
					{TokenStatus: keyring.TokenStatus{Name: "acme", Err: "the token did not answer"}, Problem: "the token did not answer"}}}},
			{Title: "web.credentials.title", Admin: "mary", Data: credentialsData{NoKeys: true}},
		},
		"portals": {
			{Title: "web.portals.title", Admin: "mary", Data: portalsData{RobotCode: "sign_pdf", Portals: []portalRow{
				{MemberID: "b1c2d3e4f5", Domain: "acme.bitrix24.ru", Scope: "crm, bizproc, placement, user_brief", Installed: now, Robot: "web.portals.robot.registered", Button: "web.portals.button.bound"},
				{MemberID: "b1c2d3e4f5", Domain: "acme.bitrix24.ru", Robot: "web.portals.robot.error", RobotErr: "the token did not answer", Button: "web.portals.button.error", ButtonErr: "the token did not answer"},
				{MemberID: "b1c2d3e4f5", Domain: "acme.bitrix24.ru", Robot: "web.portals.robot.missing", Button: "web.portals.button.missing"},
				{MemberID: "b1c2d3e4f5", Domain: "acme.bitrix24.ru", Robot: "web.portals.robot.noClient", Button: "web.portals.button.unknown"}}}},
			{Title: "web.portals.title", Admin: "mary", Data: portalsData{}},
		},
		"grants": {
			{Title: "web.grants.title", Admin: "mary", Notice: "web.notice.revoked", Data: grantsData{Grants: []grantRow{
				{Grant: identity.Grant{ID: "grant-7", Login: "mary", Credential: cred.URI, Max: 10, Used: 3, Created: now, Expires: now}, State: "web.grants.state.active", Left: 7, Active: true},
				{Grant: identity.Grant{ID: "grant-7", Login: "mary", Credential: cred.URI}, State: "web.grants.state.revoked"},
				{Grant: identity.Grant{ID: "grant-7", Login: "mary", Credential: cred.URI}, State: "web.grants.state.expired"},
				{Grant: identity.Grant{ID: "grant-7", Login: "mary", Credential: cred.URI}, State: "web.grants.state.usedUp"}}}},
			{Title: "web.grants.title", Admin: "mary", Data: grantsData{}},
		},
		"verify": {
			{Title: "web.verify.title", Data: verifyData{}},
			{Title: "web.verify.title", Error: "web.verify.notPDF", Data: verifyData{Checked: true, File: "contract.pdf", Size: 1, SHA256: "3f9c"}},
			{Title: "web.verify.title", Data: verifyData{Checked: true, File: "contract.pdf", Size: 2048, SHA256: "3f9c", Valid: true, Verdict: pades.VerdictValid,
				Report: "data:application/json;base64,e30=", Signatures: []signatureRow{sig, appended, untrusted, indeterminate}}},
			{Title: "web.verify.title", Data: verifyData{Checked: true, File: "contract.pdf", Size: 5, SHA256: "3f9c", Verdict: pades.VerdictInvalid,
				Signatures: []signatureRow{modified, broken}}},
		},
		"allowed": {
			{Title: "web.allowed.title", Admin: "mary", Notice: "web.notice.saved", Data: allowedData{Allowed: []portals.Allowed{
				{Domain: "acme.bitrix24.ru", MemberID: "b1c2d3e4f5"}, {Domain: "acme.bitrix24.ru"}}}},
			{Title: "web.allowed.title", Admin: "mary", Error: "web.allowed.localOnly", Data: allowedData{}},
		},
		"portaladmin": {
			{Title: "Signet", Bitrix24Lang: "ru", Data: portalAdminData{Ticket: "t", Login: "user 7 of acme.bitrix24.ru", Domain: "acme.bitrix24.ru"}},
			{Title: "Signet", Error: "web.portaladmin.notAdmin", Data: portalAdminData{}},
		},
	}
}

// foreignText is what is left of a page's text in l's language once the catalogue, the fixture's
// values and the page's untranslated words are taken out (internal/testsupport/i18ntext).
func foreignText(t *testing.T, l *i18n.Localizer, page []byte) []string {
	t.Helper()
	left, err := i18ntext.Foreign(l, page, append(slices.Clone(pageFixture.values), untranslated...)...)
	if err != nil {
		t.Fatal(err)
	}
	return left
}

// renderAll renders every page of the control panel, the verification page, the enrolment page, the
// document history page and the operator dashboard in l's language.
func renderAll(t *testing.T, l *i18n.Localizer) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for name, views := range pageViews() {
		for i, v := range views {
			v.Switch = langSwitch(l, "/verify")
			b, err := renderPage(l, name, v)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			out[fmt.Sprintf("%s#%d", name, i)] = b
		}
	}
	exec := func(name string, tm *template.Template, data any) {
		c, err := inLanguage(tm, l, nil)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := c.Execute(&buf, data); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = buf.Bytes()
	}
	sw := langSwitch(l, "/verify")
	exec("enrol#0", enrolTmpl, enrolView{Title: l.T("web.enrol.title", "Acme Signet"), Login: "mary", Issuer: "Acme Signet", QR: "data:image/png;base64,AAAA",
		Secret: "JBSW Y3DP EHPK 3PXP", Expires: pageFixture.now, Error: l.T("web.enrol.err.otpInvalid"), Switch: sw})
	exec("enrol#1", enrolTmpl, enrolView{Title: l.T("web.enrol.title.done"), Done: true, Login: "mary", Switch: sw})
	exec("enrol#2", enrolTmpl, enrolView{Title: l.T("web.enrol.title.gone"), Gone: true, Error: l.T("web.enrol.err.expired"), Switch: sw})
	signed := &contracts.AuditEvent{ID: "evt-1", Time: pageFixture.now, Login: "mary", CertSubject: "CN=Mary Smith,O=Acme,C=GB", CertSerial: "ab12cd34", SHA256Before: "3f9c", SHA256After: "3f9c"}
	steps := []trailStep{{Time: pageFixture.now, What: "web.trail.step.accepted", Known: true, EventID: "evt-1"}, {Time: pageFixture.now, What: "DOCUMENT_ID", EventID: "evt-2"}}
	for k := range trailStepNames {
		steps = append(steps, trailStep{Time: pageFixture.now, What: trailStepNames[k], Known: true, EventID: "evt-2"})
	}
	exec("trail#0", trailTmpl, trailData{ID: "job-42", Status: "signed", Signed: signed, Steps: steps, Checked: "3f9c", Match: "web.trail.match.signed", Switch: sw})
	exec("trail#1", trailTmpl, trailData{ID: "job-42", Status: "failed", Steps: steps, Checked: "3f9c", Match: "web.trail.match.neither", Mismatch: true, Switch: sw})
	exec("trail#2", trailTmpl, trailData{ID: "job-42", Status: "pending", Switch: sw})
	exec("trail#3", trailTmpl, trailData{ID: "job-42", Status: "unknown", Switch: sw})
	dead := []queue.Letter{{Seq: 3, Time: pageFixture.now, Subject: "signet.sign.interactive", JobID: "job-42", Deliveries: 5, Reason: "worker restarted"}}
	exec("ops#0", opsTmpl, opsView{Now: pageFixture.now, Metrics: "127.0.0.1:9090", HasTokens: true, Tokens: []ops.Token{{Name: "acme", Online: true}, {Name: "acme", Err: "the token did not answer"}},
		Consumers: []opsConsumerRow{{DrainText: "empty"}, {DrainText: "15m0s"}}, Dead: dead, DeadTotal: 1, Flash: "worker restarted", Err: "worker restarted"})
	exec("ops#1", opsTmpl, opsView{Now: pageFixture.now})
	return out
}

// TestEveryPageStringIsInTheCatalogue: no page shows a word that is neither data nor a catalogue
// message of its language, and each page declares that language.
func TestEveryPageStringIsInTheCatalogue(t *testing.T) {
	for _, tag := range i18n.Languages() {
		l := i18n.For(tag)
		for name, page := range renderAll(t, l) {
			if strings.HasPrefix(name, "portaladmin#0") {
				continue // inside Bitrix24: in the portal user's language (checked below), whatever l is
			}
			for _, s := range foreignText(t, l, page) {
				t.Errorf("%s, %s: not from the %s catalogue: %s", name, tag, tag, s)
			}
			if want := `<html lang="` + l.Code() + `">`; !bytes.Contains(page, []byte(want)) {
				t.Errorf("%s, %s: no %s", name, tag, want)
			}
			if bytes.Contains(page, []byte("web.")) && regexp.MustCompile(`\bweb\.[a-z]+\.[a-zA-Z.]+`).Match(page) {
				t.Errorf("%s, %s: a catalogue key is shown instead of its message: %s", name, tag, regexp.MustCompile(`\bweb\.[a-z]+\.[a-zA-Z.]+`).Find(page))
			}
		}
	}
	// A page shown inside Bitrix24 speaks LANG, not the browser's language.
	ru := i18n.For(language.Russian)
	page := renderAll(t, i18n.For(language.English))["portaladmin#0"]
	if !bytes.Contains(page, []byte(ru.T("web.portaladmin.open"))) || len(foreignText(t, ru, page)) > 0 || bytes.Contains(page, []byte(`class="langs"`)) {
		t.Errorf("the portal administrator's page with LANG=ru:\n%s", page)
	}
}

// TestTheCatalogueCheckCatchesAHardCodedSentence shows the check above failing: a page with one
// English sentence written into its template is caught, in Russian and in English.
func TestTheCatalogueCheckCatchesAHardCodedSentence(t *testing.T) {
	bad, err := tmpl["grants"].Clone()
	if err != nil {
		t.Fatal(err)
	}
	template.Must(bad.Parse(`{{define "content"}}<p>{{T "web.grants.none"}} Ask the administrator.</p><button title="Remove it">{{T "web.credentials.revoke"}}</button>{{end}}`))
	for _, tag := range i18n.Languages() {
		l := i18n.For(tag)
		c, err := inLanguage(bad, l, nil)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := c.ExecuteTemplate(&buf, "layout", view{Title: "web.grants.title", Lang: l.Code()}); err != nil {
			t.Fatal(err)
		}
		left := strings.Join(foreignText(t, l, buf.Bytes()), "\n")
		if !strings.Contains(left, "Ask the administrator") || !strings.Contains(left, "Remove it") {
			t.Errorf("%s: the hard-coded sentence and title were not caught: %q", tag, left)
		}
		// The same page with only catalogue words passes.
		if left := foreignText(t, l, mustRender(t, l, "grants", view{Title: "web.grants.title", Data: grantsData{}})); len(left) > 0 {
			t.Errorf("%s: a clean page is reported: %v", tag, left)
		}
	}
}

func mustRender(t *testing.T, l *i18n.Localizer, name string, v view) []byte {
	t.Helper()
	b, err := renderPage(l, name, v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The language switch: GET /lang sets the lang cookie (SameSite=Lax, Path=/) and sends the reader
// back to a page of this site only; FromRequest then reads the cookie over Accept-Language.
func TestLanguageSwitch(t *testing.T) {
	for _, c := range []struct{ back, want string }{
		{"/verify?id=x", "/verify?id=x"}, {"/admin/users/mary", "/admin/users/mary"}, {"https://evil.example/", "/verify"},
		{"//evil.example/x", "/verify"}, {"/\\evil.example", "/verify"}, {"", "/verify"}, {"javascript:alert(1)", "/verify"},
		{"/%0d%0aSet-Cookie:x", "/%0d%0aSet-Cookie:x"},
	} {
		rec := httptest.NewRecorder()
		SetLanguage(rec, httptest.NewRequest(http.MethodGet, "/lang?to=ru&back="+urlQueryEscape(c.back), nil))
		res := rec.Result()
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != c.want {
			t.Errorf("back=%q: %d to %q, want 303 to %q", c.back, res.StatusCode, res.Header.Get("Location"), c.want)
		}
		ck := res.Cookies()
		if len(ck) != 1 || ck[0].Name != "lang" || ck[0].Value != "ru" || ck[0].Path != "/" || ck[0].SameSite != http.SameSiteLaxMode {
			t.Fatalf("cookie %+v", ck)
		}
		r := httptest.NewRequest(http.MethodGet, "/verify", nil)
		r.Header.Set("Accept-Language", "en")
		r.AddCookie(ck[0])
		if got := i18n.FromRequest(r); got != language.Russian {
			t.Errorf("the cookie is not read: %v", got)
		}
	}
	rec := httptest.NewRecorder()
	SetLanguage(rec, httptest.NewRequest(http.MethodGet, "/lang?to=xx&back=/verify", nil))
	if rec.Code != http.StatusBadRequest || len(rec.Result().Cookies()) != 0 {
		t.Errorf("an unknown language: %d %v", rec.Code, rec.Result().Cookies())
	}
}

func urlQueryEscape(s string) string { return template.URLQueryEscaper(s) }

// Times on a page are in the reader's zone when the browser named it (the tz cookie signet.js sets),
// with the offset, and in UTC otherwise; a zone Go does not know, or "Local", is UTC.
func TestPagesShowTimesInTheReadersZone(t *testing.T) {
	for _, c := range []struct{ cookie, want string }{
		{"Europe%2FMoscow", "Europe/Moscow"}, {"Asia/Yekaterinburg", "Asia/Yekaterinburg"}, {"Local", "UTC"}, {"Nowhere%2FAtAll", "UTC"}, {"", "UTC"},
	} {
		r := httptest.NewRequest(http.MethodGet, "/verify", nil)
		if c.cookie != "" {
			r.AddCookie(&http.Cookie{Name: ZoneCookie, Value: c.cookie})
		}
		if got := viewerZone(r).String(); got != c.want {
			t.Errorf("tz=%q: zone %s, want %s", c.cookie, got, c.want)
		}
	}
	moscow, _ := i18n.LoadZone("Europe/Moscow")
	v := view{Title: "web.grants.title", Zone: moscow, Data: grantsData{Grants: []grantRow{{Grant: identity.Grant{ID: "grant-7", Login: "mary",
		Created: pageFixture.now, Expires: pageFixture.now}, State: "web.grants.state.expired"}}}}
	for lang, want := range map[string]string{"ru": "03.12.2026 17:05 (UTC+03:00)", "en": "3 Dec 2026 17:05 UTC+3"} {
		if page := html.UnescapeString(string(mustRender(t, i18n.New(lang), "grants", v))); !strings.Contains(page, want) {
			t.Errorf("%s: the grant's times are not %q in Moscow:\n%s", lang, want, page)
		}
	}
}
