package routes

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/internal/i18n"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// Return values of the robot "signet_route" (RETURN_PROPERTIES, producer/robot_route.go).
const (
	RetRouteID       = "routeId"
	RetOutcome       = "outcome"       // completed, declined, cancelled, expired or failed
	RetOutcomeReason = "outcomeReason" // why it did not complete (the decliner's words)
	RetParties       = "parties"       // one line per party: step, who, outcome, when
	RetSignedFileURL = "signedFileUrl" // the final document (completed routes)
)

func (e *Engine) lang(r *Route) *i18n.Localizer { return i18n.For(i18n.FromBitrix24(r.Language)) }

// comment adds a line to the deal's timeline (crm.timeline.comment.add, as the worker does for a
// job). A failure is logged: the route goes on, its page and the audit trail have every transition.
func (e *Engine) comment(ctx context.Context, r *Route, key string, args ...any) {
	if e.Bitrix == nil || r.Portal.MemberID == "" || r.Document.EntityTypeID != 2 || r.Document.EntityID == 0 {
		return
	}
	l := e.lang(r)
	text := l.T(key, append([]any{r.ID, r.title()}, args...)...)
	if err := e.Bitrix.Call(ctx, r.Portal.MemberID, "crm.timeline.comment.add", map[string]any{
		"fields": map[string]any{"ENTITY_ID": r.Document.EntityID, "ENTITY_TYPE": "deal", "COMMENT": text},
	}, nil); err != nil {
		e.log().Warn("route: timeline comment not added", zap.String("route", r.ID), zap.Error(err))
	}
}

// Summary is one line per party: step, who, what they did and when.
func (r *Route) Summary() string {
	var b strings.Builder
	for _, st := range r.Steps {
		for _, p := range st.Parties {
			b.WriteString(st.ID + " " + string(st.Action) + " " + p.Who() + ": " + string(p.State))
			if !p.At.IsZero() {
				b.WriteString(" " + p.At.UTC().Format(time.RFC3339))
			}
			if p.Reason != "" {
				b.WriteString(" (" + p.Reason + ")")
			}
			b.WriteString("\n")
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// tell reports an ended route to the deal's timeline and to the workflow that started it, once:
// Told is set by compare-and-set before the calls, so two processes never tell twice; a call that
// fails is logged (the robot's own timeout then ends the workflow's wait).
func (e *Engine) tell(ctx context.Context, routeID string) error {
	r, changed, err := e.Store.change(ctx, routeID, func(r *Route) (bool, error) {
		if !r.State.Ended() || r.Told {
			return false, nil
		}
		if e.Bitrix == nil && r.Portal.MemberID != "" {
			return false, nil // a CLI process: the serving intake's sweeper tells the portal
		}
		r.Told = true
		return true, nil
	})
	if err != nil || !changed {
		return err
	}
	l := e.lang(r)
	e.comment(ctx, r, "route.comment.ended", l.T("route.state."+string(r.State)), r.Reason)
	if e.Bitrix == nil || r.Reply.EventToken == "" {
		return nil
	}
	link := ""
	if r.State == Completed {
		ttl := e.LinkTTL
		if ttl <= 0 {
			ttl = 7 * 24 * time.Hour
		}
		if link, err = e.Docs.URL(ctx, r.RevisionKey, ttl); err != nil {
			e.log().Warn("route: no link to the final document for the workflow", zap.String("route", r.ID), zap.Error(err))
		}
	}
	ret := map[string]any{
		RetRouteID: r.ID, RetOutcome: string(r.State), RetOutcomeReason: r.Reason, RetParties: r.Summary(), RetSignedFileURL: link,
	}
	if err := e.Bitrix.Call(ctx, r.Portal.MemberID, "bizproc.event.send", map[string]any{
		"EVENT_TOKEN": r.Reply.EventToken, "RETURN_VALUES": ret,
		"LOG_MESSAGE": l.T("route.log.ended", r.ID, l.T("route.state."+string(r.State)), r.Reason),
	}, nil); err != nil {
		e.log().Warn("route: the workflow was not told the route's end", zap.String("route", r.ID), zap.Error(err))
	}
	return nil
}
