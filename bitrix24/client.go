package bitrix24

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/signet-b24/signet/internal/metrics"
)

// DefaultOAuthURL is the Bitrix24 OAuth server's token endpoint (reference §9.1).
const DefaultOAuthURL = "https://oauth.bitrix.info/oauth/token/"

// TokenStore persists each portal's Auth, keyed by member_id (a KV bucket in Signet). Save must
// replace the stored pair atomically: every refresh rotates the refresh token (reference §9.1).
type TokenStore interface {
	Load(ctx context.Context, memberID string) (Auth, error)
	Save(ctx context.Context, a Auth) error
}

// ClientConfig configures a Client. Zero values get the defaults noted.
type ClientConfig struct {
	ClientID, ClientSecret string       // OAuth app; the secret only ever goes to OAuthURL
	OAuthURL               string       // default DefaultOAuthURL
	HTTPClient             *http.Client // default: 60 s timeout (the cloud kills requests after 60 s)
	UserAgent              string       // default "signet-bitrix24/1"
	RatePerSec             float64      // per-portal leaky bucket drain, default 2 (reference §8.1)
	Burst                  int          // default 50
	MaxRetries             int          // retries after QUERY_LIMIT_EXCEEDED, default 8
	// OperatingLimitWait caps the wait after 429 OPERATION_TIME_LIMIT: the client waits until the
	// method's last seen operating_reset_at, or this long when unknown/further away. Default 60 s.
	OperatingLimitWait time.Duration
	// AllowPrivate lets Download fetch from a portal whose host resolves to a loopback or private
	// address: on-premise portals inside the company network, and the emulator on 127.0.0.1. Off,
	// such downloads fail with ErrPrivateAddress (a forged client_endpoint cannot reach internal hosts).
	AllowPrivate bool
	// WebhookURL switches the client to incoming-webhook mode (reference §9.3) for an on-premise portal
	// that cannot install the app: every call goes to WebhookURL + method (WebhookURL is
	// https://portal/rest/<user>/<code>/) with no OAuth token and no refresh, for whatever member_id
	// is asked. Robots and placements cannot be registered in this mode (they need an application
	// context); RegisterRobot and BindPlacement return ErrWebhookMode. The URL is a secret.
	WebhookURL string
	// OverloadPause is how long the client stops calling a portal after 503 OVERLOAD_LIMIT, a manual
	// block by Bitrix24 support (reference §8.2): calls fail at once with ErrPortalOverloaded (retry
	// later) and the gauge signet_bitrix24_overload is 1. Default 30 minutes.
	OverloadPause time.Duration
	// Budget shares each portal's rate budget and OVERLOAD pause with every other process
	// (bitrix24/budget, issue 21 must 2); RatePerSec and Burst are then the portal's plan, for every
	// process together. nil: this process limits each portal on its own (one process only).
	Budget Budget
	Log    *zap.Logger
}

// Client calls Bitrix24 REST for many portals; safe for concurrent use. It never logs tokens or URLs
// that carry them.
type Client struct {
	cfg  ClientConfig
	http *http.Client // no automatic redirects: 302 is a domain move we handle ourselves
	dl   *http.Client // Download: portal-host-only redirects, private-address guard
	log  *zap.Logger
	tok  TokenStore

	mu      sync.Mutex
	portals map[string]*portalState
}

// portalState is per member_id: rate limiter, refresh single-flight, operating_reset_at per method.
type portalState struct {
	limiter   *rate.Limiter
	rate      rate.Limit
	slowUntil time.Time // guarded by mu: after QUERY_LIMIT_EXCEEDED we run at 80 % for a while
	refreshMu sync.Mutex
	mu        sync.Mutex
	opReset   map[string]time.Time
	overload  time.Time // guarded by mu: no calls before this (OVERLOAD_LIMIT)
	alerted   bool      // guarded by mu: signet_bitrix24_overload was set to 1
}

// NewClient makes a Client that loads and saves tokens through tokens.
func NewClient(cfg ClientConfig, tokens TokenStore) *Client {
	if cfg.OAuthURL == "" {
		cfg.OAuthURL = DefaultOAuthURL
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 60 * time.Second, Transport: portalTransport()}
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "signet-bitrix24/1"
	}
	if cfg.RatePerSec <= 0 {
		cfg.RatePerSec = 2
	}
	if cfg.Burst <= 0 {
		cfg.Burst = 50
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = 8
	}
	if cfg.OperatingLimitWait <= 0 {
		cfg.OperatingLimitWait = time.Minute
	}
	if cfg.OverloadPause <= 0 {
		cfg.OverloadPause = 30 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	hc := *cfg.HTTPClient
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{cfg: cfg, http: &hc, dl: newDownloadClient(cfg.AllowPrivate), log: cfg.Log, tok: tokens, portals: map[string]*portalState{}}
}

