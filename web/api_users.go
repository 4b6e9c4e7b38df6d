package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/internal/routes"
	"github.com/signet-b24/signet/producer/identity"
)

// UsersAPI is the admin API of users, their credentials and batch grants (producer/identity):
//
//	POST   /v1/grants            create a grant, confirmed by the user's own OTP
//	GET    /v1/grants/{id}       one grant, its progress
//	DELETE /v1/grants/{id}       revoke
//	GET    /v1/grants            list all grants
//	POST   /v1/admin/users                     add            GET /v1/admin/users          list
//	GET    /v1/admin/users/{login}             show           PATCH /v1/admin/users/{login} description, bitrix_ids
//	DELETE /v1/admin/users/{login}             delete
//	POST   /v1/admin/users/{login}/{action}    disable | enable | otp-disable | otp-enable | enrol
//	POST   /v1/admin/credentials/{action}      disable | enable | assign (to a portal's member_id)
type UsersAPI struct {
	ID  *identity.Service
	Log *zap.Logger
}

// Routes mounts the API behind admin; when admin is nil the routes are not registered at all (never
// served unauthenticated). Every grant route is an administrator's: an unauthenticated caller must
// not be able to spend a user's OTP attempts (a lockout), learn which logins exist, or take a grant
// for a user whose OTP is off.
func (a *UsersAPI) Routes(mux routes.Mux, admin adminGuard) {
	if a.Log == nil {
		a.Log = zap.NewNop()
	}
	if admin == nil {
		a.Log.Warn("no administrator check given: user administration and batch grant routes are not served")
		return
	}
	h := func(pattern string, f http.HandlerFunc) { mux.Handle(pattern, admin(f)) }
	h("POST /v1/grants", a.apiCreateGrant)
	h("GET /v1/grants/{id}", a.apiGetGrant)
	h("DELETE /v1/grants/{id}", a.apiRevokeGrant)
	h("GET /v1/grants", a.apiListGrants)
	h("POST /v1/admin/users", a.apiAddUser)
	h("GET /v1/admin/users", a.apiListUsers)
	h("GET /v1/admin/users/{login}", a.apiShowUser)
	h("PATCH /v1/admin/users/{login}", a.apiPatchUser)
	h("DELETE /v1/admin/users/{login}", a.apiDeleteUser)
	h("POST /v1/admin/users/{login}/{action}", a.apiUserAction)
	h("POST /v1/admin/users/{login}/credentials", a.apiMapCredential)
	h("DELETE /v1/admin/users/{login}/credentials", a.apiUnmapCredential)
	h("GET /v1/admin/credentials/disabled", a.apiListDisabled)
	h("POST /v1/admin/credentials/{action}", a.apiCredentialState)
}

func (a *UsersAPI) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	status, code := classify(err, identityFailures)
	apiError(w, r, a.Log, status, code, err.Error())
}

// writeBadRequest refuses a request whose body is not what the route takes (readJSON), or, with
// code, one of its values.
func writeBadRequest(w http.ResponseWriter, r *http.Request, code string, err error) {
	apiError(w, r, nil, http.StatusBadRequest, code, err.Error())
}

// CredentialRequest names a credential for the mapping and disable/enable API.
type CredentialRequest struct {
	Credential string `json:"credential"`
	Default    bool   `json:"default,omitempty"`
	// MemberID is the portal a credential is assigned to (assign; "" makes it Signet-wide).
	MemberID string `json:"member_id,omitempty"`
}

func readCredentialRequest(w http.ResponseWriter, r *http.Request) (*CredentialRequest, bool) {
	var req CredentialRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<10)).Decode(&req); err != nil || req.Credential == "" {
		apiError(w, r, nil, http.StatusBadRequest, "bad_body", `send {"credential":"pkcs11:token=…;object=…"}`)
		return nil, false
	}
	return &req, true
}

func (a *UsersAPI) apiMapCredential(w http.ResponseWriter, r *http.Request) {
	req, ok := readCredentialRequest(w, r)
	if !ok {
		return
	}
	u, err := a.ID.MapCredential(r.Context(), r.PathValue("login"), req.Credential, req.Default)
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

func (a *UsersAPI) apiUnmapCredential(w http.ResponseWriter, r *http.Request) {
	req, ok := readCredentialRequest(w, r)
	if !ok {
		return
	}
	u, err := a.ID.UnmapCredential(r.Context(), r.PathValue("login"), req.Credential)
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

func (a *UsersAPI) apiListDisabled(w http.ResponseWriter, r *http.Request) {
	list, err := a.ID.DisabledCredentials(r.Context())
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string][]string{"disabled": list})
}

