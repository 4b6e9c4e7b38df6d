package producer

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
)

// Attacks on the intake that were defended before issue 15 and stay in the standing suite (issue 15,
// must 8): a forged application_token and the SSRF forms of a document URL. Each test asserts the
// refusal and that nothing was queued (SIGN), told (CALLBACK) or sent to anybody.

// secondPortal starts another emulated portal, lists it and installs Signet on it: the forger's own
// portal, where Signet is installed too, so the forger holds a genuine application_token.
func (f *fixture) secondPortal(t *testing.T) *emulator.Portal {
	t.Helper()
	other := emulator.New(emulator.Config{ClientID: f.portal.ClientID()})
	base, err := other.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	f.in.Domains = append(f.in.Domains, base)
	if err := other.Install(context.Background(), f.srv.URL+"/bitrix24/install"); err != nil {
		t.Fatal(err)
	}
	return other
}

// A robot call and a Sign-button dialog naming portal A's member_id with a token that is not A's: the
// application_token of portal B (installed, genuine, held by B's administrator), one that differs from
// A's in its last character, one of another length, and none. A's signer signs without a code, so an
// accepted forgery would be a signature. Each is refused before anything is looked up, queued or sent;
// A's stored token is unchanged and A's own call still works.
func TestAttackForgedApplicationToken(t *testing.T) {
	f := newFixture(t)
	f.withBitrix(t)
	f.install(t)
	f.addSigner(t, true) // OTP disabled: an accepted forged call would sign at once
	b := f.secondPortal(t)
	_, _ = f.portal.AddDealFile(42, "contract.pdf", []byte("%PDF-1.4 contract"))
	real := f.portal.ApplicationToken()
	last := real[len(real)-1]
	flipped := real[:len(real)-1] + string("0123456789abcdef"[(strings.IndexByte("0123456789abcdef", last)+1)%16])
	callsBefore := len(f.portal.Calls())

	forged := map[string]string{
		"portal B's application_token":  b.ApplicationToken(),
		"A's token, last digit changed": flipped,
		"A's token and more":            real + "00",
		"a short token":                 "0",
	}
	for name, tok := range forged {
		if st := f.forgedRobotCall(t, tok); st != http.StatusUnauthorized {
			t.Errorf("robot call with %s: HTTP %d, want 401", name, st)
		}
		resp, page := openDialog(t, f, 7, 42, func(r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			s := strings.Replace(string(body), "APPLICATION_TOKEN="+real, "APPLICATION_TOKEN="+tok, 1)
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(s)), int64(len(s))
		})
		if resp.StatusCode != http.StatusUnauthorized || strings.Contains(page, "contract.pdf") || strings.Contains(page, `name="csrf"`) {
			t.Errorf("Sign dialog with %s: HTTP %d; want 401 without the deal's files or a form token", name, resp.StatusCode)
		}
	}
	if st := f.forgedRobotCall(t, ""); st != http.StatusBadRequest && st != http.StatusUnauthorized {
		t.Errorf("robot call without an application_token: HTTP %d, want 400 or 401", st)
	}

	if sign, cb := f.counts(t); sign != 0 || cb != 0 {
		t.Fatalf("forged calls queued %d jobs and %d callbacks; want none", sign, cb)
	}
	if n := len(f.portal.Calls()) - callsBefore; n != 0 {
		t.Fatalf("forged calls made Signet call portal A %d times (%v); want none", n, f.portal.Calls()[callsBefore:])
	}
	if len(b.Calls()) != 0 && hasSignetWork(b.Calls()) {
		t.Fatalf("forged calls reached portal B: %v", b.Calls())
	}
	if p, _, err := f.in.Portals.Get(context.Background(), f.portal.MemberID()); err != nil || p.Auth.ApplicationToken != real {
		t.Fatalf("portal A's stored application_token changed (%v)", err)
	}
	// A's own call is still accepted: the refusals locked nothing.
	if _, st, err := f.portal.RobotCall(context.Background(), f.srv.URL+"/bitrix24/robot", "signet_sign_pdf", 42, f.props("42")); err != nil || st != http.StatusOK {
		t.Fatalf("portal A's own robot call after the forgeries: HTTP %d %v", st, err)
	}
	if sign, _ := f.counts(t); sign != 1 {
		t.Fatalf("SIGN %d after A's own call; want 1", sign)
	}
}

// hasSignetWork reports a call other than those of Signet's install (registration of the robot and
// the button, the install proof): anything a forged call could have caused on portal B.
func hasSignetWork(calls []emulator.Call) bool {
	for _, c := range calls {
		switch c.Method {
		case "app.info", "user.admin", "user.current", "bizproc.robot.list", "bizproc.robot.add", "bizproc.robot.update",
			"placement.bind", "placement.get", "placement.list":
		default:
			return true
		}
	}
	return false
}

