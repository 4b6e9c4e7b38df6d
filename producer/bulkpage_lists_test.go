package producer

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/signet-b24/signet/bitrix24/emulator"
)

// bulkListCall POSTs a picker's query with the page's session token and returns the status and answer.
func bulkListCall(t *testing.T, base, what, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+BulkPath+"/"+what, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set(BulkTokenHeader, token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %d %s", what, resp.StatusCode, raw)
	}
	return resp.StatusCode, m
}

// optionIDs are a picker list's ids.
func optionIDs(m map[string]any, key string) string {
	var ids []string
	l, _ := m[key].([]any)
	for _, o := range l {
		ids = append(ids, o.(map[string]any)["id"].(string))
	}
	return strings.Join(ids, ",")
}

// The bulk page's pickers come from the portal with the viewer's own rights (issue 19, must 3 and 5):
// the types (smart processes only for a CRM administrator; anyone else types the id), the pipelines the
// viewer may read, a pipeline's stages, the responsible by name and the type's file fields. A wrong
// entity type, a pipeline the viewer may not read, a missing or foreign session are refused, and a
// session of one portal lists that portal's pipelines, never another's.
func TestBulkPagePickersFromThePortal(t *testing.T) {
	staff := []emulator.User{{ID: 7, Name: "Mary", LastName: "Smith", WorkPosition: "Accountant"}, {ID: 8, Name: "Marko", LastName: "Polo"},
		{ID: 9, Name: "Ivan", LastName: "Petrov"}}
	f := newInstallFixture(t, emulator.Config{Users: staff, Admins: []int{9}})
	f.install(t)
	f.in.Bulk = &BulkSigning{}
	p := f.portal
	p.AddCategory(emulator.EntityDeal, 1, "Night invoices")
	p.AddCategory(emulator.EntityDeal, 3, "Board only")
	p.HideCategory(7, emulator.EntityDeal, 3)
	p.AddSmartProcess(1032, "Contracts", 14)
	p.AddUserField(1032, "UF_CRM_5_1639669411830", "file", "Scan")
	session := func(portal *emulator.Portal, userID int, login string) string {
		return f.in.bulkSeal("session", bulkSession{MemberID: portal.MemberID(), UserID: userID, Login: login,
			AuthID: portal.NewAuth(userID).AccessToken, Lang: "en", Expires: time.Now().Add(time.Hour).Unix()})
	}
	mary := session(p, 7, "mary")

	st, m := bulkListCall(t, f.srv.URL, "types", mary, `{}`)
	if st != 200 || optionIDs(m, "types") != "2,31" || m["typed"] != true {
		t.Errorf("types for an employee: %d %v; want deals and invoices, the smart process typed", st, m)
	}
	if st, m := bulkListCall(t, f.srv.URL, "types", session(p, 9, "ivan"), `{}`); st != 200 || optionIDs(m, "types") != "2,31,1032" || m["typed"] != false {
		t.Errorf("types for a CRM administrator: %d %v; want the smart process listed", st, m)
	}
	if st, m := bulkListCall(t, f.srv.URL, "categories", mary, `{"entity_type_id":2}`); st != 200 || optionIDs(m, "categories") != "0,1" {
		t.Errorf("deal pipelines Mary may read: %d %v", st, m)
	}
	if st, m := bulkListCall(t, f.srv.URL, "stages", mary, `{"entity_type_id":2,"category":"1"}`); st != 200 || optionIDs(m, "stages") != "C1:NEW,C1:WON,C1:LOSE" {
		t.Errorf("pipeline 1's stages: %d %v", st, m)
	}
	if st, m := bulkListCall(t, f.srv.URL, "stages", mary, `{"entity_type_id":2,"category":"0"}`); st != 200 || optionIDs(m, "stages") != "NEW,PREPARATION,WON,LOSE" {
		t.Errorf("the default pipeline's stages (DEAL_STAGE): %d %v", st, m)
	}
	if st, m := bulkListCall(t, f.srv.URL, "stages", mary, `{"entity_type_id":1032,"category":"14"}`); st != 200 || optionIDs(m, "stages") != "DT1032_14:NEW,DT1032_14:SUCCESS,DT1032_14:FAIL" {
		t.Errorf("the smart process's stages: %d %v", st, m)
	}
	if st, m := bulkListCall(t, f.srv.URL, "stages", mary, `{"entity_type_id":2,"category":"3"}`); st != 422 || !strings.Contains(m["error"].(string), "pipeline") {
		t.Errorf("the stages of a pipeline Mary may not read: %d %v", st, m)
	}
	if st, m := bulkListCall(t, f.srv.URL, "users", mary, `{"find":"mar"}`); st != 200 || optionIDs(m, "users") != "7,8" {
		t.Errorf("people found by \"mar\": %d %v", st, m)
	} else if title := m["users"].([]any)[0].(map[string]any)["title"]; title != "Mary Smith — Accountant" {
		t.Errorf("a person is named %q", title)
	}
	if st, m := bulkListCall(t, f.srv.URL, "users", mary, `{"find":"m"}`); st != 200 || optionIDs(m, "users") != "" {
		t.Errorf("one letter searches nobody: %d %v", st, m)
	}
	if st, m := bulkListCall(t, f.srv.URL, "fields", mary, `{"entity_type_id":1032}`); st != 200 || optionIDs(m, "fields") != "ufCrmSignetFiles,ufCrm5_1639669411830" {
		t.Errorf("the smart process's file fields: %d %v", st, m)
	}

	// A wrong entity type is refused before the portal is asked; one the portal lacks, by the portal.
	for _, body := range []string{`{"entity_type_id":3}`, `{"entity_type_id":0}`, `{"entity_type_id":-2}`} {
		for _, what := range []string{"categories", "stages", "fields"} {
			if st, m := bulkListCall(t, f.srv.URL, what, mary, body); st != 422 || !strings.Contains(m["error"].(string), "deals, invoices or a smart process") {
				t.Errorf("%s %s: %d %v", what, body, st, m)
			}
		}
	}
	if st, m := bulkListCall(t, f.srv.URL, "categories", mary, `{"entity_type_id":1999}`); st != 422 || !strings.Contains(m["error"].(string), "Bitrix24 did not give the list") {
		t.Errorf("a smart process the portal lacks: %d %v", st, m)
	}
	if st, _ := bulkListCall(t, f.srv.URL, "categories", mary, `not json`); st != 400 {
		t.Errorf("an unreadable query: %d", st)
	}

	// No session, a session sealed by another Signet, an expired one: 404 as /show, the portal not asked.
	other := &Intake{FormKey: bytes.Repeat([]byte{9}, 32), Now: time.Now}
	forged := other.bulkSeal("session", bulkSession{MemberID: p.MemberID(), UserID: 7, Login: "mary", AuthID: p.NewAuth(7).AccessToken, Expires: time.Now().Add(time.Hour).Unix()})
	expired := f.in.bulkSeal("session", bulkSession{MemberID: p.MemberID(), UserID: 7, Login: "mary", AuthID: p.NewAuth(7).AccessToken, Expires: time.Now().Add(-time.Minute).Unix()})
	for name, tok := range map[string]string{"none": "", "another Signet's": forged, "expired": expired, "changed": mary[:len(mary)-2] + "AA"} {
		for _, what := range []string{"types", "categories", "stages", "users", "fields"} {
			if st, _ := bulkListCall(t, f.srv.URL, what, tok, `{"entity_type_id":2,"category":"1","find":"mary"}`); st != 404 {
				t.Errorf("%s session, %s: %d, want 404", name, what, st)
			}
		}
	}

	// Another portal: its session lists its own pipelines; a session naming this portal with the other
	// portal's token is refused by this portal.
	p2 := emulator.New(emulator.Config{Users: staff})
	base2, err := p2.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p2.Close() })
	f.in.Domains = append(f.in.Domains, base2)
	if err := p2.Install(context.Background(), f.srv.URL+"/bitrix24/install"); err != nil {
		t.Fatal(err)
	}
	p2.AddCategory(emulator.EntityDeal, 5, "Elsewhere")
	if st, m := bulkListCall(t, f.srv.URL, "categories", session(p2, 7, "mary"), `{"entity_type_id":2}`); st != 200 || optionIDs(m, "categories") != "0,5" {
		t.Errorf("the other portal's pipelines: %d %v", st, m)
	}
	crossed := f.in.bulkSeal("session", bulkSession{MemberID: p.MemberID(), UserID: 7, Login: "mary", AuthID: p2.NewAuth(7).AccessToken, Expires: time.Now().Add(time.Hour).Unix()})
	if st, m := bulkListCall(t, f.srv.URL, "categories", crossed, `{"entity_type_id":2}`); st == 200 {
		t.Errorf("another portal's token read this portal's pipelines: %v", m)
	}
}