func (c *Client) portal(memberID string) *portalState {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.portals[memberID]
	if !ok {
		// One request of margin below the portal's bucket: the portal counts a request when it arrives,
		// and network jitter can bring two requests closer together there than they left here.
		p = &portalState{limiter: rate.NewLimiter(rate.Limit(c.cfg.RatePerSec), max(c.cfg.Burst-1, 1)),
			rate: rate.Limit(c.cfg.RatePerSec), opReset: map[string]time.Time{}}
		c.portals[memberID] = p
	}
	return p
}

// envelope is the v1 REST answer (reference §2).
type envelope struct {
	Result           json.RawMessage `json:"result"`
	Error            string          `json:"error"`
	ErrorDescription string          `json:"error_description"`
	Total            *int            `json:"total"`
	Next             *int            `json:"next"`
	Time             *struct {
		OperatingResetAt float64 `json:"operating_reset_at"`
	} `json:"time"`
}

// Call POSTs JSON {params…, "auth": token} to {client_endpoint}{method} and decodes "result" into out
// (out may be nil). It follows reference §8: expired_token/invalid_token → one single-flight refresh per
// member_id, Save, retry once; QUERY_LIMIT_EXCEEDED → back off and retry (the call was not executed);
// OPERATION_TIME_LIMIT → wait for operating_reset_at once; OVERLOAD_LIMIT and everything else →
// returned as *Error. A redirect is never followed (see redirectError): the token stays on the portal's
// registered host and the stored endpoint never moves without an administrator.
func (c *Client) Call(ctx context.Context, memberID, method string, params map[string]any, out any) error {
	env, err := c.call(ctx, memberID, method, params)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(env.Result, out); err != nil {
		return fmt.Errorf("%w: %s on portal %s: decoding result into %T: %v", ErrUnexpectedAnswer, method, memberID, out, err)
	}
	return nil
}

func (c *Client) call(ctx context.Context, memberID, method string, params map[string]any) (*envelope, error) {
	ps := c.portal(memberID)
	if err := c.checkOverload(ps, memberID); err != nil {
		return nil, err
	}
	auth, err := c.load(ctx, memberID)
	if err != nil {
		return nil, err
	}
	refreshed, opWaited, limited := false, false, 0
	if auth.AccessToken == "" && !auth.webhook { // e.g. saved from a robot call without AUTH_USER_ID (reference §11)
		refreshed = true
		if auth, err = c.refresh(ctx, memberID, ""); err != nil {
			return nil, err
		}
	}
	for {
		if err := c.wait(ctx, ps, memberID); err != nil {
			return nil, fmt.Errorf("bitrix24 %s on %s: waiting for the rate limiter: %w", method, auth.Domain, err)
		}
		env, loc, err := c.post(ctx, auth, method, params)
		countCall(memberID, err)
		if loc != "" {
			return nil, c.redirectError(auth, method, loc)
		}
		var apiErr *Error
		if !errors.As(err, &apiErr) {
			if err == nil {
				ps.noteTime(method, env)
				ps.recover()
			}
			return env, err
		}
		metrics.Bitrix24Errors.WithLabelValues(metrics.PortalLabel(memberID), strings.ToUpper(apiErr.Code)).Inc()
		switch {
		case apiErr.IsCode(ErrCodeOverloadLimit):
			until := c.block(ctx, ps, memberID)
			c.log.Error("ALERT: Bitrix24 answered OVERLOAD_LIMIT: the portal is blocked by Bitrix24 support; Signet stops calling it",
				zap.String("member_id", memberID), zap.String("domain", auth.Domain), zap.String("method", method),
				zap.Time("paused_until", until))
			return nil, &OverloadError{MemberID: memberID, Until: until, Detail: apiErr.Error()}
		case (apiErr.IsCode(ErrCodeExpiredToken) || apiErr.IsCode(ErrCodeInvalidToken)) && !auth.webhook:
			if refreshed {
				return nil, err
			}
			refreshed = true
			if auth, err = c.refresh(ctx, memberID, auth.AccessToken); err != nil {
				return nil, err
			}
		case apiErr.IsCode(ErrCodeQueryLimitExceeded):
			if limited++; limited > c.cfg.MaxRetries {
				return nil, err
			}
			// The portal's bucket is full: drain our own limiter so every goroutine for this portal
			// slows to the portal's rate, then back off with jitter.
			c.drain(ctx, ps, memberID)
			metrics.Bitrix24RateLimitWaits.Inc()
			if werr := sleepCtx(ctx, backoff(limited)); werr != nil {
				return nil, fmt.Errorf("%w (gave up waiting: %v)", err, werr)
			}
		case apiErr.IsCode(ErrCodeOperationTimeLimit):
			wait := c.cfg.OperatingLimitWait
			if r := ps.resetAt(method); time.Until(r) > 0 && time.Until(r) < wait {
				wait = time.Until(r)
			}
			apiErr.ResetAt = time.Now().Add(wait)
			if opWaited {
				return nil, err
			}
			if dl, ok := ctx.Deadline(); ok && time.Now().Add(wait).After(dl) {
				return nil, err
			}
			opWaited = true
			c.log.Warn("bitrix24 method blocked by operating-time limit; waiting",
				zap.String("member_id", memberID), zap.String("method", method), zap.Duration("wait", wait))
			if werr := sleepCtx(ctx, wait); werr != nil {
				return nil, fmt.Errorf("%w (gave up waiting: %v)", err, werr)
			}
		default:
			return nil, err
		}
	}
}

