package web

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24/portals"
	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/producer/identity"
)

// An employee who opens Signet's application inside Bitrix24 (the application's page, the same POST
// with AUTH_ID that portaladmin.go answers) and is no portal administrator gets this page (issue 19
// must 5): recognised from the portal's own answer to user.current with the employee's AUTH_ID — never
// from an id in the request — as (member_id, Bitrix24 user id) → Signet user, and, once an
// administrator has allowed it (identity.User.SelfEnrol), shown a QR code to enrol their
// authenticator, with the rules of an enrolment link (identity.StartSelfEnrolment). Anyone else is
// told, in their Bitrix24 language (LANG), what to ask their administrator for.
//
//	POST /admin/bitrix24          the application's page (portaladmin.go), employees end here
//	POST /admin/bitrix24/enrol    confirm the first code (fields token, code, member_id, AUTH_ID, LANG)
//
// The confirmation asks the portal again who AUTH_ID belongs to and takes the code only for a link of
// that same employee, so a link's token alone, or a form with someone else's ids, enrols nobody.

// appEnrolTmpl stands alone: the employee is no administrator and the page lives in the portal's frame.
var appEnrolTmpl = template.Must(template.New("appenrol.html").ParseFS(files, "templates/appenrol.html"))

type appEnrolView struct {
	L                     *i18n.Localizer
	Lang                  string
	Title, Error, Ask     string
	Done                  bool // the first code was confirmed
	Lines                 []string
	Token, MemberID       string
	AuthID                string // the employee's own AUTH_ID, sent back with the code (never logged)
	Login, Issuer, Secret string
	Expires               string
	QR                    template.URL
	// InboxPass, when set, shows the "My requests to sign" button: a form to the inbox with the
	// employee's AUTH_ID and this pass (producer.InboxPassField).
	InboxPass string
}

// withInbox adds the inbox button to an employee's page (issue 19: the signer's queue is one click
// away from the application's page).
func (p *Pages) withInbox(v *appEnrolView, authID string, uid int) {
	if p.cfg.InboxPass == nil || authID == "" {
		return
	}
	if pass := p.cfg.InboxPass(v.MemberID, uid); pass != "" {
		v.AuthID, v.InboxPass = authID, pass
	}
}

// appLang is LANG of the application request (query, as Bitrix24 sends it, or form).
func appLang(r *http.Request) (string, *i18n.Localizer) {
	lang := r.URL.Query().Get("LANG")
	if lang == "" {
		lang = r.PostForm.Get("LANG")
	}
	if len(lang) > 8 {
		lang = ""
	}
	return lang, i18n.For(i18n.FromBitrix24(lang))
}

