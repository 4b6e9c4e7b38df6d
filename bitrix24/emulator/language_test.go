package emulator_test

import (
	"testing"

	"github.com/signet-b24/signet/bitrix24/emulator"
)

// The portal picks a reader's text from a {lang: text} map as the core does (reference
// bitrix24-people-notes.md §4): language ids case-insensitive, the reader's language, for UA the RU
// text, then EN, then a plain string ("*"); nothing found is an empty name. LANG_ALL of placement.bind
// gives each language its TITLE and must be {lang: {TITLE: …}}.
func TestLanguageMaps(t *testing.T) {
	p := start(t, emulator.Config{})
	tok := p.NewAuth(emulator.AdminUserID).AccessToken
	robot := `{"auth":"` + tok + `","CODE":"langs","HANDLER":"https://a.example/h","USE_SUBSCRIPTION":"N",
		"NAME":{"En":"Sign","RU":"Подписать"},"DESCRIPTION":"plain",
		"PROPERTIES":{"a":{"Name":{"de":"Unterzeichner"},"Type":"string"}}}`
	if st, _, raw := post(t, p.BaseURL()+"/rest/bizproc.robot.add", "application/json", robot); st != 200 {
		t.Fatalf("%d %s", st, raw)
	}
	for _, c := range []struct{ field, lang, want string }{
		{"NAME", "ru", "Подписать"}, {"NAME", "ua", "Подписать"}, {"NAME", "en", "Sign"}, {"NAME", "de", "Sign"},
		{"DESCRIPTION", "ru", "plain"},
	} {
		if got := p.RobotText("langs", c.field, c.lang); got != c.want {
			t.Errorf("%s for %s: %q, want %q", c.field, c.lang, got, c.want)
		}
	}
	if got := p.RobotPropertyText("langs", "PROPERTIES", "a", "Name", "de"); got != "Unterzeichner" {
		t.Errorf("property name for de: %q", got)
	}
	if got := p.RobotPropertyText("langs", "PROPERTIES", "a", "Name", "ru"); got != "" {
		t.Errorf("property name for ru with neither ru, en nor *: %q, want empty", got)
	}
	if st, _, raw := post(t, p.BaseURL()+"/rest/bizproc.robot.add", "application/json",
		`{"auth":"`+tok+`","CODE":"empty","HANDLER":"https://a.example/h","NAME":"n","PROPERTIES":{"a":{"Name":{},"Type":"string"}}}`); st != 400 {
		t.Errorf("a property with an empty name map: %d %s, want 400 Empty property NAME", st, raw)
	}

	bind := func(langAll string) (int, string) {
		st, _, raw := post(t, p.BaseURL()+"/rest/placement.bind", "application/json", `{"auth":"`+tok+
			`","PLACEMENT":"CRM_DEAL_DETAIL_TOOLBAR","HANDLER":"https://a.example/p","TITLE":"Sign","LANG_ALL":`+langAll+`}`)
		return st, raw
	}
	if st, raw := bind(`{"ru":"Подписать"}`); st != 400 {
		t.Errorf("LANG_ALL of strings: %d %s, want 400 ERROR_ARGUMENT", st, raw)
	}
	if st, raw := bind(`{"ru":{"TITLE":"Подписать"}}`); st != 200 {
		t.Fatalf("placement.bind: %d %s", st, raw)
	}
	for lang, want := range map[string]string{"ru": "Подписать", "RU": "Подписать", "en": "Sign", "de": "Sign"} {
		if got := p.PlacementTitle("CRM_DEAL_DETAIL_TOOLBAR", "https://a.example/p", lang); got != want {
			t.Errorf("title for %s: %q, want %q", lang, got, want)
		}
	}
}
