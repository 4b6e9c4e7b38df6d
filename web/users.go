package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/producer/identity"
)

// A change leaves its message after its redirect (Post/Redirect/Get): the URL carries only the key
// (?ok=added), never anything the administrator typed; the message is web.notice.<key>.
func noticeOf(r *http.Request) string {
	if key := "web.notice." + r.URL.Query().Get("ok"); i18n.Has(key) {
		return key
	}
	return ""
}

type portalOption struct{ MemberID, Domain string }

type usersData struct {
	Users       []identity.User
	Portals     []portalOption
	Credentials []credOption
	Form        addUserForm
}

type addUserForm struct {
	Login, Description, MemberID, BitrixID, Credential string
	OTPDisabled, SelfEnrol                             bool
}

type credOption struct{ URI, Label string }

func (p *Pages) portalOptions(r *http.Request, s *session) []portalOption {
	if p.cfg.Portals == nil {
		return nil
	}
	list, err := p.cfg.Portals.List(r.Context())
	if err != nil {
		p.log.Warn("control panel: listing portals", zap.Error(err))
		return nil
	}
	out := make([]portalOption, 0, len(list))
	for _, pt := range list {
		if s.mayPortal(pt.Auth.MemberID) {
			out = append(out, portalOption{MemberID: pt.Auth.MemberID, Domain: pt.Auth.Domain})
		}
	}
	return out
}

// credentialOptions lists the credentials on the tokens the session may map (for the drop-downs).
func (p *Pages) credentialOptions(r *http.Request, s *session) []credOption {
	if p.cfg.Keys == nil {
		return nil
	}
	creds, _ := p.cfg.Keys.List(r.Context(), "")
	out := make([]credOption, 0, len(creds))
	for _, c := range creds {
		if c.Certificate.IsCA {
			continue
		}
		if ok, _ := p.mayCredential(r.Context(), s, c.URI); !ok {
			continue
		}
		out = append(out, credOption{URI: c.URI, Label: credentialLabel(c.URI) + " — " + c.Certificate.Subject.CommonName})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Label < out[j].Label })
	return out
}

func (p *Pages) usersPage(w http.ResponseWriter, r *http.Request, s *session) {
	p.renderUsers(w, r, s, http.StatusOK, addUserForm{}, "")
}

func (p *Pages) renderUsers(w http.ResponseWriter, r *http.Request, s *session, status int, form addUserForm, errText string) {
	users, err := p.scopedUsers(r.Context(), s)
	if err != nil {
		p.log.Error("control panel: listing users", zap.Error(err))
		errText = localizer(r).T("web.users.readError", err.Error())
	}
	d := usersData{Users: users, Portals: p.portalOptions(r, s), Credentials: p.credentialOptions(r, s), Form: form}
	p.render(w, r, status, "users", view{Title: "web.users.title", Section: "users", Admin: s.Login, CSRF: s.CSRF, Notice: noticeOf(r), Error: errText, Data: d})
}

func (p *Pages) addUser(w http.ResponseWriter, r *http.Request, s *session) {
	f := addUserForm{Login: strings.TrimSpace(r.PostFormValue("login")), Description: strings.TrimSpace(r.PostFormValue("description")),
		MemberID: r.PostFormValue("member_id"), BitrixID: strings.TrimSpace(r.PostFormValue("bitrix_id")),
		Credential: r.PostFormValue("credential"), OTPDisabled: r.PostFormValue("otp_disabled") == "on",
		SelfEnrol: r.PostFormValue("self_enrol") == "on"}
	u := identity.User{Login: f.Login, Description: f.Description, OTPDisabled: f.OTPDisabled, SelfEnrol: f.SelfEnrol}
	if !s.wide() {
		// A portal administrator adds users of their own portal only, linked to a user id there.
		if f.MemberID == "" {
			f.MemberID = s.MemberID
		}
		if f.MemberID != s.MemberID || f.BitrixID == "" {
			p.renderUsers(w, r, s, http.StatusUnprocessableEntity, f, "web.users.needBitrixID")
			return
		}
		if f.Credential != "" {
			if ok, err := p.mayCredential(r.Context(), s, f.Credential); !ok || err != nil {
				p.renderUsers(w, r, s, http.StatusUnprocessableEntity, f, errNoCredential(f.Credential).Error())
				return
			}
		}
	}
	if f.BitrixID != "" {
		id, err := strconv.Atoi(f.BitrixID)
		if err != nil || id <= 0 || f.MemberID == "" {
			p.renderUsers(w, r, s, http.StatusUnprocessableEntity, f, "The Bitrix24 user id is the number in the user's profile address (…/company/personal/user/7/) and needs a portal.")
			return
		}
		u.BitrixIDs = map[string]int{f.MemberID: id}
	}
	if err := p.cfg.Identity.AddUser(r.Context(), u); err != nil {
		err = bitrixTaken(s, err)
		p.renderUsers(w, r, s, identityStatus(err), f, panelMessage(localizer(r), p.log, err))
		return
	}
	p.record(r.Context(), s, contracts.AuditAdminChange, u.Login, "", fmt.Sprintf("added user %q (otp_disabled=%t, bitrix %v)", u.Login, u.OTPDisabled, u.BitrixIDs))
	if f.Credential != "" {
		if _, err := p.cfg.Identity.MapCredential(r.Context(), u.Login, f.Credential, true); err != nil {
			p.renderUser(w, r, s, u.Login, http.StatusUnprocessableEntity, userExtra{Error: localizer(r).T("web.users.mapFailed", panelMessage(localizer(r), p.log, err))})
			return
		}
		p.record(r.Context(), s, contracts.AuditAdminChange, u.Login, f.Credential, "mapped credential (default)")
	}
	http.Redirect(w, r, "/admin/users/"+url.PathEscape(u.Login)+"?ok=added", http.StatusSeeOther)
}

