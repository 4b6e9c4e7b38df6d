package producer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/i18n"
	sigroutes "github.com/signet-b24/signet/producer/routes"
)

// The robot "Send for signature" (issue 20, must 1 and 4): it starts a signing route from a
// workflow and waits (USE_SUBSCRIPTION); the route's end completes it with the outcome, the reason,
// a line per party and the final document's link (routes.Ret*).
const (
	// RouteRobotCode is the robot's CODE; RouteRobotPath its handler.
	RouteRobotCode = "signet_route"
	RouteRobotPath = "/bitrix24/robot/route"

	// Its properties. PropDocument is the sign robot's (a Disk file id).
	PropRouteParties     = "parties"     // Bitrix24 users (user_N, several), each a party
	PropRouteResponsible = "responsible" // Y: the deal's responsible person is the first party
	PropRouteOrder       = "order"       // sequential (a step per party, default) or parallel (one step)
	PropRouteAction      = "action"      // sign (default) or approve
	PropRouteDays        = "days"        // days until the route expires (default 14)
	PropRouteRemind      = "remind"      // hours a party waits before one reminder (0: none)
	// PropRouteContact and PropRouteCompany add the deal's contact and company as external parties
	// of a last step: the company signs first, then the counterparty (issue 20's seeds).
	PropRouteContact = "contact"
	PropRouteCompany = "company"
	// PropRouteDeclineStage is the deal's stage after a decline; PropRouteFinalBeside (Y) keeps the
	// original on Disk and files the signed document beside it (routes.Mirror, issue 20, must 4).
	PropRouteDeclineStage = "declineStage"
	PropRouteFinalBeside  = "finalBeside"
)

// RouteRobotFields are bizproc.robot.add's parameters (without CODE) for the route robot, names and
// descriptions in every language of the catalogue, like RobotFields.
func RouteRobotFields(handlerURL string, authUserID int, lang *i18n.Localizer) map[string]any {
	prop := func(key, typ string, required, multiple bool, extra map[string]any) map[string]any {
		p := map[string]any{"Name": langMap(key), "Description": langMap(key + ".description"), "Type": typ,
			"Required": yn(required), "Multiple": yn(multiple)}
		for k, v := range extra {
			p[k] = v
		}
		return p
	}
	ret := func(key, typ string) map[string]any {
		return map[string]any{"Name": langMap(key), "Type": typ, "Required": "N", "Multiple": "N"}
	}
	return map[string]any{
		"HANDLER":          handlerURL,
		"AUTH_USER_ID":     authUserID,
		"USE_SUBSCRIPTION": "Y",
		"NAME":             langMap("route.robot.name"),
		"DESCRIPTION":      langMap("route.robot.description"),
		"PROPERTIES": map[string]any{
			PropDocument:         prop("route.robot.prop.document", "string", true, false, nil),
			PropRouteParties:     prop("route.robot.prop.parties", "user", false, true, nil),
			PropRouteResponsible: prop("route.robot.prop.responsible", "bool", false, false, map[string]any{"Default": "N"}),
			PropRouteOrder: prop("route.robot.prop.order", "select", false, false, map[string]any{
				"Options": map[string]any{"sequential": lang.T("route.robot.prop.order.sequential"), "parallel": lang.T("route.robot.prop.order.parallel")},
				"Default": "sequential"}),
			PropRouteAction: prop("route.robot.prop.action", "select", false, false, map[string]any{
				"Options": map[string]any{"sign": lang.T("route.robot.prop.action.sign"), "approve": lang.T("route.robot.prop.action.approve")},
				"Default": "sign"}),
			PropRouteContact:      prop("route.robot.prop.contact", "bool", false, false, map[string]any{"Default": "N"}),
			PropRouteCompany:      prop("route.robot.prop.company", "bool", false, false, map[string]any{"Default": "N"}),
			PropRouteDays:         prop("route.robot.prop.days", "int", false, false, nil),
			PropRouteRemind:       prop("route.robot.prop.remind", "int", false, false, nil),
			PropRouteDeclineStage: prop("route.robot.prop.declineStage", "string", false, false, nil),
			PropRouteFinalBeside:  prop("route.robot.prop.finalBeside", "bool", false, false, map[string]any{"Default": "N"}),
		},
		"RETURN_PROPERTIES": map[string]any{
			sigroutes.RetRouteID:       ret("route.robot.ret.routeId", "string"),
			sigroutes.RetOutcome:       ret("route.robot.ret.outcome", "string"),
			sigroutes.RetOutcomeReason: ret("route.robot.ret.outcomeReason", "text"),
			sigroutes.RetParties:       ret("route.robot.ret.parties", "text"),
			sigroutes.RetSignedFileURL: ret("route.robot.ret.signedFileUrl", "string"),
			sigroutes.RetSignedFileID:  ret("route.robot.ret.signedFileId", "string"),
		},
	}
}