// renderApp writes the employee's page, framed by the portal only (frame is a CSP source).
func (p *Pages) renderApp(w http.ResponseWriter, status int, frame string, v appEnrolView) {
	var buf bytes.Buffer
	if err := appEnrolTmpl.Execute(&buf, v); err != nil {
		p.log.Error("rendering the employee's page", zap.Error(err))
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	// no-referrer: the form carries a link token; the confirmation needs no Origin check (selfenrol.go's top).
	writePage(w, status, "default-src 'none'; style-src 'self'; img-src data:; form-action 'self'", frame, "no-referrer", buf.Bytes())
}

// bitrixUserID reads user.current's ID, which the portal sends as a string.
func bitrixUserID(v any) int {
	switch id := v.(type) {
	case string:
		n, _ := strconv.Atoi(id)
		return n
	case float64:
		return int(id)
	}
	return 0
}

// employeePage answers an employee of portal whose identity the portal has just confirmed (uid).
func (p *Pages) employeePage(w http.ResponseWriter, r *http.Request, portal *portals.Portal, frame, authID string, uid int) {
	lang, l := appLang(r)
	memberID := portal.Auth.MemberID
	v := appEnrolView{L: l, Lang: lang, MemberID: memberID}
	if p.cfg.Identity == nil || uid <= 0 {
		v.Title, v.Error = l.T("app.title"), l.T("app.failed")
		p.renderApp(w, http.StatusServiceUnavailable, frame, v)
		return
	}
	se, err := p.cfg.Identity.StartSelfEnrolment(r.Context(), memberID, uid)
	log := p.log.With(zap.String("member_id", memberID), zap.Int("user_id", uid))
	switch {
	case err == nil:
		p.showEnrolment(w, r, frame, v, se.Token, authID, "", http.StatusOK)
		return
	case errors.Is(err, identity.ErrUserNotFound):
		log.Info("application page: the Bitrix24 user is not a Signet user")
		v.Title, v.Lines, v.Ask = l.T("app.unlinked.title"), []string{l.T("app.unlinked", uid, portal.Auth.Domain)}, l.T("app.unlinked.ask", uid)
		p.renderApp(w, http.StatusForbidden, frame, v)
	case errors.Is(err, identity.ErrSelfEnrolForbidden):
		v.Title, v.Lines, v.Ask = l.T("app.notAllowed.title"), []string{l.T("app.notAllowed", se.User.Login)}, l.T("app.notAllowed.ask", se.User.Login)
		p.withInbox(&v, authID, uid) // enrolled elsewhere (a link), or signing without a code
		p.renderApp(w, http.StatusForbidden, frame, v)
	case errors.Is(err, identity.ErrAlreadyEnrolled):
		v.Title, v.Lines, v.Ask = l.T("app.enrolled.title"), []string{l.T("app.enrolled", se.User.Login)}, l.T("app.enrolled.ask")
		p.withInbox(&v, authID, uid)
		p.renderApp(w, http.StatusOK, frame, v)
	case errors.Is(err, identity.ErrUserDisabled):
		v.Title, v.Ask = l.T("app.disabled.title"), l.T("app.disabled.ask", se.User.Login)
		p.renderApp(w, http.StatusForbidden, frame, v)
	default:
		log.Error("application page: starting an enrolment", zap.Error(err))
		v.Title, v.Error = l.T("app.title"), l.T("app.failed")
		p.renderApp(w, http.StatusServiceUnavailable, frame, v)
	}
}

// showEnrolment renders the QR code and the code form of the link token.
func (p *Pages) showEnrolment(w http.ResponseWriter, r *http.Request, frame string, v appEnrolView, token, authID, formErr string, status int) {
	l := v.L
	pend, err := p.cfg.Identity.PendingSecret(r.Context(), token)
	var png []byte
	if err == nil {
		png, err = p.cfg.Identity.EnrolmentQR(r.Context(), token, 256)
	}
	if err != nil {
		if _, gone := linkProblem(err); gone {
			v.Title, v.Error = l.T("app.enrol.title"), l.T("app.enrol.gone")
			p.renderApp(w, http.StatusGone, frame, v)
			return
		}
		p.log.Error("application page: reading the pending enrolment", zap.Error(err))
		v.Title, v.Error = l.T("app.title"), l.T("app.failed")
		p.renderApp(w, http.StatusServiceUnavailable, frame, v)
		return
	}
	v.Title, v.Error = l.T("app.enrol.title"), formErr
	v.Token, v.AuthID, v.Login, v.Issuer, v.Secret = token, authID, pend.Login, pend.Issuer, groupSecret(pend.Secret)
	v.Expires = l.DateTime(pend.Expires)
	v.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
	p.renderApp(w, status, frame, v)
}

// appConfirm takes the first code from the employee's page.
func (p *Pages) appConfirm(w http.ResponseWriter, r *http.Request) {
	frame := "'none'"
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	_ = r.ParseForm()
	lang, l := appLang(r)
	v := appEnrolView{L: l, Lang: lang}
	fail := func(status int, msg string) {
		v.Title, v.Error = l.T("app.title"), msg
		p.renderApp(w, status, frame, v)
	}
	memberID, authID, token := r.PostForm.Get("member_id"), r.PostForm.Get("AUTH_ID"), r.PostForm.Get("token")
	if p.cfg.Portals == nil || p.cfg.Bitrix == nil || p.cfg.Identity == nil || memberID == "" || authID == "" || token == "" || len(token) > 128 {
		fail(http.StatusUnauthorized, l.T("app.notConfirmed")) // no credentials: the door's 401
		return
	}
	portal, _, err := p.cfg.Portals.Get(r.Context(), memberID)
	if err != nil {
		fail(http.StatusUnauthorized, l.T("app.notConfirmed"))
		return
	}
	if base, err := portal.Auth.PortalBase(); err == nil {
		frame = base.String()
	}
	v.MemberID = memberID
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	var me struct {
		ID any `json:"ID"`
	}
	if err := p.cfg.Bitrix.CallAs(ctx, memberID, authID, "user.current", nil, &me); err != nil || bitrixUserID(me.ID) <= 0 {
		p.log.Warn("application page: the portal did not confirm the employee", zap.String("member_id", memberID), zap.Error(err))
		fail(http.StatusUnauthorized, l.T("app.notConfirmed"))
		return
	}
	uid := bitrixUserID(me.ID)
	if !p.cfg.Identity.EnrolmentOnPortal(r.Context(), token, memberID, uid) {
		// Someone else's link, or none: the same answer as a used one, naming nobody.
		p.log.Warn("application page: an enrolment code for a link that is not this employee's", zap.String("member_id", memberID), zap.Int("user_id", uid))
		v.Title, v.Error = l.T("app.enrol.title"), l.T("app.enrol.gone")
		p.renderApp(w, http.StatusGone, frame, v)
		return
	}
	code := strings.ReplaceAll(strings.TrimSpace(r.PostFormValue("code")), " ", "")
	err = p.cfg.Identity.ConfirmEnrolment(r.Context(), token, code)
	switch {
	case err == nil:
		login := p.cfg.Identity.EnrolmentLogin(r.Context(), token)
		v.Title, v.Lines, v.Done = l.T("app.enrol.done.title"), []string{l.T("app.enrol.done", login)}, true
		p.withInbox(&v, authID, uid)
		p.renderApp(w, http.StatusOK, frame, v)
	case errors.Is(err, identity.ErrOTPInvalid), errors.Is(err, identity.ErrOTPFormat):
		p.showEnrolment(w, r, frame, v, token, authID, l.T("app.enrol.wrongCode"), http.StatusUnprocessableEntity)
	default:
		if status, gone := linkProblem(err); gone {
			v.Title, v.Error = l.T("app.enrol.title"), l.T("app.enrol.gone")
			p.renderApp(w, status, frame, v)
			return
		}
		p.log.Error("application page: confirming an enrolment", zap.Error(err))
		fail(http.StatusServiceUnavailable, l.T("app.failed"))
	}
}
