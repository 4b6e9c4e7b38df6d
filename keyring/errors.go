package keyring

import "errors"

var (
	// ErrInvalidURI means a string is not a PKCS#11 URI Signet can use (RFC 7512).
	ErrInvalidURI = errors.New("invalid PKCS#11 URI")
	// ErrPINInURI means a PKCS#11 URI carried a pin-value, which Signet never accepts (pin.go). It
	// comes wrapped together with ErrInvalidURI.
	ErrPINInURI = errors.New("a PIN in a PKCS#11 URI (pin-value) is not accepted")
	// ErrInvalidConfig means a TokenConfig is incomplete or contradictory.
	ErrInvalidConfig = errors.New("invalid token configuration")
	// ErrUnknownToken means no configured token has the name a URI or a call asked for.
	ErrUnknownToken = errors.New("unknown token")
	// ErrTokenNotFound means the module shows no token with the configured label, serial or slot.
	ErrTokenNotFound = errors.New("token not found in PKCS#11 module")
	// ErrPINIncorrect means the token rejected the PIN. Signet never retries it by itself.
	ErrPINIncorrect = errors.New("PIN rejected by token")
	// ErrPINLocked means the token locked its user PIN; an officer must unlock it.
	ErrPINLocked = errors.New("token PIN locked")
	// ErrTokenOffline means the token is configured but not usable right now (device removed, session
	// lost, reconnect in progress). Callers treat it as retry-later.
	ErrTokenOffline = errors.New("token offline")
	// ErrTokenBusy means every session of the token stayed in use for PoolWaitTimeout. Retry-later.
	ErrTokenBusy = errors.New("all sessions of the token are busy")
	// ErrKeyNotFound means no private key on the token matches the URI's id/object.
	ErrKeyNotFound = errors.New("key not found on token")
	// ErrCertificateNotFound means the key exists but no certificate with its CKA_ID or label does.
	ErrCertificateNotFound = errors.New("certificate not found on token")
	// ErrExists means generating would overwrite an existing key or certificate with the same label.
	ErrExists = errors.New("object already exists on token")
	// ErrExpired means the certificate's notAfter is in the past.
	ErrExpired = errors.New("certificate expired")
	// ErrNotYetValid means the certificate's notBefore is in the future.
	ErrNotYetValid = errors.New("certificate not yet valid")
	// ErrCertificateMismatch means a certificate's public key is not the key it is imported for.
	ErrCertificateMismatch = errors.New("certificate does not match key")
	// ErrClosed means the Keyring was closed.
	ErrClosed = errors.New("keyring closed")
)
