package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
)

// revokedKey holds the internal CA's revoked certificates, one JSON list in the credentials bucket
// (issue 17 must 3): the workers may read that bucket and not write it, as for disabled credentials.
const revokedKey = "revoked"

// ErrAlreadyRevoked is contracts.ErrAlreadyRevoked.
var ErrAlreadyRevoked = contracts.ErrAlreadyRevoked

type revokedList struct {
	Certificates []contracts.Revocation `json:"certificates"`
}

func readRevoked(ctx context.Context, kv jetstream.KeyValue) (revokedList, uint64, error) {
	var l revokedList
	e, err := kv.Get(ctx, revokedKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return l, 0, nil
	}
	if err != nil {
		return l, 0, fmt.Errorf("reading revoked certificates: %w", err)
	}
	return l, e.Revision(), json.Unmarshal(e.Value(), &l)
}

// Revocations lists the revoked certificates.
func (s *Service) Revocations(ctx context.Context) ([]contracts.Revocation, error) {
	l, _, err := readRevoked(ctx, s.creds)
	return l.Certificates, err
}

// Revocations lists the revoked certificates, for workers and the OCSP responder.
func (p *CredentialPolicy) Revocations(ctx context.Context) ([]contracts.Revocation, error) {
	l, _, err := readRevoked(ctx, p.kv)
	return l.Certificates, err
}

// RevokeCertificate adds r to the revoked certificates and records it in the audit trail. A
// revocation cannot be undone: issue a new certificate instead. by says who ("signet admin ca
// revoke (command line)", the admin API).
func (s *Service) RevokeCertificate(ctx context.Context, r contracts.Revocation, by string) error {
	r.Serial = contracts.NormalSerial(r.Serial)
	if r.RevokedAt.IsZero() {
		r.RevokedAt = s.now().UTC()
	}
	for range casRetries {
		l, rev, err := readRevoked(ctx, s.creds)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(l.Certificates, func(x contracts.Revocation) bool { return x.Matches(r.Serial, r.Issuer) }) {
			return fmt.Errorf("serial %s: %w", r.Serial, ErrAlreadyRevoked)
		}
		l.Certificates = append(l.Certificates, r)
		b, _ := json.Marshal(l)
		if rev == 0 {
			_, err = s.creds.Create(ctx, revokedKey, b)
		} else {
			_, err = s.creds.Update(ctx, revokedKey, b, rev)
		}
		if err == nil {
			s.log.Info("certificate revoked", zap.String("serial", r.Serial), zap.String("issuer", r.Issuer), zap.Int("reason", r.Reason))
			s.audit(ctx, contracts.AuditEvent{Action: contracts.AuditAdminChange, Outcome: contracts.AuditOK,
				Detail: fmt.Sprintf("certificate revoked: serial %s, issuer key %s, reason %d, subject %q (%s)", r.Serial, r.Issuer, r.Reason, r.Subject, by)})
			return nil
		}
		if !isConflict(err) && !errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("revoking serial %s: %w", r.Serial, err)
		}
	}
	return fmt.Errorf("revoking serial %s: %w; try again", r.Serial, ErrBusy)
}