// RouteID derives a route's id from the portal and the robot's event_token: the same call sent
// twice starts one route.
func RouteID(memberID, eventToken string) string {
	sum := sha256.Sum256([]byte("route|" + memberID + "|" + eventToken))
	return "rt" + hex.EncodeToString(sum[:12])
}

func (in *Intake) handleRouteRobot(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), in.callDeadline())
	defer cancel()
	req, portal, log, ok := in.robotCaller(ctx, w, r)
	if !ok {
		return
	}
	id := RouteID(req.Auth.MemberID, req.EventToken)
	log = log.With(zap.String("route", id))
	lang := i18n.For(i18n.FromBitrix24(portal.Language))
	refuse := func(why string) {
		log.Warn("route robot refused", zap.String("reason", why))
		if err := in.Bitrix.Call(ctx, req.Auth.MemberID, "bizproc.event.send", map[string]any{
			"EVENT_TOKEN": req.EventToken,
			"RETURN_VALUES": map[string]any{sigroutes.RetRouteID: id, sigroutes.RetOutcome: string(sigroutes.Failed),
				sigroutes.RetOutcomeReason: why},
			"LOG_MESSAGE": lang.T("route.log.ended", id, lang.T("route.state.failed"), why),
		}, nil); err != nil {
			log.Warn("route robot: the workflow was not told of the refusal", zap.Error(err))
		}
		reply(w, http.StatusUnprocessableEntity, answer{JobID: id, Status: "refused", Error: why})
	}
	if in.RouteEngine == nil {
		refuse(lang.T("route.robot.off"))
		return
	}
	if req.Code != RouteRobotCode {
		refuse(lang.T("refusal.robotCode", clip(req.Code, 64), RouteRobotCode))
		return
	}
	if _, err := in.RouteEngine.Get(ctx, req.Auth.MemberID, id); err == nil {
		reply(w, http.StatusOK, answer{JobID: id, Status: "started", Duplicate: true})
		return
	}
	rt, doc, err := in.routeFromRobot(ctx, req)
	if err != nil {
		refuse(err.Error())
		return
	}
	rt.ID, rt.Portal = id, contracts.Portal{MemberID: req.Auth.MemberID, Domain: portal.Auth.Domain}
	rt.Reply = contracts.Reply{EventToken: req.EventToken, WorkflowID: req.WorkflowID}
	rt.Language = portal.Language
	if _, err := in.RouteEngine.Start(ctx, rt, bytes.NewReader(doc)); err != nil {
		if _, gerr := in.RouteEngine.Get(ctx, req.Auth.MemberID, id); gerr == nil {
			reply(w, http.StatusOK, answer{JobID: id, Status: "started", Duplicate: true}) // a copy of this call won
			return
		}
		refuse(err.Error())
		return
	}
	log.Info("signing route started", zap.Int("steps", len(rt.Steps)))
	reply(w, http.StatusOK, answer{JobID: id, Status: "started"})
}

