package emulator

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// userCurrent (scope user_brief in reality; any app token here) answers who the token belongs to.
func (p *Portal) userCurrent(c *callCtx, _ map[string]any) (any, *apiError) {
	return map[string]any{"ID": strconv.Itoa(c.userID), "NAME": "User", "LAST_NAME": strconv.Itoa(c.userID),
		"EMAIL": fmt.Sprintf("user%d@example.com", c.userID), "ADMIN": c.admin}, nil
}

// userAdmin answers whether the calling user administers the portal (user.admin: true or false):
// AdminUserID and Config.Admins do.
func (p *Portal) userAdmin(c *callCtx, _ map[string]any) (any, *apiError) {
	return c.admin, nil
}

func (p *Portal) isAdmin(uid int) bool {
	if uid == AdminUserID {
		return true
	}
	for _, a := range p.cfg.Admins {
		if a == uid {
			return true
		}
	}
	return false
}

// InstallPageRequest builds what the portal POSTs into its iframe when administrator userID opens
// the application's installation page (reference §9.2, §10 widget_data): query DOMAIN, PROTOCOL,
// LANG, APP_SID; form AUTH_ID (a fresh token of userID), AUTH_EXPIRES, REFRESH_ID, SERVER_ENDPOINT,
// member_id, status, PLACEMENT=DEFAULT. No APPLICATION_TOKEN: the application must not need it here.
func (p *Portal) InstallPageRequest(ctx context.Context, handlerURL string, userID int) (*http.Request, error) {
	return p.AppPageRequest(ctx, handlerURL, userID, "")
}

// Placements returns code → handler URLs of the bound placements.
func (p *Portal) Placements() map[string][]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string][]string{}
	for _, pl := range p.placements {
		out[pl.code] = append(out[pl.code], pl.handler)
	}
	return out
}

// PlacementRequest builds what Bitrix24 POSTs to a placement handler when userID opens it in deal
// dealID (reference §10, widget_data): query DOMAIN, PROTOCOL, LANG, APP_SID; form AUTH_ID (a fresh
// token of the viewing user), AUTH_EXPIRES, REFRESH_ID, SERVER_ENDPOINT, APPLICATION_TOKEN,
// APPLICATION_SCOPE, member_id, status, PLACEMENT, PLACEMENT_OPTIONS (a JSON string).
func (p *Portal) PlacementRequest(ctx context.Context, handlerURL, placementCode string, userID, dealID int) (*http.Request, error) {
	p.mu.Lock()
	if _, ok := p.deals[dealID]; !ok {
		p.deals[dealID] = newDeal(dealID)
	}
	a := p.newAuthLocked(userID)
	domain, scheme := p.domain, p.scheme
	p.mu.Unlock()
	opts, _ := json.Marshal(map[string]string{"ID": strconv.Itoa(dealID), "URI": "/crm/deal/details/" + strconv.Itoa(dealID) + "/"})
	form := url.Values{
		"AUTH_ID": {a.AccessToken}, "AUTH_EXPIRES": {"3600"}, "REFRESH_ID": {a.RefreshToken},
		"SERVER_ENDPOINT": {scheme + "://" + domain + "/oauth/rest/"}, "APPLICATION_TOKEN": {p.cfg.ApplicationToken},
		"APPLICATION_SCOPE": {p.cfg.Scope}, "member_id": {p.cfg.MemberID}, "status": {"L"},
		"PLACEMENT": {placementCode}, "PLACEMENT_OPTIONS": {string(opts)},
	}
	return p.appRequest(ctx, handlerURL, scheme, domain, form)
}

// RemoveDiskFile deletes a Disk file (the "portal file gone" case): disk.file.get answers
// ERROR_NOT_FOUND and its DOWNLOAD_URL 404.
func (p *Portal) RemoveDiskFile(id int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.disk, id)
}

// DealFileContents returns file id → content of the files in the deal's DealFileField.
func (p *Portal) DealFileContents(dealID int) map[int][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[int][]byte{}
	if d, ok := p.deals[dealID]; ok {
		for _, id := range d.files {
			out[id] = append([]byte(nil), p.files[id].data...)
		}
	}
	return out
}

// FileURL is the portal URL (with a current admin auth=) of a b_file, as a robot "file" property or a
// crm.item.get urlMachine gives it.
func (p *Portal) FileURL(fileID int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.newAuthLocked(AdminUserID)
	return p.crmFileURLLocked(fileID, a.AccessToken)
}

// appRequest is the POST Bitrix24 sends to an application page (the handler path or a placement):
// query DOMAIN, PROTOCOL (1 for https), LANG (the portal's language) and APP_SID; the form as given.
func (p *Portal) appRequest(ctx context.Context, handlerURL, scheme, domain string, form url.Values) (*http.Request, error) {
	proto := "0"
	if scheme == "https" {
		proto = "1"
	}
	u, err := url.Parse(handlerURL)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	q.Set("DOMAIN", domain)
	q.Set("PROTOCOL", proto)
	q.Set("LANG", p.cfg.Language)
	q.Set("APP_SID", randHex(16))
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req, nil
}
