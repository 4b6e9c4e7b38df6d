package bitrix24

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// REST and OAuth error codes (reference §8.2, §9.1). Bitrix24 sends them in mixed case; compare with
// strings.EqualFold or (*Error).Is, never ==.
const (
	ErrCodeQueryLimitExceeded     = "QUERY_LIMIT_EXCEEDED"
	ErrCodeOperationTimeLimit     = "OPERATION_TIME_LIMIT"
	ErrCodeOverloadLimit          = "OVERLOAD_LIMIT"
	ErrCodePortalDeleted          = "PORTAL_DELETED"
	ErrCodeInternalServerError    = "INTERNAL_SERVER_ERROR"
	ErrCodeExpiredToken           = "expired_token"
	ErrCodeInvalidToken           = "invalid_token"
	ErrCodeNoAuthFound            = "NO_AUTH_FOUND"
	ErrCodeMethodConfirmWaiting   = "method_confirm_waiting"
	ErrCodeAccessDenied           = "ACCESS_DENIED"
	ErrCodeWrongAuthType          = "WRONG_AUTH_TYPE"
	ErrCodeInsufficientScope      = "insufficient_scope"
	ErrCodeInvalidCredentials     = "INVALID_CREDENTIALS"
	ErrCodeMethodNotFound         = "ERROR_METHOD_NOT_FOUND"
	ErrCodeArgument               = "ERROR_ARGUMENT"
	ErrCodeNotFound               = "NOT_FOUND"
	ErrCodeInvalidRequest         = "INVALID_REQUEST"
	ErrCodeBatchLengthExceeded    = "ERROR_BATCH_LENGTH_EXCEEDED"
	ErrCodeBatchMethodNotAllowed  = "ERROR_BATCH_METHOD_NOT_ALLOWED"
	ErrCodeActivityValidation     = "ERROR_ACTIVITY_VALIDATION_FAILURE"
	ErrCodeActivityAlreadyExists  = "ERROR_ACTIVITY_ALREADY_INSTALLED"
	ErrCodeActivityNotFound       = "ERROR_ACTIVITY_NOT_FOUND"
	ErrCodeWrongHandlerURL        = "ERROR_WRONG_HANDLER_URL"
	ErrCodeUnsupportedProtocol    = "ERROR_UNSUPPORTED_PROTOCOL"
	ErrCodePlacementHandlerExists = "ERROR_PLACEMENT_HANDLER_ALREADY_BINDED"
	ErrCodeOwnerNotFound          = "OWNER_NOT_FOUND"
	ErrCodeInvalidArgValue        = "INVALID_ARG_VALUE"
	ErrCodeInvalidGrant           = "invalid_grant"
	ErrCodeInvalidClient          = "invalid_client"
	ErrCodeInvalidOAuthRequest    = "invalid_request"
)

// Sentinel errors of the package; compare with errors.Is.
var (
	// ErrMalformedForm: a form key is not valid PHP bracket syntax.
	ErrMalformedForm = errors.New("bitrix24: malformed form")
	// ErrBadRequest: an inbound Bitrix24 call (robot, install event) is missing a field or has the
	// wrong shape; answer 400 and do not enqueue.
	ErrBadRequest = errors.New("bitrix24: bad inbound request")
	// ErrNoTokens: the TokenStore has no tokens for the member_id; the app must be (re)installed.
	ErrNoTokens = errors.New("bitrix24: no stored tokens for portal")
	// ErrReauthRequired: the refresh token was rejected (invalid_grant/invalid_client); an
	// administrator must reinstall or reopen the app so that new tokens arrive.
	ErrReauthRequired = errors.New("bitrix24: refresh token rejected, reinstall the application")
	// ErrForeignHost: a download URL (or a redirect) points outside the portal's own host.
	ErrForeignHost = errors.New("bitrix24: URL is not on the portal's host")
	// ErrPrivateAddress: the portal host resolved to a loopback/private address and AllowPrivate is off.
	ErrPrivateAddress = errors.New("bitrix24: portal host resolves to a private or loopback address")
	// ErrTooLarge: a download exceeded the caller's byte limit.
	ErrTooLarge = errors.New("bitrix24: file exceeds the size limit")
	// ErrBatchTooLong: more than 50 commands in one batch (reference §7).
	ErrBatchTooLong = errors.New("bitrix24: batch holds more than 50 commands")
	// ErrBatchNotExecuted: a batch command known not to have run: with halt=1 it came after a failed
	// one, the portal left it without a result, or its caller gave up while it still waited in the
	// Batcher's queue. Sending it again is safe.
	ErrBatchNotExecuted = errors.New("bitrix24: batch command not executed")
	// ErrPortalOverloaded: the portal answered 503 OVERLOAD_LIMIT (blocked by Bitrix24 support) and
	// the client stopped calling it for ClientConfig.OverloadPause; retry after that, and alert.
	ErrPortalOverloaded = errors.New("bitrix24: portal blocked by Bitrix24 (OVERLOAD_LIMIT); Signet paused calls to it, contact Bitrix24 support")
	// ErrWebhookMode: robots and placements need an application context; an incoming webhook cannot
	// register them (reference §1 rule 8, §9.3).
	ErrWebhookMode = errors.New("bitrix24: incoming-webhook mode cannot register robots or placements (application context required); install the Signet local application instead")
	// ErrPortalMoved: the portal answered a redirect (301, 302, 307, 308). Signet follows none: no token
	// leaves the registered host and the stored endpoint stays; retry later, and if the portal was renamed
	// an administrator runs `signet admin bitrix24 move`.
	ErrPortalMoved = errors.New("bitrix24: portal redirected elsewhere; not followed")
	// ErrUnexpectedAnswer: the portal answered something that is not a REST envelope.
	ErrUnexpectedAnswer = errors.New("bitrix24: unexpected answer from portal")
)

