package web

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/signet-b24/signet/bitrix24/portals"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/producer/identity"
)

// placementToolbar is the deal card's toolbar placement, where Signet binds its Sign button.
const placementToolbar = "CRM_DEAL_DETAIL_TOOLBAR"

// portalsData is the portals page: installed portals, whether Signet's robot and Sign button are
// registered on each (asked live), and the batch grants.
type portalsData struct {
	Portals   []portalRow
	RobotCode string
}

type portalRow struct {
	MemberID, Domain, Scope string
	Installed               time.Time
	// Robot and Button are catalogue keys (web.portals.robot.…, web.portals.button.…); RobotErr and
	// ButtonErr the error of an "unknown" answer, the key's argument.
	Robot, Button       string
	RobotErr, ButtonErr string
	Problem             bool
}

func (p *Pages) portalsPage(w http.ResponseWriter, r *http.Request, s *session) {
	d := portalsData{RobotCode: p.cfg.RobotCode}
	var list []portals.Portal
	var errText string
	if p.cfg.Portals != nil {
		var err error
		if list, err = p.cfg.Portals.List(r.Context()); err != nil {
			errText = localizer(r).T("web.portals.readError", err.Error())
		}
	}
	for _, pt := range list {
		if !s.mayPortal(pt.Auth.MemberID) {
			continue
		}
		row := portalRow{MemberID: pt.Auth.MemberID, Domain: pt.Auth.Domain, Scope: strings.ReplaceAll(pt.Auth.Scope, ",", ", "), Installed: pt.Installed}
		p.registration(r, pt.Auth.MemberID, &row)
		d.Portals = append(d.Portals, row)
	}
	p.render(w, r, http.StatusOK, "portals", view{Title: "web.portals.title", Section: "portals", Admin: s.Login, CSRF: s.CSRF, Error: errText, Data: d})
}

// registration asks the portal whether Signet's robot and Sign button are registered
// (bizproc.robot.list and placement.get with the application's token), into row.
func (p *Pages) registration(r *http.Request, memberID string, row *portalRow) {
	if p.cfg.Bitrix == nil {
		row.Robot, row.Button, row.Problem = "web.portals.robot.noClient", "web.portals.button.unknown", true
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	var codes []string
	if err := p.cfg.Bitrix.Call(ctx, memberID, "bizproc.robot.list", nil, &codes); err != nil {
		row.Robot, row.RobotErr, row.Problem = "web.portals.robot.error", err.Error(), true
	} else {
		row.Robot, row.Problem = "web.portals.robot.missing", true
		for _, c := range codes {
			if c == p.cfg.RobotCode {
				row.Robot, row.Problem = "web.portals.robot.registered", false
			}
		}
	}
	var bound []struct {
		Placement string `json:"placement"`
		Handler   string `json:"handler"`
	}
	if err := p.cfg.Bitrix.Call(ctx, memberID, "placement.get", nil, &bound); err != nil {
		row.Button, row.ButtonErr, row.Problem = "web.portals.button.error", err.Error(), true
		return
	}
	for _, b := range bound {
		if b.Placement == placementToolbar {
			row.Button = "web.portals.button.bound"
			return
		}
	}
	row.Button, row.Problem = "web.portals.button.missing", true
}

type grantsData struct {
	Grants []grantRow
}

type grantRow struct {
	identity.Grant
	State  string // a catalogue key: web.grants.state.…
	Left   int    // documents the grant may still sign
	Active bool
}

func (p *Pages) grantsPage(w http.ResponseWriter, r *http.Request, s *session) {
	p.renderGrants(w, r, s, http.StatusOK, "")
}

func (p *Pages) renderGrants(w http.ResponseWriter, r *http.Request, s *session, status int, errText string) {
	gs, err := p.cfg.Identity.ListGrants(r.Context())
	if err != nil {
		errText = localizer(r).T("web.grants.readError", err.Error())
	}
	mine, err := p.grantScope(r, s)
	if err != nil {
		errText = localizer(r).T("web.users.readError", err.Error())
	}
	now := p.cfg.Now()
	var d grantsData
	for _, g := range gs {
		if !mine(g.Login) {
			continue
		}
		row := grantRow{Grant: g}
		switch {
		case g.Revoked:
			row.State = "web.grants.state.revoked"
		case now.After(g.Expires):
			row.State = "web.grants.state.expired"
		case g.Used >= g.Max:
			row.State = "web.grants.state.usedUp"
		default:
			row.State, row.Left, row.Active = "web.grants.state.active", g.Max-g.Used, true
		}
		d.Grants = append(d.Grants, row)
	}
	sort.SliceStable(d.Grants, func(i, j int) bool { return d.Grants[i].Created.After(d.Grants[j].Created) })
	p.render(w, r, status, "grants", view{Title: "web.grants.title", Section: "grants", Admin: s.Login, CSRF: s.CSRF, Notice: noticeOf(r), Error: errText, Data: d})
}

func (p *Pages) revokeGrant(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PostFormValue("id")
	g, err := p.cfg.Identity.GetGrant(r.Context(), id)
	if err == nil {
		var mine func(string) bool
		if mine, err = p.grantScope(r, s); err == nil && !mine(g.Login) {
			err = errNoGrant(id)
		}
	} else if errors.Is(err, identity.ErrGrantNotFound) {
		err = errNoGrant(id)
	}
	if err == nil {
		err = p.cfg.Identity.RevokeGrant(r.Context(), id)
	}
	if err != nil {
		p.renderGrants(w, r, s, identityStatus(err), panelMessage(localizer(r), p.log, err))
		return
	}
	p.record(r.Context(), s, contracts.AuditGrantRevoked, g.Login, g.Credential, "revoked batch grant "+grantName(id))
	http.Redirect(w, r, "/admin/grants?ok=revoked", http.StatusSeeOther)
}

// grantName shortens a grant id for the audit trail: the id is the grant's capability.
func grantName(id string) string {
	if len(id) > 8 {
		return id[:8] + "…"
	}
	return id
}

// grantScope says which grants the session sees: a grant is its user's portal's.
func (p *Pages) grantScope(r *http.Request, s *session) (func(login string) bool, error) {
	if s.wide() {
		return func(string) bool { return true }, nil
	}
	users, err := p.scopedUsers(r.Context(), s)
	if err != nil {
		return func(string) bool { return false }, err
	}
	logins := map[string]bool{}
	for _, u := range users {
		logins[strings.ToLower(u.Login)] = true
	}
	return func(login string) bool { return logins[strings.ToLower(login)] }, nil
}
