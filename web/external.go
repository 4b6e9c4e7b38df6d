package web

import (
	"errors"
	"html/template"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/internal/routes"
	"github.com/signet-b24/signet/producer/external"
)

// External is the page an external signer opens from their invitation (issue 20, must 2;
// producer/external holds the logic and docs/external-signers.md the flow):
//
//	GET  /x/{token}            the page: ask for the code, then the document and the signature
//	POST /x/{token}/code       send a (new) code to the invitation's channel
//	POST /x/{token}/verify     check the code: the link is spent, a session cookie carries the page on
//	GET  /x/{token}/document   the PDF, for the viewer (session only)
//	POST /x/{token}/confirm    seal it with the party's picture (session only)
//	POST /x/{token}/decline    decline with a reason (session only)
//
// The link is the only credential until the code is verified, so it is kept out of Referer headers
// and caches, never logged, and spent on the first right code; from then on the page answers only the
// browser that holds the session cookie (HttpOnly, Path /x/). It is Signet's own page, never framed,
// and loads nothing from elsewhere: pdf.js comes from the inbox's assets on this site.
type External struct {
	Service *external.Service
	// Secure marks the cookie Secure (public_url is https).
	Secure bool
	// TrustedProxies name the reverse proxies whose X-Forwarded-For is the client (http.trusted_proxies):
	// the evidence's IP.
	TrustedProxies []netip.Prefix
	Log            *zap.Logger
}

// ExternalCookie holds the page's session ("<invitation id>.<secret>").
const ExternalCookie = "signet_external"

// Routes mounts the page. Holding the link (then the session) is the permission.
func (x *External) Routes(mux routes.Mux) {
	if x.Log == nil {
		x.Log = zap.NewNop()
	}
	mux.HandleFunc("GET /x/{token}", x.page)
	mux.HandleFunc("POST /x/{token}/code", x.sendCode)
	mux.HandleFunc("POST /x/{token}/verify", x.verify)
	mux.HandleFunc("GET /x/{token}/document", x.document)
	mux.HandleFunc("POST /x/{token}/confirm", x.confirm)
	mux.HandleFunc("POST /x/{token}/decline", x.decline)
}

var externalTmpl = template.Must(template.New("external.html").Funcs(baseLangFuncs).Funcs(funcs).ParseFS(files, "templates/external.html"))

// externalView is what the page shows; Step is "code", "sign", "queued", "signed" or "gone".
type externalView struct {
	Step, Title, Error, Notice string
	Token                      string
	Inv                        *external.Invitation
	CodeSent                   bool
	Ended                      string // the words of an ended invitation
}

func (x *External) evidence(r *http.Request) external.Evidence {
	return external.Evidence{IP: clientAddress(r, x.TrustedProxies), UserAgent: r.UserAgent()}
}

// session is the invitation of the request's cookie when it belongs to the token's invitation.
func (x *External) session(r *http.Request) (*external.Invitation, string) {
	c, err := r.Cookie(ExternalCookie)
	if err != nil {
		return nil, ""
	}
	id, _, ok := external.ParseToken(r.PathValue("token"))
	if !ok || !strings.HasPrefix(c.Value, id+".") {
		return nil, ""
	}
	inv, err := x.Service.Session(r.Context(), c.Value)
	if err != nil {
		return nil, ""
	}
	return inv, c.Value
}

// language of the page: the invitation's when known, else the reader's.
func (x *External) localizer(r *http.Request, inv *external.Invitation) *i18n.Localizer {
	if inv != nil && inv.Language != "" {
		return i18n.New(inv.Language)
	}
	return localizer(r)
}

