package bitrix24_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/emulator"
)

// Reference §9.1/§11: concurrent expired_token → exactly one refresh (the refresh token rotates).
func TestRefreshSingleFlight(t *testing.T) {
	p, c, store := setup(t, emulator.Config{}, bitrix24.ClientConfig{})
	before, _ := store.Load(context.Background(), p.MemberID())
	p.SetFailure(emulator.Failure{ExpireTokens: true})

	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- c.Call(ctx(t), p.MemberID(), "app.info", nil, nil)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := p.Refreshes(); n != 1 {
		t.Fatalf("refreshes = %d, want exactly 1", n)
	}
	after, _ := store.Load(context.Background(), p.MemberID())
	if after.RefreshToken == before.RefreshToken || after.AccessToken == before.AccessToken || after.Domain != before.Domain {
		t.Fatal("rotated tokens were not saved")
	}
	if time.Until(after.Expires) < 50*time.Minute {
		t.Fatalf("expiry not updated: %v", after.Expires)
	}
	// The old refresh token stopped working: a client still holding it must be told to reinstall.
	stale := bitrix24.NewMemoryTokenStore()
	_ = stale.Save(context.Background(), before)
	c2 := bitrix24.NewClient(bitrix24.ClientConfig{ClientID: p.ClientID(), ClientSecret: p.ClientSecret(), OAuthURL: p.OAuthURL()}, stale)
	err := c2.Call(ctx(t), p.MemberID(), "app.info", nil, nil)
	if !errorsIs(err, bitrix24.ErrReauthRequired) || !bitrix24.IsCode(err, bitrix24.ErrCodeInvalidGrant) {
		t.Fatalf("stale refresh token: %v", err)
	}
}

func TestRefreshWrongSecret(t *testing.T) {
	p, _, store := setup(t, emulator.Config{AccessTokenTTL: time.Nanosecond}, bitrix24.ClientConfig{})
	c := bitrix24.NewClient(bitrix24.ClientConfig{ClientID: p.ClientID(), ClientSecret: "wrong", OAuthURL: p.OAuthURL()}, store)
	err := c.Call(ctx(t), p.MemberID(), "app.info", nil, nil)
	if !bitrix24.IsCode(err, bitrix24.ErrCodeInvalidClient) || !errorsIs(err, bitrix24.ErrReauthRequired) {
		t.Fatalf("wrong secret: %v", err)
	}
	if strContains(err.Error(), "wrong") || strContains(err.Error(), p.ClientSecret()) {
		t.Fatalf("error leaks a secret: %v", err)
	}
}

// Reference §8.1: the portal at 2 req/s burst 5, 30 concurrent calls; the client's limiter and retry
// must hide every QUERY_LIMIT_EXCEEDED.
func TestRateLimitAllSucceed(t *testing.T) {
	if testing.Short() {
		t.Skip("takes ~13 s")
	}
	p, c, _ := setup(t, emulator.Config{RatePerSec: 2, Burst: 5}, bitrix24.ClientConfig{})
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- c.Call(ctx(t), p.MemberID(), "app.info", nil, nil)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("client got an error: %v", err)
		}
	}
	ok, limited := 0, 0
	for _, call := range p.Calls() {
		switch call.ErrorCode {
		case "":
			ok++
		case bitrix24.ErrCodeQueryLimitExceeded:
			limited++
		}
	}
	if ok != 30 {
		t.Fatalf("portal executed %d calls, want 30", ok)
	}
	t.Logf("portal answered QUERY_LIMIT_EXCEEDED %d times", limited)
}

func TestBatchNeverResendsSuccess(t *testing.T) {
	p, c, _ := setup(t, emulator.Config{}, bitrix24.ClientConfig{})
	mid := p.MemberID()
	var cmds []bitrix24.BatchCommand
	for i := 0; i < 5; i++ {
		cmds = append(cmds, bitrix24.BatchCommand{ID: "n" + strconv.Itoa(i), Method: "im.notify.system.add",
			Params: map[string]any{"USER_ID": 1, "MESSAGE": "m" + strconv.Itoa(i)}})
	}
	cmds = append(cmds, bitrix24.BatchCommand{ID: "bad", Method: "im.notify.system.add", Params: map[string]any{"USER_ID": 1}})
	p.SetFailure(emulator.Failure{BatchCommand: "n2", BatchTimes: 1})

	res, err := c.Batch(ctx(t), mid, cmds, false)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res[:5] {
		var id int
		if r.Err != nil || json.Unmarshal(r.Result, &id) != nil || id == 0 {
			t.Fatalf("cmd %d: %+v", i, r)
		}
	}
	if res[2].Attempts != 2 || res[0].Attempts != 1 {
		t.Fatalf("attempts: n0=%d n2=%d", res[0].Attempts, res[2].Attempts)
	}
	if !bitrix24.IsCode(res[5].Err, "MESSAGE_EMPTY") {
		t.Fatalf("bad command: %v", res[5].Err)
	}
	executed := map[string]int{}
	for _, call := range p.Calls() {
		if call.Batch && call.ErrorCode == "" {
			executed[call.Params["MESSAGE"].(string)]++
		}
	}
	for i := 0; i < 5; i++ {
		if n := executed["m"+strconv.Itoa(i)]; n != 1 {
			t.Fatalf("m%d executed %d times", i, n)
		}
	}
	if n := len(p.Notifications()); n != 5 {
		t.Fatalf("notifications %d", n)
	}
}

