package emulator_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/signet-b24/signet/bitrix24/emulator"
)

// crm.type.list (docs: CRM administrators; result.types, pages of 50 with total and next), as the
// bulk page reads it: an employee who is not a CRM administrator is refused.
func TestCRMTypeList(t *testing.T) {
	p := start(t, emulator.Config{Users: []emulator.User{{ID: 7, Name: "Mary", LastName: "Smith"}}})
	for i := range 55 {
		p.AddSmartProcess(1030+i, "Process "+strconv.Itoa(i), 100+i)
	}
	admin := p.NewAuth(emulator.AdminUserID).AccessToken
	st, m, raw := post(t, p.BaseURL()+"/rest/crm.type.list", "application/json", `{"auth":"`+admin+`"}`)
	if st != 200 {
		t.Fatalf("crm.type.list: %d %s", st, raw)
	}
	types := m["result"].(map[string]any)["types"].([]any)
	if len(types) != 50 || m["total"] != float64(55) || m["next"] != float64(50) {
		t.Errorf("first page: %d types, total %v, next %v; want 50, 55, 50", len(types), m["total"], m["next"])
	}
	first := types[0].(map[string]any)
	if first["entityTypeId"] != float64(1030) || first["title"] != "Process 0" || first["isCategoriesEnabled"] != "Y" {
		t.Errorf("a type as crm.type.get shows it: %v", first)
	}
	_, m, _ = post(t, p.BaseURL()+"/rest/crm.type.list", "application/json", `{"auth":"`+admin+`","start":50}`)
	if n := len(m["result"].(map[string]any)["types"].([]any)); n != 5 || m["next"] != nil {
		t.Errorf("second page: %d types, next %v", n, m["next"])
	}
	st, m, _ = post(t, p.BaseURL()+"/rest/crm.type.list", "application/json", `{"auth":"`+p.NewAuth(7).AccessToken+`"}`)
	if st != 403 || m["error"] != "ACCESS_DENIED" {
		t.Errorf("crm.type.list by an employee who is not a CRM administrator: %d %v", st, m)
	}
}

// crm.category.list (docs: entityTypeId*, result.categories of {id, name, sort, entityTypeId,
// isDefault}, filtered by the caller's permissions; an unknown type is an error) and crm.status.list
// (filter ENTITY_ID: DEAL_STAGE, DEAL_STAGE_<id>, DYNAMIC_<type>_STAGE_<id>; the whole list).
func TestCRMCategoriesAndStages(t *testing.T) {
	p := start(t, emulator.Config{Users: []emulator.User{{ID: 7, Name: "Mary", LastName: "Smith"}}})
	p.AddCategory(emulator.EntityDeal, 1, "Night invoices")
	p.AddCategory(emulator.EntityDeal, 3, "Board only")
	p.HideCategory(7, emulator.EntityDeal, 3)
	p.AddSmartProcess(1032, "Contracts", 14)
	mary := p.NewAuth(7).AccessToken
	call := func(method, body string) (int, map[string]any, string) {
		t.Helper()
		return post(t, p.BaseURL()+"/rest/"+method, "application/json", `{"auth":"`+mary+`",`+body+`}`)
	}
	st, m, raw := call("crm.category.list", `"entityTypeId":2`)
	if st != 200 {
		t.Fatalf("crm.category.list: %d %s", st, raw)
	}
	var names []string
	for _, c := range m["result"].(map[string]any)["categories"].([]any) {
		k := c.(map[string]any)
		names = append(names, k["name"].(string)+"/"+k["isDefault"].(string))
		if k["entityTypeId"] != float64(2) || k["sort"] == nil {
			t.Errorf("a pipeline as crm.category.get shows it: %v", k)
		}
	}
	if strings.Join(names, ",") != "General/Y,Night invoices/N" {
		t.Errorf("deal pipelines Mary may read: %v (the hidden one must be left out)", names)
	}
	if st, m, _ := call("crm.category.list", `"entityTypeId":1999`); st != 400 || m["error"] != "NOT_FOUND" {
		t.Errorf("an unknown entityTypeId: %d %v", st, m)
	}
	if st, m, _ := call("crm.category.list", `"x":1`); st != 400 || m["error"] != "ERROR_ARGUMENT" {
		t.Errorf("no entityTypeId: %d %v", st, m)
	}
	_, m, _ = call("crm.category.list", `"entityTypeId":1032`)
	if c := m["result"].(map[string]any)["categories"].([]any); len(c) != 1 || c[0].(map[string]any)["id"] != float64(14) {
		t.Errorf("the smart process's pipelines: %v", c)
	}

	stages := func(entityID string) []string {
		t.Helper()
		st, m, raw := call("crm.status.list", `"order":{"SORT":"ASC"},"filter":{"ENTITY_ID":"`+entityID+`"}`)
		if st != 200 {
			t.Fatalf("crm.status.list %s: %d %s", entityID, st, raw)
		}
		var out []string
		for _, s := range m["result"].([]any) {
			e := s.(map[string]any)
			if e["ENTITY_ID"] != entityID || e["NAME"] == "" || e["SORT"] == nil {
				t.Errorf("a stage as the docs show it: %v", e)
			}
			out = append(out, e["STATUS_ID"].(string))
		}
		return out
	}
	if got := strings.Join(stages("DEAL_STAGE"), ","); got != "NEW,PREPARATION,WON,LOSE" {
		t.Errorf("DEAL_STAGE: %s", got)
	}
	if got := strings.Join(stages("DEAL_STAGE_1"), ","); got != "C1:NEW,C1:WON,C1:LOSE" {
		t.Errorf("DEAL_STAGE_1: %s", got)
	}
	if got := strings.Join(stages("DYNAMIC_1032_STAGE_14"), ","); got != "DT1032_14:NEW,DT1032_14:SUCCESS,DT1032_14:FAIL" {
		t.Errorf("DYNAMIC_1032_STAGE_14: %s", got)
	}
	if got := stages("DEAL_STAGE_99"); len(got) != 0 {
		t.Errorf("a pipeline that does not exist has stages: %v", got)
	}
	if st, m, _ := call("crm.status.list", `"filter":{"NOPE":"x"}`); st != 400 || m["error"] != "INVALID_ARG_VALUE" {
		t.Errorf("an unknown filter field: %d %v", st, m)
	}
}

