package emulator_test

import (
	"fmt"
	"testing"

	"github.com/signet-b24/signet/bitrix24/emulator"
)

// crm.item.list (Bitrix24 REST docs, crm.item.list): prefixed filter keys, order, pages of 50 with
// total and next, result.items; another entity type's items never appear.
func TestCRMItemListFilterAndPaging(t *testing.T) {
	p := start(t, emulator.Config{})
	tok := p.NewAuth(1).AccessToken
	var won []int
	for i := 0; i < 120; i++ {
		stage := "NEW"
		if i%2 == 0 {
			stage = "WON"
		}
		day := fmt.Sprintf("2026-11-%02dT10:00:00+00:00", 1+i%28)
		id := p.AddItem(emulator.EntityDeal, map[string]any{"title": fmt.Sprintf("Contract %d", i), "stageId": stage,
			"categoryId": i % 3, "assignedById": 7 + i%2, "createdTime": day})
		if stage == "WON" {
			won = append(won, id)
		}
	}
	inv := p.AddItem(emulator.EntityInvoice, map[string]any{"title": "Invoice 1", "stageId": "DT31_1:N"})
	list := func(body string) (int, map[string]any) {
		t.Helper()
		st, m, raw := post(t, p.BaseURL()+"/rest/crm.item.list", "application/json", `{"auth":"`+tok+`",`+body+`}`)
		if st != 200 {
			return st, m
		}
		if _, ok := m["result"].(map[string]any)["items"].([]any); !ok {
			t.Fatalf("crm.item.list %s: no result.items: %s", body, raw)
		}
		return st, m
	}
	items := func(m map[string]any) []any { return m["result"].(map[string]any)["items"].([]any) }

	_, m := list(`"entityTypeId":2,"filter":{"=stageId":"WON"}`)
	if len(items(m)) != 50 || int(m["total"].(float64)) != len(won) || int(m["next"].(float64)) != 50 {
		t.Fatalf("=stageId WON page 1: %d items, total %v, next %v; want 50, %d, 50", len(items(m)), m["total"], m["next"], len(won))
	}
	if id := int(items(m)[0].(map[string]any)["id"].(float64)); id != won[0] {
		t.Errorf("default order: first id %d, want %d", id, won[0])
	}
	_, m = list(`"entityTypeId":2,"filter":{"stageId":"WON"},"start":50`)
	if len(items(m)) != 10 || m["next"] != nil {
		t.Errorf("page 2: %d items, next %v; want 10 and no next", len(items(m)), m["next"])
	}
	_, m = list(`"entityTypeId":2,"filter":{"@categoryId":[1,2],"assignedById":8,">=createdTime":"2026-11-20","<createdTime":"2026-11-25T00:00:00+00:00"}`)
	for _, it := range items(m) {
		f := it.(map[string]any)
		if f["categoryId"].(float64) == 0 || f["assignedById"].(float64) != 8 || f["createdTime"].(string) < "2026-11-20" || f["createdTime"].(string) >= "2026-11-25" {
			t.Errorf("@categoryId/assignedById/date range let through %v", f)
		}
	}
	if n := int(m["total"].(float64)); n == 0 || n == 120 {
		t.Errorf("combined filter total %d: should pick some, not all", n)
	}
	_, m = list(`"entityTypeId":2,"filter":{"%title":"tract 11"},"order":{"id":"DESC"}`)
	if len(items(m)) != 11 || items(m)[0].(map[string]any)["title"] != "Contract 119" {
		t.Errorf("%%title with order DESC: %d items, first %v; want 11 from Contract 119", len(items(m)), items(m)[0])
	}
	_, m = list(`"entityTypeId":2,"filter":{"!@stageId":["WON"]}`)
	if int(m["total"].(float64)) != 120-len(won) {
		t.Errorf("!@stageId: total %v", m["total"])
	}
	_, m = list(`"entityTypeId":31,"filter":{}`)
	if len(items(m)) != 1 || int(items(m)[0].(map[string]any)["id"].(float64)) != inv || items(m)[0].(map[string]any)["entityTypeId"].(float64) != 31 {
		t.Errorf("invoices: %v, want only invoice %d", items(m), inv)
	}
	_, m = list(`"entityTypeId":2,"select":["title"],"filter":{"=stageId":"WON"}`)
	if f := items(m)[0].(map[string]any); f["title"] == nil || f["id"] == nil || f["stageId"] != nil || f[emulator.DealFileField] != nil {
		t.Errorf("select [title]: %v, want id, entityTypeId and title only", f)
	}
	if st, m := list(`"entityTypeId":2,"filter":{"=noSuchField":"x"}`); st != 400 || m["error"] != "INVALID_ARG_VALUE" {
		t.Errorf("unknown filter field: %d %v, want 400 INVALID_ARG_VALUE", st, m)
	}
	if st, m := list(`"entityTypeId":2,"filter":{"@stageId":"WON"}`); st != 400 {
		t.Errorf("@ with a scalar: %d %v, want 400", st, m)
	}
	if st, m := list(`"entityTypeId":1999`); st != 400 || m["error"] != "NOT_FOUND" {
		t.Errorf("unknown smart process: %d %v, want 400 NOT_FOUND", st, m)
	}
	if st, _ := list(`"filter":{}`); st != 400 {
		t.Errorf("no entityTypeId: %d, want 400", st)
	}
}
