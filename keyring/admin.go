package keyring

import (
	"context"
	"crypto/x509"

	"github.com/signet-b24/signet/contracts"
)

// Admin is what administration (the control panel, the admin API) does with the tokens: the
// Keyring of this process, or, in an intake apart from the workers, the workers' tokens reached
// through NATS (keyring/keyadmin; issue 21 must 4). Credentials it returns for display carry no Key
// when they come from another process.
type Admin interface {
	Status() []TokenStatus
	List(ctx context.Context, tokenName string) ([]*Credential, error)
	Credential(ctx context.Context, uri string) (*Credential, error)
	GenerateSelfSigned(ctx context.Context, token, label, subject string, kt KeyType, days int) (*Credential, error)
	InitCA(ctx context.Context, token, label, subject string, kt KeyType, days int) (*Credential, error)
	Issue(ctx context.Context, caURI, token, label, subject string, kt KeyType, days int) (*Credential, error)
	ImportCertificate(ctx context.Context, uri string, cert *x509.Certificate, chain []*x509.Certificate) error
	Revocation(ctx context.Context, serialOrURI string, reason int) (contracts.Revocation, error)
}

var _ Admin = (*Keyring)(nil)

type actorKey struct{}

// WithActor names, in ctx, the administrator on whose behalf a key operation runs ("alice (local
// administrator)", "admin API token"), so that a worker doing it for an intake records who asked.
func WithActor(ctx context.Context, who string) context.Context {
	return context.WithValue(ctx, actorKey{}, who)
}

// Actor is the administrator named by WithActor, "" when none.
func Actor(ctx context.Context) string {
	s, _ := ctx.Value(actorKey{}).(string)
	return s
}
