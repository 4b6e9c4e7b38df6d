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
// auth[application_token] (the only check for ONAPPUNINSTALL, reference §4.1); ONAPPINSTALL also needs
// auth[access_token] and auth[refresh_token], the portal-level token pair we keep.
func ParseInstallEvent(r *http.Request) (*InstallEvent, error) {
	m, err := readInboundForm(r, "install event")
	if err != nil {
		return nil, err
	}
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
	if ie.Event == EventAppInstall && (ie.Auth.AccessToken == "" || ie.Auth.RefreshToken == "") {
		return nil, fmt.Errorf("%w: %s for portal %s lacks auth[access_token] or auth[refresh_token]", ErrBadRequest, ie.Event, ie.Auth.MemberID)
	}
	return ie, nil
}
