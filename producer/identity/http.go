package identity

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/internal/routes"
)

// Routes registers the enrolment page, the batch grant API and the user administration API:
//
//	GET  /enrol/{token}          enrolment page (QR code as an inline PNG data URI, secret as text)
//	POST /enrol/{token}          confirm with the first code (form field "code")
//	GET  /enrol/{token}/qr.png   the QR code alone
//	POST   /v1/grants            create a grant (admin), confirmed by the user's own OTP
//	GET    /v1/grants/{id}       one grant, its progress (admin)
//	DELETE /v1/grants/{id}       revoke (admin)
//	GET    /v1/grants            list all grants (admin)
//	POST   /v1/admin/users                     add            GET /v1/admin/users          list
//	GET    /v1/admin/users/{login}             show           PATCH /v1/admin/users/{login} description, bitrix_ids
//	DELETE /v1/admin/users/{login}             delete
//	POST   /v1/admin/users/{login}/{action}    disable | enable | otp-disable | otp-enable | enrol
//	POST   /v1/admin/credentials/{action}      disable | enable | assign (to a portal's member_id)
//
// admin wraps the handlers that need an administrator; when it is nil those routes are not
// registered at all (never served unauthenticated). Every grant route is an administrator's: an
// unauthenticated caller must not be able to spend a user's OTP attempts (a lockout), learn which
// logins exist, or take a grant for a user whose OTP is off. The admin API's caller (the bearer token
// of security.admin_token_file) is a Signet-wide administrator; portal administrators use the
// control panel (web), which scopes them to their portal.
func (s *Service) Routes(mux routes.Mux, admin func(http.Handler) http.Handler) {
	mux.HandleFunc("GET /enrol/{token}", s.enrolPage)
	mux.HandleFunc("POST /enrol/{token}", s.enrolConfirm)
	mux.HandleFunc("GET /enrol/{token}/qr.png", s.enrolQR)
	if admin == nil {
		s.log.Warn("no administrator check given: user administration and batch grant routes are not served")
		return
	}
	a := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, admin(h)) }
	a("POST /v1/grants", s.apiCreateGrant)
	a("GET /v1/grants/{id}", s.apiGetGrant)
	a("DELETE /v1/grants/{id}", s.apiRevokeGrant)
	a("GET /v1/grants", s.apiListGrants)
	a("POST /v1/admin/users", s.apiAddUser)
	a("GET /v1/admin/users", s.apiListUsers)
	a("GET /v1/admin/users/{login}", s.apiShowUser)
	a("PATCH /v1/admin/users/{login}", s.apiPatchUser)
	a("DELETE /v1/admin/users/{login}", s.apiDeleteUser)
	a("POST /v1/admin/users/{login}/{action}", s.apiUserAction)
	a("POST /v1/admin/users/{login}/credentials", s.apiMapCredential)
	a("DELETE /v1/admin/users/{login}/credentials", s.apiUnmapCredential)
	a("GET /v1/admin/credentials/disabled", s.apiListDisabled)
	a("POST /v1/admin/credentials/{action}", s.apiCredentialState)
}

// CredentialRequest names a credential for the mapping and disable/enable API.
type CredentialRequest struct {
	Credential string `json:"credential"`
	Default    bool   `json:"default,omitempty"`
	// MemberID is the portal a credential is assigned to (assign; "" makes it Signet-wide).
	MemberID string `json:"member_id,omitempty"`
}

func (s *Service) readCredentialRequest(w http.ResponseWriter, r *http.Request) (*CredentialRequest, bool) {
	var req CredentialRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<10)).Decode(&req); err != nil || req.Credential == "" {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: `send {"credential":"pkcs11:token=…;object=…"}`})
		return nil, false
	}
	return &req, true
}

