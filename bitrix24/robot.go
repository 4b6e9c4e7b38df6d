package bitrix24

import (
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxInboundBody bounds what ParseRobotRequest and ParseInstallEvent read; robot calls are a few KB.
const MaxInboundBody = 1 << 20

// RobotRequest is what Bitrix24 POSTs to a robot HANDLER (reference §4), all values parsed.
type RobotRequest struct {
	WorkflowID   string
	Code         string
	EventToken   string
	DocumentID   []string // [module, class, "DEAL_1188"]
	DocumentType []string // [module, class, "DEAL"]; absent on very old on-premise portals
	// Properties holds each robot property as string, []string (multiple: properties[k][i]) or, for a
	// value nested deeper than Bitrix24 documents, map[string]any as DecodeForm built it.
	Properties      map[string]any
	UseSubscription bool // true unless use_subscription is explicitly "N" (reference §3.1)
	TimeoutDuration int  // seconds; 0 = the workflow waits forever
	TS              time.Time
	Auth            Auth
}

// ParseRobotRequest reads a robot call: a POST with Content-Type application/x-www-form-urlencoded and
// PHP bracket keys (reference §4). It requires workflow_id, code, event_token, document_id[0..2],
// auth[member_id] and auth[application_token]; auth[access_token] may be missing (robot registered
// without AUTH_USER_ID, reference §11) and then the caller falls back to the stored portal tokens.
// It does not check application_token: the caller compares it with VerifyApplicationToken.
func ParseRobotRequest(r *http.Request) (*RobotRequest, error) {
	rr, err := parseRobotRequest(r)
	return rr, boundError(err)
}

func parseRobotRequest(r *http.Request) (*RobotRequest, error) {
	m, err := readInboundForm(r, "robot call")
	if err != nil {
		return nil, err
	}
	rr := &RobotRequest{}
	for _, f := range []struct {
		key string
		dst *string
	}{{"workflow_id", &rr.WorkflowID}, {"code", &rr.Code}, {"event_token", &rr.EventToken}} {
		s, err := formString(m, f.key, f.key)
		if err != nil {
			return nil, err
		}
		if s == "" {
			return nil, fmt.Errorf("%w: robot call without %s; is the handler URL used for something else?", ErrBadRequest, f.key)
		}
		if len(s) > MaxRobotField {
			return nil, fmt.Errorf("%w: robot call: %s is %d bytes, longer than any Bitrix24 sends (%d)", ErrBadRequest, f.key, len(s), MaxRobotField)
		}
		*f.dst = s
	}
	if rr.DocumentID, err = formStrings(m, "document_id"); err != nil {
		return nil, err
	}
	if len(rr.DocumentID) != 3 || rr.DocumentID[2] == "" {
		return nil, fmt.Errorf("%w: robot call %s: document_id must be [module, class, TYPE_ID], got %q", ErrBadRequest, rr.Code, rr.DocumentID)
	}
	for _, part := range rr.DocumentID {
		if len(part) > MaxRobotField {
			return nil, fmt.Errorf("%w: robot call %s: a document_id part is %d bytes (at most %d)", ErrBadRequest, rr.Code, len(part), MaxRobotField)
		}
	}
	if _, ok := m["document_type"]; ok {
		if rr.DocumentType, err = formStrings(m, "document_type"); err != nil {
			return nil, err
		}
	}
	rr.Properties = map[string]any{}
	switch p := m["properties"].(type) {
	case nil:
	case string: // "properties=" — PHP sends an empty array this way
		if p != "" {
			return nil, fmt.Errorf("%w: robot call %s: properties must be properties[key]=value", ErrBadRequest, rr.Code)
		}
	case map[string]any:
		for k, v := range p {
			rr.Properties[k] = propertyValue(v)
		}
	case []any: // property keys start with a letter, so a list means a broken sender
		return nil, fmt.Errorf("%w: robot call %s: properties is a list, expected properties[key]=value", ErrBadRequest, rr.Code)
	}
	us, err := formString(m, "use_subscription", "use_subscription")
	if err != nil {
		return nil, err
	}
	rr.UseSubscription = !strings.EqualFold(us, "N")
	td, err := formString(m, "timeout_duration", "timeout_duration")
	if err != nil {
		return nil, err
	}
	if td != "" {
		if rr.TimeoutDuration, err = strconv.Atoi(td); err != nil {
			return nil, fmt.Errorf("%w: robot call %s: timeout_duration=%q is not a number", ErrBadRequest, rr.Code, td)
		}
	}
	ts, err := formString(m, "ts", "ts")
	if err != nil {
		return nil, err
	}
	if ts != "" {
		n, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: robot call %s: ts=%q is not a unix time", ErrBadRequest, rr.Code, ts)
		}
		rr.TS = time.Unix(n, 0)
	}
	am, ok := m["auth"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: robot call %s has no auth[...] fields", ErrBadRequest, rr.Code)
	}
	if rr.Auth, err = authFromMap(am, time.Now()); err != nil {
		return nil, err
	}
	if rr.Auth.MemberID == "" || rr.Auth.ApplicationToken == "" {
		return nil, fmt.Errorf("%w: robot call %s lacks auth[member_id] or auth[application_token]", ErrBadRequest, rr.Code)
	}
	if !ValidMemberID(rr.Auth.MemberID) {
		return nil, fmt.Errorf("%w: robot call %s: auth[member_id] is not a Bitrix24 member_id (%d bytes; at most %d of A-Z a-z 0-9 _ -)",
			ErrBadRequest, rr.Code, len(rr.Auth.MemberID), MaxMemberID)
	}
	return rr, nil
}