// crm.item.fields (docs: entityTypeId*, useOriginalUfNames; result.fields, name → {type, title,
// upperName, isMultiple…}; user fields camelCase by default, UF_CRM_… with Y).
func TestCRMItemFields(t *testing.T) {
	p := start(t, emulator.Config{})
	p.AddSmartProcess(1032, "Contracts", 14)
	p.AddUserField(1032, "UF_CRM_5_1639669411830", "file", "Scan")
	p.AddUserField(1032, "UF_CRM_5_NOTE", "string", "Note")
	tok := p.NewAuth(emulator.AdminUserID).AccessToken
	st, m, raw := post(t, p.BaseURL()+"/rest/crm.item.fields", "application/json", `{"auth":"`+tok+`","entityTypeId":1032}`)
	if st != 200 {
		t.Fatalf("crm.item.fields: %d %s", st, raw)
	}
	fields := m["result"].(map[string]any)["fields"].(map[string]any)
	scan, ok := fields["ufCrm5_1639669411830"].(map[string]any)
	if !ok || scan["type"] != "file" || scan["upperName"] != "UF_CRM_5_1639669411830" || scan["isMultiple"] != true || scan["title"] != "Scan" {
		t.Errorf("the file user field, camelCase: %v", fields["ufCrm5_1639669411830"])
	}
	if f, _ := fields["ufCrmSignetFiles"].(map[string]any); f == nil || f["type"] != "file" {
		t.Errorf("the Signet files field: %v", fields["ufCrmSignetFiles"])
	}
	if f, _ := fields["stageId"].(map[string]any); f == nil || f["type"] != "crm_status" {
		t.Errorf("stageId: %v", fields["stageId"])
	}
	_, m, _ = post(t, p.BaseURL()+"/rest/crm.item.fields", "application/json", `{"auth":"`+tok+`","entityTypeId":1032,"useOriginalUfNames":"Y"}`)
	if _, ok := m["result"].(map[string]any)["fields"].(map[string]any)["UF_CRM_5_NOTE"]; !ok {
		t.Error("useOriginalUfNames=Y does not name the user fields UF_CRM_…")
	}
	if st, m, _ := post(t, p.BaseURL()+"/rest/crm.item.fields", "application/json", `{"auth":"`+tok+`","entityTypeId":1999}`); st != 400 || m["error"] != "NOT_FOUND" {
		t.Errorf("an unknown entityTypeId: %d %v", st, m)
	}
}

// user.search pages of 50 (list methods' start), as the bulk page's responsible picker reads them.
func TestUserSearchPages(t *testing.T) {
	var staff []emulator.User
	for i := range 60 {
		staff = append(staff, emulator.User{ID: 100 + i, Name: "Anna", LastName: "Nr" + strconv.Itoa(i)})
	}
	p := start(t, emulator.Config{Users: staff})
	tok := p.NewAuth(1).AccessToken
	_, m, _ := post(t, p.BaseURL()+"/rest/user.search", "application/json", `{"auth":"`+tok+`","FILTER":{"FIND":"Ann%"}}`)
	if n := len(m["result"].([]any)); n != 50 || m["total"] != float64(60) || m["next"] != float64(50) {
		t.Errorf("first page: %d users, total %v, next %v", n, m["total"], m["next"])
	}
	_, m, _ = post(t, p.BaseURL()+"/rest/user.search", "application/json", `{"auth":"`+tok+`","FILTER":{"FIND":"Ann%"},"start":50}`)
	if n := len(m["result"].([]any)); n != 10 || m["next"] != nil {
		t.Errorf("second page: %d users, next %v", n, m["next"])
	}
}
