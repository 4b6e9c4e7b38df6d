package keyring

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/routes"
)

// Revoker records a revocation and audits it (identity.Service).
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

// RevocationAPI mounts POST /v1/admin/ca/revoke behind admin: `signet admin ca revoke` over HTTP.
func (k *Keyring) RevocationAPI(mux routes.Mux, admin func(http.Handler) http.Handler, rv Revoker) {
	mux.Handle("POST /v1/admin/ca/revoke", admin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req RevokeRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": `the body must be JSON: {"serial": "HEX"} or {"credential": "pkcs11:…"}, with "reason": ` + ReasonNames + ": " + err.Error()})
			return
		}
		reason, err := ParseReason(req.Reason)
		if err == nil && (req.Serial == "") == (req.Credential == "") {
			err = errors.New(`give either "serial" or "credential"`)
		}
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		var rev contracts.Revocation
		if req.Credential != "" {
			rev, err = k.Revocation(r.Context(), strings.TrimSpace(req.Credential), reason)
		} else {
			rev, err = SerialRevocation(req.Serial, reason)
		}
		if errors.Is(err, ErrInvalidSerial) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		if err != nil {
			writeErr(w, err)
			return
		}
		if err := rv.RevokeCertificate(r.Context(), rev, "admin API"); err != nil {
			status := http.StatusInternalServerError
			if errors.Is(err, contracts.ErrAlreadyRevoked) {
				status = http.StatusConflict
			}
			writeJSON(w, status, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, rev)
	})))
}
