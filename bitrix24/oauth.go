package bitrix24

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"go.uber.org/zap"
)

// refresh exchanges the stored refresh token (reference §9.1), single-flight per member_id: the
// caller that saw stale (the access token that was rejected) refreshes; concurrent callers wait and
// reuse the token it saved, so the rotating refresh token is used exactly once.
func (c *Client) refresh(ctx context.Context, memberID, stale string) (Auth, error) {
	ps := c.portal(memberID)
	ps.refreshMu.Lock()
	defer ps.refreshMu.Unlock()
	cur, err := c.load(ctx, memberID)
	if err != nil {
		return Auth{}, err
	}
	if cur.AccessToken != stale && cur.AccessToken != "" {
		return cur, nil // someone refreshed while we waited
	}
	if cur.RefreshToken == "" {
		return Auth{}, fmt.Errorf("%w: portal %s has no refresh token", ErrReauthRequired, memberID)
	}
	q := url.Values{"grant_type": {"refresh_token"}, "client_id": {c.cfg.ClientID},
		"client_secret": {c.cfg.ClientSecret}, "refresh_token": {cur.RefreshToken}}
	u, err := url.Parse(c.cfg.OAuthURL)
	if err != nil {
		return Auth{}, fmt.Errorf("bitrix24: OAuthURL is not a URL: %w", err)
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Auth{}, fmt.Errorf("bitrix24: building refresh request: %w", stripURL(err))
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return Auth{}, fmt.Errorf("bitrix24: refreshing token of portal %s: %w", memberID, stripURL(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Auth{}, fmt.Errorf("bitrix24: refreshing token of portal %s: reading answer: %w", memberID, stripURL(err))
	}
	var r struct {
		AccessToken      string `json:"access_token"`
		RefreshToken     string `json:"refresh_token"`
		Expires          int64  `json:"expires"`
		ExpiresIn        int64  `json:"expires_in"`
		ClientEndpoint   string `json:"client_endpoint"`
		ServerEndpoint   string `json:"server_endpoint"`
		MemberID         string `json:"member_id"`
		Scope            string `json:"scope"`
		Status           string `json:"status"`
		UserID           ID     `json:"user_id"`
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return Auth{}, &Error{HTTPStatus: resp.StatusCode, Code: "ERROR_UNEXPECTED_ANSWER",
			Description: "OAuth server answer is not JSON", Method: "oauth/token", Portal: memberID}
	}
	if r.Error != "" || resp.StatusCode != http.StatusOK || r.AccessToken == "" {
		e := &Error{HTTPStatus: resp.StatusCode, Code: r.Error, Description: r.ErrorDescription, Method: "oauth/token", Portal: memberID}
		if e.Code == "" {
			e.Code = "ERROR_UNEXPECTED_ANSWER"
		}
		if e.IsCode(ErrCodeInvalidGrant) || e.IsCode(ErrCodeInvalidClient) {
			return Auth{}, fmt.Errorf("%w: %w", ErrReauthRequired, e)
		}
		return Auth{}, e
	}
	if r.MemberID != "" && r.MemberID != memberID {
		return Auth{}, fmt.Errorf("%w: OAuth server returned tokens of portal %s for portal %s", ErrUnexpectedAnswer, r.MemberID, memberID)
	}
	next := cur
	next.AccessToken, next.RefreshToken = r.AccessToken, r.RefreshToken
	switch {
	case r.Expires > 0:
		next.Expires = time.Unix(r.Expires, 0)
	case r.ExpiresIn > 0:
		next.Expires = time.Now().Add(time.Duration(r.ExpiresIn) * time.Second)
	}
	// The answer's client_endpoint is not taken over: the stored endpoint is the registered one and only
	// an administrator moves it (`signet admin bitrix24 move`). A different one is reported.
	if r.ClientEndpoint != "" {
		if cu, err := url.Parse(r.ClientEndpoint); err == nil {
			if base, berr := cur.PortalBase(); berr == nil && !sameOrigin(cu, base) {
				c.log.Warn("bitrix24: the OAuth server reports another endpoint for the portal; stored endpoint unchanged, "+
					"run `signet admin bitrix24 move` if the portal was renamed",
					zap.String("member_id", memberID), zap.String("stored", base.Host), zap.String("reported", cu.Scheme+"://"+cu.Host))
			}
		}
	}
	if r.ServerEndpoint != "" {
		next.ServerEndpoint = r.ServerEndpoint
	}
	if r.Scope != "" {
		next.Scope = r.Scope
	}
	if r.Status != "" {
		next.Status = r.Status
	}
	if r.UserID > 0 {
		next.UserID = int(r.UserID)
	}
	if err := c.tok.Save(ctx, next); err != nil {
		// The old refresh token is spent; losing the new one means a reinstall. Say so loudly.
		c.log.Error("bitrix24: refreshed tokens could not be saved; the portal may need a reinstall",
			zap.String("member_id", memberID), zap.Error(err))
		return Auth{}, fmt.Errorf("bitrix24: saving refreshed tokens of portal %s: %w", memberID, err)
	}
	c.log.Info("bitrix24: access token refreshed", zap.String("member_id", memberID))
	return next, nil
}