type userData struct {
	User        *identity.User
	Mail        bool // an enrolment link can be e-mailed (people.go)
	Portals     []portalOption
	Credentials []credOption // the tokens' credentials not yet mapped
	Mapped      []mappedCred
	Bitrix      []bitrixID
	Link        string
	LinkExpires time.Time
}

type mappedCred struct {
	URI, Label string
	Default    bool
	Disabled   bool
	Status     string
	NotAfter   time.Time
	Known      bool
}

type bitrixID struct {
	MemberID, Domain string
	ID               int
}

type userExtra struct {
	Link    string
	Expires time.Time
	Error   string
}

func (p *Pages) userPage(w http.ResponseWriter, r *http.Request, s *session) {
	p.renderUser(w, r, s, r.PathValue("login"), http.StatusOK, userExtra{})
}

func (p *Pages) renderUser(w http.ResponseWriter, r *http.Request, s *session, login string, status int, x userExtra) {
	ctx := r.Context()
	u, err := p.scopedUser(ctx, s, login)
	if err != nil {
		if errors.Is(err, identity.ErrUserNotFound) {
			p.renderUsers(w, r, s, http.StatusNotFound, addUserForm{}, err.Error())
			return
		}
		p.renderUsers(w, r, s, http.StatusInternalServerError, addUserForm{}, err.Error())
		return
	}
	d := userData{User: u, Portals: p.portalOptions(r, s), Link: x.Link, LinkExpires: x.Expires,
		Mail: p.cfg.Mail != nil && strings.Contains(u.Login, "@")}
	domains := map[string]string{}
	for _, pt := range d.Portals {
		domains[pt.MemberID] = pt.Domain
	}
	for m, id := range u.BitrixIDs {
		d.Bitrix = append(d.Bitrix, bitrixID{MemberID: m, Domain: domains[m], ID: id})
	}
	sort.Slice(d.Bitrix, func(i, j int) bool { return d.Bitrix[i].MemberID < d.Bitrix[j].MemberID })
	views := p.credentialViews(r)
	for _, c := range u.Credentials {
		m := mappedCred{URI: c, Label: credentialLabel(c), Default: identity.SameCredential(c, u.DefaultCredential)}
		m.Disabled, _ = p.cfg.Identity.CredentialDisabled(ctx, c)
		for _, v := range views {
			if identity.SameCredential(v.URI, c) {
				m.Known, m.Status, m.NotAfter = true, v.Status, v.NotAfter
			}
		}
		d.Mapped = append(d.Mapped, m)
	}
	for _, c := range p.credentialOptions(r, s) {
		mapped := false
		for _, m := range u.Credentials {
			mapped = mapped || identity.SameCredential(m, c.URI)
		}
		if !mapped {
			d.Credentials = append(d.Credentials, c)
		}
	}
	p.render(w, r, status, "user", view{Title: localizer(r).T("web.user.title", u.Login), Section: "users", Admin: s.Login, CSRF: s.CSRF, Notice: noticeOf(r), Error: x.Error, Data: d})
}

