package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24/portals"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/routes"
	"github.com/signet-b24/signet/keyring"
)

// PortalsAPI is the admin API of the portals allowed to install Signet, the same operations as
// `signet admin bitrix24 add|remove|allowed` (bitrix24/portals/allowed.go; issue 21 must 4). A
// change counts on every intake at once, without a restart.
//
//	GET    /v1/admin/portals            the allowed portals, each with the member_id installed there
//	POST   /v1/admin/portals            {"domain": "acme.bitrix24.ru"} (or "http://host:port") allow one
//	DELETE /v1/admin/portals/{domain}   take one off (URL-encoded), deleting the portal installed there
type PortalsAPI struct {
	Portals *portals.Registry
	// Audit records each change; nil logs it only.
	Audit Recorder
	Log   *zap.Logger
}

// Routes mounts the API behind admin.
func (a *PortalsAPI) Routes(mux routes.Mux, admin adminGuard) {
	h := func(pattern string, f http.HandlerFunc) { mux.Handle(pattern, admin(f)) }
	h("GET /v1/admin/portals", a.list)
	h("POST /v1/admin/portals", a.add)
	h("DELETE /v1/admin/portals/{domain}", a.remove)
}

func (a *PortalsAPI) list(w http.ResponseWriter, r *http.Request) {
	out, err := a.Portals.AllowedPortals(r.Context())
	if err != nil {
		apiError(w, r, a.Log, http.StatusServiceUnavailable, "storage_unavailable", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *PortalsAPI) add(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Domain string `json:"domain"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10)).Decode(&req); err != nil {
		apiError(w, r, nil, http.StatusBadRequest, "bad_body", `the body must be JSON: {"domain": "acme.bitrix24.ru"}`)
		return
	}
	d, err := portals.NormalizeDomain(req.Domain)
	if err != nil {
		apiError(w, r, nil, http.StatusBadRequest, "bad_domain", err.Error())
		return
	}
	if err := a.Portals.AllowDomains(r.Context(), d); err != nil {
		apiError(w, r, a.Log, http.StatusServiceUnavailable, "storage_unavailable", err.Error())
		return
	}
	a.record(r.Context(), "", "portal allowed: "+d)
	writeJSON(w, http.StatusCreated, portals.Allowed{Domain: d})
}

func (a *PortalsAPI) remove(w http.ResponseWriter, r *http.Request) {
	member, err := a.Portals.RemoveDomain(r.Context(), r.PathValue("domain"))
	switch {
	case errors.Is(err, portals.ErrNotAllowed):
		apiError(w, r, nil, http.StatusNotFound, "portal_not_allowed", err.Error())
		return
	case err != nil && strings.Contains(err.Error(), "is not a portal domain"):
		apiError(w, r, nil, http.StatusBadRequest, "bad_domain", err.Error())
		return
	case err != nil:
		apiError(w, r, a.Log, http.StatusServiceUnavailable, "storage_unavailable", err.Error())
		return
	}
	d, _ := portals.NormalizeDomain(r.PathValue("domain"))
	a.record(r.Context(), member, "portal removed: "+d)
	writeJSON(w, http.StatusOK, portals.Allowed{Domain: d, MemberID: member})
}

func (a *PortalsAPI) record(ctx context.Context, member, detail string) {
	who := keyring.Actor(ctx)
	if who == "" {
		who = "an administrator"
	}
	if a.Log != nil {
		a.Log.Info("allowed portals changed", zap.String("admin", who), zap.String("detail", detail))
	}
	if a.Audit == nil {
		return
	}
	e := contracts.AuditEvent{Time: time.Now().UTC(), Action: contracts.AuditAdminChange, Portal: member, Outcome: contracts.AuditOK,
		Detail: "by " + who + " (admin API): " + detail}
	if err := a.Audit.Record(ctx, e); err != nil && a.Log != nil {
		a.Log.Error("audit trail unavailable: portal change not recorded there", zap.Error(err))
	}
}