// SSRF through the robot's document property: every form of a URL that is not a file on the portal's
// own host — another host, the portal's name as user info or as a subdomain of the attacker's, another
// port of the portal's address, the cloud metadata address, loopback as IPv6 and as a decimal number,
// other schemes, a scheme-relative URL — is refused at intake with a reason for the workflow. No job is
// queued, nothing is dialled, and each refusal reaches its own workflow once.
func TestAttackSSRFDocumentURL(t *testing.T) {
	f := newFixture(t)
	f.install(t)
	f.addSigner(t, true)
	witness, dials := testenv.DialWitness(t)
	_, wport, _ := net.SplitHostPort(witness)
	portal := strings.TrimPrefix(f.portal.BaseURL(), "http://")
	phost, _, _ := net.SplitHostPort(portal)
	forms := []string{
		"http://" + witness + "/x.pdf",
		"http://" + portal + "@" + witness + "/x.pdf",
		"http://" + portal + ":pw@" + witness + "/x.pdf",
		"http://" + witness + "/" + portal + "/x.pdf",
		"http://" + witness + "/x.pdf?host=" + portal,
		"http://" + phost + ":" + wport + "/x.pdf", // the portal's address, another port
		"http://localhost:" + wport + "/x.pdf",
		"http://[::1]:" + wport + "/x.pdf",
		"http://[::ffff:127.0.0.1]:" + wport + "/x.pdf",
		"http://2130706433:" + wport + "/x.pdf", // 127.0.0.1 as one decimal number
		"http://0x7f000001:" + wport + "/x.pdf",
		"http://169.254.169.254/latest/meta-data/",
		"http://metadata.google.internal/computeMetadata/v1/",
		"http://" + strings.ReplaceAll(portal, ".", "%2e") + "/x.pdf",
		"file:///etc/passwd",
		"ftp://" + witness + "/x.pdf",
		"gopher://" + witness + "/_x",
		"//" + witness + "/x.pdf",
		"http:/" + witness + "/x.pdf",
		"http://" + witness + "\\@" + portal + "/x.pdf",
	}
	refusals := 0
	for i, doc := range forms {
		p := f.props(doc)
		tok, st, err := f.portal.RobotCall(context.Background(), f.srv.URL+"/bitrix24/robot", "signet_sign_pdf", 100+i, p)
		if err != nil {
			t.Fatal(err)
		}
		switch st {
		case http.StatusUnprocessableEntity: // refused, and the workflow is told why
			refusals++
			cb, err := contracts.DecodeCallback(lastMsg(t, f.js, contracts.StreamCallback, contracts.SubjectCallback))
			if err != nil {
				t.Fatal(err)
			}
			if cb.Reply.EventToken != tok || cb.Outcome != contracts.OutcomeFailed || cb.Signed != nil || !strings.Contains(cb.Error, PropDocument) {
				t.Errorf("%q: the refusal %q does not tell this workflow about the document", doc, cb.Error)
			}
		case http.StatusBadRequest: // not even a robot call (the parser refused it): nothing to tell
		default:
			t.Errorf("document %q: HTTP %d, want 422 (refused, workflow told)", doc, st)
		}
	}
	if sign, cb := f.counts(t); sign != 0 || cb != uint64(refusals) {
		t.Fatalf("SSRF forms: SIGN %d, CALLBACK %d; want no job and one refusal per refused call (%d)", sign, cb, refusals)
	}
	if n := dials.Load(); n != 0 {
		t.Fatalf("the address in the document URL was dialled %d times", n)
	}
	// The portal's own file is still accepted: the check is by host, not a blanket refusal of URLs.
	_, url := f.portal.AddDealFile(200, "ok.pdf", []byte("%PDF-1.4"))
	if _, st, err := f.portal.RobotCall(context.Background(), f.srv.URL+"/bitrix24/robot", "signet_sign_pdf", 200, f.props(url)); err != nil || st != http.StatusOK {
		t.Fatalf("a file on the portal: HTTP %d %v", st, err)
	}
	if sign, _ := f.counts(t); sign != 1 {
		t.Fatalf("SIGN %d after a genuine URL; want 1", sign)
	}
}

// XSS through the portal's data: a deal file whose name carries markup (any portal user who can attach
// a file can name it) is shown in the Sign dialog as text, and the dialog's CSP runs only its own
// nonce'd script. The page of the portal administrator (TestAttackStoredXSS in web) is the
// other place where people's text is shown.
func TestAttackXSSInSignDialog(t *testing.T) {
	f := newFixture(t)
	f.withBitrix(t)
	f.install(t)
	f.addSigner(t, true)
	name := `"><img src=x onerror=alert(document.domain)>.pdf`
	_, _ = f.portal.AddDealFile(42, name, []byte("%PDF-1.4 contract"))
	resp, page := openDialog(t, f, 7, 42, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("dialog: HTTP %d", resp.StatusCode)
	}
	if strings.Contains(page, "<img src=x") || strings.Contains(page, `"><img`) {
		t.Fatalf("the file name's markup is in the page unescaped:\n%s", page)
	}
	if !strings.Contains(page, "&lt;img src=x onerror=alert(document.domain)&gt;.pdf") {
		t.Errorf("the file name is not shown as text")
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'nonce-") || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("CSP %q lets injected script run", csp)
	}
	if sign, cb := f.counts(t); sign != 0 || cb != 0 {
		t.Fatalf("opening the dialog queued SIGN %d, CALLBACK %d", sign, cb)
	}
}
