package bitrix24

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// ErrNotProven: the portal did not confirm an install's access token: it refused the token, the user
// is not one of its administrators, or the token belongs to another application. Permanent: the same
// request will never be accepted.
var ErrNotProven = errors.New("bitrix24: the portal did not confirm the installer")

// Installer is who the portal says installed the application: the holder of the access token, asked
// at the portal's registered address.
type Installer struct {
	UserID  int    // user.current ID: the robot's AUTH_USER_ID
	AppCode string // app.info CODE
}

// ProveInstaller asks the portal at base (scheme://host of its registered address, from
// bitrix24.portals or the stored record, never from the request) whose accessToken this is, with
// app.info, user.admin and user.current (reference §4.1: "call app.info with the received access_token").
// The token must be accepted there (a token of another portal is not), belong to this application
// (app.info CODE equals ClientConfig.ClientID when that is set) and to an administrator (only they
// install applications, reference §3). No redirect is followed and the token is never logged.
// Errors wrapping ErrNotProven are refusals; others (network, 5xx, QUERY_LIMIT_EXCEEDED) are transient.
func (c *Client) ProveInstaller(ctx context.Context, base *url.URL, accessToken string) (Installer, error) {
	var in Installer
	if accessToken == "" {
		return in, fmt.Errorf("%w: no access token to check", ErrNotProven)
	}
	if base == nil || base.Host == "" || (base.Scheme != "https" && base.Scheme != "http") {
		return in, fmt.Errorf("bitrix24: no registered address to check the installer at")
	}
	// Forged install requests must not turn Signet into a flood against a portal: the three calls are
	// counted in a bucket of their own per host, and an empty bucket is a transient refusal.
	if !c.portal("install-proof:"+strings.ToLower(base.Host)).limiter.AllowN(time.Now(), 3) {
		return in, fmt.Errorf("bitrix24: too many installs to check at %s; try again in a minute", base.Host)
	}
	a := Auth{AccessToken: accessToken, Domain: base.Host, ClientEndpoint: base.Scheme + "://" + base.Host + "/rest/"}
	call := func(method string, out any) error {
		env, loc, err := c.post(ctx, a, method, nil)
		if loc != "" {
			return c.redirectError(a, method, loc)
		}
		var apiErr *Error
		if errors.As(err, &apiErr) && !apiErr.Retryable() {
			return fmt.Errorf("%w: %s at %s: %s", ErrNotProven, method, base.Host, apiErr.Code)
		}
		if err != nil {
			return err
		}
		if err := json.Unmarshal(env.Result, out); err != nil {
			return fmt.Errorf("%w: %s at %s: unexpected result", ErrNotProven, method, base.Host)
		}
		return nil
	}
	var app struct {
		CODE string `json:"CODE"`
	}
	if err := call("app.info", &app); err != nil {
		return in, err
	}
	if c.cfg.ClientID != "" && !strings.EqualFold(app.CODE, c.cfg.ClientID) {
		return in, fmt.Errorf("%w: the token at %s belongs to application %q, not to Signet's %q", ErrNotProven, base.Host, app.CODE, c.cfg.ClientID)
	}
	var admin bool
	if err := call("user.admin", &admin); err != nil {
		return in, err
	}
	if !admin {
		return in, fmt.Errorf("%w: the user of the token is not an administrator of %s; an administrator installs the application", ErrNotProven, base.Host)
	}
	var user struct {
		ID ID `json:"ID"`
	}
	if err := call("user.current", &user); err != nil {
		return in, err
	}
	if user.ID <= 0 {
		return in, fmt.Errorf("%w: user.current at %s named no user", ErrNotProven, base.Host)
	}
	return Installer{UserID: int(user.ID), AppCode: app.CODE}, nil
}
