package bitrix24

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func robotPost(t *testing.T, body, ct string) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/b24/robot", strings.NewReader(body))
	r.Header.Set("Content-Type", ct)
	return r
}

// The captured payload of reference §4 (TPL commit 208bee7), url-encoded as on the wire.
func TestParseRobotRequestCaptured(t *testing.T) {
	body, err := os.ReadFile("testdata/robot-call.form")
	if err != nil {
		t.Fatal(err)
	}
	rr, err := ParseRobotRequest(robotPost(t, string(body), "application/x-www-form-urlencoded"))
	if err != nil {
		t.Fatal(err)
	}
	want := &RobotRequest{
		WorkflowID:      "681c894d3f0ec8.54818143",
		Code:            "AIandMachineLearning____dev",
		EventToken:      "681c894d3f0ec8.54818143|A36717_5720_22885_29158|X3QpQY6RKFD8ULUtOiKllFEZLUaVuDYn.29c803f2…",
		DocumentID:      []string{"crm", "CCrmDocumentDeal", "DEAL_1188"},
		DocumentType:    []string{"crm", "CCrmDocumentDeal", "DEAL"},
		Properties:      map[string]any{"entityTypeId": "CRM_DEAL", "entityId": "1188"},
		UseSubscription: false,
		TimeoutDuration: 0,
		TS:              time.Unix(1746700621, 0),
		Auth: Auth{
			AccessToken: "5d97…", RefreshToken: "4d16…", ApplicationToken: "565be534fe44bce005bae699aa0313f8",
			MemberID: "3d906b2a32030386ccc7274d2313a01b", Domain: "bel.bitrix24.ru",
			ClientEndpoint: "https://bel.bitrix24.ru/rest/", ServerEndpoint: "https://oauth.bitrix.info/rest/",
			Scope: "crm,catalog,bizproc,placement,user_brief", Status: "L", UserID: 1, Expires: time.Unix(1746704221, 0),
		},
	}
	if !reflect.DeepEqual(rr, want) {
		t.Fatalf("got  %+v\nwant %+v", rr, want)
	}
	id, err := rr.DealID()
	if err != nil || id != 1188 {
		t.Fatalf("DealID = %d, %v; want 1188", id, err)
	}
	if !VerifyApplicationToken("565be534fe44bce005bae699aa0313f8", rr.Auth.ApplicationToken) {
		t.Fatal("application token of the captured payload does not verify")
	}
}

func TestParseRobotRequestMultipleAndCharset(t *testing.T) {
	body := "workflow_id=w&code=sign_pdf&event_token=e&document_id[0]=crm&document_id[1]=C&document_id[2]=DEAL_5" +
		"&properties[files][0]=10&properties[files][1]=11&properties[sparse][2]=x&properties[otp]=" +
		"&use_subscription=&auth[member_id]=m&auth[application_token]=a"
	rr, err := ParseRobotRequest(robotPost(t, body, "application/x-www-form-urlencoded; charset=UTF-8"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"files": []string{"10", "11"}, "sparse": []string{"x"}, "otp": ""}
	if !reflect.DeepEqual(rr.Properties, want) {
		t.Fatalf("properties %#v want %#v", rr.Properties, want)
	}
	if !rr.UseSubscription {
		t.Fatal("empty use_subscription must mean wait (reference §3.1)")
	}
	if rr.Auth.AccessToken != "" || rr.DocumentType != nil {
		t.Fatalf("unexpected auth/doc type: %+v", rr)
	}
}

func TestParseRobotRequestRejects(t *testing.T) {
	good := "workflow_id=w&code=c&event_token=e&document_id[0]=crm&document_id[1]=C&document_id[2]=DEAL_5&auth[member_id]=m&auth[application_token]=a"
	tests := []struct{ name, body, ct, method string }{
		{"json", `{"code":"c"}`, "application/json", "POST"},
		{"multipart", good, "multipart/form-data; boundary=x", "POST"},
		{"get", good, "application/x-www-form-urlencoded", "GET"},
		{"no event token", strings.Replace(good, "event_token=e&", "", 1), "", "POST"},
		{"no app token", strings.Replace(good, "&auth[application_token]=a", "", 1), "", "POST"},
		{"two app tokens", good + "&auth[application_token]=b", "", "POST"},
		{"short document id", strings.Replace(good, "&document_id[2]=DEAL_5", "", 1), "", "POST"},
		{"bad brackets", good + "&x[=1", "", "POST"},
		{"bad ts", good + "&ts=yesterday", "", "POST"},
		{"too large", good + "&pad=" + strings.Repeat("x", MaxInboundBody), "", "POST"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ct := tc.ct
			if ct == "" {
				ct = "application/x-www-form-urlencoded"
			}
			r := robotPost(t, tc.body, ct)
			r.Method = tc.method
			if _, err := ParseRobotRequest(r); !errors.Is(err, ErrBadRequest) {
				t.Fatalf("err = %v, want ErrBadRequest", err)
			}
		})
	}
}

func TestDocumentItem(t *testing.T) {
	tests := []struct {
		doc  string
		typ  string
		id   int
		fail bool
	}{
		{"DEAL_1188", "DEAL", 1188, false},
		{"LEAD_5", "LEAD", 5, false},
		{"DYNAMIC_183_7", "DYNAMIC_183", 7, false},
		{"DEAL_", "", 0, true},
		{"1188", "", 0, true},
		{"DEAL_x", "", 0, true},
		{"DEAL_-3", "", 0, true},
	}
	for _, tc := range tests {
		r := &RobotRequest{DocumentID: []string{"crm", "C", tc.doc}}
		typ, id, err := r.DocumentItem()
		if (err != nil) != tc.fail || typ != tc.typ || id != tc.id {
			t.Errorf("%s: got %q %d %v", tc.doc, typ, id, err)
		}
	}
}