// MaxRobotField bounds workflow_id, code, event_token and each document_id part: they travel in every
// job and callback message. Bitrix24's are under 200 bytes (an event_token is the workflow id, the
// activity name and a signature).
const MaxRobotField = 512

// MaxMemberID bounds a member_id; Bitrix24's are 32 hex digits.
const MaxMemberID = 128

// ValidMemberID reports whether s can be a Bitrix24 member_id: 1 to MaxMemberID characters of
// [A-Za-z0-9_-], the same rule the portal registry keys by. A value that fails is the caller's and is
// never echoed, logged or audited as it came.
func ValidMemberID(s string) bool {
	if s == "" || len(s) > MaxMemberID {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// propertyValue turns a decoded property into string or []string; sparse multiple values
// (properties[k][1] only) keep their index order.
func propertyValue(v any) any {
	switch t := v.(type) {
	case []any:
		out := make([]string, 0, len(t))
		for _, it := range t {
			s, ok := it.(string)
			if !ok {
				return v
			}
			out = append(out, s)
		}
		return out
	case map[string]any:
		idx := make([]int, 0, len(t))
		for k, it := range t {
			n, err := strconv.Atoi(k)
			if _, isStr := it.(string); err != nil || !isStr || strconv.Itoa(n) != k {
				return v // "01", "+1": not an index; the lookup by Itoa(n) below would miss
			}
			idx = append(idx, n)
		}
		sort.Ints(idx)
		out := make([]string, 0, len(idx))
		for _, n := range idx {
			out = append(out, t[strconv.Itoa(n)].(string))
		}
		return out
	}
	return v
}

// formStrings reads name[0..n] as []string.
func formStrings(m map[string]any, k string) ([]string, error) {
	switch v := m[k].(type) {
	case nil:
		return nil, nil
	case []any:
		out := make([]string, len(v))
		for i, it := range v {
			s, ok := it.(string)
			if !ok {
				return nil, fmt.Errorf("%w: %s[%d] must be a string", ErrBadRequest, k, i)
			}
			out[i] = s
		}
		return out, nil
	default:
		return nil, fmt.Errorf("%w: %s must be %s[0], %s[1], …", ErrBadRequest, k, k, k)
	}
}

// DocumentItem splits document_id[2] ("DEAL_1188", "LEAD_5", "DYNAMIC_183_7") into the entity type
// ("DEAL", "LEAD", "DYNAMIC_183") and the item id: the id is the suffix after the last "_"
// (reference §4).
func (r *RobotRequest) DocumentItem() (entityType string, id int, err error) {
	if len(r.DocumentID) != 3 {
		return "", 0, fmt.Errorf("%w: document_id has %d parts, want 3", ErrBadRequest, len(r.DocumentID))
	}
	s := r.DocumentID[2]
	i := strings.LastIndexByte(s, '_')
	if i <= 0 || i == len(s)-1 {
		return "", 0, fmt.Errorf("%w: document_id[2]=%q is not TYPE_ID", ErrBadRequest, s)
	}
	id, err = strconv.Atoi(s[i+1:])
	if err != nil || id <= 0 {
		return "", 0, fmt.Errorf("%w: document_id[2]=%q does not end in a positive item id", ErrBadRequest, s)
	}
	return s[:i], id, nil
}

// DealID returns the CRM item id of the robot's document: 1188 for "DEAL_1188", and likewise 5 for
// "LEAD_5" and 7 for "DYNAMIC_183_7"; use DocumentItem when the entity type matters.
func (r *RobotRequest) DealID() (int, error) {
	_, id, err := r.DocumentItem()
	return id, err
}

// maxErrorText bounds the text of an error about an inbound request: its messages quote the
// request's own values (a key, a code, a timestamp), and a 1 MB value must not become a 1 MB log line,
// HTTP answer or audit reason.
const maxErrorText = 512

// boundedError is an error whose text was cut at maxErrorText; errors.Is still sees the cause.
type boundedError struct {
	msg string
	err error
}

func (e *boundedError) Error() string { return e.msg }
func (e *boundedError) Unwrap() error { return e.err }

func boundError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if len(msg) <= maxErrorText {
		return err
	}
	cut := maxErrorText
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return &boundedError{msg: fmt.Sprintf("%s… (cut; %d bytes)", msg[:cut], len(msg)), err: err}
}

// readInboundForm checks method and Content-Type, reads at most MaxInboundBody and decodes brackets.
func readInboundForm(r *http.Request, what string) (m map[string]any, err error) {
	defer func() { err = boundError(err) }()
	if r.Method != http.MethodPost {
		return nil, fmt.Errorf("%w: %s must be POST, got %s", ErrBadRequest, what, r.Method)
	}
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/x-www-form-urlencoded" {
		return nil, fmt.Errorf("%w: %s must be application/x-www-form-urlencoded, got %q", ErrBadRequest, what, r.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxInboundBody+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s body: %v", ErrBadRequest, what, err)
	}
	if len(body) > MaxInboundBody {
		return nil, fmt.Errorf("%w: %s body is larger than %d bytes", ErrBadRequest, what, MaxInboundBody)
	}
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %s body is not url-encoded: %v", ErrBadRequest, what, err)
	}
	if m, err = DecodeForm(vals); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadRequest, what, err)
	}
	return m, nil
}
