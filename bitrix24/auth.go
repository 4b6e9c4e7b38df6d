package bitrix24

import (
	"crypto/subtle"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Auth is one portal's credentials and endpoints as Bitrix24 delivers them in auth[...] of robot calls
// and ONAPPINSTALL (reference §4, §9.2) and as the OAuth server returns them on refresh (§9.1).
// MemberID is the stable tenant key; Domain and ClientEndpoint may change (302, reference §8.2).
type Auth struct {
	AccessToken      string
	RefreshToken     string
	ApplicationToken string
	MemberID         string
	Domain           string
	ClientEndpoint   string // https://{portal}/rest/
	ServerEndpoint   string // https://oauth.bitrix.info/rest/
	Scope            string // comma list
	Status           string // L local, F free, D demo, T trial, P paid
	UserID           int
	Expires          time.Time
	webhook          bool // incoming-webhook mode: ClientEndpoint carries the secret, no tokens
}

// authFromMap reads auth[...] as decoded by DecodeForm. expires wins over expires_in; with neither,
// Expires stays zero (unknown).
func authFromMap(m map[string]any, now time.Time) (Auth, error) {
	var a Auth
	var err error
	get := func(k string) string {
		if err != nil {
			return ""
		}
		var s string
		s, err = formString(m, k, "auth["+k+"]")
		return s
	}
	a.AccessToken = get("access_token")
	a.RefreshToken = get("refresh_token")
	a.ApplicationToken = get("application_token")
	a.MemberID = get("member_id")
	a.Domain = get("domain")
	a.ClientEndpoint = get("client_endpoint")
	a.ServerEndpoint = get("server_endpoint")
	a.Scope = get("scope")
	a.Status = get("status")
	uid := get("user_id")
	exp := get("expires")
	expIn := get("expires_in")
	if err != nil {
		return Auth{}, err
	}
	if uid != "" {
		if a.UserID, err = strconv.Atoi(uid); err != nil {
			return Auth{}, fmt.Errorf("%w: auth[user_id]=%q is not a number", ErrBadRequest, uid)
		}
	}
	switch {
	case exp != "":
		n, err := strconv.ParseInt(exp, 10, 64)
		if err != nil {
			return Auth{}, fmt.Errorf("%w: auth[expires]=%q is not a unix time", ErrBadRequest, exp)
		}
		a.Expires = time.Unix(n, 0)
	case expIn != "":
		n, err := strconv.ParseInt(expIn, 10, 64)
		if err != nil {
			return Auth{}, fmt.Errorf("%w: auth[expires_in]=%q is not a number of seconds", ErrBadRequest, expIn)
		}
		a.Expires = now.Add(time.Duration(n) * time.Second)
	}
	if a.ClientEndpoint == "" && a.Domain != "" {
		a.ClientEndpoint = "https://" + a.Domain + "/rest/"
	}
	return a, nil
}

// formString reads a scalar from a decoded form; a list or map where a string belongs is an error
// (a smuggled duplicate, see DecodeForm).
func formString(m map[string]any, k, name string) (string, error) {
	switch v := m[k].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	default:
		return "", fmt.Errorf("%w: %s must be a single value, got %T", ErrBadRequest, name, v)
	}
}

// PortalBase is scheme://host of the portal (from ClientEndpoint, else https://Domain), the only
// origin Download accepts.
func (a Auth) PortalBase() (*url.URL, error) {
	raw := a.ClientEndpoint
	if raw == "" && a.Domain != "" {
		raw = "https://" + a.Domain + "/rest/"
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("bitrix24: portal %s has no usable client_endpoint; reinstall the application", a.MemberID)
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host}, nil
}

// restURL is {client_endpoint}{method} (reference §2).
func (a Auth) restURL(method string) (string, error) {
	base := a.ClientEndpoint
	if base == "" {
		pb, err := a.PortalBase()
		if err != nil {
			return "", err
		}
		base = pb.String() + "/rest/"
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	return base + method, nil
}

// VerifyApplicationToken compares the application_token stored at ONAPPINSTALL with the one in an
// inbound call, in constant time (reference §4.1). An empty expected token never matches: a portal
// without a stored token has not been installed.
func VerifyApplicationToken(expected, got string) bool {
	if expected == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(expected), []byte(got)) == 1
}

// webhookAuth is the Auth of incoming-webhook mode: ClientEndpoint is the webhook's
// https://portal/rest/<user>/<code>/, there are no tokens, and nothing is refreshed.
func webhookAuth(memberID, webhookURL string) (Auth, error) {
	u, err := url.Parse(webhookURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || !strings.Contains(u.Path, "/rest/") {
		return Auth{}, fmt.Errorf("bitrix24: the incoming-webhook URL is not https://portal/rest/<user>/<code>/")
	}
	ep := webhookURL
	if !strings.HasSuffix(ep, "/") {
		ep += "/"
	}
	return Auth{MemberID: memberID, Domain: u.Host, ClientEndpoint: ep, webhook: true}, nil
}
