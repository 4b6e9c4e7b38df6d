package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/routes"
	"github.com/signet-b24/signet/keyring"
)

// Revoker records a revocation and audits it (identity.Service is one).
type Revoker interface {
	RevokeCertificate(ctx context.Context, r contracts.Revocation, by string) error
}

// RevokeRequest is the body of POST /v1/admin/ca/revoke: a serial (hex) or a credential's key URI,
// and an RFC 5280 reason name.
type RevokeRequest struct {
	Serial     string `json:"serial,omitempty"`
	Credential string `json:"credential,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// RevokeAPI is POST /v1/admin/ca/revoke: `signet admin ca revoke` over HTTP. The keyring turns a
// credential or a serial into a revocation; Revoker stores it, where the CRL and OCSP responder
// (revocation.go) and the signing check read it.
type RevokeAPI struct {
	Keys    keyring.Admin
	Revoker Revoker
}

// Routes mounts the API behind admin.
func (a *RevokeAPI) Routes(mux routes.Mux, admin adminGuard) {
	mux.Handle("POST /v1/admin/ca/revoke", admin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req RevokeRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
			apiError(w, r, nil, http.StatusBadRequest, "bad_body", `the body must be JSON: {"serial": "HEX"} or {"credential": "pkcs11:…"}, with "reason": `+keyring.ReasonNames+": "+err.Error())
			return
		}
		reason, err := keyring.ParseReason(req.Reason)
		if err == nil && (req.Serial == "") == (req.Credential == "") {
			err = errors.New(`give either "serial" or "credential"`)
		}
		if err != nil {
			apiError(w, r, nil, http.StatusBadRequest, "bad_revocation", err.Error())
			return
		}
		var rev contracts.Revocation
		if req.Credential != "" {
			rev, err = a.Keys.Revocation(r.Context(), strings.TrimSpace(req.Credential), reason)
		} else {
			rev, err = keyring.SerialRevocation(req.Serial, reason)
		}
		if errors.Is(err, keyring.ErrInvalidSerial) {
			apiError(w, r, nil, http.StatusBadRequest, "bad_serial", err.Error())
			return
		}
		if err != nil {
			writeKeyringErr(w, r, err)
			return
		}
		if err := a.Revoker.RevokeCertificate(r.Context(), rev, "admin API"); err != nil {
			status, code := classify(err, []failure{{contracts.ErrAlreadyRevoked, http.StatusConflict, "already_revoked"}})
			apiError(w, r, nil, status, code, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, rev)
	})))
}
