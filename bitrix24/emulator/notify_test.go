package emulator_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/signet-b24/signet/bitrix24/emulator"
)

// im.notify.personal.add and im.notify.system.add (bitrix24-people-notes.md §1): USER_ID and a
// non-blank MESSAGE or the documented errors; a personal one is from the token's user; a new
// notification with a TAG removes the others with it, whichever method sent them.
func TestNotifications(t *testing.T) {
	p := start(t, emulator.Config{})
	tok := p.NewAuth(5).AccessToken
	call := func(method, body string) (int, map[string]any) {
		st, m, _ := post(t, p.BaseURL()+"/rest/"+method, "application/json", `{"auth":"`+tok+`",`+body+`}`)
		return st, m
	}
	for body, code := range map[string]string{`"MESSAGE":"hi"`: "USER_ID_EMPTY", `"USER_ID":7,"MESSAGE":"  "`: "MESSAGE_EMPTY"} {
		if st, m := call("im.notify.personal.add", body); st != 400 || m["error"] != code {
			t.Errorf("%s: %d %v, want %s", body, st, m, code)
		}
	}
	if st, m := call("im.notify.system.add", `"USER_ID":7,"MESSAGE":"first","TAG":"signet-request-1"`); st != 200 || m["result"] == nil {
		t.Fatalf("system: %d %v", st, m)
	}
	st, m := call("im.notify.personal.add", `"USER_ID":7,"MESSAGE":" please sign ","MESSAGE_OUT":"by mail","TAG":"signet-request-1"`)
	if st != 200 {
		t.Fatalf("personal: %d %v", st, m)
	}
	ns := p.Notifications()
	if len(ns) != 1 || ns[0].Message != "please sign" || ns[0].Out != "by mail" || ns[0].From != 5 || ns[0].UserID != 7 ||
		m["result"] != float64(ns[0].ID) {
		t.Fatalf("notifications: %+v (result %v)", ns, m["result"])
	}
}

// crm.documentgenerator.document.get (reference §6.3): the document with its links; pdfUrl and
// pdfUrlMachine only once the PDF is made; an unknown id is an error.
func TestDocumentGeneratorGet(t *testing.T) {
	p := start(t, emulator.Config{})
	tok := p.NewAuth(1).AccessToken
	ready := p.AddGeneratedDocument(2, 7, "Invoice 7", []byte("%PDF-1.4"), false)
	pending := p.AddGeneratedDocument(2, 8, "Invoice 8", []byte("%PDF-1.4"), true)
	get := func(id int) (int, map[string]any) {
		st, m, _ := post(t, p.BaseURL()+"/rest/crm.documentgenerator.document.get", "application/json", `{"auth":"`+tok+`","id":`+strconv.Itoa(id)+`}`)
		doc, _ := m["result"].(map[string]any)["document"].(map[string]any)
		return st, doc
	}
	if st, doc := get(ready); st != 200 || doc["title"] != "Invoice 7" || doc["entityId"] != "7" || !strings.HasPrefix(doc["pdfUrlMachine"].(string), p.BaseURL()) {
		t.Fatalf("ready: %d %v", st, doc)
	}
	if st, doc := get(pending); st != 200 || doc["pdfUrl"] != nil || doc["pdfUrlMachine"] != nil || doc["downloadUrl"] == nil {
		t.Fatalf("pending: %d %v", st, doc)
	}
	if st, _, _ := post(t, p.BaseURL()+"/rest/crm.documentgenerator.document.get", "application/json", `{"auth":"`+tok+`","id":999999}`); st != 400 {
		t.Fatalf("unknown document: %d", st)
	}
}