func (x *External) render(w http.ResponseWriter, r *http.Request, status int, v externalView) {
	l := x.localizer(r, v.Inv)
	v.Title, v.Error, v.Notice = l.Text(v.Title), l.Text(v.Error), l.Text(v.Notice)
	t, err := inLanguage(externalTmpl, l, nil)
	var buf strings.Builder
	if err == nil {
		err = t.Execute(&buf, v)
	}
	if err != nil {
		x.Log.Error("rendering the external signer's page", zap.Error(err))
		http.Error(w, l.T("web.page.renderFailed"), http.StatusInternalServerError)
		return
	}
	// The viewer is a module script of this site with its worker; the pictures are data: URLs the
	// page makes itself (canvas) and blob: ones of the party's own files.
	writePage(w, status, "default-src 'none'; script-src 'self'; worker-src 'self'; style-src 'self'; "+
		"img-src 'self' data: blob:; connect-src 'self'; form-action 'self'", "'none'", "no-referrer", []byte(buf.String()))
}

// externalError is the catalogue key of what the page says about err, and its status.
func externalError(err error) (string, int) {
	for _, c := range []struct {
		err    error
		key    string
		status int
	}{
		{external.ErrNotFound, "web.external.err.notFound", http.StatusNotFound},
		{external.ErrExpired, "web.external.err.expired", http.StatusGone},
		{external.ErrUsed, "web.external.err.used", http.StatusGone},
		{external.ErrLocked, "web.external.err.locked", http.StatusGone},
		{external.ErrWithdrawn, "web.external.err.withdrawn", http.StatusGone},
		{external.ErrEnded, "web.external.err.ended", http.StatusConflict},
		{external.ErrSession, "web.external.err.session", http.StatusForbidden},
		{external.ErrCodeWrong, "web.external.err.codeWrong", http.StatusUnprocessableEntity},
		{external.ErrCodeStale, "web.external.err.codeStale", http.StatusUnprocessableEntity},
		{external.ErrNoCode, "web.external.err.noCode", http.StatusUnprocessableEntity},
		{external.ErrThrottled, "web.external.err.throttled", http.StatusTooManyRequests},
		{external.ErrTooMany, "web.external.err.tooMany", http.StatusTooManyRequests},
		{external.ErrPicture, "web.external.err.picture", http.StatusUnprocessableEntity},
		{external.ErrBusy, "web.external.err.busy", http.StatusConflict},
	} {
		if errors.Is(err, c.err) {
			return c.key, c.status
		}
	}
	return "web.external.err.other", http.StatusServiceUnavailable
}

// gone reports err: a link that no longer opens anything gets the page without forms.
func (x *External) fail(w http.ResponseWriter, r *http.Request, inv *external.Invitation, err error, step string) {
	key, status := externalError(err)
	if status >= 500 {
		x.Log.Error("external signer's page", zap.String("step", step), zap.Error(err))
	}
	switch status {
	case http.StatusNotFound, http.StatusGone, http.StatusForbidden:
		x.render(w, r, status, externalView{Step: "gone", Title: "web.external.title.gone", Error: key, Inv: inv})
		return
	}
	if errors.Is(err, external.ErrPicture) {
		key = x.localizer(r, inv).T(key, err.Error())
	}
	if inv == nil {
		inv, _ = x.Service.Open(r.Context(), r.PathValue("token"))
	}
	x.show(w, r, status, inv, key)
}

// show draws the page for where the invitation stands.
func (x *External) show(w http.ResponseWriter, r *http.Request, status int, inv *external.Invitation, errKey string) {
	v := externalView{Token: r.PathValue("token"), Inv: inv, Error: errKey, Title: "web.external.title"}
	l := x.localizer(r, inv)
	switch {
	case inv == nil:
		v.Step, v.Title = "gone", "web.external.title.gone"
	case inv.State == external.Pending:
		v.Step, v.CodeSent = "code", !inv.CodeSent.IsZero()
	case inv.State == external.Verified:
		v.Step = "sign"
	case inv.State == external.Queued:
		v.Step, v.Notice = "queued", "web.external.queued"
	case inv.State == external.Signed:
		v.Step, v.Notice = "signed", "web.external.signed"
	case inv.State == external.Declined:
		v.Step, v.Ended = "ended", l.T("web.external.declined", inv.Reason)
	default:
		v.Step, v.Ended = "ended", l.T("web.external.ended."+string(inv.State))
	}
	x.render(w, r, status, v)
}

