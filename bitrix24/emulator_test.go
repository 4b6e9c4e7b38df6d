package bitrix24_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/emulator"
)

// setup starts a portal and a client whose store holds the admin's install tokens.
func setup(t *testing.T, cfg emulator.Config, ccfg bitrix24.ClientConfig) (*emulator.Portal, *bitrix24.Client, *bitrix24.MemoryTokenStore) {
	t.Helper()
	p := emulator.New(cfg)
	if _, err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	store := bitrix24.NewMemoryTokenStore()
	if err := store.Save(context.Background(), p.NewAuth(emulator.AdminUserID)); err != nil {
		t.Fatal(err)
	}
	ccfg.ClientID, ccfg.ClientSecret, ccfg.OAuthURL = p.ClientID(), p.ClientSecret(), p.OAuthURL()
	ccfg.AllowPrivate = true
	if ccfg.HTTPClient == nil {
		ccfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	return p, bitrix24.NewClient(ccfg, store), store
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// rawPost sends a REST call by hand, to check envelopes byte for byte.
func rawPost(t *testing.T, target, body, ct string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(target, ct, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("answer is not JSON: %v", err)
	}
	return resp.StatusCode, m
}

func TestEmulatorEnvelopes(t *testing.T) {
	p, _, _ := setup(t, emulator.Config{}, bitrix24.ClientConfig{})
	base := p.BaseURL() + "/rest/"
	a := p.NewAuth(emulator.AdminUserID)

	st, m := rawPost(t, base+"app.info.json", `{}`, "application/json")
	if st != 401 || m["error"] != "NO_AUTH_FOUND" || m["error_description"] != "Wrong authorization data" || len(m) != 2 {
		t.Fatalf("no auth: %d %v", st, m)
	}
	st, m = rawPost(t, base+"app.info", `{"auth":"nope"}`, "application/json")
	if st != 401 || m["error"] != "invalid_token" {
		t.Fatalf("bad token: %d %v", st, m)
	}
	st, m = rawPost(t, base+"no.such.method", `{"auth":"`+a.AccessToken+`"}`, "application/json")
	if st != 404 || m["error"] != "ERROR_METHOD_NOT_FOUND" {
		t.Fatalf("unknown method: %d %v", st, m)
	}
	// form body works too, and the success envelope carries result and time
	st, m = rawPost(t, base+"app.info.json", "auth="+a.AccessToken, "application/x-www-form-urlencoded")
	tm, _ := m["time"].(map[string]any)
	if st != 200 || m["result"] == nil || tm["operating_reset_at"] == nil || tm["date_start"] == nil {
		t.Fatalf("success: %d %v", st, m)
	}
	p.SetFailure(emulator.Failure{ExpireTokens: true})
	st, m = rawPost(t, base+"app.info", `{"auth":"`+a.AccessToken+`"}`, "application/json")
	if st != 401 || m["error"] != "expired_token" || m["error_description"] != "The access token provided has expired." {
		t.Fatalf("expired: %d %v", st, m)
	}
	calls := p.Calls()
	if len(calls) != 5 || calls[4].ErrorCode != "expired_token" || calls[3].ErrorCode != "" {
		t.Fatalf("call log: %+v", calls)
	}
	for _, c := range calls {
		if _, leaked := c.Params["auth"]; leaked {
			t.Fatal("call log keeps the auth token")
		}
	}
}

// robotApp is a minimal app: install handler saving tokens, robot handler queueing requests.
type robotApp struct {
	store *bitrix24.MemoryTokenStore
	appTk string
	reqs  chan *bitrix24.RobotRequest
}

func (a *robotApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/install":
		ev, err := bitrix24.ParseInstallEvent(r)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		a.appTk = ev.Auth.ApplicationToken
		_ = a.store.Save(r.Context(), ev.Auth)
	case "/robot":
		rr, err := bitrix24.ParseRobotRequest(r)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		if !bitrix24.VerifyApplicationToken(a.appTk, rr.Auth.ApplicationToken) {
			http.Error(w, "application_token mismatch", 403)
			return
		}
		a.reqs <- rr
	}
}

func TestInstallRobotCallEventSend(t *testing.T) {
	p := emulator.New(emulator.Config{})
	if _, err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	store := bitrix24.NewMemoryTokenStore()
	app := &robotApp{store: store, reqs: make(chan *bitrix24.RobotRequest, 1)}
	srv := httptest.NewServer(app)
	defer srv.Close()
	c := bitrix24.NewClient(bitrix24.ClientConfig{ClientID: p.ClientID(), ClientSecret: p.ClientSecret(), OAuthURL: p.OAuthURL()}, store)

	if err := p.Install(ctx(t), srv.URL+"/install"); err != nil {
		t.Fatal(err)
	}
	if app.appTk != p.ApplicationToken() {
		t.Fatal("install did not deliver the application token")
	}
	// register the robot the way the app does on install
	err := c.Call(ctx(t), p.MemberID(), "bizproc.robot.add", map[string]any{
		"CODE": "sign_pdf", "HANDLER": "http://127.0.0.1/b24/robot", "AUTH_USER_ID": 1, "USE_SUBSCRIPTION": "Y",
		"NAME":              map[string]any{"en": "Sign PDF"},
		"PROPERTIES":        map[string]any{"fileId": map[string]any{"Name": "Document", "Type": "file", "Required": "Y"}},
		"RETURN_PROPERTIES": map[string]any{"signed": map[string]any{"Name": "Signed", "Type": "bool"}, "errorText": map[string]any{"Name": "Error", "Type": "string"}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, st, err := p.RobotCall(ctx(t), srv.URL+"/robot", "sign_pdf", 1188, map[string]any{"fileId": "42", "files": []any{"1", "2"}})
	if err != nil || st != 200 {
		t.Fatalf("robot call: %d %v", st, err)
	}
	rr := <-app.reqs
	if rr.EventToken != tok || rr.Code != "sign_pdf" || rr.Auth.MemberID != p.MemberID() || !rr.UseSubscription ||
		rr.Properties["fileId"] != "42" || len(rr.Properties["files"].([]string)) != 2 || rr.Auth.AccessToken == "" {
		t.Fatalf("robot request: %+v", rr)
	}
	if id, _ := rr.DealID(); id != 1188 {
		t.Fatalf("deal id %d", id)
	}
	// SIGNED is matched case-insensitively to "signed"; "unknown" is dropped (reference §5)
	if err := c.EventSend(ctx(t), p.MemberID(), tok, map[string]any{"SIGNED": "Y", "unknown": "x"}, "Signed by Ivan"); err != nil {
		t.Fatal(err)
	}
	if err := c.EventSend(ctx(t), p.MemberID(), tok, map[string]any{"signed": "N"}, "again"); err != nil {
		t.Fatalf("duplicate send must still return true: %v", err)
	}
	sent := p.EventsSent()[tok]
	if len(sent) != 1 || len(sent[0]) != 1 || sent[0]["signed"] != "Y" || p.LogMessages()[tok][0] != "Signed by Ivan" {
		t.Fatalf("events sent: %v", sent)
	}
	dups := 0
	for _, call := range p.Calls() {
		if call.Method == "bizproc.event.send" && call.Duplicate {
			dups++
		}
	}
	if dups != 1 {
		t.Fatalf("duplicate sends recorded: %d", dups)
	}
	// a forged token fails the signature check
	err = c.EventSend(ctx(t), p.MemberID(), tok+"x", nil, "")
	if !bitrix24.IsCode(err, bitrix24.ErrCodeAccessDenied) {
		t.Fatalf("forged token: %v", err)
	}
	// a robot call with a wrong application token is refused by the app
	app.appTk = "other"
	if _, st, _ := p.RobotCall(ctx(t), srv.URL+"/robot", "sign_pdf", 1, nil); st != 403 {
		t.Fatalf("app accepted a foreign application_token: %d", st)
	}
}

func TestDiskCRMTimelineNotify(t *testing.T) {
	p, c, _ := setup(t, emulator.Config{}, bitrix24.ClientConfig{})
	mid := p.MemberID()
	pdf := []byte("%PDF-1.7 original")
	diskID, dlURL := p.AddDealFile(7, "contract.pdf", pdf)

	var f struct {
		ID          bitrix24.ID `json:"ID"`
		Name        string      `json:"NAME"`
		DownloadURL string      `json:"DOWNLOAD_URL"`
	}
	if err := c.Call(ctx(t), mid, "disk.file.get", map[string]any{"id": diskID}, &f); err != nil {
		t.Fatal(err)
	}
	if int(f.ID) != diskID || f.Name != "contract.pdf" || !strings.Contains(f.DownloadURL, "auth=") {
		t.Fatalf("disk.file.get: %+v", f)
	}
	for _, u := range []string{f.DownloadURL, dlURL} {
		var buf strings.Builder
		n, err := c.Download(ctx(t), mid, u, 1<<20, &buf)
		if err != nil || n != int64(len(pdf)) || buf.String() != string(pdf) {
			t.Fatalf("download: %d %v %q", n, err, buf.String())
		}
	}
	// without auth= the portal answers 404
	noAuth, _ := url.Parse(f.DownloadURL)
	q := noAuth.Query()
	q.Del("auth")
	noAuth.RawQuery = q.Encode()
	if _, err := c.Download(ctx(t), mid, noAuth.String(), 1<<20, io.Discard); err == nil || !strings.Contains(err.Error(), "HTTP 404") {
		t.Fatalf("download without auth: %v", err)
	}

	signed := []byte("%PDF-1.7 signed")
	if err := c.Call(ctx(t), mid, "disk.file.uploadVersion", map[string]any{"id": diskID,
		"fileContent": []any{"contract.pdf", encodeB64(signed)}}, nil); err != nil {
		t.Fatal(err)
	}
	if v := p.FileVersions(diskID); len(v) != 2 || string(v[0]) != string(pdf) || string(v[1]) != string(signed) {
		t.Fatalf("versions: %q", v)
	}

	// crm.item.update: {"id":N} keeps a file, ["name","b64"] adds one, the rest is deleted (reference §6.2)
	var item struct {
		Item map[string]json.RawMessage `json:"item"`
	}
	if err := c.Call(ctx(t), mid, "crm.item.get", map[string]any{"entityTypeId": 2, "id": 7}, &item); err != nil {
		t.Fatal(err)
	}
	var files []struct {
		ID         bitrix24.ID `json:"id"`
		URLMachine string      `json:"urlMachine"`
	}
	if err := json.Unmarshal(item.Item[emulator.DealFileField], &files); err != nil || len(files) != 1 {
		t.Fatalf("deal files: %s %v", item.Item[emulator.DealFileField], err)
	}
	var buf strings.Builder
	if _, err := c.Download(ctx(t), mid, files[0].URLMachine, 1<<20, &buf); err != nil || buf.String() != string(pdf) {
		t.Fatalf("urlMachine download: %v", err)
	}
	keep := files[0].ID
	err := c.Call(ctx(t), mid, "crm.item.update", map[string]any{"entityTypeId": 2, "id": 7, "fields": map[string]any{
		emulator.DealFileField: []any{map[string]any{"id": keep}, []any{"contract_signed.pdf", encodeB64(signed)}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if df := p.DealFiles(7); len(df) != 2 || df[int(keep)] != "contract.pdf" {
		t.Fatalf("after keep+add: %v", df)
	}
	err = c.Call(ctx(t), mid, "crm.item.update", map[string]any{"entityTypeId": 2, "id": 7, "fields": map[string]any{
		emulator.DealFileField: []any{[]any{"only.pdf", encodeB64(signed)}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if df := p.DealFiles(7); len(df) != 1 || df[int(keep)] != "" {
		t.Fatalf("omitted ids must be deleted: %v", df)
	}

	var commentID int
	if err := c.Call(ctx(t), mid, "crm.timeline.comment.add", map[string]any{"fields": map[string]any{
		"ENTITY_ID": 7, "ENTITY_TYPE": "deal", "COMMENT": "Signed by Ivan", "FILES": []any{[]any{"s.pdf", encodeB64(signed)}}}}, &commentID); err != nil {
		t.Fatal(err)
	}
	tc := p.TimelineComments(7)
	if commentID == 0 || len(tc) != 1 || string(tc[0].Files["s.pdf"]) != string(signed) {
		t.Fatalf("timeline: %d %+v", commentID, tc)
	}
	err = c.Call(ctx(t), mid, "crm.timeline.comment.add", map[string]any{"FIELDS": map[string]any{"ENTITY_ID": 7, "ENTITY_TYPE": "deal", "COMMENT": "x"}}, nil)
	if !bitrix24.IsCode(err, bitrix24.ErrCodeInvalidArgValue) {
		t.Fatalf("upper-case FIELDS must fail: %v", err)
	}
	err = c.Call(ctx(t), mid, "crm.timeline.comment.add", map[string]any{"fields": map[string]any{"ENTITY_ID": 999, "ENTITY_TYPE": "deal", "COMMENT": "x"}}, nil)
	if !bitrix24.IsCode(err, bitrix24.ErrCodeOwnerNotFound) {
		t.Fatalf("missing owner: %v", err)
	}
	// crm.timeline.comment.list: newest first with order[ID]=DESC, pages of 50, filter required.
	for i := range 55 {
		if err := c.Call(ctx(t), mid, "crm.timeline.comment.add", map[string]any{"fields": map[string]any{
			"ENTITY_ID": 7, "ENTITY_TYPE": "deal", "COMMENT": fmt.Sprintf("comment %d", i)}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var page []struct {
		ID      string `json:"ID"`
		Comment string `json:"COMMENT"`
	}
	if err := c.Call(ctx(t), mid, "crm.timeline.comment.list", map[string]any{
		"filter": map[string]any{"ENTITY_ID": 7, "ENTITY_TYPE": "deal"}, "order": map[string]any{"ID": "DESC"}}, &page); err != nil {
		t.Fatal(err)
	}
	if len(page) != 50 || page[0].Comment != "comment 54" || page[49].Comment != "comment 5" {
		t.Fatalf("first page, newest first: %d comments, first %+v", len(page), page[0])
	}
	err = c.Call(ctx(t), mid, "crm.timeline.comment.list", map[string]any{"order": map[string]any{"ID": "DESC"}}, nil)
	if !bitrix24.IsCode(err, bitrix24.ErrCodeArgument) {
		t.Fatalf("a list without filter must fail: %v", err)
	}

	for i := 0; i < 2; i++ {
		if err := c.Call(ctx(t), mid, "im.notify.system.add", map[string]any{"USER_ID": 1, "MESSAGE": "Signed", "TAG": "sign|7"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := p.Notifications(); len(n) != 1 || n[0].Message != "Signed" {
		t.Fatalf("notifications (same TAG replaces): %+v", n)
	}
}

func TestDownloadRefusals(t *testing.T) {
	p, c, _ := setup(t, emulator.Config{}, bitrix24.ClientConfig{})
	mid := p.MemberID()
	big := make([]byte, 4096)
	_, dl := p.AddDealFile(1, "big.pdf", big)

	var foreignHits atomic.Int32
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { foreignHits.Add(1) }))
	defer foreign.Close()
	u, _ := url.Parse(dl)
	fu, _ := url.Parse(foreign.URL)
	u.Host = fu.Host
	if _, err := c.Download(ctx(t), mid, u.String(), 1<<20, io.Discard); !errorsIs(err, bitrix24.ErrForeignHost) {
		t.Fatalf("foreign host: %v", err)
	}
	if strings.Contains(errString(err2(c.Download(ctx(t), mid, u.String(), 1<<20, io.Discard))), "auth=") {
		t.Fatal("error message carries the URL token")
	}

	if _, err := c.Download(ctx(t), mid, dl, 100, io.Discard); !errorsIs(err, bitrix24.ErrTooLarge) {
		t.Fatalf("too large: %v", err)
	}

	// The portal now redirects everything elsewhere; the stored endpoint still names the old host.
	p.SetFailure(emulator.Failure{MoveDomain: true})
	if _, err := c.Download(ctx(t), mid, dl, 1<<20, io.Discard); !errorsIs(err, bitrix24.ErrPortalMoved) {
		t.Fatalf("redirect to another host: %v", err)
	}
	if foreignHits.Load() != 0 {
		t.Fatal("the foreign server was contacted")
	}

	// Without AllowPrivate a loopback portal is refused after resolution.
	strict := bitrix24.NewClient(bitrix24.ClientConfig{}, mustStore(t, p))
	if _, err := strict.Download(ctx(t), mid, p.BaseURL()+"/upload/crm/1/x.pdf", 1<<20, io.Discard); !errorsIs(err, bitrix24.ErrPrivateAddress) {
		t.Fatalf("private address: %v", err)
	}
}
