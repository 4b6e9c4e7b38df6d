package worker

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"fmt"

	"github.com/signet-b24/signet/contracts"
)

// RevocationLister lists the certificates the internal CA revoked (identity.CredentialPolicy reads
// them from NATS KV).
type RevocationLister interface {
	Revocations(ctx context.Context) ([]contracts.Revocation, error)
}

// notRevoked refuses, before the key is touched (issue 17 must 3: "refused before C_Sign"), a job
// whose certificate the administrator revoked: a signature made with it would be reported revoked by
// every verifier that asks the CA's OCSP responder or reads its CRL. Retrying cannot help, so the
// error is permanent; it tells the administrator what to do.
func (s *Signer) notRevoked(ctx context.Context, job *contracts.SignJob, cert *x509.Certificate) error {
	if s.Revocations == nil || cert == nil {
		return nil
	}
	list, err := s.Revocations.Revocations(ctx)
	if err != nil {
		return fmt.Errorf("job %s: reading the revoked certificates: %w", job.ID, err)
	}
	serial := contracts.NormalSerial(cert.SerialNumber.Text(16))
	issuer := hex.EncodeToString(cert.AuthorityKeyId)
	for _, r := range list {
		if r.Matches(serial, issuer) {
			return Permanentf("the certificate of credential %s (serial %s) was revoked on %s; issue a new one (signet admin ca issue) and map it to %s",
				job.Credential, serial, r.RevokedAt.UTC().Format("2006-01-02 15:04 MST"), job.Signer.Login)
		}
	}
	return nil
}
