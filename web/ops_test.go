package web

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/ops"
	"github.com/signet-b24/signet/internal/queue"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
)

func opsSetup(t *testing.T) (*natstest.Server, *httptest.Server, *OpsPage) {
	t.Helper()
	ns := natstest.Start(t)
	if err := queue.Provision(context.Background(), ns.JS, queue.Settings{AckWait: time.Minute, MaxDeliver: 3, MaxAckPending: 10}); err != nil {
		t.Fatal(err)
	}
	ring := &ops.Ring{JS: ns.JS, Every: time.Second, Window: time.Minute}
	p := &OpsPage{JS: ns.JS, Ring: ring, Tokens: func() []ops.Token {
		return []ops.Token{{Name: "acme", Online: true, SessionsInUse: 2, MaxSessions: 16}, {Name: "usb", Err: "CKR_TOKEN_NOT_PRESENT", MaxSessions: 4}}
	}}
	mux := http.NewServeMux()
	guard := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer admin" {
				http.Error(w, "administrator token required", http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	p.Routes(mux, guard)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return ns, srv, p
}

func opsDo(t *testing.T, method, u string, form url.Values, auth bool) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, u, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if auth {
		req.Header.Set("Authorization", "Bearer admin")
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestDashboardShowsStateAndRetriesDeadLetters(t *testing.T) {
	ctx := context.Background()
	ns, srv, p := opsSetup(t)
	for i := range 3 {
		if _, err := ns.JS.PublishMsg(ctx, &nats.Msg{Subject: contracts.SubjectSignBatch, Data: []byte(`{}`),
			Header: nats.Header{contracts.HeaderMsgID: []string{"j" + string(rune('a'+i))}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := queue.MoveToDead(ctx, ns.JS, queue.Dead{Subject: contracts.SubjectSignInteractive, Stream: contracts.StreamSign, Seq: 41,
		JobID: "r-dead-1", Reason: "portal <b>refused</b> the download", Data: []byte(`{"id":"r-dead-1"}`)}); err != nil {
		t.Fatal(err)
	}
	p.Ring.Sample(ctx)
	p.Ring.Sample(ctx)

	if resp, _ := opsDo(t, "GET", srv.URL+"/ops", nil, false); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("/ops without the administrator token: %d", resp.StatusCode)
	}
	resp, page := opsDo(t, "GET", srv.URL+"/ops", nil, true)
	if resp.StatusCode != 200 {
		t.Fatalf("/ops: %d %s", resp.StatusCode, page)
	}
	for _, want := range []string{"SIGN/sign-batch", "SIGN/sign-interactive", "CALLBACK/callback", "<svg", "<polyline",
		"r-dead-1", "portal &lt;b&gt;refused&lt;/b&gt; the download", "CKR_TOKEN_NOT_PRESENT", "OFFLINE"} {
		if !strings.Contains(page, want) {
			t.Errorf("/ops lacks %q", want)
		}
	}
	if strings.Contains(page, "<b>refused</b>") {
		t.Error("a dead letter's reason must be escaped")
	}
	if m := regexp.MustCompile(`SIGN/sign-batch</td><td class="n">(\d+)</td>`).FindStringSubmatch(page); m == nil || m[1] != "3" {
		t.Errorf("batch consumer pending: %v, want 3", m)
	}
	if strings.Contains(page, "src=\"http") || strings.Contains(page, "href=\"http") {
		t.Error("the page must load no external assets")
	}

	// Retry: refused without the form's token, then republished and removed from DEAD.
	if resp, _ := opsDo(t, "POST", srv.URL+"/ops/dead/1/retry", url.Values{"csrf": {"wrong"}}, true); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("retry without the form token: %d", resp.StatusCode)
	}
	before := ns.Msgs(t, contracts.StreamSign)
	resp, _ = opsDo(t, "POST", srv.URL+"/ops/dead/1/retry", url.Values{"csrf": {p.csrf}}, true)
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "republished") {
		t.Fatalf("retry: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got := ns.Msgs(t, contracts.StreamSign); got != before+1 {
		t.Fatalf("SIGN has %d messages after the retry, want %d", got, before+1)
	}
	if letters, _ := queue.ListDead(ctx, ns.JS); len(letters) != 0 {
		t.Fatalf("DEAD still holds %d letters", len(letters))
	}
}
