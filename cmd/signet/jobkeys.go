package main

import (
	"errors"
	"os"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/internal/jobkey"
)

// openJobKeys loads the keys of the job authorisation (docs/security/nats.md): an intake signs
// with security.job_signing_key_file, made on first run with its public key added to
// security.job_verify_keys_file; a worker reads only the public keys. A worker-only process never
// creates a key: it would trust a key no intake holds.
func (a *app) openJobKeys(r role) error {
	sec := a.cfg.Security
	if r.intake {
		s, err := jobkey.LoadSigner(sec.JobSigningKeyFile, sec.JobTTL)
		if errors.Is(err, os.ErrNotExist) {
			// First run: the key is made, and its public key added to the verification file.
			if s, err = jobkey.LoadOrCreateSigner(sec.JobSigningKeyFile, sec.JobVerifyKeysFile, sec.JobTTL); err == nil {
				a.log.Info("job signing key created; give every worker its public key (security.job_verify_keys_file)",
					zap.String("key_id", s.KeyID()), zap.String("public_keys", sec.JobVerifyKeysFile))
			}
		}
		if err != nil {
			return err
		}
		a.jobKey = s
	}
	if r.worker {
		k, err := jobkey.LoadVerifier(sec.JobVerifyKeysFile)
		if err != nil {
			return wrapf(err, "cli.serve.jobVerifyKeys", "%[1]v; copy the intake's job-verify.pem here (the public keys only, never the signing key)", err)
		}
		a.jobKeys = k
		a.log.Info("job verification keys loaded", zap.Strings("key_ids", k.IDs()))
	}
	return nil
}
