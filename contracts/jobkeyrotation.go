package contracts

import (
	"crypto/ed25519"
	"time"
)

// A job-key rotation (`signet admin keys rotate`, issue 21 must 4) needs no file copied to the
// workers: the new public key is endorsed by the signing key it replaces, and a worker that meets a
// job signed by a key it does not know yet trusts it when the endorsement verifies with a key it
// already trusts (JobKeys.Fetch). The root of trust stays security.job_verify_keys_file: whoever can
// write to NATS but holds no trusted signing key can endorse nothing.

// JobKeyRotationContext separates the endorsement's signature from every other Ed25519 signature.
const JobKeyRotationContext = "signet-job-key-rotation/v1"

// JobKeyEndorsement says that the holder of key By vouches for Public from Created on.
type JobKeyEndorsement struct {
	Public  ed25519.PublicKey `json:"public"`
	By      string            `json:"by"` // JobKeyID of the endorsing key
	Created time.Time         `json:"created"`
	Sig     []byte            `json:"sig"`
}

// message is what the endorsing key signs.
func (e *JobKeyEndorsement) message() []byte {
	b := []byte(JobKeyRotationContext + "\x00")
	b = append(b, e.Public...)
	b = append(b, 0)
	b = append(b, e.By...)
	b = append(b, 0)
	return append(b, e.Created.UTC().Format(time.RFC3339)...)
}

// Endorse has s vouch for next: the endorsement a worker trusting s's key accepts.
func (s *JobSigner) Endorse(next ed25519.PublicKey, now time.Time) *JobKeyEndorsement {
	k := s.cur.Load()
	e := &JobKeyEndorsement{Public: next, By: k.kid, Created: now.UTC().Truncate(time.Second)}
	e.Sig = ed25519.Sign(k.key, e.message())
	return e
}

// Valid says whether by (the key e.By names) signed e.
func (e *JobKeyEndorsement) Valid(by ed25519.PublicKey) bool {
	return len(e.Public) == ed25519.PublicKeySize && len(e.Sig) == ed25519.SignatureSize &&
		JobKeyID(by) == e.By && ed25519.Verify(by, e.message(), e.Sig)
}
