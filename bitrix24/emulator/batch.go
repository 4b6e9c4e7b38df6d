package emulator

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/signet-b24/signet/bitrix24"
)

// maxBatch is the batch length limit (reference §7).
const maxBatch = 50

// batch runs cmd (id → "method?query") in order (reference §7): HTTP 200 with result, result_error,
// result_total, result_next, result_time; with halt=1 it stops at the first failure. Nested batch and
// the upload/download endpoints are ERROR_BATCH_METHOD_NOT_ALLOWED. The whole batch counts once for the leaky bucket.
func (p *Portal) batch(c *callCtx, params map[string]any, order []string) (any, *apiError) {
	type cmd struct{ id, text string }
	var cmds []cmd
	switch t := mustParam(params, "cmd").(type) {
	case map[string]any:
		seen := map[string]bool{}
		for _, id := range order {
			if s, ok := t[id].(string); ok && !seen[id] {
				seen[id] = true
				cmds = append(cmds, cmd{id, s})
			}
		}
		var rest []string
		for id := range t {
			if !seen[id] {
				rest = append(rest, id)
			}
		}
		sort.Strings(rest)
		for _, id := range rest {
			s, ok := t[id].(string)
			if !ok {
				return nil, errArg("cmd[" + id + "] must be a string \"method?query\"")
			}
			cmds = append(cmds, cmd{id, s})
		}
	case []any:
		for i, v := range t {
			s, ok := v.(string)
			if !ok {
				return nil, errArg("cmd[" + strconv.Itoa(i) + "] must be a string \"method?query\"")
			}
			cmds = append(cmds, cmd{strconv.Itoa(i), s})
		}
	default:
		return nil, errArg("cmd is required")
	}
	if len(cmds) > maxBatch {
		return nil, &apiError{status: 400, code: bitrix24.ErrCodeBatchLengthExceeded, desc: "Max batch length exceeded"}
	}
	halt := paramString(params, "halt") == "1"
	results, errs, times := map[string]any{}, map[string]any{}, map[string]any{}
	methods := p.table
	for _, cm := range cmds {
		start := time.Now()
		name, query, _ := strings.Cut(cm.text, "?")
		name = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(name)), ".json")
		var res any
		var aerr *apiError
		var inner map[string]any
		q, err := url.ParseQuery(query)
		if err == nil {
			inner, err = bitrix24.DecodeForm(q)
		}
		delete(inner, "auth")
		if err == nil {
			inner = substituteResults(inner, results).(map[string]any)
		}
		p.mu.Lock()
		switch {
		case err != nil:
			aerr = &apiError{status: 400, code: bitrix24.ErrCodeInvalidRequest, desc: "Malformed command query"}
		case name == "batch" || name == "download" || name == "upload":
			aerr = &apiError{status: 405, code: bitrix24.ErrCodeBatchMethodNotAllowed, desc: "Method is not allowed for batch usage"}
		default:
			if aerr = p.batchInjectedLocked(cm.id); aerr != nil {
				break
			}
			if until, ok := p.fail.opBlocked[name]; ok && time.Now().Before(until) {
				aerr = &apiError{status: 429, code: bitrix24.ErrCodeOperationTimeLimit, desc: "Method is blocked due to operation time limit."}
				break
			}
			m, ok := methods[name]
			if !ok {
				aerr = &apiError{status: 404, code: bitrix24.ErrCodeMethodNotFound, desc: "Method not found!"}
				break
			}
			if !p.hasScope(name) {
				aerr = errScope()
				break
			}
			res, aerr = m(&callCtx{userID: c.userID, appContext: c.appContext, token: c.token}, inner)
		}
		call := Call{Method: name, Params: inner, Time: start, Batch: true, UserID: c.userID}
		if aerr != nil {
			call.ErrorCode = aerr.code
		}
		if dr, ok := res.(duplicateResult); ok {
			call.Duplicate, res = true, dr.result
		}
		p.calls = append(p.calls, call)
		p.mu.Unlock()
		if aerr != nil {
			errs[cm.id] = aerr.body()
			if halt {
				break
			}
			continue
		}
		if lr, ok := res.(listResult); ok {
			res = lr.items
		}
		results[cm.id] = res
		times[cm.id] = p.timeStat(name, start)
	}
	return map[string]any{
		"result": phpArray(results), "result_error": phpArray(errs), "result_total": []any{},
		"result_next": []any{}, "result_time": phpArray(times),
	}, nil
}

// phpArray renders an empty map as [] the way PHP's json_encode renders an empty array.
func phpArray(m map[string]any) any {
	if len(m) == 0 {
		return []any{}
	}
	return m
}

var resultRef = regexp.MustCompile(`\$result\[([^\]]+)\]((?:\[[^\]]*\])*)`)

// substituteResults replaces $result[cmd][FIELD]… in command parameters with values of earlier
// commands (reference §7); a reference that does not resolve stays literally in place.
func substituteResults(v any, results map[string]any) any {
	switch t := v.(type) {
	case string:
		if !strings.Contains(t, "$result[") {
			return t
		}
		return resultRef.ReplaceAllStringFunc(t, func(ref string) string {
			m := resultRef.FindStringSubmatch(ref)
			cur, ok := results[m[1]]
			if !ok {
				return ref
			}
			cur = jsonGeneric(cur)
			for _, key := range splitBrackets(m[2]) {
				switch c := cur.(type) {
				case map[string]any:
					if cur, ok = c[key]; !ok {
						return ref
					}
				case []any:
					i, err := strconv.Atoi(key)
					if err != nil || i < 0 || i >= len(c) {
						return ref
					}
					cur = c[i]
				default:
					return ref
				}
			}
			switch c := cur.(type) {
			case string:
				return c
			case float64:
				return strconv.FormatFloat(c, 'f', -1, 64)
			case bool:
				if c {
					return "1"
				}
				return ""
			case nil:
				return ""
			default:
				return fmt.Sprint(c)
			}
		})
	case map[string]any:
		for k, c := range t {
			t[k] = substituteResults(c, results)
		}
		return t
	case []any:
		for i, c := range t {
			t[i] = substituteResults(c, results)
		}
		return t
	}
	return v
}

func splitBrackets(s string) []string {
	var out []string
	for len(s) > 1 && s[0] == '[' {
		j := strings.IndexByte(s, ']')
		if j < 0 {
			break
		}
		out = append(out, s[1:j])
		s = s[j+1:]
	}
	return out
}

// jsonGeneric turns a method result into the generic JSON shape a client would see.
func jsonGeneric(v any) any {
	raw, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	if json.Unmarshal(raw, &out) != nil {
		return v
	}
	return out
}
