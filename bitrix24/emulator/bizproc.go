package emulator

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/signet-b24/signet/bitrix24"
)

type robot struct {
	fields map[string]any // as registered, attribute names as sent
}

type eventState struct {
	code            string
	dealID          int
	useSubscription bool
	done            bool
}

// duplicateResult marks a bizproc.event.send that was accepted but ignored.
type duplicateResult struct{ result any }

var (
	robotCodeRe   = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)
	propertyKeyRe = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_]*$`)
)

func validation(desc string) *apiError {
	return &apiError{status: 400, code: bitrix24.ErrCodeActivityValidation, desc: desc}
}

// requireAppAdmin is the check all bizproc.robot.* and placement.bind share (reference §3, §10):
// application context, portal administrator.
func requireAppAdmin(c *callCtx, webhookCode string) *apiError {
	if !c.appContext {
		if webhookCode == bitrix24.ErrCodeWrongAuthType {
			return &apiError{status: 403, code: bitrix24.ErrCodeWrongAuthType, desc: "Current authorization type is denied for this method"}
		}
		return &apiError{status: 403, code: bitrix24.ErrCodeAccessDenied, desc: "Application context required"}
	}
	if !c.admin {
		return &apiError{status: 403, code: bitrix24.ErrCodeAccessDenied, desc: "Access denied!"}
	}
	return nil
}

// validateHandler follows the new core (reference §3.1): http/https and a host containing a dot.
func validateHandler(raw string) *apiError {
	u, err := url.Parse(raw)
	if raw == "" || err != nil || u.Host == "" {
		return &apiError{status: 400, code: bitrix24.ErrCodeWrongHandlerURL, desc: "Wrong handler URL"}
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return &apiError{status: 400, code: bitrix24.ErrCodeUnsupportedProtocol, desc: "Unsupported protocol"}
	}
	if !strings.Contains(u.Hostname(), ".") {
		return &apiError{status: 400, code: bitrix24.ErrCodeWrongHandlerURL, desc: "Wrong handler URL"}
	}
	return nil
}

// validateRobotFields checks the fields of bizproc.robot.add/update (reference §3.1).
func validateRobotFields(f map[string]any, add bool) *apiError {
	if add || hasKey(f, "HANDLER") {
		if e := validateHandler(paramString(f, "HANDLER")); e != nil {
			return e
		}
	}
	if add || hasKey(f, "NAME") {
		switch n, _ := param(f, "NAME"); v := n.(type) {
		case string:
			if v == "" {
				return validation("Empty activity NAME!")
			}
		case map[string]any:
			if len(v) == 0 {
				return validation("Empty activity NAME!")
			}
		default:
			return validation("Empty activity NAME!")
		}
	}
	for _, key := range []string{"PROPERTIES", "RETURN_PROPERTIES"} {
		v, ok := param(f, key)
		if !ok {
			continue
		}
		props, ok := v.(map[string]any)
		if !ok {
			if s, isStr := v.(string); isStr && s == "" {
				continue
			}
			return validation("Wrong properties array!")
		}
		for k, pv := range props {
			if !propertyKeyRe.MatchString(k) {
				return validation(fmt.Sprintf("Wrong property key (%s)!", k))
			}
			pm, ok := pv.(map[string]any)
			if !ok {
				return validation("Wrong properties array!")
			}
			name, _ := param(pm, "NAME")
			if nm, isMap := name.(map[string]any); name == nil || name == "" || isMap && len(nm) == 0 {
				return validation(fmt.Sprintf("Empty property NAME (%s)!", k))
			}
		}
	}
	if v, ok := param(f, "DOCUMENT_TYPE"); ok {
		if l, isList := v.([]any); !isList || len(l) != 3 {
			return validation("Wrong activity DOCUMENT_TYPE!")
		}
	}
	if v, ok := param(f, "FILTER"); ok {
		if _, isMap := v.(map[string]any); !isMap {
			return validation("Wrong activity FILTER!")
		}
	}
	if strings.EqualFold(paramString(f, "USE_PLACEMENT"), "Y") {
		if e := validateHandler(paramString(f, "PLACEMENT_HANDLER")); e != nil {
			return e
		}
	}
	return nil
}

func hasKey(m map[string]any, k string) bool { _, ok := param(m, k); return ok }

func (p *Portal) robotAdd(c *callCtx, params map[string]any) (any, *apiError) {
	if e := requireAppAdmin(c, ""); e != nil {
		return nil, e
	}
	if len(params) == 0 {
		return nil, validation("Empty data!")
	}
	code := paramString(params, "CODE")
	if code == "" {
		return nil, validation("Empty activity code!")
	}
	if !robotCodeRe.MatchString(code) {
		return nil, validation("Wrong activity code!")
	}
	if e := validateRobotFields(params, true); e != nil {
		return nil, e
	}
	if _, ok := p.robots[code]; ok {
		return nil, &apiError{status: 400, code: bitrix24.ErrCodeActivityAlreadyExists, desc: "Activity or Robot already installed!"}
	}
	f := map[string]any{}
	for k, v := range params {
		f[strings.ToUpper(k)] = v
	}
	p.robots[code] = &robot{fields: f}
	p.robotOrder = append(p.robotOrder, code)
	return true, nil
}

func (p *Portal) robotUpdate(c *callCtx, params map[string]any) (any, *apiError) {
	if e := requireAppAdmin(c, ""); e != nil {
		return nil, e
	}
	code := paramString(params, "CODE")
	if code == "" {
		return nil, validation("Empty activity code!")
	}
	r, ok := p.robots[code]
	if !ok {
		return nil, &apiError{status: 400, code: bitrix24.ErrCodeActivityNotFound, desc: "Activity or Robot not found!"}
	}
	fv, _ := param(params, "FIELDS")
	fields, _ := fv.(map[string]any)
	if len(fields) == 0 {
		return nil, validation("No fields to update")
	}
	if e := validateRobotFields(fields, false); e != nil {
		return nil, e
	}
	for k, v := range fields {
		r.fields[strings.ToUpper(k)] = v
	}
	return true, nil
}

func (p *Portal) robotList(c *callCtx, _ map[string]any) (any, *apiError) {
	if e := requireAppAdmin(c, ""); e != nil {
		return nil, e
	}
	return append([]string{}, p.robotOrder...), nil
}

func (p *Portal) robotDelete(c *callCtx, params map[string]any) (any, *apiError) {
	if e := requireAppAdmin(c, ""); e != nil {
		return nil, e
	}
	code := paramString(params, "CODE")
	if code == "" {
		return nil, validation("Empty activity code!")
	}
	if _, ok := p.robots[code]; !ok {
		return nil, &apiError{status: 400, code: bitrix24.ErrCodeActivityNotFound, desc: "Activity or Robot not found!"}
	}
	delete(p.robots, code)
	for i, c := range p.robotOrder {
		if c == code {
			p.robotOrder = append(p.robotOrder[:i], p.robotOrder[i+1:]...)
			break
		}
	}
	return true, nil
}

// Robots returns the registered robots: CODE → fields (attribute names upper-cased).
func (p *Portal) Robots() map[string]map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]map[string]any{}
	for k, r := range p.robots {
		out[k] = r.fields
	}
	return out
}

// eventToken builds workflowId|activityName|eventId + "." + HMAC, like the core (reference §4, §5).
func (p *Portal) eventToken(workflowID string) string {
	act := fmt.Sprintf("A%d_%d_%d_%d", randInt(99999), randInt(9999), randInt(99999), randInt(99999))
	payload := workflowID + "|" + act + "|" + randHex(16)
	return payload + "." + p.sign(payload)
}

func (p *Portal) sign(payload string) string {
	m := hmac.New(sha256.New, p.secret)
	m.Write([]byte("bizproc|" + payload))
	return hex.EncodeToString(m.Sum(nil))
}

func (p *Portal) validEventToken(tok string) bool {
	i := strings.LastIndexByte(tok, '.')
	if i <= 0 {
		return false
	}
	return hmac.Equal([]byte(p.sign(tok[:i])), []byte(tok[i+1:]))
}

func randInt(max int) int {
	n, _ := strconv.ParseUint(randHex(4), 16, 64)
	return int(n%uint64(max)) + 1
}

// bizprocEventSend completes a robot (reference §5): a bad signature → 403 ACCESS_DENIED; a token
// already completed (or of a robot with USE_SUBSCRIPTION=N) → result true, ignored, logged as
// duplicate. RETURN_VALUES keys match RETURN_PROPERTIES case-insensitively; unknown keys are dropped.
func (p *Portal) bizprocEventSend(_ *callCtx, params map[string]any) (any, *apiError) {
	tok := paramString(params, "EVENT_TOKEN")
	if tok == "" {
		return nil, errArg("Empty EVENT_TOKEN")
	}
	if !p.validEventToken(tok) {
		return nil, &apiError{status: 403, code: bitrix24.ErrCodeAccessDenied, desc: "Access denied!"}
	}
	st, ok := p.events[tok]
	if !ok || st.done || !st.useSubscription {
		return duplicateResult{result: true}, nil
	}
	st.done = true
	rv, _ := param(params, "RETURN_VALUES")
	vals, _ := rv.(map[string]any)
	out := map[string]any{}
	var declared map[string]any
	if r, ok := p.robots[st.code]; ok {
		declared, _ = r.fields["RETURN_PROPERTIES"].(map[string]any)
	}
	for k, v := range vals {
		if declared == nil {
			out[k] = v
			continue
		}
		for dk := range declared {
			if strings.EqualFold(dk, k) {
				out[dk] = v
			}
		}
	}
	msg := paramString(params, "LOG_MESSAGE")
	if msg == "" {
		msg = "Received response from the application"
	}
	p.sent[tok] = append(p.sent[tok], out)
	p.logMsgs[tok] = append(p.logMsgs[tok], msg)
	if p.onEventSent != nil {
		p.onEventSent(tok, out)
	}
	return true, nil
}

// bizprocActivityLog writes to the workflow log without completing the robot (reference §5).
func (p *Portal) bizprocActivityLog(_ *callCtx, params map[string]any) (any, *apiError) {
	tok := paramString(params, "EVENT_TOKEN")
	if tok == "" {
		return nil, errArg("Empty EVENT_TOKEN")
	}
	if !p.validEventToken(tok) {
		return nil, &apiError{status: 403, code: bitrix24.ErrCodeAccessDenied, desc: "Access denied!"}
	}
	if paramString(params, "LOG_MESSAGE") == "" {
		return nil, &apiError{status: 400, code: "ERROR_EMPTY_LOG_MESSAGE", desc: "Empty log message!"}
	}
	return true, nil
}

// RobotCall builds a robot invocation exactly as Bitrix24 sends it (reference §4: form-encoded bracket
// keys, a fresh event_token, auth of AUTH_USER_ID with a current access token and the
// application_token) and POSTs it to handlerURL. Returns the event_token and the handler's status.
// EventsSent()[token] then shows the handler's bizproc.event.send, LogMessages()[token] its LOG_MESSAGE.
func (p *Portal) RobotCall(ctx context.Context, handlerURL, code string, dealID int, props map[string]any) (string, int, error) {
	tok, form := p.robotForm(code, dealID, props)
	status, err := p.postForm(ctx, handlerURL, form)
	if err != nil {
		return tok, status, fmt.Errorf("emulator: robot call %s for deal %d: %w", code, dealID, err)
	}
	return tok, status, nil
}

// RobotCallCopies delivers one robot call (one event_token) copies times, all at once when together is
// set, else one after the other: the queue server re-sending a call whose answer it did not get, or
// two copies of it in flight (issue 15, found 5). The event stays one-shot: only the first
// bizproc.event.send for the token is accepted. Returns the token and each copy's status.
func (p *Portal) RobotCallCopies(ctx context.Context, handlerURL, code string, dealID int, props map[string]any, copies int, together bool) (string, []int, error) {
	tok, deliver := p.NewRobotCall(code, dealID, props)
	statuses := make([]int, copies)
	errs := make([]error, copies)
	var wg sync.WaitGroup
	for i := range copies {
		post := func() { statuses[i], errs[i] = deliver(ctx, handlerURL) }
		if !together {
			post()
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); post() }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return tok, statuses, fmt.Errorf("emulator: robot call %s for deal %d: %w", code, dealID, err)
	}
	return tok, statuses, nil
}

// NewRobotCall registers a fresh robot event and returns its token and a function that delivers that
// same call (same event_token, same auth) each time it is called: a re-send at any later moment.
func (p *Portal) NewRobotCall(code string, dealID int, props map[string]any) (string, func(ctx context.Context, handlerURL string) (int, error)) {
	tok, form := p.robotForm(code, dealID, props)
	return tok, func(ctx context.Context, handlerURL string) (int, error) { return p.postForm(ctx, handlerURL, form) }
}

// robotForm registers a fresh event and builds its robot call.
func (p *Portal) robotForm(code string, dealID int, props map[string]any) (string, map[string]any) {
	p.mu.Lock()
	uid, useSub := AdminUserID, true
	if r, ok := p.robots[code]; ok {
		uid, _ = toInt(r.fields["AUTH_USER_ID"]) // 0 when unset: no user token (reference §3.1, §11)
		useSub = !strings.EqualFold(paramString(r.fields, "USE_SUBSCRIPTION"), "N")
	}
	if _, ok := p.deals[dealID]; !ok {
		p.deals[dealID] = newDeal(dealID)
	}
	wf := fmt.Sprintf("%x.%08d", time.Now().UnixNano()/1e3, randInt(99999999))
	tok := p.eventToken(wf)
	p.events[tok] = &eventState{code: code, dealID: dealID, useSubscription: useSub}
	var auth map[string]any
	if uid > 0 {
		auth = authFormFields(p.newAuthLocked(uid), p.cfg.AccessTokenTTL)
	} else {
		// The robot was registered without AUTH_USER_ID: Bitrix24 sends the portal fields only and the
		// handler must fall back to its stored install tokens (reference §11, "Empty auth").
		auth = map[string]any{"domain": p.domain, "client_endpoint": p.scheme + "://" + p.domain + "/rest/",
			"server_endpoint": p.scheme + "://" + p.domain + "/oauth/rest/", "member_id": p.cfg.MemberID,
			"application_token": p.cfg.ApplicationToken, "scope": p.cfg.Scope, "status": "L"}
	}
	p.mu.Unlock()

	us := "Y"
	if !useSub {
		us = "N"
	}
	form := map[string]any{
		"workflow_id": wf, "code": code,
		"document_id":      []any{"crm", "CCrmDocumentDeal", "DEAL_" + strconv.Itoa(dealID)},
		"document_type":    []any{"crm", "CCrmDocumentDeal", "DEAL"},
		"event_token":      tok,
		"use_subscription": us, "timeout_duration": "0", "ts": strconv.FormatInt(time.Now().Unix(), 10),
		"auth": auth,
	}
	if len(props) > 0 {
		form["properties"] = props
	}
	return tok, form
}

// handlerClient sends the portal's calls to the app (robot calls, install events). Like Bitrix24's
// queue it sends several at once, so it keeps as many connections alive (Go's default keeps two).
var handlerClient = &http.Client{Timeout: 30 * time.Second, Transport: func() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return tr
}()}

// postForm sends a form-encoded POST like the Bitrix24 queue server.
func (p *Portal) postForm(ctx context.Context, target string, form map[string]any) (int, error) {
	body := bitrix24.EncodeForm(form).Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "Bitrix24 Webhook Engine")
	resp, err := handlerClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	// Read to the end: a body closed unread costs the connection, and the next call dials again.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, nil
}

// Install POSTs ONAPPINSTALL (form-encoded, reference §9.2) with a fresh token pair of the admin.
func (p *Portal) Install(ctx context.Context, handlerURL string) error {
	a := p.NewAuth(AdminUserID)
	form := map[string]any{
		"event": "ONAPPINSTALL",
		"data":  map[string]any{"VERSION": "1", "ACTIVE": "Y", "INSTALLED": "Y", "LANGUAGE_ID": p.cfg.Language},
		"ts":    strconv.FormatInt(time.Now().Unix(), 10),
		"auth":  authFormFields(a, p.cfg.AccessTokenTTL),
	}
	st, err := p.postForm(ctx, handlerURL, form)
	if err != nil {
		return fmt.Errorf("emulator: ONAPPINSTALL: %w", err)
	}
	if st/100 != 2 {
		return fmt.Errorf("emulator: ONAPPINSTALL: handler answered HTTP %d", st)
	}
	return nil
}

// InstallWithoutTokens POSTs ONAPPINSTALL as the current official reference shows it (§9.2): auth
// carries domain, endpoints, member_id and application_token, no access or refresh token. The portal
// sends it after the installation page called BX24.installFinish().
func (p *Portal) InstallWithoutTokens(ctx context.Context, handlerURL string) (int, error) {
	p.mu.Lock()
	auth := map[string]any{"domain": p.domain, "client_endpoint": p.scheme + "://" + p.domain + "/rest/",
		"server_endpoint": p.scheme + "://" + p.domain + "/oauth/rest/", "member_id": p.cfg.MemberID,
		"application_token": p.cfg.ApplicationToken}
	p.mu.Unlock()
	return p.postForm(ctx, handlerURL, map[string]any{"event": "ONAPPINSTALL",
		"data": map[string]any{"VERSION": "1", "ACTIVE": "Y", "INSTALLED": "Y", "LANGUAGE_ID": p.cfg.Language},
		"ts":   strconv.FormatInt(time.Now().Unix(), 10), "auth": auth})
}

// Uninstall POSTs ONAPPUNINSTALL; its auth carries no tokens (reference §9.2). Robots are dropped.
func (p *Portal) Uninstall(ctx context.Context, handlerURL string, clean bool) error {
	p.mu.Lock()
	p.robots, p.robotOrder, p.placements = map[string]*robot{}, nil, nil
	auth := map[string]any{"domain": p.domain, "client_endpoint": p.scheme + "://" + p.domain + "/rest/",
		"server_endpoint": p.scheme + "://" + p.domain + "/oauth/rest/", "member_id": p.cfg.MemberID,
		"application_token": p.cfg.ApplicationToken}
	p.mu.Unlock()
	c := "0"
	if clean {
		c = "1"
	}
	st, err := p.postForm(ctx, handlerURL, map[string]any{"event": "ONAPPUNINSTALL",
		"data": map[string]any{"LANGUAGE_ID": p.cfg.Language, "CLEAN": c}, "ts": strconv.FormatInt(time.Now().Unix(), 10), "auth": auth})
	if err != nil {
		return fmt.Errorf("emulator: ONAPPUNINSTALL: %w", err)
	}
	if st/100 != 2 {
		return fmt.Errorf("emulator: ONAPPUNINSTALL: handler answered HTTP %d", st)
	}
	return nil
}
