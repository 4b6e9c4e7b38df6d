// Package keyring holds Signet's signing keys: it opens one long-lived crypto11 (PKCS#11) context per
// configured token, names keys by RFC 7512 PKCS#11 URIs, resolves a URI to a crypto.Signer plus its
// certificate and chain, counts sessions in use, and takes a token offline and reconnects it when the
// device or its sessions go away. It also makes the internal certificates an administrator asks for
// (self-signed, internal CA, issued by that CA), always with sign-only, non-extractable keys.
//
// It must never log, return in an error, or put into a URI's String a PIN; never let the failure of one
// token (wrong label, wrong PIN, device error) finalize the PKCS#11 module under the tokens that work;
// and never retry a login with a PIN the token has already rejected (that locks real tokens).
package keyring
