package emulator_test

import (
	"testing"

	"github.com/signet-b24/signet/bitrix24/emulator"
)

// user.get (bitrix24-people-notes.md §2): TIME_ZONE in scope user_brief, "" for a user who chose
// none, never EMAIL; without a user scope the portal answers insufficient_scope.
func TestUserGetTimeZone(t *testing.T) {
	p := start(t, emulator.Config{TimeZones: map[int]string{7: "Asia/Yekaterinburg"}})
	tok := p.NewAuth(1).AccessToken
	for id, want := range map[string]string{"7": "Asia/Yekaterinburg", "8": ""} {
		st, m, _ := post(t, p.BaseURL()+"/rest/user.get", "application/json", `{"auth":"`+tok+`","FILTER":{"ID":`+id+`}}`)
		users, _ := m["result"].([]any)
		if st != 200 || len(users) != 1 {
			t.Fatalf("user.get %s: %d %v", id, st, m)
		}
		u := users[0].(map[string]any)
		if u["ID"] != id || u["TIME_ZONE"] != want || u["EMAIL"] != nil {
			t.Errorf("user.get %s: %v, want TIME_ZONE %q and no EMAIL", id, u, want)
		}
	}
	narrow := start(t, emulator.Config{Scope: "crm,bizproc"})
	st, m, _ := post(t, narrow.BaseURL()+"/rest/user.get", "application/json", `{"auth":"`+narrow.NewAuth(1).AccessToken+`","FILTER":{"ID":7}}`)
	if st != 403 || m["error"] != "insufficient_scope" {
		t.Fatalf("user.get without user_brief: %d %v", st, m)
	}
}
