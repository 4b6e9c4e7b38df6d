package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/signet-b24/signet/bitrix24/portals"
	"github.com/signet-b24/signet/contracts"
)

// The control panel's page of the portals allowed to install Signet (/admin/portals/allowed), the
// same as `signet admin bitrix24 add|remove|allowed` and /v1/admin/portals (issue 21 must 4). Only a
// local administrator may change it: a portal administrator's session is scoped to their portal.

type allowedData struct {
	Allowed []portals.Allowed
}

func (p *Pages) allowedPage(w http.ResponseWriter, r *http.Request, s *session) {
	p.renderAllowed(w, r, s, http.StatusOK, "", "")
}

func (p *Pages) renderAllowed(w http.ResponseWriter, r *http.Request, s *session, status int, notice, errText string) {
	var d allowedData
	if !s.wide() {
		status, errText = http.StatusForbidden, "web.allowed.localOnly"
	} else if p.cfg.Portals != nil {
		var err error
		if d.Allowed, err = p.cfg.Portals.AllowedPortals(r.Context()); err != nil && errText == "" {
			status, errText = http.StatusServiceUnavailable, localizer(r).T("web.allowed.readError", storageFailure(localizer(r), p.log, "allowed portals", err))
		}
	}
	p.render(w, r, status, "allowed", view{Title: "web.allowed.title", Section: "portals", Admin: s.Login, CSRF: s.CSRF, Notice: notice, Error: errText, Data: d})
}

func (p *Pages) allowedAction(add bool) func(http.ResponseWriter, *http.Request, *session) {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		if !s.wide() || p.cfg.Portals == nil {
			p.renderAllowed(w, r, s, http.StatusForbidden, "", "")
			return
		}
		ctx := r.Context()
		domain := strings.TrimSpace(r.PostFormValue("domain"))
		d, err := portals.NormalizeDomain(domain)
		if err != nil {
			p.renderAllowed(w, r, s, http.StatusBadRequest, "", err.Error())
			return
		}
		if add {
			if err := p.cfg.Portals.AllowDomains(ctx, d); err != nil {
				p.renderAllowed(w, r, s, http.StatusServiceUnavailable, "", localizer(r).T("web.allowed.addError", storageFailure(localizer(r), p.log, "allowing a portal", err)))
				return
			}
			p.record(ctx, s, contracts.AuditAdminChange, "", "", "portal allowed: "+d)
			p.renderAllowed(w, r, s, http.StatusOK, localizer(r).T("web.allowed.added", d), "")
			return
		}
		member, err := p.cfg.Portals.RemoveDomain(ctx, d)
		if errors.Is(err, portals.ErrNotAllowed) {
			p.renderAllowed(w, r, s, http.StatusNotFound, "", localizer(r).T("web.allowed.notAllowed", d))
			return
		}
		if err != nil {
			p.renderAllowed(w, r, s, http.StatusServiceUnavailable, "", localizer(r).T("web.allowed.removeError", storageFailure(localizer(r), p.log, "removing an allowed portal", err)))
			return
		}
		p.record(ctx, s, contracts.AuditAdminChange, "", "", "portal removed: "+d+" "+member)
		p.renderAllowed(w, r, s, http.StatusOK, localizer(r).T("web.allowed.removed", d), "")
	}
}
