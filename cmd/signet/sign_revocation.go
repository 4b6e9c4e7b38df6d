package main

// `signet sign` refuses a revoked or expired certificate before the key signs, as the workers do
// (issue 17 must 3). The check itself is keyring's Credential.CheckUsable, the one the workers
// call; this file only finds what it reads outside a server: the internal CA's list in the
// server's NATS when that is reachable, and with --check-revocation the certificate's own OCSP
// responder or CRL (docs/keys.md, "Signing on the command line").

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/signet-b24/signet/internal/config"
	"github.com/signet-b24/signet/keyring"
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

// revocationTimeout bounds each question to an OCSP responder or CRL server; revocationMaxBytes
// the answer (a CRL of a large public CA is a few MB).
const (
	revocationTimeout  = 10 * time.Second
	revocationMaxBytes = 16 << 20
)

// checkOnline asks the OCSP responders the certificate names (RFC 5280 §4.2.2.1, RFC 6960 §A.1),
// then its CRL distribution points (§4.2.1.13); the first answer signed by the issuer decides. No
// answer refuses: --check-revocation was asked for because the status matters.
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
	client := &http.Client{Timeout: revocationTimeout, CheckRedirect: func(r *http.Request, via []*http.Request) error {
		if len(via) >= 3 || (r.URL.Scheme != "http" && r.URL.Scheme != "https") {
			return errors.New("redirect refused (at most 3, to http or https only)")
		}
		return nil
	}}
	var tried []string
	for _, u := range cert.OCSPServer {
		st, err := askOCSP(ctx, client, u, cert, issuer)
		if err == nil {
			return st
		}
		tried = append(tried, fmt.Sprintf("OCSP %s: %v", u, err))
	}
	for _, u := range cert.CRLDistributionPoints {
		st, err := readCRL(ctx, client, u, cert, issuer)
		if err == nil {
			return st
		}
		tried = append(tried, fmt.Sprintf("CRL %s: %v", u, err))
	}
	if len(tried) == 0 {
		tried = append(tried, "the certificate names no OCSP responder and no CRL")
	}
	return errorf("cli.sign.revocationUnknown", "--check-revocation: the revocation status of %[1]q (serial %[2]s) could not be learnt (%[3]s); nothing was signed; try again when they answer, or sign without --check-revocation",
		cert.Subject.String(), cert.SerialNumber.Text(16), strings.Join(tried, "; "))
}

func httpOnly(u string) error {
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		return errors.New("not an http or https address; skipped")
	}
	return nil
}

func revocationGet(client *http.Client, req *http.Request) ([]byte, error) {
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, revocationMaxBytes))
}

// askOCSP returns the verdict of one responder: nil for good, an ErrRevoked error for revoked, an
// error for unknown; the second error is for no usable answer.
func askOCSP(ctx context.Context, client *http.Client, u string, cert, issuer *x509.Certificate) (verdict, _ error) {
	if err := httpOnly(u); err != nil {
		return nil, err
	}
	der, err := ocsp.CreateRequest(cert, issuer, &ocsp.RequestOptions{Hash: crypto.SHA256})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(der))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/ocsp-request")
	body, err := revocationGet(client, req)
	if err != nil {
		return nil, err
	}
	// ParseResponseForCert checks the signature: by the issuer, or a responder it delegated to.
	r, err := ocsp.ParseResponseForCert(body, cert, issuer)
	if err != nil {
		return nil, err
	}
	if !r.NextUpdate.IsZero() && time.Now().After(r.NextUpdate) {
		return nil, fmt.Errorf("the answer is stale (next update %s)", r.NextUpdate.UTC().Format(time.RFC3339))
	}
	switch r.Status {
	case ocsp.Good:
		return nil, nil
	case ocsp.Revoked:
		return revokedOnline(cert, r.RevokedAt, "its OCSP responder"), nil
	}
	return fmt.Errorf("the OCSP responder of %q's CA does not know its serial %s (unknown): the certificate was not issued by that CA as far as it knows; do not sign with it", cert.Subject, cert.SerialNumber.Text(16)), nil
}

// readCRL returns the verdict of one CRL, checked against the issuer and its next update.
func readCRL(ctx context.Context, client *http.Client, u string, cert, issuer *x509.Certificate) (verdict, _ error) {
	if err := httpOnly(u); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	body, err := revocationGet(client, req)
	if err != nil {
		return nil, err
	}
	crl, err := x509.ParseRevocationList(body)
	if err != nil {
		return nil, err
	}
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		return nil, fmt.Errorf("not signed by the issuer: %w", err)
	}
	if !crl.NextUpdate.IsZero() && time.Now().After(crl.NextUpdate) {
		return nil, fmt.Errorf("the CRL is stale (next update %s)", crl.NextUpdate.UTC().Format(time.RFC3339))
	}
	for _, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber.Cmp(cert.SerialNumber) == 0 {
			return revokedOnline(cert, e.RevocationTime, "its CRL"), nil
		}
	}
	return nil, nil
}

// verdict is nil when the certificate may sign, else the refusal.
type verdict = error

func revokedOnline(cert *x509.Certificate, at time.Time, by string) error {
	return wrapf(keyring.ErrRevoked, "cli.sign.revoked", "%[1]v: the certificate %[2]q (serial %[3]s) was revoked on %[4]s (%[5]s says so); nothing was signed; use another certificate",
		keyring.ErrRevoked, cert.Subject.String(), cert.SerialNumber.Text(16), at.UTC().Format("2006-01-02 15:04 MST"), by)
}
