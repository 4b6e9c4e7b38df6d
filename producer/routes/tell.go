package routes

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"strconv"
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
	RetSignedFileID  = "signedFileId"  // the Disk file that holds it as its new version
)

func (e *Engine) lang(r *Route) *i18n.Localizer { return i18n.For(i18n.FromBitrix24(r.Language)) }

// comment mirrors a transition in Bitrix24: a line in the deal's timeline (crm.timeline.comment.add,
// as the worker does for a job) and a notification to the manager (mirror.go). A call that fails is
// made again by the sweeper; the route goes on meanwhile, its page and the audit trail have every
// transition.
func (e *Engine) comment(ctx context.Context, r *Route, key string, args ...any) {
	if e.Bitrix == nil || r.Portal.MemberID == "" {
		return
	}
	e.mirrorTransition(ctx, r, e.lang(r).T(key, append([]any{r.ID, r.title()}, args...)...))
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
	final, hasFinal := e.finalLinks.LoadAndDelete(routeID)
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
	e.mirrorEnd(ctx, r)
	if e.Bitrix == nil {
		return nil
	}
	if r.Reply.EventToken == "" {
		if r.State == Completed && r.Document.DiskFileID != 0 && !r.Mirror.FinalBeside {
			if err := e.uploadFinal(ctx, r); err != nil {
				e.log().Warn("route: the final document did not become the Disk file's new version", zap.String("route", r.ID), zap.Error(err))
			}
		}
		return nil
	}
	link := ""
	if r.State == Completed {
		ttl := e.LinkTTL
		if ttl <= 0 {
			ttl = 7 * 24 * time.Hour
		}
		if hasFinal {
			link = final.(string) // the final link (routes.final_link_ttl) made at completion
		} else if link, err = e.Docs.URL(ctx, r.RevisionKey, ttl); err != nil {
			e.log().Warn("route: no link to the final document for the workflow", zap.String("route", r.ID), zap.Error(err))
		}
	}
	ret := map[string]any{
		RetRouteID: r.ID, RetOutcome: string(r.State), RetOutcomeReason: r.Reason, RetParties: r.Summary(), RetSignedFileURL: link,
	}
	if r.State == Completed && r.Document.DiskFileID != 0 && !r.Mirror.FinalBeside {
		if err := e.uploadFinal(ctx, r); err != nil {
			e.log().Warn("route: the final document did not become the Disk file's new version; the workflow gets its link", zap.String("route", r.ID), zap.Error(err))
		} else {
			ret[RetSignedFileID] = strconv.Itoa(r.Document.DiskFileID)
		}
	}
	if err := e.Bitrix.Call(ctx, r.Portal.MemberID, "bizproc.event.send", map[string]any{
		"EVENT_TOKEN": r.Reply.EventToken, "RETURN_VALUES": ret,
		"LOG_MESSAGE": l.T("route.log.ended", r.ID, l.T("route.state."+string(r.State)), r.Reason),
	}, nil); err != nil {
		e.log().Warn("route: the workflow was not told the route's end", zap.String("route", r.ID), zap.Error(err))
	}
	return nil
}

// uploadFinal makes the route's final revision the new version of the Disk file it came from
// (disk.file.uploadVersion, one call, never inside batch: as the worker does for a job).
func (e *Engine) uploadFinal(ctx context.Context, r *Route) error {
	content, err := e.base64Of(ctx, r.RevisionKey)
	if err != nil {
		return err
	}
	name := r.Document.FileName
	if name == "" {
		name = "document.pdf"
	}
	return e.Bitrix.Call(ctx, r.Portal.MemberID, "disk.file.uploadVersion", map[string]any{
		"id": r.Document.DiskFileID, "fileContent": []string{name, content},
	}, nil)
}

// base64Of reads a document of Signet's storage as base64 (fileContent of the Disk methods).
func (e *Engine) base64Of(ctx context.Context, key string) (string, error) {
	rc, _, err := e.Docs.Get(ctx, key)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	var buf bytes.Buffer
	enc := base64.NewEncoder(base64.StdEncoding, &buf)
	if _, err := io.Copy(enc, rc); err != nil {
		return "", err
	}
	if err := enc.Close(); err != nil {
		return "", err
	}
	return buf.String(), nil
}
