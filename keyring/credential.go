package keyring

import (
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"time"
)

// Credential is a signing key on a token with its certificate and the chain certificates stored
// on the same token.
type Credential struct {
	URI         string // canonical, no PIN
	Token       string
	Label       string
	ID          []byte
	Key         crypto.Signer // safe for concurrent use
	Certificate *x509.Certificate
	Chain       []*x509.Certificate
}

// CheckValid reports whether the certificate is inside its validity period at now (RFC 5280
// §4.1.2.5). The error names the certificate and says what to do.
func (c *Credential) CheckValid(now time.Time) error {
	cert := c.Certificate
	if cert == nil {
		return fmt.Errorf("%w: credential %s has no certificate", ErrCertificateNotFound, c.URI)
	}
	switch {
	case now.After(cert.NotAfter):
		return fmt.Errorf("%w: certificate %q (serial %s) of %s expired on %s; issue or import a new certificate",
			ErrExpired, cert.Subject.String(), hex.EncodeToString(cert.SerialNumber.Bytes()), c.URI,
			cert.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(cert.NotBefore):
		return fmt.Errorf("%w: certificate %q (serial %s) of %s is valid only from %s; check the clock or wait",
			ErrNotYetValid, cert.Subject.String(), hex.EncodeToString(cert.SerialNumber.Bytes()), c.URI,
			cert.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}
