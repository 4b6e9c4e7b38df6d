package keyring

// The register of issued certificates (issue 17 must 3). Without it the OCSP responder could only
// say "good" for any serial of a known CA, so a forged certificate with a made-up serial under a
// stolen CA name would look good too; RFC 6960 §2.2 has "unknown" for exactly that. A certificate
// counts as issued when it is in the register (NATS KV, written here when the CA issues) or when it
// is on one of the Signet's tokens: that second rule covers every certificate issued before the
// register existed, without a migration (docs/keys.md, "The register of issued certificates").

import (
	"context"
	"encoding/hex"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
)

// IssuedRecorder writes the register (identity.CredentialPolicy, in the credentials bucket).
type IssuedRecorder interface {
	RecordIssued(ctx context.Context, c contracts.IssuedCertificate) error
}

// IssuedLookup reads the register.
type IssuedLookup interface {
	Issued(ctx context.Context, issuer, serial string) (bool, error)
}

// SetIssuedRegister makes Issue record every certificate it issues in r. Only a process that may
// write the credentials bucket sets it (the intake, `signet admin ca issue`).
func (k *Keyring) SetIssuedRegister(r IssuedRecorder) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.register = r
}

// recordIssued writes the register entry of c, issued by ca. A failure does not undo the
// certificate (it is on the token, where the responder finds it anyway): it is logged with what to do.
func (k *Keyring) recordIssued(ctx context.Context, c *Credential, ca *Credential) {
	k.mu.Lock()
	r := k.register
	k.mu.Unlock()
	if r == nil {
		return
	}
	e := IssuedEntry(c.Certificate.SerialNumber.Text(16), ca.Certificate.SubjectKeyId, c.Certificate.Subject.String(), c.Certificate.NotAfter)
	if err := r.RecordIssued(ctx, e); err != nil {
		k.log.Warn("the certificate was issued but not recorded in the register of issued certificates; the OCSP responder answers for it while it stays on a token of this Signet",
			zap.String("credential", c.URI), zap.String("serial", e.Serial), zap.Error(err))
	}
}

// IssuedEntry is the register entry of a certificate with this serial (hex), issued by the CA with
// this subject key identifier.
func IssuedEntry(serialHex string, caKeyID []byte, subject string, notAfter time.Time) contracts.IssuedCertificate {
	return contracts.IssuedCertificate{Serial: contracts.NormalSerial(serialHex), Issuer: hex.EncodeToString(caKeyID),
		Subject: subject, NotAfter: notAfter.UTC(), IssuedAt: time.Now().UTC()}
}
