package routes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Mirroring a route back in Bitrix24 (issue 20, must 4): every transition becomes a timeline
// comment on the deal and a chat notification to the responsible manager; a decline also becomes a
// task for the manager with the party's words and, when the route says so, a move of the deal to a
// stage. Each of those calls is a MirrorStep recorded in the route's record before it is made
// (issue 20, must 7): a step that fails (a portal outage, OVERLOAD_LIMIT) stays pending and the
// sweeper makes it again after a growing pause; a step done is never made again, whoever hears the
// transition a second time; a step that failed MirrorTries times is kept, failed, and shown on the
// route page.

// Mirror says how a route is mirrored beyond the defaults. It comes with the route: from the robot
// "signet_route" (property declineStage) or the route's JSON ("mirror").
type Mirror struct {
	// ManagerID is the Bitrix24 user told of each transition and given the task on a decline;
	// 0: the originator.
	ManagerID int `json:"manager_id,omitempty"`
	// DeclineStage is the deal's stage after a decline (a STATUS_ID of crm.status.list, e.g.
	// "C1:PREPARATION"); "": the deal stays where it is.
	DeclineStage string `json:"decline_stage,omitempty"`
	// FinalBeside: on completion the final document is added beside the original on Disk instead of
	// becoming its new version.
	FinalBeside bool `json:"final_beside,omitempty"`
}

func (m Mirror) validate() error {
	if m.ManagerID < 0 {
		return fmt.Errorf("mirror: manager_id is a Bitrix24 user id; give a positive number or none")
	}
	if len(m.DeclineStage) > 50 || strings.ContainsAny(m.DeclineStage, " \r\n\t") {
		return fmt.Errorf("mirror: decline_stage %q is not a stage id; take one from the deal's funnel (crm.status.list), e.g. C1:PREPARATION", clip(m.DeclineStage, 60))
	}
	return nil
}

// MirrorStep is one call that mirrors a transition, recorded so that it is made once.
type MirrorStep struct {
	// Key names the transition and the call; the same transition heard twice gives the same key.
	Key string `json:"key"`
	// Kind is a plain call (""), or a filing on Disk (mirror_disk.go) that looks up and makes
	// folders first.
	Kind   string         `json:"kind,omitempty"`
	Method string         `json:"method"`
	Params map[string]any `json:"params"`
	Done   bool           `json:"done,omitempty"`
	// Failed: given up after MirrorTries; Error says why (shown on the route page).
	Failed bool      `json:"failed,omitempty"`
	Tries  int       `json:"tries,omitempty"`
	Error  string    `json:"error,omitempty"`
	Next   time.Time `json:"next,omitempty"`
}

// MirrorTries is how many times a step is made before it is given up and shown as failed: with the
// pauses of mirrorPause, about a day of outage.
const MirrorTries = 12

// maxMirrorSteps bounds the steps kept in a route's record: the done ones are dropped first.
const maxMirrorSteps = 200

// mirrorPause is the pause before try n+1: 30 s doubling, at most 4 hours.
func mirrorPause(tries int) time.Duration {
	d := 30 * time.Second
	for i := 1; i < tries && d < 4*time.Hour; i++ {
		d *= 2
	}
	return min(d, 4*time.Hour)
}

// manager is the Bitrix24 user told of the route's transitions.
func (r *Route) manager() int {
	if r.Mirror.ManagerID > 0 {
		return r.Mirror.ManagerID
	}
	return r.OriginatorID
}

// onDeal reports whether the route's document is a deal of a portal (the only CRM item mirrored).
func (r *Route) onDeal() bool {
	return r.Portal.MemberID != "" && r.Document.EntityTypeID == 2 && r.Document.EntityID > 0
}

// MirrorFailures lists the steps given up, one line each, for the route page.
func (r *Route) MirrorFailures() []string {
	var out []string
	for _, s := range r.Mirrored {
		if s.Failed {
			out = append(out, s.Method+": "+s.Error)
		}
	}
	return out
}

// MirrorRetrying lists the steps that failed and wait for their next try, one line each, for the
// route page: an outage is visible while Signet still tries.
func (r *Route) MirrorRetrying() []string {
	var out []string
	for _, s := range r.Mirrored {
		if !s.Done && !s.Failed && s.Tries > 0 {
			out = append(out, s.Method+": "+s.Error)
		}
	}
	return out
}

// transitionKey names one transition by what it says: the same transition heard again says the
// same words.
func transitionKey(kind, text string) string {
	sum := sha256.Sum256([]byte(text))
	return kind + ":" + hex.EncodeToString(sum[:6])
}

// mirrorTransition mirrors one transition whose words are text: a timeline comment on the deal and
// a notification to the manager.
func (e *Engine) mirrorTransition(ctx context.Context, r *Route, text string) {
	if e.Bitrix == nil || r.Portal.MemberID == "" {
		return
	}
	key := transitionKey("t", text)
	var steps []MirrorStep
	if r.onDeal() {
		steps = append(steps, MirrorStep{Key: key + "/comment", Method: "crm.timeline.comment.add", Params: map[string]any{
			"fields": map[string]any{"ENTITY_ID": r.Document.EntityID, "ENTITY_TYPE": "deal", "COMMENT": text},
		}})
	}
	if m := r.manager(); m > 0 {
		// im.notify.system.add (bitrix24-people-notes.md §1): from the application, not from a
		// person; TAG per route, so the manager sees the latest transition, not a pile of them.
		steps = append(steps, MirrorStep{Key: key + "/notify", Method: "im.notify.system.add", Params: map[string]any{
			"USER_ID": m, "MESSAGE": text, "TAG": "signet-route-" + r.ID,
		}})
	}
	e.mirror(ctx, r.ID, steps)
}

