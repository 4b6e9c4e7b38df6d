package producer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/portals"
)

// The left-menu item without APPLICATION_TOKEN (issue 19, must 3b). Bitrix24's placement documentation
// lists APPLICATION_TOKEN among the fields every handler gets (bitrix24-rest.md §10), but a real
// portal's LEFT_MENU page may come without it. Such a request is not refused for that alone: it is
// taken as the left menu's when it says so (PLACEMENT=LEFT_MENU), carries no APPLICATION_TOKEN at all
// (a wrong one is still refused), and the portal itself, asked at its stored address with the viewer's
// AUTH_ID, answers that the token belongs to the installed application (app.info CODE equals the
// CODE the portal gives for Signet's own stored token). Who is looking is then proved by user.current
// with the same AUTH_ID, as for every inbox request. An install whose application token is not proven
// (TokenWindow) is not accepted this way: nothing but the portal's stored record would vouch for it.

// leftMenuWithoutToken says whether r is a left-menu page request without any APPLICATION_TOKEN.
func leftMenuWithoutToken(r *http.Request) bool {
	return r.PostForm.Get("APPLICATION_TOKEN") == "" && strings.EqualFold(r.PostForm.Get("PLACEMENT"), PlacementLeftMenu)
}

// provenMenuToken checks, for a left-menu request without APPLICATION_TOKEN, that authID is a token of
// Signet's application on the portal. It returns an error wrapping bitrix24.ErrNotProven to refuse (401)
// and another error when the portal cannot answer now (503).
func (in *Intake) provenMenuToken(ctx context.Context, p *portals.Portal, authID string) error {
	if p.Install.TokenSource == portals.TokenWindow {
		return fmt.Errorf("%w: the install's application token is not proven yet", bitrix24.ErrNotProven)
	}
	if authID == "" {
		return fmt.Errorf("%w: no AUTH_ID", bitrix24.ErrNotProven)
	}
	type appInfo struct {
		CODE string `json:"CODE"`
	}
	var ours, theirs appInfo
	if err := in.Bitrix.Call(ctx, p.Auth.MemberID, "app.info", nil, &ours); err != nil {
		return fmt.Errorf("asking the portal for Signet's application: %w", err)
	}
	if err := in.Bitrix.CallAs(ctx, p.Auth.MemberID, authID, "app.info", nil, &theirs); err != nil {
		var apiErr *bitrix24.Error
		if errors.As(err, &apiErr) && !apiErr.Retryable() {
			return fmt.Errorf("%w: app.info refused the AUTH_ID: %s", bitrix24.ErrNotProven, apiErr.Code)
		}
		return fmt.Errorf("asking the portal whose AUTH_ID this is: %w", err)
	}
	if ours.CODE == "" || !strings.EqualFold(ours.CODE, theirs.CODE) {
		return fmt.Errorf("%w: the AUTH_ID belongs to application %q, not to Signet's", bitrix24.ErrNotProven, theirs.CODE)
	}
	return nil
}
