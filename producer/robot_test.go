package producer

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/bitrix24/portals"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/jobkey"
	"github.com/signet-b24/signet/internal/queue"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
	"github.com/signet-b24/signet/producer/identity"
)

type fixture struct {
	in     *Intake
	js     jetstream.JetStream
	portal *emulator.Portal
	srv    *httptest.Server
	id     *identity.Service
	ns     *natstest.Server
}

const cred = "pkcs11:token=signet-demo;object=demo-signer"

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	ns := natstest.Start(t)
	if err := queue.Provision(ctx, ns.JS, queue.Settings{Replicas: 1, AckWait: 30 * time.Second, MaxDeliver: 5, MaxAckPending: 10}); err != nil {
		t.Fatal(err)
	}
	line, _ := identity.GenerateKeyLine()
	keys, err := identity.LoadKeys(line)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := portals.Open(ctx, ns.JS, 1, keys)
	if err != nil {
		t.Fatal(err)
	}
	id, err := identity.New(ctx, ns.JS, identity.Config{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	p := emulator.New(emulator.Config{})
	base, err := p.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	in := &Intake{JS: ns.JS, Portals: reg, Identity: id, Domains: []string{base}, // "http://127.0.0.1:port": plain http only when written out
		RobotCode: "signet_sign_pdf", Log: zap.NewNop()}
	if in.JobKey, err = jobkey.Generate(0); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	in.Routes(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &fixture{in: in, js: ns.JS, portal: p, srv: srv, id: id, ns: ns}
}

func (f *fixture) install(t *testing.T) {
	t.Helper()
	if err := f.portal.Install(context.Background(), f.srv.URL+"/bitrix24/install"); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) addSigner(t *testing.T, otpOff bool) {
	t.Helper()
	err := f.id.AddUser(context.Background(), identity.User{Login: "mary", BitrixIDs: map[string]int{f.portal.MemberID(): 7}, OTPDisabled: otpOff,
		Credentials: []string{cred}})
	if err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) props(diskID string) map[string]any {
	return map[string]any{PropDocument: diskID, PropSigner: "user_7", PropCredential: cred, PropVisible: "Y", PropPage: "last", PropPosition: "bottom-left"}
}

func streamMsgs(t *testing.T, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func lastMsg(t *testing.T, js jetstream.JetStream, stream, subject string) []byte {
	t.Helper()
	s, _ := js.Stream(context.Background(), stream)
	m, err := s.GetLastMsgForSubject(context.Background(), subject)
	if err != nil {
		t.Fatal(err)
	}
	return m.Data
}

func TestRobotCallIsQueuedOnceWithItsEventToken(t *testing.T) {
	f := newFixture(t)
	f.install(t)
	f.addSigner(t, true)
	tok, status, err := f.portal.RobotCall(context.Background(), f.srv.URL+"/bitrix24/robot", "signet_sign_pdf", 1188, f.props("42"))
	if err != nil || status != http.StatusOK {
		t.Fatalf("robot call: status %d, %v", status, err)
	}
	if n := streamMsgs(t, f.js, contracts.StreamSign); n != 1 {
		t.Fatalf("SIGN holds %d messages, want 1", n)
	}
	job, err := contracts.DecodeSignJob(lastMsg(t, f.js, contracts.StreamSign, contracts.SubjectSignInteractive))
	if err != nil {
		t.Fatal(err)
	}
	want := RobotJobID(f.portal.MemberID(), tok)
	if job.ID != want || job.Reply.EventToken != tok || job.Document.DiskFileID != 42 || job.Document.EntityID != 1188 ||
		job.Signer.Login != "mary" || job.Signer.Authorization != "otp-not-required" || !job.Stamp.Visible ||
		job.Stamp.Page != "last" || job.Stamp.Position != "bottom-left" || job.Credential != cred {
		t.Fatalf("job does not carry the robot call: %+v", job)
	}
	// The intake signed the job's authorisation with its key, for the workers to check.
	if err := contracts.NewJobKeys(f.in.JobKey.Public()).Verify(job, time.Now()); err != nil {
		t.Fatalf("the queued job's authorisation: %v", err)
	}
}

func TestReplayedRobotCallIsDroppedByMsgID(t *testing.T) {
	f := newFixture(t)
	f.install(t)
	f.addSigner(t, true)
	// The same call twice (Bitrix24's queue retrying): build it once, post it twice.
	a := f.portal.NewAuth(emulator.AdminUserID)
	form := map[string]any{"workflow_id": "wf1", "code": "signet_sign_pdf", "event_token": "wf1|A1|tok.sig",
		"document_id": []any{"crm", "CCrmDocumentDeal", "DEAL_5"}, "document_type": []any{"crm", "CCrmDocumentDeal", "DEAL"},
		"properties": f.props("9"),
		"auth": map[string]any{"access_token": a.AccessToken, "member_id": a.MemberID, "domain": a.Domain,
			"client_endpoint": a.ClientEndpoint, "application_token": f.portal.ApplicationToken(), "user_id": "1"}}
	body := bitrix24.EncodeForm(form).Encode()
	var answers []answer
	for range 2 {
		resp, err := http.Post(f.srv.URL+"/bitrix24/robot", "application/x-www-form-urlencoded", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var ans answer
		json.NewDecoder(resp.Body).Decode(&ans)
		resp.Body.Close()
		answers = append(answers, ans)
	}
	if n := streamMsgs(t, f.js, contracts.StreamSign); n != 1 {
		t.Fatalf("SIGN holds %d messages after a replay, want 1", n)
	}
	if answers[0].Duplicate || !answers[1].Duplicate || answers[0].JobID != answers[1].JobID {
		t.Fatalf("second call must be reported as the same, duplicate job: %+v", answers)
	}
}

func TestForgedRobotCallsAreRefusedAndNothingQueued(t *testing.T) {
	f := newFixture(t)
	f.install(t)
	f.addSigner(t, true)
	a := f.portal.NewAuth(emulator.AdminUserID)
	base := func() map[string]any {
		return map[string]any{"workflow_id": "wf", "code": "signet_sign_pdf", "event_token": "wf|A|t.s",
			"document_id": []any{"crm", "CCrmDocumentDeal", "DEAL_5"}, "properties": f.props("9"),
			"auth": map[string]any{"access_token": a.AccessToken, "member_id": a.MemberID, "domain": a.Domain,
				"client_endpoint": a.ClientEndpoint, "application_token": f.portal.ApplicationToken()}}
	}
	cases := []struct {
		name   string
		mutate func(map[string]any)
		status int
	}{
		{"wrong application_token", func(m map[string]any) { m["auth"].(map[string]any)["application_token"] = "0123456789abcdef" }, 401},
		{"unknown portal", func(m map[string]any) { m["auth"].(map[string]any)["member_id"] = "ffffffffffffffffffffffffffffffff" }, 401},
		{"no application_token", func(m map[string]any) { delete(m["auth"].(map[string]any), "application_token") }, 400},
		{"no event_token", func(m map[string]any) { delete(m, "event_token") }, 400},
	}
	for _, c := range cases {
		m := base()
		c.mutate(m)
		resp, err := http.Post(f.srv.URL+"/bitrix24/robot", "application/x-www-form-urlencoded", strings.NewReader(bitrix24.EncodeForm(m).Encode()))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s: HTTP %d, want %d", c.name, resp.StatusCode, c.status)
		}
	}
	resp, _ := http.Post(f.srv.URL+"/bitrix24/robot", "application/json", strings.NewReader(`{"code":"x"}`))
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("JSON instead of a form: HTTP %d, want 400", resp.StatusCode)
	}
	if n := streamMsgs(t, f.js, contracts.StreamSign) + streamMsgs(t, f.js, contracts.StreamCallback); n != 0 {
		t.Fatalf("forged calls queued %d messages, want none", n)
	}
}

// A request from the real portal that cannot be honoured (wrong OTP, bad property) must not leave the
// workflow waiting: it answers 422 and queues a failed result for bizproc.event.send.
func TestInvalidRequestsEndInAFailedCallback(t *testing.T) {
	f := newFixture(t)
	f.install(t)
	f.addSigner(t, false) // OTP required, none enrolled
	cases := map[string]struct {
		props map[string]any
		want  string
	}{
		"no OTP enrolled":  {f.props("9"), "mary"},
		"bad position":     {func() map[string]any { p := f.props("9"); p[PropPosition] = "middle"; return p }(), "position"},
		"foreign file URL": {func() map[string]any { p := f.props("https://evil.example.com/x.pdf"); return p }(), "outside the portal"},
		"unknown signer":   {func() map[string]any { p := f.props("9"); p[PropSigner] = "user_99"; return p }(), "user_99"},
		"PIN in URI":       {func() map[string]any { p := f.props("9"); p[PropCredential] = cred + "?pin-value=1234"; return p }(), "PIN"},
	}
	i := 0
	for name, c := range cases {
		i++
		tok, status, err := f.portal.RobotCall(context.Background(), f.srv.URL+"/bitrix24/robot", "signet_sign_pdf", 100+i, c.props)
		if err != nil || status != http.StatusUnprocessableEntity {
			t.Errorf("%s: status %d, %v; want 422", name, status, err)
			continue
		}
		cb, err := contracts.DecodeCallback(lastMsg(t, f.js, contracts.StreamCallback, contracts.SubjectCallback))
		if err != nil {
			t.Fatal(err)
		}
		if cb.Outcome != contracts.OutcomeFailed || cb.Reply.EventToken != tok || !strings.Contains(cb.Error, c.want) {
			t.Errorf("%s: callback %+v, want a failure for this event_token mentioning %q", name, cb, c.want)
		}
		if strings.Contains(cb.Error, "1234") {
			t.Errorf("%s: the error repeats a secret: %s", name, cb.Error)
		}
	}
	if n := streamMsgs(t, f.js, contracts.StreamSign); n != 0 {
		t.Fatalf("refused requests queued %d jobs", n)
	}
}

func TestInstallOnlyFromAllowedPortals(t *testing.T) {
	f := newFixture(t)
	f.in.Domains = []string{"other.bitrix24.com"}
	if err := f.portal.Install(context.Background(), f.srv.URL+"/bitrix24/install"); err == nil {
		t.Fatal("an install from a portal not in bitrix24.portals must be refused")
	}
	if _, _, err := f.in.Portals.Get(context.Background(), f.portal.MemberID()); err == nil {
		t.Fatal("a refused install must store nothing")
	}
	f.in.Domains = []string{f.portal.BaseURL()}
	f.install(t)
	p, _, err := f.in.Portals.Get(context.Background(), f.portal.MemberID())
	if err != nil || p.Auth.ApplicationToken != f.portal.ApplicationToken() || p.Auth.RefreshToken == "" {
		t.Fatalf("installed portal not stored with its tokens: %v", err)
	}
	// Uninstall with the right application_token removes it.
	if err := f.portal.Uninstall(context.Background(), f.srv.URL+"/bitrix24/install", false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.in.Portals.Get(context.Background(), f.portal.MemberID()); err == nil {
		t.Fatal("uninstall must remove the portal")
	}
}