func (s *Service) apiMapCredential(w http.ResponseWriter, r *http.Request) {
	req, ok := s.readCredentialRequest(w, r)
	if !ok {
		return
	}
	u, err := s.MapCredential(r.Context(), r.PathValue("login"), req.Credential, req.Default)
	if err != nil {
		s.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

func (s *Service) apiUnmapCredential(w http.ResponseWriter, r *http.Request) {
	req, ok := s.readCredentialRequest(w, r)
	if !ok {
		return
	}
	u, err := s.UnmapCredential(r.Context(), r.PathValue("login"), req.Credential)
	if err != nil {
		s.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

func (s *Service) apiListDisabled(w http.ResponseWriter, r *http.Request) {
	list, err := s.DisabledCredentials(r.Context())
	if err != nil {
		s.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string][]string{"disabled": list})
}

func (s *Service) apiCredentialState(w http.ResponseWriter, r *http.Request) {
	action := r.PathValue("action")
	if action != "disable" && action != "enable" && action != "assign" {
		writeJSON(w, http.StatusNotFound, errorBody{Error: "use /v1/admin/credentials/disable, /enable or /assign"})
		return
	}
	req, ok := s.readCredentialRequest(w, r)
	if !ok {
		return
	}
	if action == "assign" {
		if err := s.AssignCredential(r.Context(), req.Credential, req.MemberID); err != nil {
			s.writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, CredentialAssignment{Credential: req.Credential, MemberID: req.MemberID})
		return
	}
	if err := s.SetCredentialDisabled(r.Context(), req.Credential, action == "disable"); err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"credential": req.Credential, "state": action + "d"})
}

// ---- enrolment page ----

// pageHeaders keep the token out of Referer headers and caches and forbid framing and any
// external resource.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; img-src data: 'self'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
}

type enrolView struct {
	Title   string
	Login   string
	Issuer  string
	QR      template.URL // data:image/png;base64,…
	QRAlt   string
	Secret  string // grouped in fours for reading aloud / typing
	Expires string
	Error   string
	Done    bool
	Gone    bool
}

