package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/keyring"
)

// RevocationLister lists the certificates the internal CA revoked (identity.CredentialPolicy reads
// them from NATS KV).
type RevocationLister interface {
	Revocations(ctx context.Context) ([]contracts.Revocation, error)
}

// usable refuses, before the key is touched (issue 17 must 3: "refused before C_Sign"), a job whose
// certificate expired or was revoked by the administrator: a signature made with it would be
// reported invalid or revoked by every verifier. The check is keyring's, the one `signet sign` makes
// too. Retrying cannot help, so those errors are permanent and say what to do; a revocation list
// that cannot be read is retried.
func (s *Signer) usable(ctx context.Context, job *contracts.SignJob, cred *keyring.Credential) error {
	var src keyring.RevocationSource
	if s.Revocations != nil {
		src = s.Revocations
	}
	err := cred.CheckUsable(ctx, s.now(), src)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, keyring.ErrRevoked):
		return Permanentf("credential %s: %w, and map it to %s", job.Credential, err, job.Signer.Login)
	case errors.Is(err, keyring.ErrExpired), errors.Is(err, keyring.ErrNotYetValid), errors.Is(err, keyring.ErrCertificateNotFound):
		return Permanent(err)
	}
	return fmt.Errorf("job %s: %w", job.ID, err)
}
