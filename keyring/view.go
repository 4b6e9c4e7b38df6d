package keyring

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// CredentialView is a credential as the admin API shows it.
type CredentialView struct {
	URI       string    `json:"uri"`
	Token     string    `json:"token"`
	Label     string    `json:"label"`
	ID        string    `json:"id"`
	KeyType   string    `json:"key_type"`
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	Serial    string    `json:"serial"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	IsCA      bool      `json:"is_ca,omitempty"`
	// Status is valid, expiring (within 30 days), expired or not-yet-valid.
	Status   string `json:"status"`
	DaysLeft int    `json:"days_left"`
}

// expiringWithin is when the admin API starts calling a certificate "expiring".
const expiringWithin = 30 * 24 * time.Hour

// View describes a credential for the admin API and pages.
func View(c *Credential, now time.Time) CredentialView {
	cert := c.Certificate
	v := CredentialView{URI: c.URI, Token: c.Token, Label: c.Label, ID: hex.EncodeToString(c.ID), KeyType: KeyDescription(c),
		Subject: cert.Subject.String(), Issuer: cert.Issuer.String(), Serial: cert.SerialNumber.Text(16),
		NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, IsCA: cert.IsCA, DaysLeft: int(cert.NotAfter.Sub(now).Hours() / 24)}
	switch err := c.CheckValid(now); {
	case errors.Is(err, ErrExpired):
		v.Status = "expired"
	case errors.Is(err, ErrNotYetValid):
		v.Status = "not-yet-valid"
	case cert.NotAfter.Sub(now) < expiringWithin:
		v.Status = "expiring"
	default:
		v.Status = "valid"
	}
	return v
}

// KeyDescription names the key's algorithm and size, e.g. RSA-2048 or ECDSA P-256.
func KeyDescription(c *Credential) string {
	switch p := c.Key.Public().(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA-%d", p.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA " + p.Curve.Params().Name
	}
	return fmt.Sprintf("%T", c.Key.Public())
}

// ParsePEMCertificates returns the certificates of every CERTIFICATE block in data, in order; other
// blocks (keys, parameters) are skipped. A block that does not parse is an error.
func ParsePEMCertificates(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return out, nil
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
}