// routeFromRobot reads the robot's properties into a route and downloads its document.
func (in *Intake) routeFromRobot(ctx context.Context, req *bitrix24.RobotRequest) (*sigroutes.Route, []byte, error) {
	prop := func(k string) []string {
		switch v := req.Properties[k].(type) {
		case string:
			if v = strings.TrimSpace(v); v != "" {
				return []string{v}
			}
		case []string:
			return v
		}
		return nil
	}
	one := func(k string) string {
		if v := prop(k); len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
		return ""
	}
	member := req.Auth.MemberID
	rt := &sigroutes.Route{Originator: "", Document: sigroutes.Document{DocumentID: req.DocumentID}}
	if typ, id, err := req.DocumentItem(); err == nil && EntityTypeID(typ) != 0 {
		rt.Document.EntityTypeID, rt.Document.EntityID = EntityTypeID(typ), id
	}
	var users []int
	var counterparties []sigroutes.Party
	yes := func(k string) bool { return strings.EqualFold(one(k), "Y") }
	if yes(PropRouteResponsible) || yes(PropRouteContact) || yes(PropRouteCompany) {
		if rt.Document.EntityTypeID == 0 {
			return nil, nil, fmt.Errorf("properties %s, %s and %s need the workflow's document to be a CRM item", PropRouteResponsible, PropRouteContact, PropRouteCompany)
		}
		var res struct {
			Item struct {
				AssignedByID bitrix24.ID `json:"assignedById"`
				ContactID    bitrix24.ID `json:"contactId"`
				CompanyID    bitrix24.ID `json:"companyId"`
			} `json:"item"`
		}
		if err := in.Bitrix.Call(ctx, member, "crm.item.get", map[string]any{"entityTypeId": rt.Document.EntityTypeID, "id": rt.Document.EntityID}, &res); err != nil {
			return nil, nil, fmt.Errorf("reading the deal's people: %w", err)
		}
		rt.Mirror.ManagerID = int(res.Item.AssignedByID) // the deal's responsible manager is told of each transition
		if yes(PropRouteResponsible) && res.Item.AssignedByID > 0 {
			users = append(users, int(res.Item.AssignedByID))
		}
		for _, c := range []struct {
			on     bool
			method string
			id     bitrix24.ID
		}{{yes(PropRouteContact), "crm.contact.get", res.Item.ContactID}, {yes(PropRouteCompany), "crm.company.get", res.Item.CompanyID}} {
			if !c.on {
				continue
			}
			if c.id <= 0 {
				return nil, nil, fmt.Errorf("the deal has no %s to sign", strings.TrimSuffix(strings.TrimPrefix(c.method, "crm."), ".get"))
			}
			p, err := in.counterparty(ctx, member, c.method, int(c.id))
			if err != nil {
				return nil, nil, err
			}
			counterparties = append(counterparties, p)
		}
	}
	if rt.Mirror.ManagerID == 0 && rt.Document.EntityTypeID == 2 {
		// The deal's responsible manager is told of each transition and gets the task on a decline
		// (routes.Mirror); unread, the originator is told instead.
		var res struct {
			Item struct {
				AssignedByID bitrix24.ID `json:"assignedById"`
			} `json:"item"`
		}
		if err := in.Bitrix.Call(ctx, member, "crm.item.get", map[string]any{"entityTypeId": 2, "id": rt.Document.EntityID}, &res); err == nil {
			rt.Mirror.ManagerID = int(res.Item.AssignedByID)
		}
	}
	for _, v := range prop(PropRouteParties) {
		uid, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(v), "user_"))
		if err != nil || uid <= 0 {
			return nil, nil, fmt.Errorf("property %s: %q is not a user (user_N)", PropRouteParties, clip(v, 40))
		}
		users = append(users, uid)
	}
	if len(users) == 0 && len(counterparties) == 0 {
		return nil, nil, fmt.Errorf("give the parties (property %s) or take the deal's responsible person (%s = Y)", PropRouteParties, PropRouteResponsible)
	}
	action := sigroutes.Action(strings.ToLower(one(PropRouteAction)))
	if action == "" {
		action = sigroutes.ActionSign
	}
	var parties []sigroutes.Party
	for _, u := range users {
		parties = append(parties, sigroutes.Party{Kind: sigroutes.KindBitrix24, BitrixUserID: u})
	}
	switch order := strings.ToLower(one(PropRouteOrder)); order {
	case "", "sequential":
		for _, p := range parties {
			rt.Steps = append(rt.Steps, sigroutes.Step{Action: action, Parties: []sigroutes.Party{p}})
		}
	case "parallel":
		rt.Steps = []sigroutes.Step{{Action: action, Need: sigroutes.NeedAll, Parties: parties}}
	default:
		return nil, nil, fmt.Errorf("property %s: %q; use sequential or parallel", PropRouteOrder, clip(order, 40))
	}
	if len(rt.Steps) > 0 && len(rt.Steps[0].Parties) == 0 {
		rt.Steps = nil // parallel with no internal party
	}
	if len(counterparties) > 0 {
		rt.Steps = append(rt.Steps, sigroutes.Step{Action: action, Need: sigroutes.NeedAll, Parties: counterparties})
	}
	rt.Mirror.DeclineStage, rt.Mirror.FinalBeside = one(PropRouteDeclineStage), yes(PropRouteFinalBeside)
	if v := one(PropRouteDays); v != "" {
		days, err := strconv.Atoi(v)
		if err != nil || days <= 0 || days > int(sigroutes.MaxDeadline.Hours()/24) {
			return nil, nil, fmt.Errorf("property %s: a number of days from 1 to %d", PropRouteDays, int(sigroutes.MaxDeadline.Hours()/24))
		}
		rt.Deadline = in.now().UTC().Add(time.Duration(days) * 24 * time.Hour)
	}
	if v := one(PropRouteRemind); v != "" && v != "0" {
		h, err := strconv.Atoi(v)
		if err != nil || h < 0 || h > 24*90 {
			return nil, nil, fmt.Errorf("property %s: a number of hours", PropRouteRemind)
		}
		rt.RemindAfter = time.Duration(h) * time.Hour
	}
	// The originator is the Signet user behind the robot's AUTH_USER_ID, else the first party: the
	// one who may cancel from the route page.
	if len(users) > 0 {
		if u, err := in.Identity.UserByBitrixID(ctx, member, users[0]); err == nil {
			rt.Originator = u.Login
		}
	}
	if req.Auth.UserID > 0 {
		if u, err := in.Identity.UserByBitrixID(ctx, member, req.Auth.UserID); err == nil {
			rt.Originator, rt.OriginatorID = u.Login, req.Auth.UserID
		}
	}
	if rt.Originator == "" {
		// Nobody of Signet: the route is the workflow's; no login has a space, so nobody may cancel
		// it from the route page but an administrator.
		rt.Originator = "bitrix24 user " + strconv.Itoa(req.Auth.UserID)
	}
	doc := one(PropDocument)
	if !isDigits(doc) {
		return nil, nil, fmt.Errorf("property %s: give a Disk file id", PropDocument)
	}
	fileID, _ := strconv.Atoi(doc)
	var f struct {
		Name        string `json:"NAME"`
		DownloadURL string `json:"DOWNLOAD_URL"`
	}
	if err := in.Bitrix.Call(ctx, member, "disk.file.get", map[string]any{"id": fileID}, &f); err != nil {
		return nil, nil, fmt.Errorf("Disk file %d: %w", fileID, err)
	}
	dl, ok := in.Bitrix.(interface {
		Download(ctx context.Context, memberID, fileURL string, maxBytes int64, w io.Writer) (int64, error)
	})
	if !ok || f.DownloadURL == "" {
		return nil, nil, errors.New("the document cannot be downloaded from the portal")
	}
	var buf bytes.Buffer
	if _, err := dl.Download(ctx, member, f.DownloadURL, maxPreview, &buf); err != nil {
		return nil, nil, fmt.Errorf("downloading Disk file %d: %w", fileID, err)
	}
	rt.Document.FileName, rt.Title, rt.Document.DiskFileID = f.Name, f.Name, fileID
	return rt, buf.Bytes(), nil
}

