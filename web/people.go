package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/producer/identity"
)

// People without typing ids (issue 19 must 5): the control panel finds a portal's employees by name
// (user.search with the portal's own token, only on portals the session may administer), lets an
// employee enrol inside Bitrix24 (identity.User.SelfEnrol, selfenrol.go), and sends an enrolment link
// through Bitrix24 (im.notify.system.add) or by e-mail (Config.Mail).
//
//	GET  /admin/bitrix24/users?member_id=M&q=TEXT      employees matching TEXT, as JSON
//	POST /admin/users/{login}/self-enrol-on|-off       allow or forbid enrolment inside Bitrix24
//	POST /admin/users/{login}/enrol-bitrix24           a new link, sent to the user in Bitrix24
//	POST /admin/users/{login}/enrol-email              a new link, sent by e-mail to the login (an address)

// employee is one user.search result for the picker.
type employee struct {
	ID       int    `json:"id"`
	Name     string `json:"name"`
	Position string `json:"position,omitempty"`
}

// employeeSearch answers the picker of the users pages: at most 50 employees of the portal whose
// names or position start with q (user.search FILTER.FIND "q%", bitrix24-people-notes.md §2).
func (p *Pages) employeeSearch(w http.ResponseWriter, r *http.Request, s *session) {
	member, q := r.URL.Query().Get("member_id"), strings.TrimSpace(r.URL.Query().Get("q"))
	if member == "" || !s.mayPortal(member) || p.cfg.Portals == nil || p.cfg.Bitrix == nil {
		apiError(w, r, p.log, http.StatusNotFound, "no_such_portal", "no such portal; choose one of your portals")
		return
	}
	if _, _, err := p.cfg.Portals.Get(r.Context(), member); err != nil {
		apiError(w, r, p.log, http.StatusNotFound, "no_such_portal", "no such portal; choose one of your portals")
		return
	}
	if utf8.RuneCountInString(q) < 2 || len(q) > 100 {
		writeJSON(w, http.StatusOK, []employee{}) // too short to search: nothing yet
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	var found []struct {
		ID           bitrix24.ID `json:"ID"`
		Name         string      `json:"NAME"`
		LastName     string      `json:"LAST_NAME"`
		WorkPosition string      `json:"WORK_POSITION"`
	}
	q = strings.NewReplacer("%", "", "_", "").Replace(q)
	if err := p.cfg.Bitrix.Call(ctx, member, "user.search", map[string]any{"FILTER": map[string]any{"FIND": q + "%", "ACTIVE": true}}, &found); err != nil {
		p.log.Warn("control panel: user.search failed", zap.String("member_id", member), zap.Error(err))
		apiError(w, r, p.log, http.StatusBadGateway, "portal_unanswered", "the portal did not answer the search; try again, or type the Bitrix24 user id")
		return
	}
	out := make([]employee, 0, len(found))
	for _, f := range found {
		out = append(out, employee{ID: int(f.ID), Name: strings.TrimSpace(f.Name + " " + f.LastName), Position: f.WorkPosition})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	writeJSON(w, http.StatusOK, out)
}

// peopleAction handles the user page's people actions; false when action is none of them.
func (p *Pages) peopleAction(w http.ResponseWriter, r *http.Request, s *session, login, action string) bool {
	ctx := r.Context()
	switch action {
	case "self-enrol-on", "self-enrol-off":
		on := action == "self-enrol-on"
		if _, err := p.scopedUpdate(ctx, s, login, func(u *identity.User) error { u.SelfEnrol = on; return nil }); err != nil {
			p.renderUser(w, r, s, login, statusOf(err), userExtra{Error: panelMessage(localizer(r), p.log, err)})
			return true
		}
		p.record(ctx, s, contracts.AuditAdminChange, login, "", map[bool]string{true: "allowed", false: "forbade"}[on]+" enrolment inside Bitrix24")
	case "enrol-bitrix24", "enrol-email":
		send := p.sendEnrolmentToBitrix24
		if action == "enrol-email" {
			send = p.sendEnrolmentByMail
		}
		if err := send(ctx, s, login); err != nil {
			p.renderUser(w, r, s, login, statusOf(err), userExtra{Error: panelMessage(localizer(r), p.log, err)})
			return true
		}
		action = "enrol-sent"
	default:
		return false
	}
	http.Redirect(w, r, "/admin/users/"+url.PathEscape(login)+"?ok="+action, http.StatusSeeOther)
	return true
}

// sendEnrolmentToBitrix24 creates a link and sends it as a notification to the user on each of their
// portals the session may administer. One TAG per user, so a newer link's notification replaces the
// older one (bitrix24-people-notes.md §1). The link is never logged.
func (p *Pages) sendEnrolmentToBitrix24(ctx context.Context, s *session, login string) error {
	u, err := p.scopedUser(ctx, s, login)
	if err != nil {
		return err
	}
	if p.cfg.Bitrix == nil || p.cfg.Portals == nil {
		return fmt.Errorf("Signet is not connected to Bitrix24 here; copy an enrolment link instead: %w", identity.ErrInvalidLogin)
	}
	var targets []string
	for m := range u.BitrixIDs {
		if s.mayPortal(m) {
			targets = append(targets, m)
		}
	}
	if len(targets) == 0 {
		return fmt.Errorf("%s has no Bitrix24 user on your portals; pick them from the portal first: %w", u.Login, identity.ErrInvalidLogin)
	}
	sort.Strings(targets)
	link, exp, err := p.cfg.Identity.StartEnrolment(ctx, u.Login)
	if err != nil {
		return err
	}
	sent := 0
	for _, m := range targets {
		lang := ""
		if pt, _, err := p.cfg.Portals.Get(ctx, m); err == nil {
			lang = pt.Language
		}
		l := i18n.For(i18n.FromBitrix24(lang))
		msg := l.T("notify.enrol", u.Login, "[URL="+link+"]"+l.T("notify.enrol.link")+"[/URL]", l.DateTime(exp))
		out := l.T("notify.enrol", u.Login, link, l.DateTime(exp))
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := p.cfg.Bitrix.Call(cctx, m, "im.notify.system.add", map[string]any{"USER_ID": u.BitrixIDs[m], "MESSAGE": msg, "MESSAGE_OUT": out,
			"TAG": "signet|enrol|" + u.Login}, nil)
		cancel()
		if err != nil {
			p.log.Warn("control panel: sending the enrolment notification failed", zap.String("member_id", m), zap.Error(err))
			continue
		}
		sent++
	}
	if sent == 0 {
		return fmt.Errorf("the portal did not take the notification; try again or copy an enrolment link instead: %w", identity.ErrBusy)
	}
	p.record(ctx, s, contracts.AuditEnrolment, u.Login, "", "sent a one-hour enrolment link through Bitrix24")
	return nil
}

// Mailer sends one plain-text e-mail (internal/mail.Sender is one).
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

// sendEnrolmentByMail creates a link and e-mails it to the user's login, which is their Bitrix24 login
// and so, on most portals, their e-mail address. The link is never logged.
func (p *Pages) sendEnrolmentByMail(ctx context.Context, s *session, login string) error {
	u, err := p.scopedUser(ctx, s, login)
	if err != nil {
		return err
	}
	if p.cfg.Mail == nil {
		return fmt.Errorf("e-mail is not set up (mail.smtp_host); send the link through Bitrix24 or copy it: %w", identity.ErrInvalidLogin)
	}
	if !strings.Contains(u.Login, "@") {
		return fmt.Errorf("the login %s is not an e-mail address; send the link through Bitrix24 or copy it: %w", u.Login, identity.ErrInvalidLogin)
	}
	link, exp, err := p.cfg.Identity.StartEnrolment(ctx, u.Login)
	if err != nil {
		return err
	}
	lang := ""
	for m := range u.BitrixIDs {
		if p.cfg.Portals == nil || !s.mayPortal(m) {
			continue
		}
		if pt, _, err := p.cfg.Portals.Get(ctx, m); err == nil {
			lang = pt.Language // the language of the user's portal
		}
	}
	l := i18n.For(i18n.FromBitrix24(lang))
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := p.cfg.Mail.Send(cctx, u.Login, l.T("mail.enrol.subject"), l.T("notify.enrol", u.Login, link, l.DateTime(exp))); err != nil {
		p.log.Warn("control panel: e-mailing the enrolment link failed", zap.Error(err))
		return fmt.Errorf("the e-mail could not be sent (%v); try again or send the link through Bitrix24: %w", err, identity.ErrBusy)
	}
	p.record(ctx, s, contracts.AuditEnrolment, u.Login, "", "e-mailed a one-hour enrolment link")
	return nil
}
