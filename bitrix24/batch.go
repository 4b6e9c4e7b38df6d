package bitrix24

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
)

// MaxBatchCommands is the batch length limit (reference §7).
const MaxBatchCommands = 50

// BatchCommand is one entry of batch cmd: ID → "Method?query(Params)".
type BatchCommand struct {
	ID     string // unique in the batch; empty → "cmd<index>"
	Method string
	Params map[string]any
}

// BatchResult is the outcome of one command: Result (raw JSON) or Err (*Error from result_error, or
// ErrBatchNotExecuted when halt stopped the batch before it).
type BatchResult struct {
	ID       string
	Result   json.RawMessage
	Err      error
	Attempts int // batches this command was sent in
}

// Batch sends up to 50 commands in one request (reference §7). The answer is per command: successes
// are never sent again; a command that failed with QUERY_LIMIT_EXCEEDED or OPERATION_TIME_LIMIT (not
// executed) — and, with halt, the commands after it that never ran — are re-sent in a smaller batch,
// up to MaxRetries times. Other per-command errors are returned in BatchResult.Err for the caller to
// judge (a write may have partly happened). The returned error is for the batch as a whole.
func (c *Client) Batch(ctx context.Context, memberID string, cmds []BatchCommand, halt bool) ([]BatchResult, error) {
	if len(cmds) > MaxBatchCommands {
		return nil, fmt.Errorf("%w: %d commands for portal %s; split them", ErrBatchTooLong, len(cmds), memberID)
	}
	results := make([]BatchResult, len(cmds))
	pending := make([]int, 0, len(cmds))
	seen := map[string]bool{}
	for i, cmd := range cmds {
		id := cmd.ID
		if id == "" {
			id = "cmd" + strconv.Itoa(i)
		}
		if seen[id] {
			return nil, fmt.Errorf("bitrix24 batch on %s: command id %q used twice", memberID, id)
		}
		seen[id] = true
		results[i].ID = id
		pending = append(pending, i)
	}
	ps := c.portal(memberID)
	for attempt := 1; len(pending) > 0; attempt++ {
		cmdMap := make(map[string]any, len(pending))
		for _, i := range pending {
			text := cmds[i].Method
			if len(cmds[i].Params) > 0 {
				text += "?" + EncodeForm(cmds[i].Params).Encode()
			}
			cmdMap[results[i].ID] = text
			results[i].Attempts++
		}
		h := 0
		if halt {
			h = 1
		}
		var raw struct {
			Result      json.RawMessage `json:"result"`
			ResultError json.RawMessage `json:"result_error"`
		}
		if err := c.Call(ctx, memberID, "batch", map[string]any{"halt": h, "cmd": cmdMap}, &raw); err != nil {
			return results, err
		}
		ok, err := phpObject(raw.Result)
		if err != nil {
			return results, fmt.Errorf("%w: batch on portal %s: result: %v", ErrUnexpectedAnswer, memberID, err)
		}
		fails, err := phpObject(raw.ResultError)
		if err != nil {
			return results, fmt.Errorf("%w: batch on portal %s: result_error: %v", ErrUnexpectedAnswer, memberID, err)
		}
		var retry []int
		retryable := false
		for _, i := range pending {
			id := results[i].ID
			if r, done := ok[id]; done {
				results[i].Result, results[i].Err = r, nil
				continue
			}
			if f, failed := fails[id]; failed {
				var e struct {
					Error            string `json:"error"`
					ErrorDescription string `json:"error_description"`
				}
				_ = json.Unmarshal(f, &e)
				apiErr := &Error{HTTPStatus: 200, Code: e.Error, Description: e.ErrorDescription, Method: cmds[i].Method, Portal: memberID}
				results[i].Err = apiErr
				if apiErr.IsCode(ErrCodeQueryLimitExceeded) || apiErr.IsCode(ErrCodeOperationTimeLimit) {
					retry, retryable = append(retry, i), true
				}
				continue
			}
			results[i].Err = fmt.Errorf("%w: %s (%s)", ErrBatchNotExecuted, id, cmds[i].Method)
			retry = append(retry, i)
		}
		if !retryable || attempt > c.cfg.MaxRetries {
			return results, nil
		}
		pending = retry
		c.drain(ctx, ps, memberID)
		if err := sleepCtx(ctx, backoff(attempt)); err != nil {
			return results, fmt.Errorf("bitrix24 batch on %s: %w", memberID, err)
		}
	}
	return results, nil
}

// phpObject decodes a JSON object keyed by command id; PHP renders an empty one as [] and a list
// keyed 0..n-1 as an array.
func phpObject(raw json.RawMessage) (map[string]json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	out := map[string]json.RawMessage{}
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return out, nil
	}
	if raw[0] == '[' {
		var l []json.RawMessage
		if err := json.Unmarshal(raw, &l); err != nil {
			return nil, err
		}
		for i, v := range l {
			out[strconv.Itoa(i)] = v
		}
		return out, nil
	}
	err := json.Unmarshal(raw, &out)
	return out, err
}
