// Package revlist is the internal CA's list of revoked certificates in memory, for tests: it
// stands in for the NATS KV list (producer/identity/revocations.go is its store) wherever a
// keyring.RevocationSource, a worker's revocation check or the admin API's revoker is wanted.
package revlist

import (
	"context"
	"sync"
	"time"

	"github.com/signet-b24/signet/contracts"
)

// List is safe for concurrent use: the responder reads it while a test revokes.
type List struct {
	mu   sync.Mutex
	list []contracts.Revocation
}

// Revocations returns a copy of the list.
func (l *List) Revocations(context.Context) ([]contracts.Revocation, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]contracts.Revocation(nil), l.list...), nil
}

// RevokeCertificate adds r, revoked now, as identity.Service.RevokeCertificate does (without the
// audit trail).
func (l *List) RevokeCertificate(_ context.Context, r contracts.Revocation, _ string) error {
	r.RevokedAt = time.Now().UTC()
	l.Add(r)
	return nil
}

// Add adds r as it is (a test chooses the revocation time).
func (l *List) Add(r contracts.Revocation) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.list = append(l.list, r)
}

// Set replaces the list.
func (l *List) Set(rs ...contracts.Revocation) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.list = append([]contracts.Revocation(nil), rs...)
}
