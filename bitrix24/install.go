package bitrix24

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Install event names (reference §9.2).
const (
	EventAppInstall   = "ONAPPINSTALL"
	EventAppUninstall = "ONAPPUNINSTALL"
)

// InstallEvent is ONAPPINSTALL or ONAPPUNINSTALL as POSTed (form-encoded) to the app (reference §9.2).
type InstallEvent struct {
	Event    string // EventAppInstall or EventAppUninstall
	Auth     Auth
	Version  string // data[VERSION], install only
	Language string // data[LANGUAGE_ID]
	Clean    bool   // data[CLEAN], uninstall only: the admin asked to delete the app's data
	TS       time.Time
}

// ParseInstallEvent reads ONAPPINSTALL/ONAPPUNINSTALL. Both need auth[member_id] and
// auth[application_token] (the only check for ONAPPUNINSTALL, reference §4.1). ONAPPINSTALL's
// auth[access_token] and auth[refresh_token] are optional: the current official reference lists only
// domain, endpoints, member_id and application_token (older pages show the tokens), so an install must
// not depend on them. Nothing here is trusted: the intake proves the sender (producer/install.go).
func ParseInstallEvent(r *http.Request) (*InstallEvent, error) {
	m, err := readInboundForm(r, "install event")
	if err != nil {
		return nil, err
	}
	return installEventFromForm(m)
}

func installEventFromForm(m map[string]any) (*InstallEvent, error) {
	ev, err := formString(m, "event", "event")
	if err != nil {
		return nil, err
	}
	ie := &InstallEvent{Event: strings.ToUpper(ev)}
	if ie.Event != EventAppInstall && ie.Event != EventAppUninstall {
		return nil, fmt.Errorf("%w: event=%q, want %s or %s", ErrBadRequest, ev, EventAppInstall, EventAppUninstall)
	}
	if data, ok := m["data"].(map[string]any); ok {
		if ie.Version, err = formString(data, "VERSION", "data[VERSION]"); err != nil {
			return nil, err
		}
		if ie.Language, err = formString(data, "LANGUAGE_ID", "data[LANGUAGE_ID]"); err != nil {
			return nil, err
		}
		clean, err := formString(data, "CLEAN", "data[CLEAN]")
		if err != nil {
			return nil, err
		}
		ie.Clean = clean == "1" || strings.EqualFold(clean, "Y")
	}
	if ts, _ := formString(m, "ts", "ts"); ts != "" {
		n, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: %s ts=%q is not a unix time", ErrBadRequest, ie.Event, ts)
		}
		ie.TS = time.Unix(n, 0)
	}
	am, ok := m["auth"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: %s has no auth[...] fields", ErrBadRequest, ie.Event)
	}
	if ie.Auth, err = authFromMap(am, time.Now()); err != nil {
		return nil, err
	}
	if ie.Auth.MemberID == "" || ie.Auth.ApplicationToken == "" {
		return nil, fmt.Errorf("%w: %s lacks auth[member_id] or auth[application_token]", ErrBadRequest, ie.Event)
	}
	if ie.Auth.Domain == "" {
		return nil, fmt.Errorf("%w: %s for portal %s lacks auth[domain]", ErrBadRequest, ie.Event, ie.Auth.MemberID)
	}
	return ie, nil
}

// HasTokens says whether the event carried an access token (older ONAPPINSTALL, and the headless
// application's installation callback).
func (ie *InstallEvent) HasTokens() bool { return ie.Auth.AccessToken != "" }

// InstallPage is the installation page of an application with a user interface, opened by an
// administrator inside the portal (reference §9.2, §10 widget_data): the portal POSTs the form fields
// AUTH_ID (the administrator's access token), AUTH_EXPIRES, REFRESH_ID, member_id, status and, where
// the portal sends it, APPLICATION_TOKEN; the query carries DOMAIN, PROTOCOL, LANG and APP_SID. The
// page must end with BX24.installFinish(); only then does the portal count the app as installed.
type InstallPage struct {
	Auth Auth // AccessToken, RefreshToken, MemberID, Domain, Status, ApplicationToken (may be empty)
	Lang string
}

// ParseInstallRequest reads what arrives at the install URL: the installation page (a form with
// AUTH_ID) or an install event (event=ONAPPINSTALL/ONAPPUNINSTALL with auth[...]). Exactly one of the
// results is non-nil when err is nil.
func ParseInstallRequest(r *http.Request) (*InstallEvent, *InstallPage, error) {
	m, err := readInboundForm(r, "install request")
	if err != nil {
		return nil, nil, err
	}
	if _, ok := m["AUTH_ID"]; !ok {
		// A headless application's installation callback POSTs auth[...] with the tokens and may carry
		// no event name (reference §9.2): it is an install, proven by its tokens like any other.
		if _, named := m["event"]; !named {
			if am, ok := m["auth"].(map[string]any); ok && am["access_token"] != nil {
				m["event"] = EventAppInstall
			}
		}
		ev, err := installEventFromForm(m)
		return ev, nil, err
	}
	get := func(k string) string {
		if err != nil {
			return ""
		}
		var s string
		s, err = formString(m, k, k)
		return s
	}
	p := &InstallPage{}
	p.Auth.AccessToken = get("AUTH_ID")
	p.Auth.RefreshToken = get("REFRESH_ID")
	p.Auth.MemberID = get("member_id")
	p.Auth.Status = get("status")
	p.Auth.ApplicationToken = get("APPLICATION_TOKEN")
	p.Auth.ServerEndpoint = get("SERVER_ENDPOINT")
	p.Auth.Scope = get("APPLICATION_SCOPE")
	exp := get("AUTH_EXPIRES")
	if err != nil {
		return nil, nil, err
	}
	q := r.URL.Query()
	p.Auth.Domain, p.Lang = q.Get("DOMAIN"), q.Get("LANG")
	if p.Auth.AccessToken == "" || p.Auth.MemberID == "" || p.Auth.Domain == "" {
		return nil, nil, fmt.Errorf("%w: installation page lacks AUTH_ID, member_id or DOMAIN; open the application from the portal", ErrBadRequest)
	}
	if exp != "" {
		n, err := strconv.Atoi(exp)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: AUTH_EXPIRES=%q is not a number of seconds", ErrBadRequest, exp)
		}
		p.Auth.Expires = time.Now().Add(time.Duration(n) * time.Second)
	}
	return nil, p, nil
}