var enrolTmpl = template.Must(template.New("enrol").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{.Title}}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;padding:1rem;color:#1b1b1b;background:#f6f7f9;line-height:1.5}
main{max-width:32rem;margin:0 auto;background:#fff;border-radius:.5rem;padding:1.25rem;box-shadow:0 1px 3px rgba(0,0,0,.12)}
h1{font-size:1.4rem;margin-top:0}
ol{padding-left:1.25rem}
img{display:block;width:100%;max-width:16rem;height:auto;margin:.5rem auto;image-rendering:pixelated}
code{font-size:1.15rem;letter-spacing:.05em;word-break:break-all;background:#eef1f4;padding:.2rem .35rem;border-radius:.25rem}
label{display:block;font-weight:600;margin-top:.75rem}
input{font-size:1.5rem;letter-spacing:.3em;width:9ch;padding:.4rem;border:2px solid #555;border-radius:.3rem}
input:focus,button:focus{outline:3px solid #1a5fb4;outline-offset:2px}
button{font-size:1.1rem;margin-top:.75rem;padding:.6rem 1.2rem;border:0;border-radius:.3rem;background:#1a5fb4;color:#fff}
.alert{border-left:4px solid #c01c28;background:#fdecee;padding:.5rem .75rem}
.ok{border-left:4px solid #26a269;background:#e9f7ef;padding:.5rem .75rem}
small{color:#555}
</style></head>
<body><main>
<h1>{{.Title}}</h1>
{{if .Gone}}
<p class="alert" role="alert">{{.Error}}</p>
<p>Nothing was changed. Ask your Signet administrator for a new enrolment link.</p>
{{else if .Done}}
<p class="ok" role="status">Done: your authenticator app now gives the codes for <strong>{{.Login}}</strong>. Use them when you sign documents. This link no longer works.</p>
{{else}}
<p>Account: <strong>{{.Login}}</strong>. This link works once, until {{.Expires}}.</p>
{{if .Error}}<p class="alert" role="alert">{{.Error}}</p>{{end}}
<ol>
<li>Install FreeOTP or Google Authenticator on your phone.</li>
<li>In the app, add an account and scan this QR code:
<img src="{{.QR}}" alt="{{.QRAlt}}" width="256" height="256"></li>
<li>If you cannot scan, enter this key by hand (time-based, 6 digits, every 30 seconds, SHA1):
<br><code id="secret" aria-label="Secret key">{{.Secret}}</code></li>
<li>Type the 6-digit code the app now shows for {{.Issuer}}:
<form method="post">
<label for="code">Code from the app</label>
<input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]{6,7}" maxlength="7" required aria-describedby="code-help">
<small id="code-help">Six digits; a new code appears every 30 seconds.</small><br>
<button type="submit">Confirm</button>
</form></li>
</ol>
<p><small>Do not share this page or the key: anyone with them can generate your codes.</small></p>
{{end}}
</main></body></html>
`))

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
	case errors.Is(err, ErrEnrolmentNotFound):
		return http.StatusNotFound, true
	case errors.Is(err, ErrEnrolmentExpired), errors.Is(err, ErrEnrolmentUsed), errors.Is(err, ErrEnrolmentSuperseded),
		errors.Is(err, ErrUserNotFound), errors.Is(err, ErrUserDisabled):
		return http.StatusGone, true
	}
	return 0, false
}

func (s *Service) renderEnrol(w http.ResponseWriter, r *http.Request, status int, formErr string) {
	pageHeaders(w)
	token := r.PathValue("token")
	p, err := s.PendingSecret(r.Context(), token)
	if err != nil {
		code, gone := linkProblem(err)
		if !gone {
			s.log.Error("enrolment page", zap.Error(err))
			code = http.StatusInternalServerError
		}
		w.WriteHeader(code)
		s.execPage(w, enrolView{Title: "Enrolment link not usable", Gone: true, Error: err.Error()})
		return
	}
	png, err := s.EnrolmentQR(r.Context(), token, 256)
	if err != nil {
		s.log.Error("enrolment QR code", zapLogin(p.Login), zap.Error(err))
		w.WriteHeader(http.StatusInternalServerError)
		s.execPage(w, enrolView{Title: "Enrolment failed", Gone: true, Error: "The QR code could not be made; try again."})
		return
	}
	w.WriteHeader(status)
	s.execPage(w, enrolView{
		Title: "Set up sign-in codes for " + s.cfg.Issuer, Login: p.Login, Issuer: s.cfg.Issuer,
		QR:     template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)),
		QRAlt:  "QR code that adds the " + s.cfg.Issuer + " account " + p.Login + " to an authenticator app",
		Secret: groupSecret(p.Secret), Expires: p.Expires.UTC().Format("2006-01-02 15:04 MST"), Error: formErr,
	})
}

func (s *Service) execPage(w http.ResponseWriter, v enrolView) {
	if err := enrolTmpl.Execute(w, v); err != nil {
		s.log.Error("rendering enrolment page", zap.Error(err))
	}
}

func (s *Service) enrolPage(w http.ResponseWriter, r *http.Request) {
	s.renderEnrol(w, r, http.StatusOK, "")
}

func (s *Service) enrolConfirm(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		s.renderEnrol(w, r, http.StatusBadRequest, "The form could not be read; type the code again.")
		return
	}
	code := strings.ReplaceAll(strings.TrimSpace(r.PostFormValue("code")), " ", "")
	err := s.ConfirmEnrolment(r.Context(), r.PathValue("token"), code)
	if err == nil {
		pageHeaders(w)
		s.execPage(w, enrolView{Title: "Sign-in codes are set up", Done: true, Login: s.loginOfToken(r)})
		return
	}
	if errors.Is(err, ErrOTPInvalid) || errors.Is(err, ErrOTPFormat) {
		s.renderEnrol(w, r, http.StatusUnprocessableEntity, err.Error())
		return
	}
	pageHeaders(w)
	status, gone := linkProblem(err)
	if !gone {
		s.log.Error("enrolment confirmation", zap.Error(err))
		status = http.StatusInternalServerError
	}
	w.WriteHeader(status)
	s.execPage(w, enrolView{Title: "Enrolment link not usable", Gone: true, Error: err.Error()})
}

// loginOfToken names the user of a just-used link for the success page.
func (s *Service) loginOfToken(r *http.Request) string {
	b, _, err := getRev(r.Context(), s.enrol, enrolKey(tokenHash(r.PathValue("token"))))
	if err != nil || b == nil {
		return ""
	}
	var rec enrolRecord
	if json.Unmarshal(b, &rec) != nil {
		return ""
	}
	return rec.Login
}

func (s *Service) enrolQR(w http.ResponseWriter, r *http.Request) {
	png, err := s.EnrolmentQR(r.Context(), r.PathValue("token"), 256)
	if err != nil {
		status, gone := linkProblem(err)
		if !gone {
			status = http.StatusInternalServerError
		}
		http.Error(w, err.Error(), status)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Write(png)
}

// ---- JSON API ----

// HTTPStatus maps an error of this package to an HTTP status for the JSON API and for intake.
func HTTPStatus(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrLockedOut):
		return http.StatusTooManyRequests
	case errors.Is(err, ErrUserNotFound), errors.Is(err, ErrGrantNotFound), errors.Is(err, ErrEnrolmentNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrUserExists), errors.Is(err, ErrBitrixIDTaken):
		return http.StatusConflict
	case errors.Is(err, ErrInvalidLogin), errors.Is(err, ErrGrantInvalid), errors.Is(err, ErrOTPFormat):
		return http.StatusBadRequest
	case errors.Is(err, ErrOTPInvalid), errors.Is(err, ErrOTPReplayed), errors.Is(err, ErrNotEnrolled),
		errors.Is(err, ErrUserDisabled), errors.Is(err, ErrGrantScope), errors.Is(err, ErrCredentialNotMapped),
		errors.Is(err, ErrCredentialDisabled):
		return http.StatusForbidden
	case errors.Is(err, ErrGrantExpired), errors.Is(err, ErrGrantRevoked), errors.Is(err, ErrGrantExhausted),
		errors.Is(err, ErrEnrolmentExpired), errors.Is(err, ErrEnrolmentUsed), errors.Is(err, ErrEnrolmentSuperseded):
		return http.StatusGone
	case errors.Is(err, ErrBusy):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (s *Service) writeErr(w http.ResponseWriter, err error) {
	status := HTTPStatus(err)
	if status == http.StatusInternalServerError {
		s.log.Error("identity API", zap.Error(err))
	}
	writeJSON(w, status, errorBody{Error: err.Error()})
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("request body is not the expected JSON (%v): %w", err, errBadRequest)
	}
	return nil
}

var errBadRequest = errors.New("bad request")

func (s *Service) writeBadRequest(w http.ResponseWriter, err error) {
	writeJSON(w, http.StatusBadRequest, errorBody{Error: err.Error()})
}

// GrantRequest is the body of POST /v1/grants. TTL is a Go duration ("12h"); empty means the
// configured default.
type GrantRequest struct {
	Login      string `json:"login"`
	Code       string `json:"code"`
	Credential string `json:"credential"`
	Max        int    `json:"max"`
	TTL        string `json:"ttl,omitempty"`
}

func (s *Service) apiCreateGrant(w http.ResponseWriter, r *http.Request) {
	var req GrantRequest
	if err := readJSON(w, r, &req); err != nil {
		s.writeBadRequest(w, err)
		return
	}
	var ttl time.Duration
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d <= 0 {
			s.writeBadRequest(w, fmt.Errorf("batch grant for %q: ttl %q is not a duration like \"12h\"", req.Login, req.TTL))
			return
		}
		ttl = d
	}
	g, err := s.CreateGrant(r.Context(), req.Login, req.Code, req.Credential, req.Max, ttl)
	if err != nil {
		s.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, g)
}

func (s *Service) apiGetGrant(w http.ResponseWriter, r *http.Request) {
	g, err := s.GetGrant(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, g)
}

func (s *Service) apiRevokeGrant(w http.ResponseWriter, r *http.Request) {
	if err := s.RevokeGrant(r.Context(), r.PathValue("id")); err != nil {
		s.writeErr(w, err)
		return
	}
	g, err := s.GetGrant(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, g)
}

func (s *Service) apiListGrants(w http.ResponseWriter, r *http.Request) {
	gs, err := s.ListGrants(r.Context())
	if err != nil {
		s.writeErr(w, err)
		return
	}
	if gs == nil {
		gs = []Grant{}
	}
	writeJSON(w, http.StatusOK, gs)
}

func (s *Service) apiAddUser(w http.ResponseWriter, r *http.Request) {
	var u User
	if err := readJSON(w, r, &u); err != nil {
		s.writeBadRequest(w, err)
		return
	}
	if err := s.AddUser(r.Context(), u); err != nil {
		s.writeErr(w, err)
		return
	}
	got, err := s.GetUser(r.Context(), u.Login)
	if err != nil {
		s.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, got)
}

func (s *Service) apiListUsers(w http.ResponseWriter, r *http.Request) {
	us, err := s.ListUsers(r.Context())
	if err != nil {
		s.writeErr(w, err)
		return
	}
	if us == nil {
		us = []User{}
	}
	writeJSON(w, http.StatusOK, us)
}

func (s *Service) apiShowUser(w http.ResponseWriter, r *http.Request) {
	u, err := s.GetUser(r.Context(), r.PathValue("login"))
	if err != nil {
		s.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

// UserPatch is the body of PATCH /v1/admin/users/{login}; absent fields stay as they are, and
// bitrix_ids replaces the whole map.
type UserPatch struct {
	Description *string         `json:"description,omitempty"`
	BitrixIDs   *map[string]int `json:"bitrix_ids,omitempty"`
}

func (s *Service) apiPatchUser(w http.ResponseWriter, r *http.Request) {
	var p UserPatch
	if err := readJSON(w, r, &p); err != nil {
		s.writeBadRequest(w, err)
		return
	}
	u, err := s.UpdateUser(r.Context(), r.PathValue("login"), func(u *User) error {
		if p.Description != nil {
			u.Description = *p.Description
		}
		if p.BitrixIDs != nil {
			u.BitrixIDs = *p.BitrixIDs
		}
		return nil
	})
	if err != nil {
		s.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

func (s *Service) apiDeleteUser(w http.ResponseWriter, r *http.Request) {
	if err := s.DeleteUser(r.Context(), r.PathValue("login")); err != nil {
		s.writeErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// EnrolmentLink is the answer to POST /v1/admin/users/{login}/enrol.
type EnrolmentLink struct {
	Login   string    `json:"login"`
	Link    string    `json:"link"`
	Expires time.Time `json:"expires"`
}

func (s *Service) apiUserAction(w http.ResponseWriter, r *http.Request) {
	ctx, login := r.Context(), r.PathValue("login")
	var (
		u   *User
		err error
	)
	switch action := r.PathValue("action"); action {
	case "disable":
		u, err = s.SetDisabled(ctx, login, true)
	case "enable":
		u, err = s.SetDisabled(ctx, login, false)
	case "otp-disable":
		u, err = s.SetOTPDisabled(ctx, login, true)
	case "otp-enable":
		u, err = s.SetOTPDisabled(ctx, login, false)
	case "enrol":
		link, exp, err := s.StartEnrolment(ctx, login)
		if err != nil {
			s.writeErr(w, err)
			return
		}
		u, err := s.GetUser(ctx, login)
		if err != nil {
			s.writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusCreated, EnrolmentLink{Login: u.Login, Link: link, Expires: exp})
		return
	default:
		writeJSON(w, http.StatusNotFound, errorBody{Error: fmt.Sprintf("unknown user action %q; use disable, enable, otp-disable, otp-enable or enrol", action)})
		return
	}
	if err != nil {
		s.writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}