func TestBatchHaltAndLimit(t *testing.T) {
	p, c, _ := setup(t, emulator.Config{}, bitrix24.ClientConfig{})
	res, err := c.Batch(ctx(t), p.MemberID(), []bitrix24.BatchCommand{
		{ID: "a", Method: "app.info"},
		{ID: "b", Method: "im.notify.system.add", Params: map[string]any{"USER_ID": 1}},
		{ID: "c", Method: "app.info"},
		{ID: "d", Method: "batch"},
	}, true)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || !bitrix24.IsCode(res[1].Err, "MESSAGE_EMPTY") ||
		!errorsIs(res[2].Err, bitrix24.ErrBatchNotExecuted) || !errorsIs(res[3].Err, bitrix24.ErrBatchNotExecuted) {
		t.Fatalf("halt: %+v", res)
	}
	res, _ = c.Batch(ctx(t), p.MemberID(), []bitrix24.BatchCommand{{ID: "x", Method: "batch"}}, false)
	if !bitrix24.IsCode(res[0].Err, bitrix24.ErrCodeBatchMethodNotAllowed) {
		t.Fatalf("nested batch: %+v", res[0])
	}
	if _, err := c.Batch(ctx(t), p.MemberID(), make([]bitrix24.BatchCommand, 51), false); !errorsIs(err, bitrix24.ErrBatchTooLong) {
		t.Fatalf("51 commands: %v", err)
	}
	// the portal itself refuses 51 too
	cmd := map[string]any{}
	for i := 0; i < 51; i++ {
		cmd["c"+strconv.Itoa(i)] = "app.info"
	}
	err = c.Call(ctx(t), p.MemberID(), "batch", map[string]any{"cmd": cmd}, nil)
	if !bitrix24.IsCode(err, bitrix24.ErrCodeBatchLengthExceeded) {
		t.Fatalf("portal 51: %v", err)
	}
}

