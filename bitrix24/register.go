package bitrix24

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// RegisterRobot adds the robot CODE, or updates it when it exists, so that running it twice (install,
// app update, `signet admin bitrix24 register`) is harmless (reference §3.2: list → add or update;
// robots are dropped on uninstall and possibly on app updates). fields are bizproc.robot.add's
// parameters without CODE. It reports whether the robot was added (false: updated).
func (c *Client) RegisterRobot(ctx context.Context, memberID, code string, fields map[string]any) (added bool, err error) {
	if c.cfg.WebhookURL != "" {
		return false, ErrWebhookMode
	}
	var codes []string
	if err := c.Call(ctx, memberID, "bizproc.robot.list", nil, &codes); err != nil {
		return false, fmt.Errorf("listing robots on portal %s: %w", memberID, err)
	}
	exists := false
	for _, c := range codes {
		exists = exists || c == code
	}
	if !exists {
		params := map[string]any{"CODE": code}
		for k, v := range fields {
			params[k] = v
		}
		err := c.Call(ctx, memberID, "bizproc.robot.add", params, nil)
		if err == nil {
			return true, nil
		}
		if !IsCode(err, ErrCodeActivityAlreadyExists) { // another Signet process added it meanwhile
			return false, fmt.Errorf("adding robot %s on portal %s: %w", code, memberID, err)
		}
	}
	if err := c.Call(ctx, memberID, "bizproc.robot.update", map[string]any{"CODE": code, "FIELDS": fields}, nil); err != nil {
		return false, fmt.Errorf("updating robot %s on portal %s: %w", code, memberID, err)
	}
	return false, nil
}

// BindPlacement binds handler to placement (e.g. CRM_DEAL_DETAIL_TOOLBAR) with a title, idempotently:
// an existing binding of the same handler is kept (ERROR_PLACEMENT_HANDLER_ALREADY_BINDED is success),
// reference §10. It reports whether a new binding was made.
func (c *Client) BindPlacement(ctx context.Context, memberID, placement, handler, title string, lang map[string]any) (bound bool, err error) {
	if c.cfg.WebhookURL != "" {
		return false, ErrWebhookMode
	}
	params := map[string]any{"PLACEMENT": placement, "HANDLER": handler, "TITLE": title}
	if len(lang) > 0 {
		params["LANG_ALL"] = lang
	}
	err = c.Call(ctx, memberID, "placement.bind", params, nil)
	var apiErr *Error
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &apiErr) && (apiErr.IsCode(ErrCodePlacementHandlerExists) || strings.Contains(strings.ToLower(apiErr.Description), "already bind")):
		return false, nil
	}
	return false, fmt.Errorf("binding %s on portal %s: %w", placement, memberID, err)
}
