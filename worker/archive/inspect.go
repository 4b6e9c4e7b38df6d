package archive

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/signet-b24/signet/pades"
)

// Protection is what keeps a document verifiable, and until when: the certificate of its last
// timestamp's TSA (a document timestamp, or the signature timestamp of B-T) or, with no timestamp
// at all, its signers' certificates.
type Protection struct {
	// Timestamp is the time of the last timestamp; zero when the document has none.
	Timestamp time.Time
	// Expires is when the protecting certificate expires; after it the last timestamp proves
	// nothing more unless a newer one covers it (ETSI EN 319 102-1 §5.6.2.5).
	Expires time.Time
	// What names that certificate, for people.
	What string
	// Weak lists the weakened algorithms of that certificate (SHA-1, MD5, RSA below 2048 bits).
	Weak []string
}

// Inspector reads what protects a PDF.
type Inspector func(ctx context.Context, pdf []byte) (Protection, error)

// minRSABits is the smallest RSA key still accepted for long-term protection: ETSI TS 119 312 and
// SOG-IS treat RSA below 2048 bits as broken for new signatures and timestamps alike.
const minRSABits = 2048

// PadesInspector inspects with Signet's verifier (pades.Verify); roots are the trust anchors the
// verifier is given (nil: the system roots). Only certificates are read, so an untrusted TSA still
// counts: whether to trust it is the verifier's question, when it expires is the archive's.
func PadesInspector(roots *x509.CertPool) Inspector {
	return func(ctx context.Context, pdf []byte) (Protection, error) {
		f, err := os.CreateTemp("", "signet-archive-*.pdf")
		if err != nil {
			return Protection{}, err
		}
		defer os.Remove(f.Name())
		_, err = f.Write(pdf)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return Protection{}, err
		}
		infos, err := pades.VerifyContext(ctx, f.Name(), roots)
		if err != nil {
			return Protection{}, err
		}
		return protection(infos)
	}
}

// protection picks the last timestamp of infos, or else the signers' earliest expiry.
func protection(infos []pades.SignatureInfo) (Protection, error) {
	var p Protection
	var last *x509.Certificate
	for _, i := range infos {
		if i.TSACertificate == nil {
			continue
		}
		t := i.TimestampTime
		if t.IsZero() {
			t = i.SigningTime
		}
		if last == nil || !t.Before(p.Timestamp) {
			p.Timestamp, last = t, i.TSACertificate
		}
	}
	if last != nil {
		p.Expires, p.What, p.Weak = last.NotAfter, "TSA certificate "+last.Subject.String(), weakness(last)
		return p, nil
	}
	for _, i := range infos {
		c := i.Certificate
		if c == nil {
			continue
		}
		if p.What == "" || c.NotAfter.Before(p.Expires) {
			p.Expires, p.What = c.NotAfter, "signer certificate "+c.Subject.String()+" (no timestamp)"
		}
		p.Weak = append(p.Weak, weakness(c)...)
	}
	if p.What == "" {
		return p, errors.New("no signature with a certificate: nothing to keep valid")
	}
	return p, nil
}

// weakness lists what is weak about c's own signature and key.
func weakness(c *x509.Certificate) []string {
	var w []string
	switch c.SignatureAlgorithm {
	case x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.DSAWithSHA1:
		w = append(w, "SHA-1 in the signature of "+c.Subject.String())
	case x509.MD5WithRSA, x509.MD2WithRSA:
		w = append(w, "MD5 in the signature of "+c.Subject.String())
	}
	if k, ok := c.PublicKey.(*rsa.PublicKey); ok && k.N.BitLen() < minRSABits {
		w = append(w, fmt.Sprintf("RSA-%d key of %s", k.N.BitLen(), c.Subject.String()))
	}
	return w
}
