package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// The admin API (/v1/admin/…, /v1/grants) is JSON in and out, behind the bearer token of
// security.admin_token_file (cmd/signet's adminOnly): the same operations as `signet admin`, for
// scripts. Its caller is a Signet-wide administrator; portal administrators use the control panel,
// which scopes them to their portal. One file per surface: users and grants (api_users.go), tokens
// and certificates (api_credentials.go), revocation (api_revoke.go).

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// readJSON decodes a request body of at most 64 KiB that holds only v's fields.
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

// adminGuard wraps the handlers that need an administrator (cmd/signet's adminOnly).
type adminGuard = func(http.Handler) http.Handler