func backoff(attempt int) time.Duration {
	d := 250 * time.Millisecond << min(attempt-1, 5)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// drain empties our bucket and slows it to 80 % for 10 s: the portal's bucket is full (shared with
// other apps on our IP, reference §8.1), and running at exactly its drain rate keeps us on the edge.
func (ps *portalState) drain() {
	now := time.Now()
	if n := int(ps.limiter.TokensAt(now)); n > 0 {
		ps.limiter.ReserveN(now, n)
	}
	ps.mu.Lock()
	ps.slowUntil = now.Add(10 * time.Second)
	ps.mu.Unlock()
	ps.limiter.SetLimitAt(now, ps.rate*0.8)
}

// recover restores the configured rate once the slow period has passed.
func (ps *portalState) recover() {
	ps.mu.Lock()
	restore := !ps.slowUntil.IsZero() && time.Now().After(ps.slowUntil)
	if restore {
		ps.slowUntil = time.Time{}
	}
	ps.mu.Unlock()
	if restore {
		ps.limiter.SetLimit(ps.rate)
	}
}

func (ps *portalState) noteTime(method string, env *envelope) {
	if env == nil || env.Time == nil || env.Time.OperatingResetAt <= 0 {
		return
	}
	ps.mu.Lock()
	ps.opReset[strings.ToLower(method)] = time.Unix(int64(env.Time.OperatingResetAt), 0)
	ps.mu.Unlock()
}

func (ps *portalState) resetAt(method string) time.Time {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.opReset[strings.ToLower(method)]
}

func (c *Client) load(ctx context.Context, memberID string) (Auth, error) {
	if c.cfg.WebhookURL != "" {
		return webhookAuth(memberID, c.cfg.WebhookURL)
	}
	a, err := c.tok.Load(ctx, memberID)
	if err != nil {
		return Auth{}, fmt.Errorf("bitrix24: loading tokens of portal %s: %w", memberID, err)
	}
	if a.AccessToken == "" && a.RefreshToken == "" {
		return Auth{}, fmt.Errorf("%w %s; reinstall the application there", ErrNoTokens, memberID)
	}
	if a.MemberID == "" {
		a.MemberID = memberID
	}
	return a, nil
}

// post sends one request. A 302 returns its Location; an error envelope returns *Error.
func (c *Client) post(ctx context.Context, a Auth, method string, params map[string]any) (*envelope, string, error) {
	target, err := a.restURL(method)
	if err != nil {
		return nil, "", err
	}
	body := make(map[string]any, len(params)+1)
	for k, v := range params {
		body[k] = v
	}
	if !a.webhook { // a webhook authenticates by its URL
		body["auth"] = a.AccessToken
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, "", fmt.Errorf("bitrix24 %s: encoding params: %w", method, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(raw))
	if err != nil {
		return nil, "", fmt.Errorf("bitrix24 %s on %s: %w", method, a.Domain, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("bitrix24 %s on %s: request failed (not retried: it may have run): %w", method, a.Domain, stripURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode < 400 && resp.StatusCode != http.StatusNotModified {
		loc := resp.Header.Get("Location")
		if loc == "" {
			return nil, "", fmt.Errorf("%w: %s on %s: HTTP %d without Location", ErrUnexpectedAnswer, method, a.Domain, resp.StatusCode)
		}
		return nil, loc, nil
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, "", fmt.Errorf("bitrix24 %s on %s: reading answer: %w", method, a.Domain, stripURL(err))
	}
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, "", &Error{HTTPStatus: resp.StatusCode, Code: "ERROR_UNEXPECTED_ANSWER",
			Description: fmt.Sprintf("answer is not JSON (%d bytes)", len(data)), Method: method, Portal: a.Domain}
	}
	if env.Error != "" || resp.StatusCode >= 400 {
		code := env.Error
		if code == "" {
			code = "ERROR_UNEXPECTED_ANSWER"
		}
		return nil, "", &Error{HTTPStatus: resp.StatusCode, Code: code, Description: env.ErrorDescription, Method: method, Portal: a.Domain}
	}
	return &env, "", nil
}

// redirectError refuses a redirect from the portal (issue 15, found 4). Bitrix24 answers 302 when a
// portal was renamed (reference §8.2), but the answer alone proves nothing: following it would send
// the access token to whatever host the Location names (another domain, plain http, an internal
// address) and storing it would move every later call there. So nothing is followed and nothing is
// stored; the error (ErrPortalMoved, retry-later for jobs) names only the hosts, never the URL, and
// says what the administrator does about a real rename.
func (c *Client) redirectError(a Auth, method, loc string) error {
	to := "an unusable location"
	if base, err := a.PortalBase(); err == nil {
		if u, err := base.Parse(loc); err == nil && u.Host != "" {
			to = u.Scheme + "://" + u.Host
		}
	}
	c.log.Warn("bitrix24: portal answered a redirect; not followed, stored endpoint unchanged",
		zap.String("member_id", a.MemberID), zap.String("domain", a.Domain), zap.String("method", method), zap.String("to", to))
	if a.webhook {
		return fmt.Errorf("%w: %s on the incoming webhook's portal redirected to %s; if the portal was renamed, put its new URL into bitrix24.webhook_url_file", ErrPortalMoved, method, to)
	}
	return fmt.Errorf("%w: %s on portal %s (%s) redirected to %s; no token was sent there and the stored endpoint is unchanged. "+
		"If the portal was renamed, add the new domain to bitrix24.portals and run `signet admin bitrix24 move --member-id %s --domain <new domain>`; jobs wait and retry meanwhile",
		ErrPortalMoved, method, a.MemberID, a.Domain, to, a.MemberID)
}

// block stops calls to the portal for OverloadPause, in every process when there is a shared Budget,
// and raises the overload alert metric.
func (c *Client) block(ctx context.Context, ps *portalState, memberID string) time.Time {
	until := time.Now().Add(c.cfg.OverloadPause)
	metrics.Bitrix24Overload.WithLabelValues(memberID).Set(1)
	ps.mu.Lock()
	ps.alerted = true // checkOverload sets the gauge back to 0 when the pause is over
	if c.cfg.Budget == nil {
		ps.overload = until
	}
	ps.mu.Unlock()
	if c.cfg.Budget != nil {
		// The Budget keeps the pause, this process's copy included, so that an administrator's
		// resume (`signet admin bitrix24 resume`) ends it here too.
		c.cfg.Budget.Pause(ctx, memberID, until)
	}
	return until
}

// PausedUntil is the end of the portal's OVERLOAD pause, as seen by this process or shared by another
// (zero: the portal is not paused).
func (c *Client) PausedUntil(memberID string) time.Time {
	ps := c.portal(memberID)
	ps.mu.Lock()
	until := ps.overload
	ps.mu.Unlock()
	if c.cfg.Budget != nil {
		if shared := c.cfg.Budget.PausedUntil(memberID); shared.After(until) {
			until = shared
		}
	}
	if !until.After(time.Now()) {
		return time.Time{}
	}
	return until
}

// checkOverload fails fast while the portal is paused (by this process or, through the Budget, by
// another), and keeps the gauge in step: 1 during a pause, 0 once it is over.
func (c *Client) checkOverload(ps *portalState, memberID string) error {
	ps.mu.Lock()
	was := ps.alerted
	ps.mu.Unlock()
	until := c.PausedUntil(memberID)
	ps.mu.Lock()
	ps.alerted = !until.IsZero()
	ps.mu.Unlock()
	switch {
	case until.IsZero() && was:
		metrics.Bitrix24Overload.WithLabelValues(memberID).Set(0)
	case !until.IsZero() && !was:
		metrics.Bitrix24Overload.WithLabelValues(memberID).Set(1)
	}
	if until.IsZero() {
		return nil
	}
	return &OverloadError{MemberID: memberID, Until: until}
}

// wait holds a call until the portal's budget lets it go: the shared Budget's slot, or this process's
// own limiter without one.
func (c *Client) wait(ctx context.Context, ps *portalState, memberID string) error {
	t0 := time.Now()
	var err error
	if c.cfg.Budget == nil {
		err = ps.limiter.Wait(ctx)
	} else {
		var at time.Time
		if at, err = c.cfg.Budget.Reserve(ctx, memberID); err == nil {
			err = sleepCtx(ctx, time.Until(at))
		}
	}
	if d := time.Since(t0); d > time.Millisecond {
		metrics.Bitrix24BudgetWait.WithLabelValues(metrics.PortalLabel(memberID)).Add(d.Seconds())
	}
	return err
}

// drain slows this process's limiter and, through the Budget, every other process's.
func (c *Client) drain(ctx context.Context, ps *portalState, memberID string) {
	ps.drain()
	if c.cfg.Budget != nil {
		c.cfg.Budget.Drain(ctx, memberID)
	}
}

// countCall counts one request sent to the portal by its outcome.
func countCall(memberID string, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	metrics.Bitrix24Calls.WithLabelValues(metrics.PortalLabel(memberID), outcome).Inc()
}

// stripURL drops the URL from *url.Error: it may carry auth= or the client secret.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// EventSend completes a robot with bizproc.event.send (reference §5). result:true is not proof of
// completion: the portal ignores a token that was already used. Because of that one-shot rule a
// repeat is harmless, so unlike Call, EventSend retries a timeout or a retryable 5xx (twice).
func (c *Client) EventSend(ctx context.Context, memberID, eventToken string, returnValues map[string]any, logMessage string) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = c.eventSend(ctx, memberID, eventToken, returnValues, logMessage); err == nil || ctx.Err() != nil {
			return err
		}
		var apiErr *Error
		if errors.As(err, &apiErr) && !apiErr.Retryable() {
			return err
		}
		if errors.Is(err, ErrNoTokens) || errors.Is(err, ErrReauthRequired) || errors.Is(err, ErrUnexpectedAnswer) || errors.Is(err, ErrPortalOverloaded) {
			return err
		}
		c.log.Warn("bitrix24: bizproc.event.send failed, repeating (one-shot per event_token, safe)",
			zap.String("member_id", memberID), zap.Int("attempt", attempt+1), zap.Error(err))
		if werr := sleepCtx(ctx, backoff(attempt+1)); werr != nil {
			return err
		}
	}
	return err
}

func (c *Client) eventSend(ctx context.Context, memberID, eventToken string, returnValues map[string]any, logMessage string) error {
	params := map[string]any{"EVENT_TOKEN": eventToken}
	if len(returnValues) > 0 {
		params["RETURN_VALUES"] = returnValues
	}
	if logMessage != "" {
		params["LOG_MESSAGE"] = logMessage
	}
	var ok bool
	if err := c.Call(ctx, memberID, "bizproc.event.send", params, &ok); err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: bizproc.event.send on portal %s returned false", ErrUnexpectedAnswer, memberID)
	}
	return nil
}

// CallAs calls method with a user's own access token (a placement's AUTH_ID, reference §10) instead
// of the stored portal tokens, so the portal answers with that user's identity and rights. It shares
// the portal's rate limiter; it never refreshes (the token belongs to the user's browser session) and
// never stores the token.
func (c *Client) CallAs(ctx context.Context, memberID, accessToken, method string, params map[string]any, out any) error {
	if accessToken == "" {
		return fmt.Errorf("%w: no access token for %s", ErrBadRequest, method)
	}
	ps := c.portal(memberID)
	if err := c.checkOverload(ps, memberID); err != nil {
		return err
	}
	auth, err := c.load(ctx, memberID)
	if err != nil {
		return err
	}
	if auth.webhook {
		return ErrWebhookMode
	}
	auth.AccessToken = accessToken
	if err := c.wait(ctx, ps, memberID); err != nil {
		return fmt.Errorf("bitrix24 %s on %s: waiting for the rate limiter: %w", method, auth.Domain, err)
	}
	env, loc, err := c.post(ctx, auth, method, params)
	countCall(memberID, err)
	if err != nil {
		return err
	}
	if loc != "" {
		return c.redirectError(auth, method, loc)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(env.Result, out); err != nil {
		return fmt.Errorf("%w: %s on portal %s: decoding result into %T: %v", ErrUnexpectedAnswer, method, memberID, out, err)
	}
	return nil
}