func TestParseInstallEvent(t *testing.T) {
	body := "event=ONAPPINSTALL&data[VERSION]=1.0.0&data[ACTIVE]=Y&data[INSTALLED]=Y&data[LANGUAGE_ID]=de&ts=1696527000" +
		"&auth[domain]=p.bitrix24.de&auth[scope]=crm,bizproc&auth[access_token]=at&auth[refresh_token]=rt&auth[expires_in]=3600" +
		"&auth[server_endpoint]=https://oauth.bitrix.info/rest/&auth[status]=F&auth[client_endpoint]=https://p.bitrix24.de/rest/" +
		"&auth[member_id]=mid&auth[application_token]=51856fefc120afa4b628cc82d3935cce"
	ev, err := ParseInstallEvent(robotPost(t, body, "application/x-www-form-urlencoded"))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Event != EventAppInstall || ev.Version != "1.0.0" || ev.Language != "de" || ev.Auth.MemberID != "mid" ||
		ev.Auth.RefreshToken != "rt" || ev.Auth.ClientEndpoint != "https://p.bitrix24.de/rest/" || ev.TS.Unix() != 1696527000 {
		t.Fatalf("got %+v", ev)
	}
	if time.Until(ev.Auth.Expires) < 59*time.Minute {
		t.Fatalf("expires_in not applied: %v", ev.Auth.Expires)
	}

	un := "event=ONAPPUNINSTALL&data[LANGUAGE_ID]=de&data[CLEAN]=1&auth[domain]=p&auth[member_id]=mid&auth[application_token]=x"
	ev, err = ParseInstallEvent(robotPost(t, un, "application/x-www-form-urlencoded"))
	if err != nil || ev.Event != EventAppUninstall || !ev.Clean {
		t.Fatalf("uninstall: %+v %v", ev, err)
	}
	// The current reference: ONAPPINSTALL's auth carries no access or refresh token.
	ev, err = ParseInstallEvent(robotPost(t, "event=ONAPPINSTALL&auth[domain]=p&auth[member_id]=mid&auth[application_token]=x", "application/x-www-form-urlencoded"))
	if err != nil || ev.HasTokens() {
		t.Fatalf("token-less install: %+v %v", ev, err)
	}
	// A headless application's installation callback: auth[...] with tokens, no event name.
	ev, page, err := ParseInstallRequest(robotPost(t, "auth[domain]=p&auth[member_id]=mid&auth[application_token]=x&auth[access_token]=at", "application/x-www-form-urlencoded"))
	if err != nil || page != nil || ev.Event != EventAppInstall || !ev.HasTokens() {
		t.Fatalf("installation callback: %+v %v", ev, err)
	}
	ev, page, err = ParseInstallRequest(robotPost(t, "AUTH_ID=at&REFRESH_ID=rt&member_id=mid&AUTH_EXPIRES=3600", "application/x-www-form-urlencoded"))
	if err == nil {
		t.Fatalf("installation page without DOMAIN: %+v", page)
	}
	for _, bad := range []string{
		"event=ONCRMDEALADD&auth[member_id]=m&auth[application_token]=a",
		"event=ONAPPINSTALL&auth[member_id]=m&auth[domain]=d",            // no application_token
		"event=ONAPPINSTALL&auth[member_id]=m&auth[application_token]=a", // no domain
		"event=ONAPPUNINSTALL&auth[member_id]=m",
	} {
		if _, err := ParseInstallEvent(robotPost(t, bad, "application/x-www-form-urlencoded")); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%s: err = %v", bad, err)
		}
	}
}

func TestVerifyApplicationToken(t *testing.T) {
	for _, tc := range []struct {
		exp, got string
		ok       bool
	}{
		{"abc", "abc", true}, {"abc", "abd", false}, {"abc", "ab", false}, {"", "", false}, {"abc", "", false},
	} {
		if VerifyApplicationToken(tc.exp, tc.got) != tc.ok {
			t.Errorf("Verify(%q,%q) != %v", tc.exp, tc.got, tc.ok)
		}
	}
}

func TestErrorClassification(t *testing.T) {
	e := &Error{HTTPStatus: 503, Code: "query_limit_exceeded", Method: "crm.item.get", Portal: "p"}
	if !e.Retryable() || !errors.Is(e, &Error{Code: ErrCodeQueryLimitExceeded}) || !IsCode(e, ErrCodeQueryLimitExceeded) {
		t.Fatal("QUERY_LIMIT_EXCEEDED must be retryable and match case-insensitively")
	}
	for _, c := range []struct {
		st   int
		code string
		r    bool
	}{
		{503, ErrCodeOverloadLimit, false}, {500, ErrCodePortalDeleted, false}, {500, ErrCodeInternalServerError, true},
		{429, ErrCodeOperationTimeLimit, true}, {401, ErrCodeExpiredToken, false}, {400, ErrCodeArgument, false},
	} {
		if (&Error{HTTPStatus: c.st, Code: c.code}).Retryable() != c.r {
			t.Errorf("%d %s retryable != %v", c.st, c.code, c.r)
		}
	}
	if !strings.Contains(e.Error(), "crm.item.get on p") {
		t.Fatalf("error does not say where: %s", e)
	}
}
