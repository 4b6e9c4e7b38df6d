package web

import (
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/internal/routes"
	"github.com/signet-b24/signet/producer/identity"
)

// Enrolment is the page a user opens from an enrolment link (producer/identity/enrol.go makes the
// link, keeps the pending secret and checks the first code):
//
//	GET  /enrol/{token}          the page: QR code as an inline PNG data URI, the secret as text
//	POST /enrol/{token}          confirm with the first code (form field "code")
//	GET  /enrol/{token}/qr.png   the QR code alone
//
// The link is the user's only credential until the first code is confirmed, so the page keeps it out
// of Referer headers and caches (enrolHeaders) and never logs it.
type Enrolment struct {
	ID  *identity.Service
	Log *zap.Logger
}

// Routes mounts the enrolment page. It needs no administrator: holding the link is the permission.
func (e *Enrolment) Routes(mux routes.Mux) {
	if e.Log == nil {
		e.Log = zap.NewNop()
	}
	mux.HandleFunc("GET /enrol/{token}", e.page)
	mux.HandleFunc("POST /enrol/{token}", e.confirm)
	mux.HandleFunc("GET /enrol/{token}/qr.png", e.qr)
}

// enrolHeaders keep the token out of Referer headers and caches and forbid framing and any
// external resource.
func enrolHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; img-src data: 'self'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
}

// enrolView: Title and Error are catalogue keys or text in the reader's language (exec translates).
type enrolView struct {
	Title   string
	Login   string
	Issuer  string
	QR      template.URL // data:image/png;base64,…
	Secret  string       // grouped in fours for reading aloud / typing
	Expires time.Time
	Error   string
	Done    bool
	Gone    bool
	Switch  []langLink
}

// enrolTmpl stands alone, without the control panel's layout: the user who opens it is no
// administrator and has nowhere else to go.
var enrolTmpl = template.Must(template.New("enrol.html").Funcs(baseLangFuncs).Funcs(funcs).ParseFS(files, "templates/enrol.html", "templates/langswitch.html"))

func groupSecret(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// linkProblem reports errors that mean the link itself is unusable (a "gone" page).
func linkProblem(err error) (int, bool) {
	switch {
	case errors.Is(err, identity.ErrEnrolmentNotFound):
		return http.StatusNotFound, true
	case errors.Is(err, identity.ErrEnrolmentExpired), errors.Is(err, identity.ErrEnrolmentUsed), errors.Is(err, identity.ErrEnrolmentSuperseded),
		errors.Is(err, identity.ErrUserNotFound), errors.Is(err, identity.ErrUserDisabled):
		return http.StatusGone, true
	}
	return 0, false
}

func (e *Enrolment) render(w http.ResponseWriter, r *http.Request, status int, formErr string) {
	enrolHeaders(w)
	token := r.PathValue("token")
	p, err := e.ID.PendingSecret(r.Context(), token)
	if err != nil {
		code, gone := linkProblem(err)
		if !gone {
			e.Log.Error("enrolment page", zap.Error(err))
			code = http.StatusInternalServerError
		}
		w.WriteHeader(code)
		e.exec(w, r, enrolView{Title: "web.enrol.title.gone", Gone: true, Error: enrolError(r, err)})
		return
	}
	png, err := e.ID.EnrolmentQR(r.Context(), token, 256)
	if err != nil {
		e.Log.Error("enrolment QR code", zap.String("login", p.Login), zap.Error(err))
		w.WriteHeader(http.StatusInternalServerError)
		e.exec(w, r, enrolView{Title: "web.enrol.title.failed", Gone: true, Error: "web.enrol.qrFailed"})
		return
	}
	w.WriteHeader(status)
	e.exec(w, r, enrolView{
		Title: localizer(r).T("web.enrol.title", p.Issuer), Login: p.Login, Issuer: p.Issuer,
		QR:     template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)),
		Secret: groupSecret(p.Secret), Expires: p.Expires, Error: formErr,
	})
}

// exec writes the page in the reader's language, with the language switch (back to the page itself:
// the token is in the path, and the switch's link stays on this site).
func (e *Enrolment) exec(w http.ResponseWriter, r *http.Request, v enrolView) {
	l := localizer(r)
	v.Title, v.Error = l.Text(v.Title), l.Text(v.Error)
	v.Switch = langSwitch(l, r.URL.Path)
	t, err := inLanguage(enrolTmpl, l, viewerZone(r))
	if err == nil {
		err = t.Execute(w, v)
	}
	if err != nil {
		e.Log.Error("rendering enrolment page", zap.Error(err))
	}
}

// enrolError is what the page says about an unusable link or a wrong code, in the reader's language.
func enrolError(r *http.Request, err error) string {
	l := localizer(r)
	for _, c := range []struct {
		err error
		key string
	}{
		{identity.ErrEnrolmentNotFound, "web.enrol.err.notFound"}, {identity.ErrEnrolmentExpired, "web.enrol.err.expired"},
		{identity.ErrEnrolmentUsed, "web.enrol.err.used"}, {identity.ErrEnrolmentSuperseded, "web.enrol.err.superseded"},
		{identity.ErrUserNotFound, "web.enrol.err.userNotFound"}, {identity.ErrUserDisabled, "web.enrol.err.userDisabled"},
		{identity.ErrOTPInvalid, "web.enrol.err.otpInvalid"}, {identity.ErrOTPFormat, "web.enrol.err.otpFormat"},
	} {
		if errors.Is(err, c.err) {
			return l.T(c.key)
		}
	}
	return l.T("web.enrol.err.other")
}

func (e *Enrolment) page(w http.ResponseWriter, r *http.Request) {
	e.render(w, r, http.StatusOK, "")
}

func (e *Enrolment) confirm(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		e.render(w, r, http.StatusBadRequest, "web.enrol.formUnreadable")
		return
	}
	code := strings.ReplaceAll(strings.TrimSpace(r.PostFormValue("code")), " ", "")
	err := e.ID.ConfirmEnrolment(r.Context(), r.PathValue("token"), code)
	if err == nil {
		enrolHeaders(w)
		e.exec(w, r, enrolView{Title: "web.enrol.title.done", Done: true, Login: e.ID.EnrolmentLogin(r.Context(), r.PathValue("token"))})
		return
	}
	if errors.Is(err, identity.ErrOTPInvalid) || errors.Is(err, identity.ErrOTPFormat) {
		e.render(w, r, http.StatusUnprocessableEntity, enrolError(r, err))
		return
	}
	enrolHeaders(w)
	status, gone := linkProblem(err)
	if !gone {
		e.Log.Error("enrolment confirmation", zap.Error(err))
		status = http.StatusInternalServerError
	}
	w.WriteHeader(status)
	e.exec(w, r, enrolView{Title: "web.enrol.title.gone", Gone: true, Error: enrolError(r, err)})
}

func (e *Enrolment) qr(w http.ResponseWriter, r *http.Request) {
	png, err := e.ID.EnrolmentQR(r.Context(), r.PathValue("token"), 256)
	if err != nil {
		status, gone := linkProblem(err)
		if !gone {
			status = http.StatusInternalServerError
		}
		http.Error(w, enrolError(r, err), status)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Write(png)
}