// counterparty reads a deal's contact or company (crm.contact.get, crm.company.get) as an external
// party: the name, and the first e-mail and phone of its multiple fields.
func (in *Intake) counterparty(ctx context.Context, member, method string, id int) (sigroutes.Party, error) {
	type multi struct {
		Value string `json:"VALUE"`
	}
	var rec struct {
		Name     string  `json:"NAME"`
		LastName string  `json:"LAST_NAME"`
		Title    string  `json:"TITLE"`
		Email    []multi `json:"EMAIL"`
		Phone    []multi `json:"PHONE"`
	}
	if err := in.Bitrix.Call(ctx, member, method, map[string]any{"id": id}, &rec); err != nil {
		return sigroutes.Party{}, fmt.Errorf("%s %d: %w", method, id, err)
	}
	p := sigroutes.Party{Kind: sigroutes.KindExternal, Name: strings.TrimSpace(rec.Name + " " + rec.LastName)}
	if p.Name == "" {
		p.Name = strings.TrimSpace(rec.Title)
	}
	if len(rec.Email) > 0 {
		p.Email = strings.TrimSpace(rec.Email[0].Value)
	}
	if len(rec.Phone) > 0 {
		p.Phone = strings.TrimSpace(rec.Phone[0].Value)
	}
	if p.Name == "" || (p.Email == "" && p.Phone == "") {
		return p, fmt.Errorf("%s %d has no name, or neither an e-mail nor a phone: fill them in the CRM", method, id)
	}
	return p, nil
}