// A renamed portal answers 302 (reference §8.2). The client follows nothing and stores nothing: the
// call fails with ErrPortalMoved (retry later) until an administrator moves the stored endpoint.
func TestDomainMove(t *testing.T) {
	p, c, store := setup(t, emulator.Config{}, bitrix24.ClientConfig{})
	old := p.BaseURL()
	before, _ := store.Load(context.Background(), p.MemberID())
	p.SetFailure(emulator.Failure{MoveDomain: true})
	err := c.Call(ctx(t), p.MemberID(), "app.info", nil, nil)
	if !errors.Is(err, bitrix24.ErrPortalMoved) || !strings.Contains(err.Error(), "signet admin bitrix24 move") {
		t.Fatalf("a redirect must fail with ErrPortalMoved and say what to do: %v", err)
	}
	a, _ := store.Load(context.Background(), p.MemberID())
	if p.BaseURL() == old || a.ClientEndpoint != before.ClientEndpoint || a.Domain != before.Domain {
		t.Fatalf("stored endpoint moved silently to %q (domain %q)", a.ClientEndpoint, a.Domain)
	}
	// The administrator's step: the stored endpoint is moved; calls go to the new host directly.
	a.ClientEndpoint, a.Domain = p.BaseURL()+"/rest/", strings.TrimPrefix(p.BaseURL(), "http://")
	if err := store.Save(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	n := len(p.Calls())
	if err := c.Call(ctx(t), p.MemberID(), "app.info", nil, nil); err != nil || len(p.Calls()) != n+1 {
		t.Fatalf("after the move: %v", err)
	}
}

func TestOperationTimeLimitAndOverload(t *testing.T) {
	p, c, _ := setup(t, emulator.Config{}, bitrix24.ClientConfig{OperatingLimitWait: 1500 * time.Millisecond})
	mid := p.MemberID()
	p.SetFailure(emulator.Failure{OperationLimit: time.Second, OperationLimitMethod: "app.info"})
	if err := c.Call(ctx(t), mid, "app.info", nil, nil); err != nil {
		t.Fatalf("client must wait out OPERATION_TIME_LIMIT: %v", err)
	}
	// a deadline shorter than the block → the error comes back at once, retryable
	p.SetFailure(emulator.Failure{OperationLimit: time.Minute, OperationLimitMethod: "app.info"})
	short, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err := c.Call(short, mid, "app.info", nil, nil)
	var e *bitrix24.Error
	if !errorsAs(err, &e) || !e.IsCode(bitrix24.ErrCodeOperationTimeLimit) || e.HTTPStatus != 429 || !e.Retryable() {
		t.Fatalf("blocked: %v", err)
	}

	p.SetFailure(emulator.Failure{Calls: 1, Status: 503, Code: bitrix24.ErrCodeOverloadLimit, Description: "Portal overloaded"})
	n := len(p.Calls())
	err = c.Call(ctx(t), mid, "crm.item.get", map[string]any{"entityTypeId": 2, "id": 1}, nil)
	if !errors.Is(err, bitrix24.ErrPortalOverloaded) || errorsAs(err, &e) || len(p.Calls()) != n+1 {
		t.Fatalf("OVERLOAD_LIMIT must stop at once with ErrPortalOverloaded (retry later, not a permanent *Error): %v (calls %d)", err, len(p.Calls())-n)
	}
	// Signet stops calling that portal: the next call fails without reaching it, and the alert gauge is up.
	if err := c.Call(ctx(t), mid, "app.info", nil, nil); !errors.Is(err, bitrix24.ErrPortalOverloaded) || len(p.Calls()) != n+1 {
		t.Fatalf("after OVERLOAD_LIMIT the portal must not be called: %v (calls %d)", err, len(p.Calls())-n)
	}
	if v := gaugeValue(t, "signet_bitrix24_overload", mid); v != 1 {
		t.Fatalf("signet_bitrix24_overload{portal=%s} = %v, want 1", mid, v)
	}
}

func gaugeValue(t *testing.T, name, memberID string) float64 {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "portal" && l.GetValue() == memberID {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}

func TestTimeoutNotRetried(t *testing.T) {
	p, c, _ := setup(t, emulator.Config{}, bitrix24.ClientConfig{HTTPClient: &http.Client{Timeout: 200 * time.Millisecond}})
	p.SetFailure(emulator.Failure{Delay: time.Second, DelayCalls: 1})
	err := c.Call(ctx(t), p.MemberID(), "im.notify.system.add", map[string]any{"USER_ID": 1, "MESSAGE": "x"}, nil)
	if err == nil || !strContains(err.Error(), "not retried") {
		t.Fatalf("timeout: %v", err)
	}
	if n := len(p.Notifications()); n != 1 {
		t.Fatalf("the call ran %d times, want 1 (ran once, answer lost, not repeated)", n)
	}
}

// bizproc.event.send is one-shot per event_token, so EventSend may repeat after a lost answer.
func TestEventSendRepeatsAfterTimeout(t *testing.T) {
	p, c, _ := setup(t, emulator.Config{}, bitrix24.ClientConfig{HTTPClient: &http.Client{Timeout: 300 * time.Millisecond}})
	app := &robotApp{appTk: p.ApplicationToken(), reqs: make(chan *bitrix24.RobotRequest, 1)}
	srv := httptest.NewServer(app)
	defer srv.Close()
	tok, _, err := p.RobotCall(ctx(t), srv.URL+"/robot", "sign_pdf", 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var reported []string
	p.OnEventSent(func(token string, _ map[string]any) {
		mu.Lock()
		defer mu.Unlock()
		reported = append(reported, token)
	})
	p.SetFailure(emulator.Failure{Delay: time.Second, DelayCalls: 1})
	if err := c.EventSend(ctx(t), p.MemberID(), tok, map[string]any{"signed": "Y"}, "ok"); err != nil {
		t.Fatal(err)
	}
	sends, dups := 0, 0
	for _, call := range p.Calls() {
		if call.Method == "bizproc.event.send" {
			sends++
			if call.Duplicate {
				dups++
			}
		}
	}
	if len(p.EventsSent()[tok]) != 1 || sends != 2 || dups != 1 {
		t.Fatalf("accepted %d, sends %d, duplicates %d", len(p.EventsSent()[tok]), sends, dups)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := len(reported); n != 1 || reported[0] != tok {
		t.Fatalf("OnEventSent reported %d completions %v, want the one accepted send of %s", n, reported, tok)
	}
}

// Every sign and callback worker calls the same portal at once. With Go's default of two idle
// connections per host, each response beyond the second closed its connection and the next request
// dialled a new one (a TCP handshake and a goroutine pair per REST call); the client keeps them alive.
func TestConnectionsKeptAlive(t *testing.T) {
	p := emulator.New(emulator.Config{RatePerSec: 10000, Burst: 10000})
	if _, err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	store := mustStore(t, p)
	c := bitrix24.NewClient(bitrix24.ClientConfig{ClientID: p.ClientID(), ClientSecret: p.ClientSecret(),
		OAuthURL: p.OAuthURL(), AllowPrivate: true, RatePerSec: 10000, Burst: 10000}, store) // its own HTTP client
	const workers, rounds = 16, 10
	for range rounds {
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for range workers {
			wg.Go(func() { errs <- c.Call(ctx(t), p.MemberID(), "app.info", nil, nil) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	// 160 calls, 16 at a time: at most one connection per concurrent call, plus a few the transport
	// dials while another one is being returned to the pool.
	if n := p.Connections(); n > 2*workers {
		t.Fatalf("the client opened %d connections for %d calls, %d at a time: it does not keep them alive", n, workers*rounds, workers)
	}
}

// Reference §3, §10: app context and admin, CODE validation, duplicates.
func TestRobotAndPlacementStrictness(t *testing.T) {
	p, c, _ := setup(t, emulator.Config{}, bitrix24.ClientConfig{})
	mid := p.MemberID()
	robot := func(code string) map[string]any {
		return map[string]any{"CODE": code, "HANDLER": "https://signer.example.com/b24/robot", "AUTH_USER_ID": 1,
			"NAME": "Sign PDF", "PROPERTIES": map[string]any{"fileId": map[string]any{"Name": "Doc", "Type": "file"}}}
	}
	if err := c.Call(ctx(t), mid, "bizproc.robot.add", robot("sign_pdf"), nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		params map[string]any
		code   string
	}{
		{robot("sign_pdf"), bitrix24.ErrCodeActivityAlreadyExists},
		{robot("sign pdf!"), bitrix24.ErrCodeActivityValidation},
		{robot(""), bitrix24.ErrCodeActivityValidation},
		{map[string]any{"CODE": "x", "HANDLER": "ftp://a.b/", "NAME": "n"}, bitrix24.ErrCodeUnsupportedProtocol},
		{map[string]any{"CODE": "x", "HANDLER": "https://localhost/", "NAME": "n"}, bitrix24.ErrCodeWrongHandlerURL},
		{map[string]any{"CODE": "x", "HANDLER": "https://a.b/", "NAME": ""}, bitrix24.ErrCodeActivityValidation},
		{map[string]any{"CODE": "x", "HANDLER": "https://a.b/", "NAME": "n", "PROPERTIES": map[string]any{"1bad": map[string]any{"Name": "n"}}}, bitrix24.ErrCodeActivityValidation},
	} {
		err := c.Call(ctx(t), mid, "bizproc.robot.add", tc.params, nil)
		if !bitrix24.IsCode(err, tc.code) {
			t.Errorf("robot.add %v: %v, want %s", tc.params["CODE"], err, tc.code)
		}
	}
	var codes []string
	if err := c.Call(ctx(t), mid, "bizproc.robot.list", nil, &codes); err != nil || len(codes) != 1 || codes[0] != "sign_pdf" {
		t.Fatalf("list: %v %v", codes, err)
	}
	if err := c.Call(ctx(t), mid, "bizproc.robot.update", map[string]any{"CODE": "sign_pdf", "FIELDS": map[string]any{"NAME": "Sign"}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Call(ctx(t), mid, "bizproc.robot.update", map[string]any{"CODE": "nope", "FIELDS": map[string]any{"NAME": "x"}}, nil); !bitrix24.IsCode(err, bitrix24.ErrCodeActivityNotFound) {
		t.Fatalf("update unknown: %v", err)
	}
	if err := c.Call(ctx(t), mid, "bizproc.robot.delete", map[string]any{"CODE": "sign_pdf"}, nil); err != nil {
		t.Fatal(err)
	}

	// a user who is not the admin
	userStore := bitrix24.NewMemoryTokenStore()
	_ = userStore.Save(context.Background(), p.NewAuth(5))
	uc := bitrix24.NewClient(bitrix24.ClientConfig{}, userStore)
	var e *bitrix24.Error
	if err := uc.Call(ctx(t), mid, "bizproc.robot.add", robot("r2"), nil); !errorsAs(err, &e) || e.Description != "Access denied!" {
		t.Fatalf("non-admin: %v", err)
	}

	// incoming webhook: no application context
	hook := p.AddWebhook(1)
	for method, want := range map[string]string{"bizproc.robot.add": "ACCESS_DENIED", "placement.bind": "WRONG_AUTH_TYPE"} {
		st, m := rawPost(t, hook+method+".json", `{"CODE":"w","HANDLER":"https://a.b/","NAME":"n","PLACEMENT":"CRM_DEAL_DETAIL_TAB"}`, "application/json")
		if st != 403 || m["error"] != want {
			t.Errorf("webhook %s: %d %v", method, st, m)
		}
	}
	st, m := rawPost(t, p.BaseURL()+"/rest/1/wrongcode/app.info", `{}`, "application/json")
	if st != 401 || m["error"] != "NO_AUTH_FOUND" {
		t.Fatalf("bad webhook code: %d %v", st, m)
	}

	bind := map[string]any{"PLACEMENT": "CRM_DEAL_DETAIL_TOOLBAR", "HANDLER": "https://signer.example.com/b24/placement", "TITLE": "Sign"}
	if err := c.Call(ctx(t), mid, "placement.bind", bind, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Call(ctx(t), mid, "placement.bind", bind, nil); !bitrix24.IsCode(err, bitrix24.ErrCodePlacementHandlerExists) {
		t.Fatalf("double bind: %v", err)
	}
	st, m = rawPost(t, p.BaseURL()+"/rest/placement.bind", `{"auth":"`+mustAccess(t, p)+`","HANDLER":"https://a.b/"}`, "application/json")
	if st != 400 || m["error"] != "ERROR_ARGUMENT" || m["argument"] != "PLACEMENT" {
		t.Fatalf("bind without PLACEMENT: %d %v", st, m)
	}
	var bound []map[string]any
	if err := c.Call(ctx(t), mid, "placement.get", nil, &bound); err != nil || len(bound) != 1 {
		t.Fatalf("placement.get: %v %v", bound, err)
	}
}

func BenchmarkCall(b *testing.B) {
	p := emulator.New(emulator.Config{})
	if _, err := p.Start(); err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	store := bitrix24.NewMemoryTokenStore()
	_ = store.Save(context.Background(), p.NewAuth(1))
	c := bitrix24.NewClient(bitrix24.ClientConfig{RatePerSec: 1e9, Burst: 1 << 30}, store)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.Call(context.Background(), p.MemberID(), "app.info", nil, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// The emulator expires access tokens after AccessTokenTTL; the client refreshes once and goes on.
func TestTokenTTL(t *testing.T) {
	p, c, store := setup(t, emulator.Config{AccessTokenTTL: 300 * time.Millisecond}, bitrix24.ClientConfig{})
	if err := c.Call(ctx(t), p.MemberID(), "app.info", nil, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond) // let the token expire
	if err := c.Call(ctx(t), p.MemberID(), "app.info", nil, nil); err != nil {
		t.Fatal(err)
	}
	if p.Refreshes() != 1 || store.Saves() != 2 {
		t.Fatalf("refreshes %d saves %d", p.Refreshes(), store.Saves())
	}
	var codes []string
	for _, call := range p.Calls() {
		codes = append(codes, call.ErrorCode)
	}
	if len(codes) != 3 || codes[1] != bitrix24.ErrCodeExpiredToken {
		t.Fatalf("calls %q", codes)
	}
}

// Stored auth with only a refresh token (no access token yet) refreshes before the first call.
func TestRefreshWhenNoAccessToken(t *testing.T) {
	p, c, store := setup(t, emulator.Config{}, bitrix24.ClientConfig{})
	a, _ := store.Load(context.Background(), p.MemberID())
	a.AccessToken = ""
	_ = store.Save(context.Background(), a)
	if err := c.Call(ctx(t), p.MemberID(), "app.info", nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, call := range p.Calls() {
		if call.ErrorCode != "" {
			t.Fatalf("a call went out without a token: %+v", call)
		}
	}
	if p.Refreshes() != 1 {
		t.Fatalf("refreshes %d", p.Refreshes())
	}
}