func (a *UsersAPI) apiCredentialState(w http.ResponseWriter, r *http.Request) {
	action := r.PathValue("action")
	if action != "disable" && action != "enable" && action != "assign" {
		apiError(w, r, nil, http.StatusNotFound, "unknown_action", "use /v1/admin/credentials/disable, /enable or /assign")
		return
	}
	req, ok := readCredentialRequest(w, r)
	if !ok {
		return
	}
	if action == "assign" {
		if err := a.ID.AssignCredential(r.Context(), req.Credential, req.MemberID); err != nil {
			a.writeErr(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, identity.CredentialAssignment{Credential: req.Credential, MemberID: req.MemberID})
		return
	}
	if err := a.ID.SetCredentialDisabled(r.Context(), req.Credential, action == "disable"); err != nil {
		apiError(w, r, nil, http.StatusBadRequest, "bad_credential", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"credential": req.Credential, "state": action + "d"})
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

func (a *UsersAPI) apiCreateGrant(w http.ResponseWriter, r *http.Request) {
	var req GrantRequest
	if err := readJSON(w, r, &req); err != nil {
		writeBadRequest(w, r, "bad_body", err)
		return
	}
	var ttl time.Duration
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d <= 0 {
			writeBadRequest(w, r, "bad_ttl", fmt.Errorf("batch grant for %q: ttl %q is not a duration like \"12h\"", req.Login, req.TTL))
			return
		}
		ttl = d
	}
	g, err := a.ID.CreateGrant(r.Context(), req.Login, req.Code, req.Credential, req.Max, ttl)
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, g)
}

func (a *UsersAPI) apiGetGrant(w http.ResponseWriter, r *http.Request) {
	g, err := a.ID.GetGrant(r.Context(), r.PathValue("id"))
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, g)
}

func (a *UsersAPI) apiRevokeGrant(w http.ResponseWriter, r *http.Request) {
	if err := a.ID.RevokeGrant(r.Context(), r.PathValue("id")); err != nil {
		a.writeErr(w, r, err)
		return
	}
	g, err := a.ID.GetGrant(r.Context(), r.PathValue("id"))
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, g)
}

func (a *UsersAPI) apiListGrants(w http.ResponseWriter, r *http.Request) {
	gs, err := a.ID.ListGrants(r.Context())
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	if gs == nil {
		gs = []identity.Grant{}
	}
	writeJSON(w, http.StatusOK, gs)
}

func (a *UsersAPI) apiAddUser(w http.ResponseWriter, r *http.Request) {
	var u identity.User
	if err := readJSON(w, r, &u); err != nil {
		writeBadRequest(w, r, "bad_body", err)
		return
	}
	if err := a.ID.AddUser(r.Context(), u); err != nil {
		a.writeErr(w, r, err)
		return
	}
	got, err := a.ID.GetUser(r.Context(), u.Login)
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, got)
}

func (a *UsersAPI) apiListUsers(w http.ResponseWriter, r *http.Request) {
	us, err := a.ID.ListUsers(r.Context())
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	if us == nil {
		us = []identity.User{}
	}
	writeJSON(w, http.StatusOK, us)
}

func (a *UsersAPI) apiShowUser(w http.ResponseWriter, r *http.Request) {
	u, err := a.ID.GetUser(r.Context(), r.PathValue("login"))
	if err != nil {
		a.writeErr(w, r, err)
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

func (a *UsersAPI) apiPatchUser(w http.ResponseWriter, r *http.Request) {
	var p UserPatch
	if err := readJSON(w, r, &p); err != nil {
		writeBadRequest(w, r, "bad_body", err)
		return
	}
	u, err := a.ID.UpdateUser(r.Context(), r.PathValue("login"), func(u *identity.User) error {
		if p.Description != nil {
			u.Description = *p.Description
		}
		if p.BitrixIDs != nil {
			u.BitrixIDs = *p.BitrixIDs
		}
		return nil
	})
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

func (a *UsersAPI) apiDeleteUser(w http.ResponseWriter, r *http.Request) {
	if err := a.ID.DeleteUser(r.Context(), r.PathValue("login")); err != nil {
		a.writeErr(w, r, err)
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

func (a *UsersAPI) apiUserAction(w http.ResponseWriter, r *http.Request) {
	ctx, login := r.Context(), r.PathValue("login")
	var (
		u   *identity.User
		err error
	)
	switch action := r.PathValue("action"); action {
	case "disable":
		u, err = a.ID.SetDisabled(ctx, login, true)
	case "enable":
		u, err = a.ID.SetDisabled(ctx, login, false)
	case "otp-disable":
		u, err = a.ID.SetOTPDisabled(ctx, login, true)
	case "otp-enable":
		u, err = a.ID.SetOTPDisabled(ctx, login, false)
	case "enrol":
		link, exp, err := a.ID.StartEnrolment(ctx, login)
		if err != nil {
			a.writeErr(w, r, err)
			return
		}
		u, err := a.ID.GetUser(ctx, login)
		if err != nil {
			a.writeErr(w, r, err)
			return
		}
		writeJSON(w, http.StatusCreated, EnrolmentLink{Login: u.Login, Link: link, Expires: exp})
		return
	default:
		apiError(w, r, nil, http.StatusNotFound, "unknown_action", fmt.Sprintf("unknown user action %q; use disable, enable, otp-disable, otp-enable or enrol", action))
		return
	}
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}
