package web

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/keyring"
)

// revocationState says whether the CA that issued c can revoke it, and whether it has.
func revocationState(c *keyring.Credential, revoked []contracts.Revocation) (revocable, isRevoked bool) {
	cert := c.Certificate
	if cert == nil || cert.IsCA || len(cert.AuthorityKeyId) == 0 || bytes.Equal(cert.RawIssuer, cert.RawSubject) {
		return false, false
	}
	serial, issuer := contracts.NormalSerial(cert.SerialNumber.Text(16)), hex.EncodeToString(cert.AuthorityKeyId)
	for _, r := range revoked {
		if r.Matches(serial, issuer) {
			return true, true
		}
	}
	return true, false
}

// revokeCredential is the control panel's `signet admin ca revoke URI --reason R` (issue 17 must
// 3): an administrator who may manage the credential (as for disabling it) revokes its certificate;
// the CA's CRL and OCSP responder report it and workers stop signing with it. The identity service
// audits it with the administrator's name.
func (p *Pages) revokeCredential(w http.ResponseWriter, r *http.Request, s *session, fail func(int, error)) {
	ctx, uri := r.Context(), r.PostFormValue("credential")
	if ok, err := p.mayCredential(ctx, s, uri); !ok || err != nil {
		fail(http.StatusNotFound, errNoCredential(uri))
		return
	}
	reason, err := keyring.ParseReason(r.PostFormValue("reason"))
	if err != nil {
		fail(http.StatusUnprocessableEntity, err)
		return
	}
	rev, err := p.cfg.Keys.Revocation(ctx, uri, reason)
	if err == nil {
		err = p.cfg.Identity.RevokeCertificate(ctx, rev, "control panel, "+s.Login)
	}
	if err != nil {
		status := http.StatusUnprocessableEntity
		if errors.Is(err, keyring.ErrTokenOffline) || errors.Is(err, keyring.ErrTokenBusy) {
			status = http.StatusServiceUnavailable
		}
		fail(status, fmt.Errorf("revoking %s: %w", uri, err))
		return
	}
	http.Redirect(w, r, "/admin/credentials?ok=cert-revoked", http.StatusSeeOther)
}
