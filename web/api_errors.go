package web

import (
	"errors"
	"net/http"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/keyring"
	"github.com/signet-b24/signet/producer/identity"
)

// The admin API's errors (issue 18, must 3: "errors … in the reader's language"). Every error answer
// is one JSON object:
//
//	{"error": "what went wrong and what to do, in the caller's language", "code": "user_not_found"}
//
// error follows Accept-Language (English by default, as before); code is a stable name of the
// failure, the same in every language, so that a script compares code and never parses error. For a
// request the API refused (4xx), English error is the refusing package's own words, as before, and
// in another language those words are kept in "detail". A failure of the server (5xx: storage, NATS,
// a token) says in error what failed and what to do; its detail, which may name internal addresses,
// paths or a token's state, goes to the log only. docs/api.md lists the codes.

// errorBody is every admin API error.
type errorBody struct {
	Error  string `json:"error"`
	Code   string `json:"code"`
	Detail string `json:"detail,omitempty"`
}

// apiError answers status with the failure code; detail is what the package that failed said, in
// English. log records a server failure (nil: the global logger).
func apiError(w http.ResponseWriter, r *http.Request, log *zap.Logger, status int, code, detail string) {
	l := localizer(r)
	body := errorBody{Code: code, Error: l.T("api.error." + code)}
	switch {
	case status >= http.StatusInternalServerError:
		if log == nil {
			log = zap.L()
		}
		log.Error("admin API: request failed", zap.String("path", r.URL.Path), zap.String("code", code), zap.String("detail", detail))
	case detail == "":
	case l.Tag() == i18n.Fallback:
		body.Error = detail
	default:
		body.Detail = detail
	}
	writeJSON(w, status, body)
}

// failure is an error a package reports, with the status and code the API answers it with.
type failure struct {
	err    error
	status int
	code   string
}

// identityFailures are the errors of producer/identity.
var identityFailures = []failure{
	{identity.ErrLockedOut, http.StatusTooManyRequests, "locked_out"},
	{identity.ErrUserNotFound, http.StatusNotFound, "user_not_found"},
	{identity.ErrGrantNotFound, http.StatusNotFound, "grant_not_found"},
	{identity.ErrEnrolmentNotFound, http.StatusNotFound, "enrolment_not_found"},
	{identity.ErrUserExists, http.StatusConflict, "user_exists"},
	{identity.ErrBitrixIDTaken, http.StatusConflict, "bitrix_id_taken"},
	{identity.ErrInvalidLogin, http.StatusBadRequest, "invalid_login"},
	{identity.ErrGrantInvalid, http.StatusBadRequest, "grant_invalid"},
	{identity.ErrOTPFormat, http.StatusBadRequest, "otp_format"},
	{identity.ErrOTPInvalid, http.StatusForbidden, "otp_invalid"},
	{identity.ErrOTPReplayed, http.StatusForbidden, "otp_replayed"},
	{identity.ErrNotEnrolled, http.StatusForbidden, "not_enrolled"},
	{identity.ErrUserDisabled, http.StatusForbidden, "user_disabled"},
	{identity.ErrGrantScope, http.StatusForbidden, "grant_scope"},
	{identity.ErrCredentialNotMapped, http.StatusForbidden, "credential_not_mapped"},
	{identity.ErrCredentialDisabled, http.StatusForbidden, "credential_disabled"},
	{identity.ErrGrantExpired, http.StatusGone, "grant_expired"},
	{identity.ErrGrantRevoked, http.StatusGone, "grant_revoked"},
	{identity.ErrGrantExhausted, http.StatusGone, "grant_exhausted"},
	{identity.ErrEnrolmentExpired, http.StatusGone, "enrolment_expired"},
	{identity.ErrEnrolmentUsed, http.StatusGone, "enrolment_used"},
	{identity.ErrEnrolmentSuperseded, http.StatusGone, "enrolment_superseded"},
	{identity.ErrBusy, http.StatusServiceUnavailable, "busy"},
}

// storageFailure is what a page says when the store behind it (NATS key-value buckets) failed: a
// sentence in the reader's language saying what to do, the error itself in the log only, since it
// names servers and buckets (issue 18, must 3).
func storageFailure(l *i18n.Localizer, log *zap.Logger, what string, err error) string {
	log.Error("control panel: storage failed", zap.String("reading", what), zap.Error(err))
	return l.T("api.error.storage_unavailable")
}

// keyringFailures are the errors of the keyring.
var keyringFailures = []failure{
	{keyring.ErrInvalidURI, http.StatusBadRequest, "invalid_uri"},
	{keyring.ErrInvalidConfig, http.StatusBadRequest, "invalid_key_request"},
	{keyring.ErrCertificateMismatch, http.StatusBadRequest, "certificate_mismatch"},
	{keyring.ErrUnknownToken, http.StatusNotFound, "unknown_token"},
	{keyring.ErrKeyNotFound, http.StatusNotFound, "key_not_found"},
	{keyring.ErrCertificateNotFound, http.StatusNotFound, "certificate_not_found"},
	{keyring.ErrExists, http.StatusConflict, "exists"},
	{keyring.ErrTokenOffline, http.StatusServiceUnavailable, "token_offline"},
	{keyring.ErrTokenBusy, http.StatusServiceUnavailable, "token_busy"},
}

// classify is err's status and code among known, or 500 "internal".
func classify(err error, known []failure) (int, string) {
	for _, f := range known {
		if errors.Is(err, f.err) {
			return f.status, f.code
		}
	}
	return http.StatusInternalServerError, "internal"
}

// identityStatus maps an error of producer/identity to an HTTP status, for the admin API and the
// control panel's pages.
func identityStatus(err error) int {
	if err == nil {
		return http.StatusOK
	}
	status, _ := classify(err, identityFailures)
	return status
}

// panelFailures are the errors the control panel's pages meet: its own scope checks (scope.go), then
// producer/identity's.
var panelFailures = append([]failure{
	{errNotFound, http.StatusNotFound, "not_found"},
	{errForbidden, http.StatusForbidden, "forbidden"},
}, identityFailures...)

// panelMessage is what a control panel page says of err, in l's language: in English a refused
// request's own words, as before; in another language the sentence of its code. A server failure's
// words (storage, NATS) go to the log, never to the page, in every language.
func panelMessage(l *i18n.Localizer, log *zap.Logger, err error) string {
	return failureMessage(l, log, err, panelFailures)
}

// failureMessage is panelMessage among the failures known.
func failureMessage(l *i18n.Localizer, log *zap.Logger, err error, known []failure) string {
	status, code := classify(err, known)
	if status >= http.StatusInternalServerError {
		log.Error("control panel: request failed", zap.String("code", code), zap.Error(err))
		return l.T("api.error." + code)
	}
	if l.Tag() == i18n.Fallback {
		return err.Error()
	}
	return l.T("api.error." + code)
}