// userAction applies one change to a user and records it in the audit trail.
func (p *Pages) userAction(w http.ResponseWriter, r *http.Request, s *session) {
	ctx, login, action := r.Context(), r.PathValue("login"), r.PathValue("action")
	var (
		err    error
		detail string
		cred   = r.PostFormValue("credential")
		kind   = contracts.AuditAdminChange
	)
	// Another portal's user answers as a missing one, before anything is read from the form.
	if _, err := p.scopedUser(ctx, s, login); err != nil {
		p.renderUser(w, r, s, login, identityStatus(err), userExtra{})
		return
	}
	if p.peopleAction(w, r, s, login, action) { // people.go
		return
	}
	switch action {
	case "edit":
		desc := strings.TrimSpace(r.PostFormValue("description"))
		member, idText := r.PostFormValue("member_id"), strings.TrimSpace(r.PostFormValue("bitrix_id"))
		if !s.mayPortal(member) && member != "" {
			err = fmt.Errorf("a portal administrator links users to their own portal only: %w", identity.ErrInvalidLogin)
			break
		}
		_, err = p.scopedUpdate(ctx, s, login, func(u *identity.User) error {
			u.Description = desc
			if member == "" {
				return nil
			}
			if idText == "" {
				delete(u.BitrixIDs, member)
				return nil
			}
			id, err := strconv.Atoi(idText)
			if err != nil || id <= 0 {
				return fmt.Errorf("the Bitrix24 user id must be a positive number (got %q): %w", idText, identity.ErrInvalidLogin)
			}
			if u.BitrixIDs == nil {
				u.BitrixIDs = map[string]int{}
			}
			u.BitrixIDs[member] = id
			return nil
		})
		err = bitrixTaken(s, err)
		detail, action = "edited description and Bitrix24 id", "saved"
	case "disable", "enable":
		off := action == "disable"
		_, err = p.scopedUpdate(ctx, s, login, func(u *identity.User) error { u.Disabled = off; return nil })
		detail, action = action+"d user", action+"d"
	case "otp-disable", "otp-enable":
		off := action == "otp-disable"
		_, err = p.scopedUpdate(ctx, s, login, func(u *identity.User) error { u.OTPDisabled = off; return nil })
		detail, action = "turned one-time passwords "+map[bool]string{true: "off", false: "on"}[action == "otp-disable"], action+"d"
	case "delete":
		err = p.cfg.Identity.DeleteUser(ctx, login)
		if err == nil {
			p.record(ctx, s, kind, login, "", "deleted user")
			http.Redirect(w, r, "/admin/users?ok=deleted", http.StatusSeeOther)
			return
		}
	case "map", "default":
		if err = p.checkMappable(ctx, s, login, cred); err != nil {
			break
		}
		_, err = p.cfg.Identity.MapCredential(ctx, login, cred, action == "default" || r.PostFormValue("default") == "on")
		detail = "mapped credential"
		if action == "default" {
			detail = "made credential the default"
		} else {
			action = "mapped"
		}
	case "unmap":
		_, err = p.cfg.Identity.UnmapCredential(ctx, login, cred)
		detail, action = "unmapped credential", "unmapped"
	case "enrol":
		// The link is shown in this response only: never in a redirect, a URL of the panel or a log.
		link, exp, err := p.cfg.Identity.StartEnrolment(ctx, login)
		if err != nil {
			p.renderUser(w, r, s, login, identityStatus(err), userExtra{Error: panelMessage(localizer(r), p.log, err)})
			return
		}
		p.record(ctx, s, contracts.AuditEnrolment, login, "", "created a one-hour enrolment link")
		p.renderUser(w, r, s, login, http.StatusOK, userExtra{Link: link, Expires: exp})
		return
	default:
		http.Error(w, localizer(r).T("web.action.unknown"), http.StatusNotFound)
		return
	}
	if err != nil {
		p.renderUser(w, r, s, login, statusOf(err), userExtra{Error: panelMessage(localizer(r), p.log, err)})
		return
	}
	if action == "mapped" || action == "unmapped" || action == "default" {
		p.record(ctx, s, kind, login, cred, detail)
	} else {
		p.record(ctx, s, kind, login, "", detail)
	}
	http.Redirect(w, r, "/admin/users/"+url.PathEscape(login)+"?ok="+action, http.StatusSeeOther)
}

// checkMappable refuses to map a credential the session may not use; a credential already mapped to
// the user (by a local administrator) may still be made the default.
func (p *Pages) checkMappable(ctx context.Context, s *session, login, cred string) error {
	ok, err := p.mayCredential(ctx, s, cred)
	if err != nil {
		return err
	}
	if ok {
		return nil
	}
	if u, err := p.scopedUser(ctx, s, login); err == nil {
		for _, m := range u.Credentials {
			if identity.SameCredential(m, cred) {
				return nil
			}
		}
	}
	return errNoCredential(cred)
}

// statusOf is the HTTP status of an error of the control panel.
func statusOf(err error) int {
	switch {
	case errors.Is(err, errNotFound):
		return http.StatusNotFound
	case errors.Is(err, errForbidden):
		return http.StatusForbidden
	}
	return identityStatus(err)
}