func (x *External) page(w http.ResponseWriter, r *http.Request) {
	if inv, _ := x.session(r); inv != nil {
		x.show(w, r, http.StatusOK, inv, "")
		return
	}
	inv, err := x.Service.Open(r.Context(), r.PathValue("token"))
	if err != nil {
		x.fail(w, r, nil, err, "open")
		return
	}
	x.show(w, r, http.StatusOK, inv, "")
}

func (x *External) sendCode(w http.ResponseWriter, r *http.Request) {
	if err := x.Service.SendCode(r.Context(), r.PathValue("token"), x.evidence(r)); err != nil {
		x.fail(w, r, nil, err, "code")
		return
	}
	http.Redirect(w, r, external.PagePath+r.PathValue("token"), http.StatusSeeOther)
}

func (x *External) verify(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		x.fail(w, r, nil, external.ErrCodeWrong, "verify")
		return
	}
	session, err := x.Service.VerifyCode(r.Context(), r.PathValue("token"), r.PostFormValue("code"), x.evidence(r))
	if err != nil {
		x.fail(w, r, nil, err, "verify")
		return
	}
	inv, _ := x.Service.Session(r.Context(), session)
	c := &http.Cookie{Name: ExternalCookie, Value: session, Path: external.PagePath, HttpOnly: true, Secure: x.Secure,
		SameSite: http.SameSiteLaxMode}
	if inv != nil {
		c.Expires = inv.Expires
	}
	http.SetCookie(w, c)
	http.Redirect(w, r, external.PagePath+r.PathValue("token"), http.StatusSeeOther)
}

func (x *External) document(w http.ResponseWriter, r *http.Request) {
	inv, _ := x.session(r)
	if inv == nil {
		http.Error(w, x.localizer(r, nil).T("web.external.err.session"), http.StatusForbidden)
		return
	}
	rc, size, err := x.Service.Document(r.Context(), inv)
	if err != nil {
		x.Log.Error("external signer's document", zap.String("invitation", inv.ID), zap.Error(err))
		http.Error(w, x.localizer(r, inv).T("web.external.err.other"), http.StatusServiceUnavailable)
		return
	}
	defer rc.Close()
	h := w.Header()
	h.Set("Content-Type", "application/pdf")
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Referrer-Policy", "no-referrer")
	_, _ = io.Copy(w, rc)
}

func (x *External) confirm(w http.ResponseWriter, r *http.Request) {
	inv, session := x.session(r)
	if inv == nil {
		x.fail(w, r, nil, external.ErrSession, "confirm")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, external.MaxPictureForm)
	if err := r.ParseForm(); err != nil {
		x.fail(w, r, inv, external.ErrPicture, "confirm")
		return
	}
	if _, err := x.Service.Confirm(r.Context(), session, r.PostFormValue("signature"), r.PostFormValue("stamp"), x.evidence(r)); err != nil {
		x.fail(w, r, inv, err, "confirm")
		return
	}
	http.Redirect(w, r, external.PagePath+r.PathValue("token"), http.StatusSeeOther)
}

func (x *External) decline(w http.ResponseWriter, r *http.Request) {
	inv, session := x.session(r)
	if inv == nil {
		x.fail(w, r, nil, external.ErrSession, "decline")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		x.fail(w, r, inv, external.ErrEnded, "decline")
		return
	}
	if _, err := x.Service.Decline(r.Context(), session, r.PostFormValue("reason"), x.evidence(r)); err != nil {
		x.fail(w, r, inv, err, "decline")
		return
	}
	http.Redirect(w, r, external.PagePath+r.PathValue("token"), http.StatusSeeOther)
}

// externalRefresh is how often the page looks again while the seal's job runs (a meta refresh: the
// page needs no script for it).
const externalRefresh = 3 * time.Second
