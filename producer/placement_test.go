package producer

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/contracts"
)

// withBitrix gives the fixture's intake a REST client on the emulator, as `signet serve` does.
func (f *fixture) withBitrix(t *testing.T) {
	t.Helper()
	f.in.Bitrix = bitrix24.NewClient(bitrix24.ClientConfig{ClientID: f.portal.ClientID(), ClientSecret: f.portal.ClientSecret(),
		OAuthURL: f.portal.OAuthURL(), AllowPrivate: true}, f.in.Portals)
	f.in.PublicURL = f.srv.URL
	f.in.FormKey = []byte("0123456789abcdef0123456789abcdef")
}

// Install stores the portal and registers the robot (with the whole contract) and the Sign button;
// uninstall removes the portal. Reference §3, §9.2, §10.
func TestInstallRegistersRobotAndSignButton(t *testing.T) {
	f := newFixture(t)
	f.withBitrix(t)
	f.install(t)
	r, ok := f.portal.Robots()["signet_sign_pdf"]
	if !ok {
		t.Fatalf("robot not registered: %v", f.portal.Robots())
	}
	if r["HANDLER"] != f.srv.URL+"/bitrix24/robot" || r["USE_SUBSCRIPTION"] != "Y" || r["AUTH_USER_ID"] != "1" {
		t.Errorf("robot fields: HANDLER=%v USE_SUBSCRIPTION=%v AUTH_USER_ID=%v", r["HANDLER"], r["USE_SUBSCRIPTION"], r["AUTH_USER_ID"])
	}
	props, _ := r["PROPERTIES"].(map[string]any)
	for _, k := range []string{PropDocument, PropSigner, PropCredential, PropOTP, PropVisible, PropPage, PropPosition, PropReason} {
		if _, ok := props[k]; !ok {
			t.Errorf("robot property %s not registered", k)
		}
	}
	ret, _ := r["RETURN_PROPERTIES"].(map[string]any)
	for _, k := range []string{"signed", "signedFileUrl", "documentSha256", "certificateSubject", "certificateSerial", "signedAt", "errorText"} {
		if _, ok := ret[k]; !ok {
			t.Errorf("return property %s not registered", k)
		}
	}
	if h := f.portal.Placements()[PlacementToolbar]; len(h) != 1 || h[0] != f.srv.URL+"/bitrix24/placement" {
		t.Errorf("Sign button: %v", f.portal.Placements())
	}
	// The route robot (issue 20) beside it, waiting for its route's end.
	if rr := f.portal.Robots()[RouteRobotCode]; rr == nil || rr["HANDLER"] != f.srv.URL+RouteRobotPath || rr["USE_SUBSCRIPTION"] != "Y" {
		t.Errorf("route robot: %v", rr)
	}
	// A second install (reinstall, app update) updates instead of failing.
	f.install(t)
	if len(f.portal.Robots()) != 2 || len(f.portal.Placements()[PlacementToolbar]) != 1 {
		t.Errorf("after reinstall: robots %d, placements %v", len(f.portal.Robots()), f.portal.Placements())
	}
	if err := f.portal.Uninstall(context.Background(), f.srv.URL+"/bitrix24/install", true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.in.Portals.Get(context.Background(), f.portal.MemberID()); err == nil {
		t.Fatal("the portal is still registered after ONAPPUNINSTALL")
	}
}

// The document property may name a deal file field: UF_CRM_… (with or without a file id).
func TestRobotAcceptsDealFileFieldCode(t *testing.T) {
	f := newFixture(t)
	f.install(t)
	f.addSigner(t, true)
	props := f.props("UF_CRM_SIGNET_FILES:123")
	tok, status, err := f.portal.RobotCall(context.Background(), f.srv.URL+"/bitrix24/robot", "signet_sign_pdf", 77, props)
	if err != nil || status != http.StatusOK {
		t.Fatalf("robot call: %d %v", status, err)
	}
	job, err := contracts.DecodeSignJob(lastMsg(t, f.js, contracts.StreamSign, contracts.SubjectSignInteractive))
	if err != nil {
		t.Fatal(err)
	}
	d := job.Document
	if d.FileField != "UF_CRM_SIGNET_FILES" || d.FileID != 123 || d.EntityTypeID != 2 || d.EntityID != 77 || d.URL != "" || d.DiskFileID != 0 {
		t.Fatalf("document %+v (event %.10s)", d, tok)
	}
}

var (
	hiddenRe = regexp.MustCompile(`name="(ctx|csrf)" value="([^"]+)"`)
	optionRe = regexp.MustCompile(`<option value="(ufCrm[^"]+)"`)
)

func openDialog(t *testing.T, f *fixture, userID, dealID int, mutate func(*http.Request)) (*http.Response, string) {
	t.Helper()
	req, err := f.portal.PlacementRequest(context.Background(), f.srv.URL+"/bitrix24/placement", PlacementToolbar, userID, dealID)
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// dialogFixture is an installed portal whose user 7 is the Signet user mary (one-time passwords off)
// and whose deal 42 holds a PDF <name>.pdf for each name.
func dialogFixture(t *testing.T, names ...string) *fixture {
	t.Helper()
	f := newFixture(t)
	f.withBitrix(t)
	f.install(t)
	f.addSigner(t, true)
	for _, n := range names {
		_, _ = f.portal.AddDealFile(42, n+".pdf", []byte("%PDF-1.4 "+n))
	}
	return f
}

// dialogFields are the dialog's hidden form fields (ctx, csrf) and its documents' option values.
func dialogFields(page string) (map[string]string, [][]string) {
	hidden := map[string]string{}
	for _, m := range hiddenRe.FindAllStringSubmatch(page, -1) {
		hidden[m[1]] = m[2]
	}
	return hidden, optionRe.FindAllStringSubmatch(page, -1)
}

// pollStatus asks for a Sign-dialog job's status at statusURL with the status token (none: "").
func pollStatus(t *testing.T, f *fixture, statusURL, token string) (int, JobStatus) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+statusURL, nil)
	if token != "" {
		req.Header.Set(StatusTokenHeader, token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var status JobStatus
	_ = json.NewDecoder(resp.Body).Decode(&status)
	return resp.StatusCode, status
}

// openForm opens the dialog of deal dealID for user userID, which must answer 200, and returns the
// page and its hidden fields (ctx, csrf).
func openForm(t *testing.T, f *fixture, userID, dealID int) (page string, hidden map[string]string) {
	t.Helper()
	resp, page := openDialog(t, f, userID, dealID, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("dialog: %d", resp.StatusCode)
	}
	hidden, _ = dialogFields(page)
	return page, hidden
}

func submit(t *testing.T, f *fixture, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(f.srv.URL+"/bitrix24/placement/sign", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// The Sign button's dialog (reference §10): APPLICATION_TOKEN checked, the viewer identified by their
// own AUTH_ID, the deal's files and the viewer's certificates listed, framable by the portal only,
// with the element ids the browser test relies on; the submission is CSRF-protected and queues one
// placement job through the same authorisation as the robot.
func TestPlacementDialogQueuesAJob(t *testing.T) {
	f := dialogFixture(t, "contract", "annex")

	resp, page := openDialog(t, f, 7, 42, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("dialog: HTTP %d: %s", resp.StatusCode, page)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "frame-ancestors "+f.portal.BaseURL()) || resp.Header.Get("X-Frame-Options") != "" {
		t.Errorf("framing headers: CSP %q, X-Frame-Options %q", csp, resp.Header.Get("X-Frame-Options"))
	}
	if strings.Contains(page, "http://") && strings.Contains(page, "<script src") {
		t.Error("the dialog loads outside assets")
	}
	for _, id := range []string{`id="credential"`, `id="reason"`, `id="evidence"`, `id="visible"`, `id="page"`, `id="sign"`, `id="status"`, `id="document"`, `class="sig-icon"`} {
		if !strings.Contains(page, id) {
			t.Errorf("dialog lacks %s", id)
		}
	}
	// Mary needs no code (dialogFixture): the code field is not shown at all (issue 19, must 6).
	if strings.Contains(page, `id="otp"`) {
		t.Error("the dialog shows a code field to a signer who needs none")
	}
	// Documents by file name, not by field code.
	if strings.Contains(page, "(field ") {
		t.Error("the dialog names documents by field code")
	}
	for _, p := range Positions {
		if !strings.Contains(page, fmt.Sprintf(`class="position" data-position="%s"`, p)) {
			t.Errorf("dialog lacks the position button %s", p)
		}
	}
	if !strings.Contains(page, "contract.pdf") || !strings.Contains(page, "annex.pdf") || !strings.Contains(page, cred) {
		t.Errorf("dialog does not list the deal's files and the user's certificate")
	}
	if strings.Contains(page, f.portal.ApplicationToken()) {
		t.Error("the dialog leaks the application_token")
	}
	hidden, docs := dialogFields(page)
	if hidden["ctx"] == "" || hidden["csrf"] == "" || len(docs) != 2 {
		t.Fatalf("form fields: %v, documents %v", hidden, docs)
	}
	form := url.Values{"ctx": {hidden["ctx"]}, "csrf": {hidden["csrf"]}, "document": {docs[0][1]}, "credential": {cred},
		"otp": {""}, "visible": {"Y"}, "page": {"first"}, "position": {"top-right"}, "reason": {" Согласовано "}, "evidence": {"Y"}}

	long := url.Values{}
	for k, v := range form {
		long[k] = v
	}
	long.Set("reason", strings.Repeat("я", MaxReason+1))
	if st, _ := submit(t, f, long); st != http.StatusUnprocessableEntity {
		t.Errorf("a reason over %d characters: HTTP %d, want 422", MaxReason, st)
	}
	bad := url.Values{}
	for k, v := range form {
		bad[k] = v
	}
	bad.Set("csrf", strings.Repeat("A", len(hidden["csrf"])))
	if st, _ := submit(t, f, bad); st != http.StatusForbidden {
		t.Errorf("forged form token: HTTP %d, want 403", st)
	}
	before := streamMsgs(t, f.js, contracts.StreamSign)
	st, out := submit(t, f, form)
	if st != http.StatusAccepted {
		t.Fatalf("submit: HTTP %d %v", st, out)
	}
	st2, out2 := submit(t, f, form) // a double click
	if st2 != http.StatusAccepted || out2["job_id"] != out["job_id"] || streamMsgs(t, f.js, contracts.StreamSign) != before+1 {
		t.Errorf("a repeated submission must be the same job: %v / %v", out, out2)
	}
	job, err := contracts.DecodeSignJob(lastMsg(t, f.js, contracts.StreamSign, contracts.SubjectSignInteractive))
	if err != nil {
		t.Fatal(err)
	}
	if job.ID != out["job_id"] || job.Kind != contracts.KindPlacement || job.Document.EntityID != 42 || job.Document.FileField != emulator.DealFileField ||
		job.Document.FileID == 0 || job.Signer.Login != "mary" || job.Reply.NotifyUserID != 7 || job.Reply.EventToken != "" ||
		!job.Stamp.Visible || job.Stamp.Page != "first" || job.Stamp.Position != "top-right" || job.Credential != cred ||
		job.Stamp.Reason != "Согласовано" || !job.Stamp.Evidence {
		t.Fatalf("queued job: %+v", job)
	}
	poll := func(token string) (int, JobStatus) { return pollStatus(t, f, out["status_url"].(string), token) }
	if code, status := poll(out["status_token"].(string)); code != http.StatusOK || status.State != "queued" || status.JobID != job.ID {
		t.Fatalf("status with the dialog's token: HTTP %d %+v", code, status)
	}
	// The job id alone (printed on documents, shown in timelines) shows nothing: not even that it exists.
	for _, token := range []string{"", "forged", f.in.statusMAC("p" + strings.Repeat("0", 32))} {
		if code, status := poll(token); code != http.StatusNotFound || status.JobID != "" || status.Link != "" {
			t.Errorf("status with token %q: HTTP %d %+v, want 404 and nothing", token, code, status)
		}
	}
}

func TestPlacementRefusals(t *testing.T) {
	f := newFixture(t)
	f.withBitrix(t)
	f.install(t)
	f.addSigner(t, false) // OTP required, not enrolled
	_, _ = f.portal.AddDealFile(43, "contract.pdf", []byte("%PDF-1.4"))

	resp, _ := openDialog(t, f, 7, 43, func(r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		v, _ := url.ParseQuery(string(body))
		v.Set("APPLICATION_TOKEN", "forged")
		r.Body = io.NopCloser(strings.NewReader(v.Encode()))
		r.ContentLength = int64(len(v.Encode()))
	})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong APPLICATION_TOKEN: HTTP %d, want 401", resp.StatusCode)
	}
	if resp, page := openDialog(t, f, 99, 43, nil); resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "not a Signet user") {
		t.Errorf("unknown viewer: HTTP %d %s", resp.StatusCode, page)
	}
	page, hidden := openForm(t, f, 7, 43)
	doc := optionRe.FindStringSubmatch(page)[1]
	st, out := submit(t, f, url.Values{"ctx": {hidden["ctx"]}, "csrf": {hidden["csrf"]}, "document": {doc}, "credential": {cred},
		"otp": {"123456"}, "visible": {"Y"}, "page": {"last"}, "position": {"bottom-left"}})
	if st != http.StatusUnprocessableEntity || !strings.Contains(fmt.Sprint(out["error"]), "mary") {
		t.Fatalf("OTP refusal: HTTP %d %v", st, out)
	}
}

// Certificates are named by person, issuer and validity when the tokens know them (issue 19, must 6),
// in the dialog's language; by token and label when they cannot be asked.
func TestPlacementNamesCertificatesByPerson(t *testing.T) {
	f := dialogFixture(t, "contract")
	f.in.Certificate = func(ctx context.Context, uri string) (*x509.Certificate, error) {
		if uri != cred {
			return nil, fmt.Errorf("unknown credential %s", uri)
		}
		return &x509.Certificate{Subject: pkix.Name{CommonName: "Mary Smith"}, Issuer: pkix.Name{CommonName: "Acme CA"},
			NotAfter: time.Date(2027, 11, 1, 0, 0, 0, 0, time.UTC)}, nil
	}
	_, page := openDialog(t, f, 7, 42, nil)
	if !strings.Contains(page, "Mary Smith — Acme CA — valid until ") || !strings.Contains(page, "2027") {
		t.Errorf("the certificate is not named by person, issuer and validity:\n%s", page)
	}
	f.in.Certificate = func(context.Context, string) (*x509.Certificate, error) { return nil, errors.New("tokens unreachable") }
	if _, page := openDialog(t, f, 7, 42, nil); !strings.Contains(page, credentialLabel(cred)) {
		t.Error("without the tokens the certificate must still be named, by token and label")
	}
}
