package main

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/producer"
)

// The left-menu item on a portal that sends its page without APPLICATION_TOKEN (issue 19, must 3b):
// the inbox asks the portal whose AUTH_ID it is (app.info: Signet's application) and who is looking
// (user.current), and opens the viewer's own requests. Without APPLICATION_TOKEN nothing else is
// accepted: a forged AUTH_ID, another placement than the left menu, or a wrong token.
func TestLeftMenuWithoutApplicationToken(t *testing.T) {
	e := startB24(t, emulator.Config{})
	e.addUser(t, "mary", 7, false, e.cfg.Demo.Credential)
	e.enrol(t, "mary")
	disk, _ := e.portal.AddDealFile(811, "supply-contract-811.pdf", demoInvoice)
	e.robot(t, 811, robotProps(strconv.Itoa(disk), "user_7", ""))

	status, page, tok := e.openInbox(t, 7, func(f url.Values) { f.Del("APPLICATION_TOKEN") })
	if status != http.StatusOK || tok == "" || !strings.Contains(page, "supply-contract-811.pdf") {
		t.Fatalf("the left menu without APPLICATION_TOKEN: HTTP %d, want mary's inbox:\n%s", status, page)
	}
	for name, mutate := range map[string]func(url.Values){
		"a forged AUTH_ID":    func(f url.Values) { f.Del("APPLICATION_TOKEN"); f.Set("AUTH_ID", "forged") },
		"no AUTH_ID":          func(f url.Values) { f.Del("APPLICATION_TOKEN"); f.Del("AUTH_ID") },
		"the deal card's tab": func(f url.Values) { f.Del("APPLICATION_TOKEN"); f.Set("PLACEMENT", producer.PlacementDealTab) },
		"a wrong token":       func(f url.Values) { f.Set("APPLICATION_TOKEN", "forged") },
	} {
		if status, _, tok := e.openInbox(t, 7, mutate); status != http.StatusUnauthorized || tok != "" {
			t.Errorf("%s without APPLICATION_TOKEN: HTTP %d, token %q; want 401", name, status, tok)
		}
	}
}
