package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/signet-b24/signet/bitrix24/portals"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
	"github.com/signet-b24/signet/producer/identity"
)

// The control panel's allowed portals: a local administrator adds one (it is in the registry every
// intake reads at once), sees it, removes it; each change is audited; a bad domain is refused.
func TestAllowedPortalsPage(t *testing.T) {
	var reg *portals.Registry
	pn := newPanel(t, "", func(c *Config, ns *natstest.Server, keys *identity.Keys) {
		var err error
		if reg, err = portals.Open(context.Background(), ns.JS, 1, keys); err != nil {
			t.Fatal(err)
		}
		c.Portals = reg
	})
	_, session, csrf := pn.signIn(t, "alice's long password")
	post := func(path, domain string) (*http.Response, string) {
		return pn.do(t, http.MethodPost, path, session, url.Values{"csrf": {csrf}, "domain": {domain}})
	}
	if resp, page := post("/admin/portals/allowed", "Acme.Bitrix24.ru"); resp.StatusCode != http.StatusOK || !strings.Contains(page, "acme.bitrix24.ru") {
		t.Fatalf("allowing a portal: %d\n%s", resp.StatusCode, page)
	}
	if got, err := reg.AllowedDomains(context.Background()); err != nil || len(got) != 1 || got[0] != "acme.bitrix24.ru" {
		t.Fatalf("allowed portals in the registry: %v %v", got, err)
	}
	if resp, _ := post("/admin/portals/allowed", "*.bitrix24.ru"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a wildcard domain: %d, want 400", resp.StatusCode)
	}
	if resp, page := pn.do(t, http.MethodGet, "/admin/portals/allowed", session, nil); resp.StatusCode != http.StatusOK || !strings.Contains(page, "acme.bitrix24.ru") {
		t.Fatalf("the page: %d\n%s", resp.StatusCode, page)
	}
	if resp, _ := post("/admin/portals/allowed/remove", "acme.bitrix24.ru"); resp.StatusCode != http.StatusOK {
		t.Fatalf("removing it: %d", resp.StatusCode)
	}
	if resp, _ := post("/admin/portals/allowed/remove", "acme.bitrix24.ru"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("removing it again: %d, want 404", resp.StatusCode)
	}
	if got, _ := reg.AllowedDomains(context.Background()); len(got) != 0 {
		t.Fatalf("after removal the registry allows %v", got)
	}
	var details []string
	for _, e := range pn.audit.events {
		details = append(details, e.Detail)
	}
	joined := strings.Join(details, "\n")
	for _, want := range []string{"by administrator alice (local): portal allowed: acme.bitrix24.ru", "portal removed: acme.bitrix24.ru"} {
		if !strings.Contains(joined, want) {
			t.Errorf("audit trail lacks %q:\n%s", want, joined)
		}
	}
}