// Error is a REST or OAuth error envelope {"error":"CODE","error_description":"…"} (reference §2, §8.2)
// with the HTTP status it came with. Method and Portal say where it happened (never a token).
type Error struct {
	HTTPStatus  int
	Code        string
	Description string
	Method      string    // REST method, "oauth/token" for the OAuth server
	Portal      string    // portal domain or member_id
	ResetAt     time.Time // OPERATION_TIME_LIMIT: when the method unblocks, if known
}

func (e *Error) Error() string {
	where := e.Method
	if where == "" {
		where = "call"
	}
	if e.Portal != "" {
		where += " on " + e.Portal
	}
	msg := fmt.Sprintf("bitrix24 %s: HTTP %d %s", where, e.HTTPStatus, e.Code)
	if e.Description != "" {
		msg += ": " + e.Description
	}
	if hint := e.hint(); hint != "" {
		msg += " (" + hint + ")"
	}
	return msg
}

// hint says what to do, for the people who read robot logs and the CLI.
func (e *Error) hint() string {
	switch {
	case e.IsCode(ErrCodeQueryLimitExceeded):
		return "portal rate limit; retry later"
	case e.IsCode(ErrCodeOperationTimeLimit):
		if !e.ResetAt.IsZero() {
			return "method blocked until " + e.ResetAt.UTC().Format(time.RFC3339) + "; retry then"
		}
		return "method blocked by the operating-time limit; retry in a minute"
	case e.IsCode(ErrCodeOverloadLimit):
		return "portal blocked by Bitrix24 support; do not retry, contact support"
	case e.IsCode(ErrCodeExpiredToken), e.IsCode(ErrCodeInvalidToken):
		return "access token rejected; refresh it"
	case e.IsCode(ErrCodeInvalidGrant), e.IsCode(ErrCodeInvalidClient):
		return "reinstall the application on the portal to get new tokens"
	case e.IsCode(ErrCodeAccessDenied), e.IsCode(ErrCodeWrongAuthType):
		return "check the app's scopes, the user's rights and that an application token (not a webhook) is used"
	case e.IsCode(ErrCodeMethodNotFound):
		return "method unknown on this portal; check the module is enabled and the app scope"
	}
	return ""
}

// IsCode compares the code case-insensitively (reference §8.2: codes come in mixed case).
func (e *Error) IsCode(code string) bool { return strings.EqualFold(e.Code, code) }

// Is makes errors.Is(err, &Error{Code: ErrCodeExpiredToken}) match by code alone.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	return t.Code != "" && e.IsCode(t.Code)
}

// Retryable reports whether the same call may succeed later without change: QUERY_LIMIT_EXCEEDED
// (not executed), OPERATION_TIME_LIMIT (blocked for a while), and 5xx except OVERLOAD_LIMIT (manual
// block) and PORTAL_DELETED. Callers must still not blindly repeat non-idempotent writes after an
// ambiguous 5xx (reference §8.1).
func (e *Error) Retryable() bool {
	switch {
	case e.IsCode(ErrCodeQueryLimitExceeded), e.IsCode(ErrCodeOperationTimeLimit):
		return true
	case e.IsCode(ErrCodeOverloadLimit), e.IsCode(ErrCodePortalDeleted):
		return false
	}
	return e.HTTPStatus >= 500
}

// IsCode reports whether err wraps a *Error with the given code (case-insensitive).
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.IsCode(code)
}
