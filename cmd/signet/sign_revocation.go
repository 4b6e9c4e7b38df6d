package main

// `signet sign` refuses a revoked or expired certificate before the key signs, as the workers do
// (issue 17 must 3). The check itself is keyring's Credential.CheckUsable, the one the workers
// call; this file only finds what it reads outside a server: the internal CA's list in the
// server's NATS when that is reachable, and with --check-revocation the certificate's own OCSP
// responder or CRL (docs/keys.md, "Signing on the command line").

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"time"

	"github.com/signet-b24/signet/internal/config"
	"github.com/signet-b24/signet/keyring"
	"github.com/signet-b24/signet/pades"
	"github.com/signet-b24/signet/producer/identity"
)

// checkUsable refuses cred when it may not sign now. The internal CA's list is read from NATS when
// it is reachable; when it is not, signing goes on with a note (offline signing on a laptop must
// work), unless online asks the certificate's own OCSP responder or CRL, which must then answer.
func checkUsable(ctx context.Context, cfg *config.Config, cred *keyring.Credential, online bool, stderr io.Writer) error {
	cert := cred.Certificate
	selfSigned := bytes.Equal(cert.RawIssuer, cert.RawSubject)
	var src keyring.RevocationSource
	if !selfSigned {
		nc, js, err := dialNATS(cfg)
		if err == nil {
			defer nc.Close()
			var p *identity.CredentialPolicy
			if p, err = identity.LookupCredentialPolicy(ctx, js); err == nil {
				src = p
			}
		}
		if err != nil && !online {
			fmt.Fprintln(stderr, tr("cli.sign.revocationListUnread", "note: the internal CA's list of revoked certificates was not read (%[1]v); give --check-revocation to ask the certificate's OCSP responder or CRL instead", err))
		}
	}
	if err := cred.CheckUsable(ctx, time.Now(), src); err != nil {
		return err
	}
	if online && !selfSigned {
		return checkOnline(ctx, cred)
	}
	return nil
}

// checkOnline asks the certificate's OCSP responders, then its CRL distribution points, through
// pades.CheckCertificate (the fetcher B-LT uses: bounded, http and https only). No answer refuses:
// --check-revocation was asked for because the status matters.
func checkOnline(ctx context.Context, cred *keyring.Credential) error {
	cert := cred.Certificate
	var issuer *x509.Certificate
	for _, c := range cred.Chain {
		if cert.CheckSignatureFrom(c) == nil {
			issuer = c
			break
		}
	}
	if issuer == nil {
		return errorf("cli.sign.noIssuer", "--check-revocation: the certificate of the issuer of %[1]q is not stored with the key; import it (signet admin cert import --chain) or give the chain with --cert", cert.Subject.String())
	}
	st, err := pades.CheckCertificate(ctx, &pades.RevocationFetcher{}, cert, issuer, time.Now())
	if err != nil {
		return wrapf(err, "cli.sign.revocationUnknown", "--check-revocation: the revocation status of %[1]q (serial %[2]s) could not be learnt (%[3]v); nothing was signed; try again when they answer, or sign without --check-revocation",
			cert.Subject.String(), cert.SerialNumber.Text(16), err)
	}
	by := tr("cli.sign.byCRL", "its CRL")
	if st.OCSP {
		by = tr("cli.sign.byOCSP", "its OCSP responder")
	}
	switch st.Status {
	case pades.RevocationGood:
		return nil
	case pades.RevocationRevoked:
		return wrapf(keyring.ErrRevoked, "cli.sign.revoked", "%[1]v: the certificate %[2]q (serial %[3]s) was revoked on %[4]s (%[5]s says so); nothing was signed; use another certificate",
			keyring.ErrRevoked, cert.Subject.String(), cert.SerialNumber.Text(16), st.RevokedAt.UTC().Format("2006-01-02 15:04 MST"), by)
	}
	return errorf("cli.sign.unknownSerial", "the OCSP responder of %[1]q's CA does not know its serial %[2]s (unknown): the certificate was not issued by that CA as far as it knows; do not sign with it", cert.Subject.String(), cert.SerialNumber.Text(16))
}
