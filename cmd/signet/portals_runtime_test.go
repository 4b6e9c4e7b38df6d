package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/producer/identity"
)

// A portal added at run time (`signet admin bitrix24 add`) installs Signet and has its robot calls
// signed by the running process, without a restart; removed, its calls are refused (issue 21 must 4).
func TestPortalAddedAtRunTime(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e := startB24(t, emulator.Config{})
	p2 := emulator.New(emulator.Config{ClientSecret: e.portal.ClientSecret(), Log: zap.NewNop()})
	if _, err := p2.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p2.Close() })
	install := e.cfg.PublicURL + "/bitrix24/install"
	if err := p2.Install(ctx, install); err == nil {
		t.Fatal("a portal in neither bitrix24.portals nor the allowed portals installed Signet")
	}
	admin := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := runAdminBitrix24(ctx, append(args, "--data-dir", e.cfg.DataDir), &out, &errOut); err != nil {
			t.Fatalf("signet admin bitrix24 %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
		}
		return out.String()
	}
	admin("add", p2.BaseURL())
	if err := p2.Install(ctx, install); err != nil {
		t.Fatalf("install after `signet admin bitrix24 add`: %v", err)
	}
	var listed []struct {
		Domain   string `json:"domain"`
		MemberID string `json:"member_id"`
	}
	if err := json.Unmarshal([]byte(admin("allowed", "--json")), &listed); err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	for _, l := range listed {
		found[l.Domain] = l.MemberID
	}
	if found[p2.BaseURL()] != p2.MemberID() || found[e.portal.BaseURL()] != e.portal.MemberID() {
		t.Fatalf("allowed portals %v: want both, the configured one and the added one, each with its member_id", listed)
	}

	// A robot call from the new portal, taken and signed by the process that was running all along.
	demo := e.cfg.Demo.Credential
	if err := e.a.identity.AddUser(ctx, identity.User{Login: "bob", BitrixIDs: map[string]int{p2.MemberID(): 8}, OTPDisabled: true,
		Credentials: []string{demo}, DefaultCredential: demo}); err != nil {
		t.Fatal(err)
	}
	p2.AddDealFile(801, "contract.pdf", demoInvoice)
	tok, status, err := p2.RobotCall(ctx, e.cfg.PublicURL+"/bitrix24/robot", e.cfg.Bitrix24.RobotCode, 801,
		robotProps("UF_CRM_SIGNET_FILES", "user_8", demo))
	if err != nil || status != http.StatusOK {
		t.Fatalf("robot call from the added portal: HTTP %d %v", status, err)
	}
	for deadline := time.Now().Add(2 * time.Minute); len(p2.EventsSent()[tok]) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the added portal's robot call was not answered")
		}
	}
	if ret := p2.EventsSent()[tok][0]; ret["signed"] != "Y" {
		t.Fatalf("the added portal's robot call: %v", ret)
	}

	// The admin API says the same, and removes it: the portal and its tokens are gone, its calls
	// are refused.
	token := strings.TrimSpace(mustRead(t, e.cfg.Security.AdminTokenFile))
	api := func(method, path string) (int, []byte) {
		req, _ := http.NewRequestWithContext(ctx, method, e.cfg.PublicURL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.Bytes()
	}
	if status, body := api("GET", "/v1/admin/portals"); status != http.StatusOK || !strings.Contains(string(body), p2.MemberID()) {
		t.Fatalf("GET /v1/admin/portals: HTTP %d %s", status, body)
	}
	if status, body := api("DELETE", "/v1/admin/portals/"+url.PathEscape(p2.BaseURL())); status != http.StatusOK || !strings.Contains(string(body), p2.MemberID()) {
		t.Fatalf("DELETE /v1/admin/portals/…: HTTP %d %s", status, body)
	}
	if status, _ := api("DELETE", "/v1/admin/portals/"+url.PathEscape(p2.BaseURL())); status != http.StatusNotFound {
		t.Fatalf("removing it again: HTTP %d, want 404", status)
	}
	admin("add", p2.BaseURL())
	if out := admin("remove", p2.BaseURL()); !strings.Contains(out, "had not installed Signet") {
		t.Fatalf("signet admin bitrix24 remove of a portal not installed: %s", out)
	}
	p2.AddDealFile(802, "contract.pdf", demoInvoice)
	if _, status, _ := p2.RobotCall(ctx, e.cfg.PublicURL+"/bitrix24/robot", e.cfg.Bitrix24.RobotCode, 802,
		robotProps("UF_CRM_SIGNET_FILES", "user_8", demo)); status == http.StatusOK {
		t.Fatal("a robot call from a removed portal was taken")
	}
}
