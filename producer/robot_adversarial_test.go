package producer

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/pquerna/otp/totp"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/audit"
	"github.com/signet-b24/signet/producer/identity"
)

// The robot intake under attack (issue 15: found 5, 7, 9, 10). Each test asserts the refusal (or the
// one right answer) and counts what reached SIGN and CALLBACK: nothing signed, stored or sent that
// should not be.

// enrolSigner maps mary (user_7) with OTP required and enrols her; returns a code that is valid now
// and not yet used (the next 30 s step: the enrolment used the current one).
func (f *fixture) enrolSigner(t *testing.T) (secret string, code func() string) {
	t.Helper()
	f.addSigner(t, false)
	ctx := context.Background()
	link, _, err := f.id.StartEnrolment(ctx, "mary")
	if err != nil {
		t.Fatal(err)
	}
	tok := link[strings.LastIndexByte(link, '/')+1:]
	pe, err := f.id.PendingSecret(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := totp.GenerateCode(pe.Secret, time.Now())
	if err := f.id.ConfirmEnrolment(ctx, tok, c); err != nil {
		t.Fatal(err)
	}
	return pe.Secret, func() string {
		c, _ := totp.GenerateCode(pe.Secret, time.Now().Add(30*time.Second))
		return c
	}
}

func (f *fixture) otpProps(code string) map[string]any {
	p := f.props("42")
	p[PropOTP] = code
	return p
}

func (f *fixture) counts(t *testing.T) (sign, callback uint64) {
	t.Helper()
	return streamMsgs(t, f.js, contracts.StreamSign), streamMsgs(t, f.js, contracts.StreamCallback)
}

// Found 5: the same robot call with its OTP sent again (Bitrix24 re-sending) is a repeat, known before
// the code is checked: answered like the first (queued), one job, and no refusal queued with the
// callback's message id (which would tell the workflow "failed" while the document is signed).
func TestAttackRepeatedOTPCallTellsFailed(t *testing.T) {
	f := newFixture(t)
	f.install(t)
	_, code := f.enrolSigner(t)
	_, st, err := f.portal.RobotCallCopies(context.Background(), f.srv.URL+"/bitrix24/robot", "signet_sign_pdf", 5, f.otpProps(code()), 3, false)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range st {
		if s != http.StatusOK {
			t.Errorf("copy %d: HTTP %d, want 200 (queued; the repeats as duplicates)", i+1, s)
		}
	}
	if sign, cb := f.counts(t); sign != 1 || cb != 0 {
		t.Fatalf("after a call and two repeats: SIGN %d, CALLBACK %d; want one job and no refusal", sign, cb)
	}
}

// Found 5, two copies at once: one claim (KV Create keyed by the job id) decides; one job, no refusal.
func TestAttackTwoCopiesAtOnce(t *testing.T) {
	f := newFixture(t)
	f.install(t)
	_, code := f.enrolSigner(t)
	_, st, err := f.portal.RobotCallCopies(context.Background(), f.srv.URL+"/bitrix24/robot", "signet_sign_pdf", 6, f.otpProps(code()), 4, true)
	if err != nil {
		t.Fatal(err)
	}
	ok := 0
	for i, s := range st {
		switch s {
		case http.StatusOK:
			ok++
		case http.StatusServiceUnavailable: // still being handled by the first copy: Bitrix24 may retry
		default:
			t.Errorf("copy %d: HTTP %d, want 200 or 503", i+1, s)
		}
	}
	if sign, cb := f.counts(t); ok == 0 || sign != 1 || cb != 0 {
		t.Fatalf("four copies at once: %d answered queued, SIGN %d, CALLBACK %d; want one job, no refusal", ok, sign, cb)
	}
}

// A repeat of a refused call is answered with the same refusal and checks nothing again: five copies
// of one call with a wrong code are one wrong code, not a lockout of the signer.
func TestAttackRepeatOfRefusedCallIsNotASecondRefusal(t *testing.T) {
	f := newFixture(t)
	f.install(t)
	_, code := f.enrolSigner(t)
	good := code()
	n, _ := strconv.Atoi(good)
	wrong := fmt.Sprintf("%06d", (n+500000)%1000000)
	_, st, err := f.portal.RobotCallCopies(context.Background(), f.srv.URL+"/bitrix24/robot", "signet_sign_pdf", 7, f.otpProps(wrong), 5, false)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range st {
		if s != http.StatusUnprocessableEntity {
			t.Errorf("copy %d: HTTP %d, want 422", i+1, s)
		}
	}
	if sign, cb := f.counts(t); sign != 0 || cb != 1 {
		t.Fatalf("a refused call and its repeats: SIGN %d, CALLBACK %d; want no job and one refusal", sign, cb)
	}
	// Not locked out: the repeats were not counted as wrong codes.
	_, s, err := f.portal.RobotCall(context.Background(), f.srv.URL+"/bitrix24/robot", "signet_sign_pdf", 8, f.otpProps(good))
	if err != nil || s != http.StatusOK {
		t.Fatalf("the right code after one wrong call (and its repeats): HTTP %d %v; want 200", s, err)
	}
}

// OTP replay: a code that signed in one event is refused in another (a different event_token is not a
// repeat), and the refusal reaches that workflow only.
func TestAttackOTPReplayInAnotherEvent(t *testing.T) {
	f := newFixture(t)
	f.install(t)
	_, code := f.enrolSigner(t)
	c := code()
	if _, s, err := f.portal.RobotCall(context.Background(), f.srv.URL+"/bitrix24/robot", "signet_sign_pdf", 9, f.otpProps(c)); err != nil || s != http.StatusOK {
		t.Fatalf("first use: HTTP %d %v", s, err)
	}
	tok, s, err := f.portal.RobotCall(context.Background(), f.srv.URL+"/bitrix24/robot", "signet_sign_pdf", 10, f.otpProps(c))
	if err != nil || s != http.StatusUnprocessableEntity {
		t.Fatalf("replayed code in another event: HTTP %d %v; want 422", s, err)
	}
	cb, err := contracts.DecodeCallback(lastMsg(t, f.js, contracts.StreamCallback, contracts.SubjectCallback))
	if err != nil {
		t.Fatal(err)
	}
	if cb.Reply.EventToken != tok || !strings.Contains(cb.Error, "already used") {
		t.Fatalf("refusal %+v; want the replaying event told the code was already used", cb)
	}
	if sign, n := f.counts(t); sign != 1 || n != 1 {
		t.Fatalf("SIGN %d, CALLBACK %d; want the first job only and one refusal", sign, n)
	}
}

// Brute force: five wrong codes in five events lock the signer out; the right code is then refused too.
func TestAttackOTPBruteForceLockout(t *testing.T) {
	f := newFixture(t)
	f.install(t)
	_, code := f.enrolSigner(t)
	good := code()
	n, _ := strconv.Atoi(good)
	for i := range 5 {
		wrong := fmt.Sprintf("%06d", (n+1+i*7919)%1000000)
		if _, s, _ := f.portal.RobotCall(context.Background(), f.srv.URL+"/bitrix24/robot", "signet_sign_pdf", 20+i, f.otpProps(wrong)); s != http.StatusUnprocessableEntity {
			t.Fatalf("wrong code %d: HTTP %d, want 422", i+1, s)
		}
	}
	tok, s, _ := f.portal.RobotCall(context.Background(), f.srv.URL+"/bitrix24/robot", "signet_sign_pdf", 30, f.otpProps(good))
	if s != http.StatusUnprocessableEntity {
		t.Fatalf("right code after five wrong ones: HTTP %d, want 422 (locked out)", s)
	}
	cb, _ := contracts.DecodeCallback(lastMsg(t, f.js, contracts.StreamCallback, contracts.SubjectCallback))
	if cb.Reply.EventToken != tok || !strings.Contains(cb.Error, "locked out") {
		t.Fatalf("refusal %q; want a lockout", cb.Error)
	}
	if sign, _ := f.counts(t); sign != 0 {
		t.Fatalf("SIGN %d after a brute force; want 0", sign)
	}
}

// Found 7: hostile bodies before any authentication answer 400, never panic, and queue nothing.
func TestAttackHostileBodies(t *testing.T) {
	f := newFixture(t)
	f.install(t)
	f.addSigner(t, true)
	a := f.portal.NewAuth(emulator.AdminUserID)
	good := func() map[string]any {
		return map[string]any{"workflow_id": "wf", "code": "signet_sign_pdf", "event_token": "wf|A|t.s",
			"document_id": []any{"crm", "CCrmDocumentDeal", "DEAL_5"}, "properties": f.props("9"),
			"auth": map[string]any{"access_token": a.AccessToken, "member_id": a.MemberID, "domain": a.Domain,
				"client_endpoint": a.ClientEndpoint, "application_token": f.portal.ApplicationToken()}}
	}
	enc := func(mut func(m map[string]any)) string {
		m := good()
		mut(m)
		return bitrix24.EncodeForm(m).Encode()
	}
	huge := strings.Repeat("A", 500<<10)
	cases := map[string]string{
		"0=x":                        "0=x",
		"numeric names":              "0=a&1=b&2=c",
		"non-canonical index":        enc(func(m map[string]any) {}) + "&properties%5Bsigner%5D%5B01%5D=user_1",
		"deep nesting":               "a" + strings.Repeat("%5Bx%5D", 40) + "=1",
		"value and container":        "auth=x&auth%5Bmember_id%5D=m",
		"body over 1 MiB":            "code=" + strings.Repeat("x", bitrix24.MaxInboundBody+10),
		"500 KB member_id":           enc(func(m map[string]any) { m["auth"].(map[string]any)["member_id"] = huge }),
		"member_id with a dot":       enc(func(m map[string]any) { m["auth"].(map[string]any)["member_id"] = "a.b" }),
		"500 KB code":                enc(func(m map[string]any) { m["code"] = huge }),
		"500 KB event_token":         enc(func(m map[string]any) { m["event_token"] = huge }),
		"500 KB document_id part":    enc(func(m map[string]any) { m["document_id"] = []any{"crm", huge, "DEAL_5"} }),
		"smuggled application_token": enc(func(map[string]any) {}) + "&auth%5Bapplication_token%5D=0123456789abcdef",
	}
	for name, body := range cases {
		resp, err := http.Post(f.srv.URL+"/bitrix24/robot", "application/x-www-form-urlencoded", strings.NewReader(body))
		if err != nil {
			t.Errorf("%s: %v (a dropped connection is a panic in the handler)", name, err)
			continue
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: HTTP %d, want 400", name, resp.StatusCode)
		}
		if len(answer) > 2048 {
			t.Errorf("%s: the answer is %d bytes; it must not echo the request", name, len(answer))
		}
	}
	if sign, cb := f.counts(t); sign != 0 || cb != 0 {
		t.Fatalf("hostile bodies queued SIGN %d, CALLBACK %d; want none", sign, cb)
	}
}

// An oversized property from the real portal is refused (422) with a bounded reason, nothing signed.
func TestAttackOversizedProperty(t *testing.T) {
	f := newFixture(t)
	f.install(t)
	f.addSigner(t, true)
	p := f.props("9")
	p[PropCredential] = cred + ";" + strings.Repeat("x", 300<<10)
	p[strings.Repeat("k", 10<<10)] = strings.Repeat("v", 10<<10)
	tok, s, err := f.portal.RobotCall(context.Background(), f.srv.URL+"/bitrix24/robot", "signet_sign_pdf", 11, p)
	if err != nil || s != http.StatusUnprocessableEntity {
		t.Fatalf("oversized property: HTTP %d %v; want 422", s, err)
	}
	cb, _ := contracts.DecodeCallback(lastMsg(t, f.js, contracts.StreamCallback, contracts.SubjectCallback))
	if cb.Reply.EventToken != tok || len(cb.Error) > 512 || !strings.Contains(cb.Error, "longer than") {
		t.Fatalf("refusal of %d bytes: %.200q", len(cb.Error), cb.Error)
	}
	if sign, _ := f.counts(t); sign != 0 {
		t.Fatalf("SIGN %d; want 0", sign)
	}
}

// flakyIdentity is the identity service with its KV unreachable for the calls named: the error a
// NATS timeout gives (nats.ErrTimeout, wrapped as the service wraps it).
type flakyIdentity struct {
	Identity
	mu           sync.Mutex
	lookup, auth bool
}

func (f *flakyIdentity) UserByBitrixID(ctx context.Context, memberID string, id int) (*identity.User, error) {
	f.mu.Lock()
	down := f.lookup
	f.mu.Unlock()
	if down {
		return nil, fmt.Errorf("looking up Bitrix24 user %d on portal %s: %w", id, memberID, nats.ErrTimeout)
	}
	return f.Identity.UserByBitrixID(ctx, memberID, id)
}

func (f *flakyIdentity) Authorize(ctx context.Context, login, code, grantID, credentialURI string) (*identity.Decision, error) {
	f.mu.Lock()
	down := f.auth
	f.mu.Unlock()
	if down {
		return nil, fmt.Errorf("reading the OTP state of %q: %w", login, context.DeadlineExceeded)
	}
	return f.Identity.Authorize(ctx, login, code, grantID, credentialURI)
}

func (f *flakyIdentity) set(lookup, auth bool) {
	f.mu.Lock()
	f.lookup, f.auth = lookup, auth
	f.mu.Unlock()
}

// Found 10: a NATS timeout while looking up the signer (or checking the code) answers 503 and tells
// the workflow nothing; Bitrix24's retry of the same call, once NATS is back, is signed.
func TestAttackNATSOutageDuringSignerLookup(t *testing.T) {
	f := newFixture(t)
	f.install(t)
	_, code := f.enrolSigner(t)
	flaky := &flakyIdentity{Identity: f.in.Identity}
	f.in.Identity = flaky
	_, deliver := f.portal.NewRobotCall("signet_sign_pdf", 12, f.otpProps(code()))
	for _, c := range []struct {
		name         string
		lookup, auth bool
	}{{"signer lookup", true, false}, {"OTP check", false, true}} {
		flaky.set(c.lookup, c.auth)
		st, err := deliver(context.Background(), f.srv.URL+"/bitrix24/robot")
		if err != nil || st != http.StatusServiceUnavailable {
			t.Fatalf("%s times out: HTTP %v %v; want 503", c.name, st, err)
		}
		if sign, cb := f.counts(t); sign != 0 || cb != 0 {
			t.Fatalf("%s times out: SIGN %d, CALLBACK %d; want nothing queued, nothing told", c.name, sign, cb)
		}
	}
	// NATS back: the retry (same event_token) is not blocked by the failed copy's claim.
	flaky.set(false, false)
	st, err := deliver(context.Background(), f.srv.URL+"/bitrix24/robot")
	if err != nil || st != http.StatusOK {
		t.Fatalf("the same call after the outage: HTTP %v %v; want 200", st, err)
	}
	if sign, cb := f.counts(t); sign != 1 || cb != 0 {
		t.Fatalf("after the outage: SIGN %d, CALLBACK %d; want the one job", sign, cb)
	}
}

// Found 10, the Sign dialog: a timeout while checking the code answers 503, not "refused".
func TestAttackNATSOutageInSignDialog(t *testing.T) {
	f := newFixture(t)
	f.withBitrix(t)
	f.install(t)
	_, code := f.enrolSigner(t)
	_, _ = f.portal.AddDealFile(43, "contract.pdf", []byte("%PDF-1.4"))
	page, hidden := openForm(t, f, 7, 43)
	doc := optionRe.FindStringSubmatch(page)[1]
	flaky := &flakyIdentity{Identity: f.in.Identity}
	flaky.set(false, true)
	f.in.Identity = flaky
	st, out := submit(t, f, url.Values{"ctx": {hidden["ctx"]}, "csrf": {hidden["csrf"]}, "document": {doc}, "credential": {cred},
		"otp": {code()}, "visible": {"Y"}, "page": {"last"}, "position": {"bottom-left"}})
	if st != http.StatusServiceUnavailable {
		t.Fatalf("OTP check timed out: HTTP %d %v; want 503", st, out)
	}
	if sign, cb := f.counts(t); sign != 0 || cb != 0 {
		t.Fatalf("SIGN %d, CALLBACK %d; want nothing", sign, cb)
	}
}

// Found 9: refused calls put only bounded, validated values in the audit trail. A call for an
// unknown portal with the longest member_id the parser takes, and a refused call quoting a 500 KB
// robot code, each leave one small record.
func TestAttackAuditBloatFromRefusedCalls(t *testing.T) {
	f := newFixture(t)
	f.install(t)
	f.addSigner(t, true)
	w := audit.NewWriter(f.js, nil, audit.Options{})
	f.in.Audit = w
	a := f.portal.NewAuth(emulator.AdminUserID)
	form := func(memberID, code string) string {
		return bitrix24.EncodeForm(map[string]any{"workflow_id": "wf", "code": code, "event_token": "wf|A|t.s",
			"document_id": []any{"crm", "CCrmDocumentDeal", "DEAL_5"}, "properties": f.props("9"),
			"auth": map[string]any{"access_token": a.AccessToken, "member_id": memberID, "domain": a.Domain,
				"client_endpoint": a.ClientEndpoint, "application_token": f.portal.ApplicationToken()}}).Encode()
	}
	for _, body := range []string{
		form(strings.Repeat("m", 500<<10), "signet_sign_pdf"),              // 400 before anything is recorded
		form(strings.Repeat("f", bitrix24.MaxMemberID), "signet_sign_pdf"), // unknown portal: recorded
		form(a.MemberID, strings.Repeat("c", bitrix24.MaxRobotField)),      // wrong robot code: refused, recorded
	} {
		resp, err := http.Post(f.srv.URL+"/bitrix24/robot", "application/x-www-form-urlencoded", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	// The writer's checkpoints (one after its chain's first event) are not the calls' events.
	events, err := audit.Events(context.Background(), f.js, contracts.StreamAudit, audit.Query{},
		func(e *contracts.AuditEvent) bool { return e.Action != contracts.AuditChainCheckpoint })
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 {
		t.Fatalf("%d audit events; want 2 (unknown portal, wrong robot code)", len(events))
	}
	for _, e := range events {
		if len(e.Portal) > bitrix24.MaxMemberID || len(e.Reason) > 1024 {
			t.Errorf("unbounded audit event: portal %d bytes, reason %d bytes", len(e.Portal), len(e.Reason))
		}
	}
	if info, _ := mustStreamInfo(t, f); info > 8<<10 {
		t.Fatalf("AUDIT holds %d bytes after three refused calls; want a few KB", info)
	}
}

func mustStreamInfo(t *testing.T, f *fixture) (uint64, error) {
	t.Helper()
	s, err := f.js.Stream(context.Background(), contracts.StreamAudit)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Bytes, nil
}

// The Sign dialog's double click: the same form sent twice with a valid code is one job, and the
// second answer is the first's (queued), not "code already used". A wrong code is not remembered: the
// person corrects it in the same dialog.
func TestAttackSignDialogDoubleSubmit(t *testing.T) {
	f := newFixture(t)
	f.withBitrix(t)
	f.install(t)
	_, code := f.enrolSigner(t)
	_, _ = f.portal.AddDealFile(43, "contract.pdf", []byte("%PDF-1.4"))
	page, hidden := openForm(t, f, 7, 43)
	doc := optionRe.FindStringSubmatch(page)[1]
	form := func(otp string) url.Values {
		return url.Values{"ctx": {hidden["ctx"]}, "csrf": {hidden["csrf"]}, "document": {doc}, "credential": {cred},
			"otp": {otp}, "visible": {"Y"}, "page": {"last"}, "position": {"bottom-left"}}
	}
	good := code()
	n, _ := strconv.Atoi(good)
	if st, out := submit(t, f, form(fmt.Sprintf("%06d", (n+500000)%1000000))); st != http.StatusUnprocessableEntity {
		t.Fatalf("wrong code: HTTP %d %v; want 422", st, out)
	}
	var answers []map[string]any
	for range 2 {
		st, out := submit(t, f, form(good))
		if st != http.StatusAccepted {
			t.Fatalf("right code in the same dialog: HTTP %d %v; want 202", st, out)
		}
		answers = append(answers, out)
	}
	if answers[0]["job_id"] != answers[1]["job_id"] || answers[1]["duplicate"] != true {
		t.Fatalf("double submit answered %v; want the same job, the second as a duplicate", answers)
	}
	if sign, cb := f.counts(t); sign != 1 || cb != 0 {
		t.Fatalf("SIGN %d, CALLBACK %d; want one job", sign, cb)
	}
}

// A credential assigned to another portal does not sign for this portal's robot call, even when a
// mapping lets the signer use it (a user mapped on two portals, or a local administrator's slip):
// refused as never-will-work, the workflow told why, nothing queued to SIGN.
func TestAttackCredentialOfAnotherPortal(t *testing.T) {
	f := newFixture(t)
	f.install(t)
	f.addSigner(t, true)
	if err := f.id.AssignCredential(context.Background(), cred, "other-portal-member-id"); err != nil {
		t.Fatal(err)
	}
	_, status, err := f.portal.RobotCall(context.Background(), f.srv.URL+"/bitrix24/robot", "signet_sign_pdf", 1188, f.props("42"))
	if err != nil || status != http.StatusUnprocessableEntity {
		t.Fatalf("robot call with another portal's certificate: status %d, %v; want 422", status, err)
	}
	if n := streamMsgs(t, f.js, contracts.StreamSign); n != 0 {
		t.Fatalf("SIGN holds %d jobs, want none", n)
	}
	cb, err := contracts.DecodeCallback(lastMsg(t, f.js, contracts.StreamCallback, contracts.SubjectCallback))
	if err != nil {
		t.Fatal(err)
	}
	if cb.Outcome != contracts.OutcomeFailed || !strings.Contains(cb.Error, "another Bitrix24 portal") {
		t.Fatalf("the workflow is told %q (%s), want a refusal naming the other portal", cb.Error, cb.Outcome)
	}
	// Assigned to this portal, the same call signs.
	if err := f.id.AssignCredential(context.Background(), cred, f.portal.MemberID()); err != nil {
		t.Fatal(err)
	}
	if _, status, err := f.portal.RobotCall(context.Background(), f.srv.URL+"/bitrix24/robot", "signet_sign_pdf", 1189, f.props("42")); err != nil || status != http.StatusOK {
		t.Fatalf("robot call with this portal's certificate: status %d, %v", status, err)
	}
	if n := streamMsgs(t, f.js, contracts.StreamSign); n != 1 {
		t.Fatalf("SIGN holds %d jobs, want 1", n)
	}
}
