package emulator_test

import (
	"context"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/signet-b24/signet/bitrix24/emulator"
)

// user.search (bitrix24-people-notes.md §2): FILTER.FIND over names and position, "Text%" as a
// prefix, NAME as one field, total; no EMAIL in scope user_brief, EMAIL in user_basic.
func TestUserSearch(t *testing.T) {
	staff := []emulator.User{{ID: 7, Name: "Ivan", LastName: "Petrov", WorkPosition: "Accountant", Email: "ivan@example.test"},
		{ID: 8, Name: "Мария", LastName: "Иванова", WorkPosition: "Sales manager", Email: "maria@example.test"}}
	p := start(t, emulator.Config{Users: staff})
	tok := p.NewAuth(1).AccessToken
	search := func(p *emulator.Portal, tok, filter string) []map[string]any {
		st, m, raw := post(t, p.BaseURL()+"/rest/user.search", "application/json", `{"auth":"`+tok+`","FILTER":`+filter+`}`)
		if st != 200 {
			t.Fatalf("user.search %s: %d %s", filter, st, raw)
		}
		var out []map[string]any
		for _, u := range m["result"].([]any) {
			out = append(out, u.(map[string]any))
		}
		if int(m["total"].(float64)) != len(out) {
			t.Errorf("user.search %s: total %v, %d users", filter, m["total"], len(out))
		}
		return out
	}
	if got := search(p, tok, `{"FIND":"Iva%"}`); len(got) != 1 || got[0]["ID"] != "7" || got[0]["EMAIL"] != nil {
		t.Errorf("FIND Iva%%: %v, want Ivan without EMAIL", got)
	}
	if got := search(p, tok, `{"FIND":"ив%"}`); len(got) != 1 || got[0]["ID"] != "8" {
		t.Errorf("FIND ив%%: %v, want Иванова", got)
	}
	if got := search(p, tok, `{"FIND":"мар"}`); len(got) != 1 || got[0]["NAME"] != "Мария" {
		t.Errorf("FIND мар: %v", got)
	}
	if got := search(p, tok, `{"FIND":"account"}`); len(got) != 1 || got[0]["ID"] != "7" {
		t.Errorf("FIND by position: %v", got)
	}
	if got := search(p, tok, `{"NAME":"Ivan","UNKNOWN_FIELD":"x"}`); len(got) != 1 {
		t.Errorf("NAME with an unknown field (skipped): %v", got)
	}
	if got := search(p, tok, `{"FIND":"nobody"}`); len(got) != 0 {
		t.Errorf("FIND nobody: %v", got)
	}
	basic := start(t, emulator.Config{Users: staff, Scope: "crm,im,user_basic"})
	if got := search(basic, basic.NewAuth(1).AccessToken, `{"FIND":"Ivan"}`); len(got) != 1 || got[0]["EMAIL"] != "ivan@example.test" {
		t.Errorf("user_basic: %v, want EMAIL", got)
	}
	narrow := start(t, emulator.Config{Scope: "crm"})
	if st, m, _ := post(t, narrow.BaseURL()+"/rest/user.search", "application/json", `{"auth":"`+narrow.NewAuth(1).AccessToken+`"}`); st != 403 || m["error"] != "insufficient_scope" {
		t.Errorf("user.search without a user scope: %d %v", st, m)
	}
}

// im.notify.personal.add and im.notify.system.add (bitrix24-people-notes.md §1): the documented
// errors, the personal one sent on behalf of the token's user, a TAG replacing an earlier one, ATTACH
// over 30 KB refused, TAG through a webhook only with CLIENT_ID.
func TestIMNotify(t *testing.T) {
	p := start(t, emulator.Config{})
	tok := p.NewAuth(5).AccessToken
	call := func(method, body string) (int, map[string]any) {
		st, m, _ := post(t, p.BaseURL()+"/rest/"+method, "application/json", body)
		return st, m
	}
	if st, m := call("im.notify.personal.add", `{"auth":"`+tok+`","MESSAGE":"x"}`); st != 400 || m["error"] != "USER_ID_EMPTY" {
		t.Errorf("no USER_ID: %d %v", st, m)
	}
	if st, m := call("im.notify.system.add", `{"auth":"`+tok+`","USER_ID":7,"MESSAGE":"   "}`); st != 400 || m["error"] != "MESSAGE_EMPTY" {
		t.Errorf("blank MESSAGE: %d %v", st, m)
	}
	big := `"` + strings.Repeat("a", 31<<10) + `"`
	if st, m := call("im.notify.personal.add", `{"auth":"`+tok+`","USER_ID":7,"MESSAGE":"x","ATTACH":[{"MESSAGE":`+big+`}]}`); st != 400 || m["error"] != "ATTACH_OVERSIZE" {
		t.Errorf("ATTACH over 30 KB: %d %v", st, m)
	}
	if st, m := call("im.notify.personal.add", `{"auth":"`+tok+`","USER_ID":7,"MESSAGE":"first","TAG":"enrol|7"}`); st != 200 || m["result"] == nil {
		t.Fatalf("personal: %d %v", st, m)
	}
	if st, _ := call("im.notify.personal.add", `{"auth":"`+tok+`","USER_ID":7,"MESSAGE":" second ","TAG":"enrol|7"}`); st != 200 {
		t.Fatal("second personal notification refused")
	}
	n := p.Notifications()
	if len(n) != 1 || n[0].Message != "second" || n[0].From != 5 || n[0].UserID != 7 {
		t.Errorf("after two notifications with one TAG: %+v", n)
	}
	hook := p.AddWebhook(1)
	if st, m, _ := post(t, hook+"im.notify.system.add", "application/json", `{"USER_ID":7,"MESSAGE":"x","TAG":"t"}`); st != 400 || m["error"] != "ERROR_ARGUMENT" {
		t.Errorf("TAG through a webhook without CLIENT_ID: %d %v", st, m)
	}
	if st, m, _ := post(t, hook+"im.notify.system.add", "application/json", `{"USER_ID":7,"MESSAGE":"x","TAG":"t","CLIENT_ID":"local.emulator"}`); st != 200 {
		t.Errorf("TAG through a webhook with CLIENT_ID: %d %v", st, m)
	}
}

// The application's own page (PLACEMENT=DEFAULT) reaches the handler with the viewing user's LANG and
// a fresh token of that user that user.current confirms.
func TestAppPageRequest(t *testing.T) {
	p := start(t, emulator.Config{Language: "en"})
	req, err := p.AppPageRequest(context.Background(), "http://127.0.0.1:1/admin/bitrix24", 7, "ru")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(req.Body)
	form, _ := url.ParseQuery(string(body))
	if req.URL.Query().Get("LANG") != "ru" || form.Get("PLACEMENT") != "DEFAULT" || form.Get("member_id") != p.MemberID() || form.Get("APPLICATION_TOKEN") != "" {
		t.Errorf("application page request: %s %v", req.URL, form)
	}
	st, m, _ := post(t, p.BaseURL()+"/rest/user.current", "application/json", `{"auth":"`+form.Get("AUTH_ID")+`"}`)
	if st != 200 || m["result"].(map[string]any)["ID"] != "7" {
		t.Errorf("user.current with the page's AUTH_ID: %d %v", st, m)
	}
}
