package emulator

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// User is an employee of the emulated portal (Config.Users).
type User struct {
	ID                         int
	Name, LastName, SecondName string
	WorkPosition               string
	Email                      string // returned only with the user_basic or user scope
}

// users is AdminUserID and Config.Users, by id.
func (p *Portal) users() []User {
	out := []User{{ID: AdminUserID, Name: "User", LastName: strconv.Itoa(AdminUserID), Email: "user1@example.com"}}
	for _, u := range p.cfg.Users {
		if u.ID != AdminUserID {
			out = append(out, u)
		}
	}
	slices.SortFunc(out, func(a, b User) int { return a.ID - b.ID })
	return out
}

// userSearch is user.search (bitrix24-people-notes.md §2): FILTER.FIND searches first, last and
// middle name and job title at once ("Text%" is a prefix search, as the fast path; without % the text
// may occur anywhere in a word's start too); NAME, LAST_NAME, SECOND_NAME, WORK_POSITION filter one
// field; unknown fields are skipped silently. Pages of 50 with total and next. The user_brief scope
// gives names and position and no EMAIL; user_basic and user add EMAIL.
func (p *Portal) userSearch(_ *callCtx, params map[string]any) (any, *apiError) {
	filter, _ := mustParam(params, "FILTER").(map[string]any)
	if filter == nil {
		filter = params // the fields may also come at the top level
	}
	match := func(text, field string) bool {
		text = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(text), "%"))
		if text == "" {
			return true
		}
		for _, w := range strings.Fields(strings.ToLower(field)) {
			if strings.HasPrefix(w, text) {
				return true
			}
		}
		return strings.HasPrefix(strings.ToLower(field), text)
	}
	withEmail := p.scopeHas("user_basic") || p.scopeHas("user")
	var all []any
	for _, u := range p.users() {
		if find := paramString(filter, "FIND"); find != "" {
			hit := false
			for _, f := range []string{u.Name, u.LastName, u.SecondName, u.WorkPosition, u.Name + " " + u.LastName, u.LastName + " " + u.Name} {
				hit = hit || match(find, f)
			}
			if !hit {
				continue
			}
		}
		ok := true
		for k, f := range map[string]string{"NAME": u.Name, "LAST_NAME": u.LastName, "SECOND_NAME": u.SecondName, "WORK_POSITION": u.WorkPosition} {
			if v := paramString(filter, k); v != "" && !match(v, f) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		m := map[string]any{"ID": strconv.Itoa(u.ID), "ACTIVE": true, "NAME": u.Name, "LAST_NAME": u.LastName,
			"SECOND_NAME": u.SecondName, "WORK_POSITION": u.WorkPosition, "TIME_ZONE": p.cfg.TimeZones[u.ID]}
		if withEmail {
			m["EMAIL"] = u.Email
		}
		all = append(all, m)
	}
	if all == nil {
		all = []any{}
	}
	return pageOf(all, params), nil
}

// pageOf is the page of all that the list parameter start asks for (listPage items, total, next).
func pageOf[T any](all []T, params map[string]any) listResult {
	start, _ := toInt(mustParam(params, "start"))
	start = min(max(start, 0), len(all))
	end := min(start+listPage, len(all))
	next := 0
	if end < len(all) {
		next = end
	}
	return listResult{items: all[start:end], total: len(all), next: next}
}

// scopeHas reports whether the application's scope lists s.
func (p *Portal) scopeHas(s string) bool {
	for _, x := range strings.Split(p.cfg.Scope, ",") {
		if strings.TrimSpace(x) == s {
			return true
		}
	}
	return false
}

// AppPageRequest builds what the portal POSTs into its frame when employee userID opens the
// application itself — its item in the left menu, the application's main page (PLACEMENT=DEFAULT,
// widget_data: bitrix24-people-notes.md §3): query DOMAIN, PROTOCOL, LANG (lang, the viewing user's
// interface language; "" takes the portal's) and APP_SID; form AUTH_ID (a fresh token of userID),
// AUTH_EXPIRES, REFRESH_ID, SERVER_ENDPOINT, member_id, status, PLACEMENT, PLACEMENT_OPTIONS.
func (p *Portal) AppPageRequest(ctx context.Context, handlerURL string, userID int, lang string) (*http.Request, error) {
	p.mu.Lock()
	a := p.newAuthLocked(userID)
	domain, scheme := p.domain, p.scheme
	p.mu.Unlock()
	form := url.Values{
		"AUTH_ID": {a.AccessToken}, "AUTH_EXPIRES": {"3600"}, "REFRESH_ID": {a.RefreshToken},
		"SERVER_ENDPOINT": {scheme + "://" + domain + "/oauth/rest/"}, "member_id": {p.cfg.MemberID}, "status": {"L"},
		"PLACEMENT": {"DEFAULT"}, "PLACEMENT_OPTIONS": {"{}"},
	}
	req, err := p.appRequest(ctx, handlerURL, scheme, domain, form)
	if err == nil && lang != "" {
		q := req.URL.Query()
		q.Set("LANG", lang)
		req.URL.RawQuery = q.Encode()
	}
	return req, err
}
