package main

import (
	"context"
	"fmt"
	"io"

	"github.com/signet-b24/signet/internal/config"
	"github.com/signet-b24/signet/keyring"
	"github.com/signet-b24/signet/producer/identity"
)

// registerIssued records a certificate `signet admin ca issue` made in the register of issued
// certificates (keyring/register.go), in the NATS of the running Signet. Without NATS the
// certificate is still made: the responder counts it as issued while it is on one of the server's
// tokens, and the warning says so.
func registerIssued(ctx context.Context, cfg *config.Config, c *keyring.Credential, stderr io.Writer) {
	e := keyring.IssuedEntry(c.Certificate.SerialNumber.Text(16), c.Certificate.AuthorityKeyId, c.Certificate.Subject.String(), c.Certificate.NotAfter)
	err := func() error {
		nc, js, err := dialNATS(cfg)
		if err != nil {
			return err
		}
		defer nc.Close()
		p, err := identity.LookupCredentialPolicy(ctx, js)
		if err != nil {
			return err
		}
		return p.RecordIssued(ctx, e)
	}()
	if err != nil {
		fmt.Fprintf(stderr, "warning: serial %s is not in the register of issued certificates (%v): Signet's OCSP responder answers \"good\" for it only while it is on one of the server's tokens, and \"unknown\" otherwise; issue where the server's NATS is reachable (nats.url) to record it\n", e.Serial, err)
	}
}