// mirrorDecline mirrors a party's decline: a task for the manager with the party's words
// (tasks.task.add, bitrix24-people-notes.md §6), and the deal moved to the route's decline stage
// (crm.item.update with entityTypeId 2 and camelCase stageId, same §6: crm.deal.update cannot move
// a deal to another funnel's stage).
func (e *Engine) mirrorDecline(ctx context.Context, r *Route, who *Party, reason string) {
	if e.Bitrix == nil || r.Portal.MemberID == "" {
		return
	}
	l := e.lang(r)
	key := "decline:" + who.JobID
	var steps []MirrorStep
	if m := r.manager(); m > 0 {
		fields := map[string]any{
			"TITLE":          clip(l.T("route.task.title", r.title(), who.Who()), 250),
			"RESPONSIBLE_ID": m,
			"DESCRIPTION":    l.T("route.task.description", r.ID, r.title(), who.Who(), reasonOr(reason)),
		}
		if r.onDeal() {
			fields["UF_CRM_TASK"] = []string{"D_" + strconv.Itoa(r.Document.EntityID)}
		}
		steps = append(steps, MirrorStep{Key: key + "/task", Method: "tasks.task.add", Params: map[string]any{"fields": fields}})
	}
	if r.Mirror.DeclineStage != "" && r.onDeal() {
		// A stage move runs that stage's robots (same §6); Signet's robot there starts a new route
		// with a new event token, never this one again.
		steps = append(steps, MirrorStep{Key: key + "/stage", Method: "crm.item.update", Params: map[string]any{
			"entityTypeId": 2, "id": r.Document.EntityID, "fields": map[string]any{"stageId": r.Mirror.DeclineStage},
		}})
	}
	e.mirror(ctx, r.ID, steps)
}

// mirror records the steps not recorded yet and makes every step due.
func (e *Engine) mirror(ctx context.Context, routeID string, steps []MirrorStep) {
	if len(steps) > 0 {
		if _, _, err := e.Store.change(ctx, routeID, func(r *Route) (bool, error) {
			have := map[string]bool{}
			for _, s := range r.Mirrored {
				have[s.Key] = true
			}
			added := false
			for _, s := range steps {
				if !have[s.Key] {
					// Params go through JSON now, as they will after a reload: the call made
					// at once is the call the sweeper would make.
					s.Params = roundTrip(s.Params)
					r.Mirrored = append(r.Mirrored, s)
					added = true
				}
			}
			if added {
				r.Mirrored = trimMirrored(r.Mirrored)
			}
			return added, nil
		}); err != nil {
			e.log().Warn("route: mirror steps not recorded; the transition is on the route page and in the audit trail", zap.String("route", routeID), zap.Error(err))
			return
		}
	}
	e.runMirror(ctx, routeID)
}

// runMirror makes each pending step of the route whose time has come, and records its outcome.
func (e *Engine) runMirror(ctx context.Context, routeID string) {
	if e.Bitrix == nil {
		return
	}
	r, _, err := e.Store.Get(ctx, routeID)
	if err != nil {
		return
	}
	now := e.now()
	for _, s := range r.Mirrored {
		if s.Done || s.Failed || now.Before(s.Next) {
			continue
		}
		if ctx.Err() != nil {
			return
		}
		err := e.makeStep(ctx, r, s)
		if err != nil {
			e.log().Warn("route: a mirror step failed; Signet makes it again", zap.String("route", r.ID), zap.String("method", s.Method), zap.Error(err))
		}
		if _, _, cerr := e.Store.change(ctx, routeID, func(r *Route) (bool, error) {
			for i := range r.Mirrored {
				q := &r.Mirrored[i]
				if q.Key != s.Key || q.Done || q.Failed {
					continue
				}
				if err == nil {
					q.Done, q.Error = true, ""
					return true, nil
				}
				q.Tries++
				q.Error = clip(err.Error(), MaxReason)
				q.Next = e.now().Add(mirrorPause(q.Tries))
				q.Failed = q.Tries >= MirrorTries
				return true, nil
			}
			return false, nil
		}); cerr != nil {
			// Not recorded: a done step may be made once more by the sweeper (a comment twice);
			// a failed one is made again anyway.
			e.log().Warn("route: a mirror step's outcome not recorded", zap.String("route", r.ID), zap.String("method", s.Method), zap.Error(cerr))
		}
	}
}

// mirrorDue reports whether a step of the route waits to be made now.
func (r *Route) mirrorDue(now time.Time) bool {
	for _, s := range r.Mirrored {
		if !s.Done && !s.Failed && !now.Before(s.Next) {
			return true
		}
	}
	return false
}

func roundTrip(m map[string]any) map[string]any {
	b, err := json.Marshal(m)
	if err != nil {
		return m
	}
	var out map[string]any
	if json.Unmarshal(b, &out) != nil {
		return m
	}
	return out
}

// trimMirrored drops the oldest done steps beyond maxMirrorSteps (pending and failed ones stay).
func trimMirrored(s []MirrorStep) []MirrorStep {
	extra := len(s) - maxMirrorSteps
	if extra <= 0 {
		return s
	}
	out := s[:0]
	for _, x := range s {
		if extra > 0 && x.Done {
			extra--
			continue
		}
		out = append(out, x)
	}
	return out
}
