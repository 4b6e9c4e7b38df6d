package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
)

// The register of the certificates the internal CA issued (issue 17 must 3), one key per certificate
// (contracts.IssuedKey) in the credentials bucket beside the revoked list. The OCSP responder reads
// it to answer "unknown" for a serial the CA never issued (RFC 6960 §2.2); the keyring writes it
// when it issues (keyring.SetIssuedRegister). Only processes that may write the bucket (the intake,
// `signet admin`) record; workers only read.

// RecordIssued adds c to the register.
func (p *CredentialPolicy) RecordIssued(ctx context.Context, c contracts.IssuedCertificate) error {
	c.Serial = contracts.NormalSerial(c.Serial)
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if _, err := p.kv.Put(ctx, contracts.IssuedKey(c.Issuer, c.Serial), b); err != nil {
		return fmt.Errorf("recording the issued certificate %s in %s: %w", c.Serial, BucketCredentials, err)
	}
	return nil
}

// Issued reports whether the CA with key id issuer issued serial (both lowercase hex, the serial in
// contracts.NormalSerial form), by the register.
func (p *CredentialPolicy) Issued(ctx context.Context, issuer, serial string) (bool, error) {
	_, err := p.kv.Get(ctx, contracts.IssuedKey(issuer, contracts.NormalSerial(serial)))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading the register of issued certificates: %w", err)
	}
	return true, nil
}
