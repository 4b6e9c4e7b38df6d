package emulator_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/emulator"
)

func start(t *testing.T, cfg emulator.Config) *emulator.Portal {
	t.Helper()
	p := emulator.New(cfg)
	if _, err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func post(t *testing.T, target, ct, body string) (int, map[string]any, string) {
	t.Helper()
	resp, err := http.Post(target, ct, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m, string(raw)
}

// Reference §7: a form-encoded batch keeps command order; an empty result_error is PHP's [].
func TestBatchWireShape(t *testing.T) {
	p := start(t, emulator.Config{})
	tok := p.NewAuth(1).AccessToken
	body := "auth=" + tok + "&halt=0&cmd[z]=app.info&cmd[a]=" + url.QueryEscape("im.notify.system.add?USER_ID=1&MESSAGE=hi")
	st, m, raw := post(t, p.BaseURL()+"/rest/batch.json", "application/x-www-form-urlencoded", body)
	if st != 200 {
		t.Fatalf("%d %s", st, raw)
	}
	res := m["result"].(map[string]any)
	if _, ok := res["result_error"].([]any); !ok {
		t.Fatalf("empty result_error must be []: %s", raw)
	}
	var order []string
	for _, c := range p.Calls() {
		if c.Batch {
			order = append(order, c.Method)
		}
	}
	if strings.Join(order, ",") != "app.info,im.notify.system.add" {
		t.Fatalf("batch order %v", order)
	}
	// an inner error lands in result_error with the v1 envelope, HTTP still 200
	st, m, raw = post(t, p.BaseURL()+"/rest/batch", "application/json",
		`{"auth":"`+tok+`","cmd":{"x":"im.notify.system.add?USER_ID=1"}}`)
	re, _ := m["result"].(map[string]any)["result_error"].(map[string]any)
	x, _ := re["x"].(map[string]any)
	if st != 200 || x["error"] != "MESSAGE_EMPTY" || x["error_description"] == "" {
		t.Fatalf("%d %s", st, raw)
	}
}

// Reference §8.1: leaky bucket, exact 503 body.
func TestLeakyBucket(t *testing.T) {
	p := start(t, emulator.Config{RatePerSec: 1, Burst: 3})
	tok := p.NewAuth(1).AccessToken
	var last int
	var body map[string]any
	for i := 0; i < 4; i++ {
		last, body, _ = post(t, p.BaseURL()+"/rest/app.info", "application/json", `{"auth":"`+tok+`"}`)
	}
	if last != 503 || body["error"] != "QUERY_LIMIT_EXCEEDED" || body["error_description"] != "Too many requests" || len(body) != 2 {
		t.Fatalf("4th call: %d %v", last, body)
	}
}

// Reference §9.1: refresh rotates, the old refresh token is dead, bad client is invalid_client.
func TestOAuthEndpoint(t *testing.T) {
	p := start(t, emulator.Config{})
	a := p.NewAuth(1)
	get := func(q url.Values) (int, map[string]any) {
		resp, err := http.Get(p.OAuthURL() + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	q := url.Values{"grant_type": {"refresh_token"}, "client_id": {p.ClientID()}, "client_secret": {p.ClientSecret()}, "refresh_token": {a.RefreshToken}}
	st, m := get(q)
	if st != 200 || m["access_token"] == "" || m["refresh_token"] == a.RefreshToken || m["member_id"] != p.MemberID() || m["expires_in"] != 3600.0 {
		t.Fatalf("refresh: %d %v", st, m)
	}
	if st, m = get(q); st != 400 || m["error"] != "invalid_grant" {
		t.Fatalf("reused refresh token: %d %v", st, m)
	}
	q.Set("client_secret", "x")
	if st, m = get(q); st != 401 || m["error"] != "invalid_client" {
		t.Fatalf("bad secret: %d %v", st, m)
	}
}

// Handler mounted on a foreign listener learns its domain from the first request.
func TestHandlerWithoutStart(t *testing.T) {
	p := emulator.New(emulator.Config{})
	srv := httptest.NewServer(p.Handler())
	defer srv.Close()
	st, m, _ := post(t, srv.URL+"/rest/app.info", "application/json", `{}`)
	if st != 401 || m["error"] != "NO_AUTH_FOUND" {
		t.Fatalf("%d %v", st, m)
	}
	a := p.NewAuth(1)
	if a.ClientEndpoint != srv.URL+"/rest/" {
		t.Fatalf("client_endpoint %q, server %s", a.ClientEndpoint, srv.URL)
	}
}

// A robot registered without AUTH_USER_ID gets no user token (reference §3.1, §11).
func TestRobotCallWithoutAuthUser(t *testing.T) {
	p := start(t, emulator.Config{})
	tok := p.NewAuth(1).AccessToken
	st, _, raw := post(t, p.BaseURL()+"/rest/bizproc.robot.add", "application/json",
		`{"auth":"`+tok+`","CODE":"noauth","HANDLER":"https://a.example/h","NAME":"n","USE_SUBSCRIPTION":"N"}`)
	if st != 200 {
		t.Fatalf("%d %s", st, raw)
	}
	got := make(chan *bitrix24.RobotRequest, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rr, err := bitrix24.ParseRobotRequest(r)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		got <- rr
	}))
	defer srv.Close()
	_, status, err := p.RobotCall(context.Background(), srv.URL, "noauth", 9, map[string]any{"k": "v"})
	if err != nil || status != 200 {
		t.Fatalf("%d %v", status, err)
	}
	rr := <-got
	if rr.Auth.AccessToken != "" || rr.Auth.MemberID != p.MemberID() || rr.UseSubscription || rr.Properties["k"] != "v" {
		t.Fatalf("%+v", rr)
	}
}

// Robot calls reuse their connection to the app: the benchmark sends thousands, and a new TCP
// connection each (the answer's body closed unread) cost the load generator a dial per call.
func TestRobotCallsKeepTheConnection(t *testing.T) {
	p := start(t, emulator.Config{})
	var mu sync.Mutex
	conns := 0
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"status":"queued","job_id":"`+strings.Repeat("x", 64)+`"}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	srv.Start()
	defer srv.Close()
	for i := range 5 {
		if _, status, err := p.RobotCall(context.Background(), srv.URL, "any", 10+i, nil); err != nil || status != 200 {
			t.Fatalf("robot call %d: %d %v", i, status, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if conns != 1 {
		t.Fatalf("5 robot calls one after another opened %d connections, want 1", conns)
	}
}

// The demo sends hundreds of calls per second from many goroutines; the log must stay consistent.
func TestConcurrentCallLog(t *testing.T) {
	p := start(t, emulator.Config{})
	tok := p.NewAuth(1).AccessToken
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				resp, err := http.Post(p.BaseURL()+"/rest/app.info", "application/json", strings.NewReader(`{"auth":"`+tok+`"}`))
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				_ = p.Calls()
			}
		}()
	}
	wg.Wait()
	if n := len(p.Calls()); n != 200 {
		t.Fatalf("logged %d calls, want 200", n)
	}
}

func BenchmarkRESTCall(b *testing.B) {
	p := emulator.New(emulator.Config{})
	if _, err := p.Start(); err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	tok := p.NewAuth(1).AccessToken
	body := `{"auth":"` + tok + `","USER_ID":1,"MESSAGE":"m"}`
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := http.Post(p.BaseURL()+"/rest/im.notify.system.add", "application/json", strings.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

// Reference §7: $result[cmd][FIELD] refers to an earlier command; an unresolved one stays literal.
func TestBatchResultReferences(t *testing.T) {
	p := start(t, emulator.Config{})
	p.AddDealFile(5, "a.pdf", []byte("x"))
	tok := p.NewAuth(1).AccessToken
	cmd := `{"auth":"` + tok + `","halt":1,"cmd":{` +
		`"get":"crm.item.get?entityTypeId=2&id=5",` +
		`"note":"im.notify.system.add?USER_ID=1&MESSAGE=` + url.QueryEscape("deal $result[get][item][title]; $result[nope][x]") + `"}}`
	st, _, raw := post(t, p.BaseURL()+"/rest/batch", "application/json", cmd)
	if st != 200 {
		t.Fatalf("%d %s", st, raw)
	}
	n := p.Notifications()
	if len(n) != 1 || n[0].Message != "deal Deal #5; $result[nope][x]" {
		t.Fatalf("notifications %+v", n)
	}
}

// Reference §8.2: a method outside the app's scope → 403 insufficient_scope.
func TestScope(t *testing.T) {
	p := start(t, emulator.Config{Scope: "crm,bizproc"})
	tok := p.NewAuth(1).AccessToken
	st, m, _ := post(t, p.BaseURL()+"/rest/disk.file.get", "application/json", `{"auth":"`+tok+`","id":1}`)
	if st != 403 || m["error"] != "insufficient_scope" {
		t.Fatalf("%d %v", st, m)
	}
}

// user.admin and user.current answer for the token's user; Config.Admins adds administrators, who
// alone may register robots (reference §3).
func TestAdminsAndInstallRequests(t *testing.T) {
	p := emulator.New(emulator.Config{Admins: []int{5}})
	base, err := p.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for uid, want := range map[int]bool{emulator.AdminUserID: true, 5: true, 7: false} {
		body := `{"auth":"` + p.NewAuth(uid).AccessToken + `"}`
		resp, err := http.Post(base+"/rest/user.admin", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var env struct{ Result bool }
		_ = json.NewDecoder(resp.Body).Decode(&env)
		resp.Body.Close()
		if env.Result != want {
			t.Errorf("user.admin for %d = %v", uid, env.Result)
		}
	}
	req, err := p.InstallPageRequest(context.Background(), "http://127.0.0.1:1/install", 5)
	if err != nil {
		t.Fatal(err)
	}
	if err := req.ParseForm(); err != nil || req.PostForm.Get("AUTH_ID") == "" || req.PostForm.Get("member_id") != p.MemberID() ||
		req.URL.Query().Get("DOMAIN") == "" || req.PostForm.Get("APPLICATION_TOKEN") != "" {
		t.Fatalf("installation page request: %v %v", req.PostForm, err)
	}
}
