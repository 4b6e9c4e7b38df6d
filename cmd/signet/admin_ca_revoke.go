package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/config"
	"github.com/signet-b24/signet/keyring"
)

// runAdminCARevoke is `signet admin ca revoke SERIAL|URI [--reason R]` (issue 17 must 3): the
// revocation goes into NATS KV and the audit trail; the CRL and the OCSP responder of the running
// Signet report it at once, and the workers refuse to sign with the certificate. A key URI is read
// from its token (its serial and its CA's key id); a serial needs no token.
func runAdminCARevoke(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	configFile := fs.String("config", os.Getenv("SIGNET_CONFIG"), "YAML configuration file")
	reasonName := fs.String("reason", "unspecified", "why (RFC 5280 CRLReason): "+keyring.ReasonNames)
	pinFile := fs.String("pin-file", "", "file holding the PIN of the token a key URI names (instead of the configuration's)")
	pos, err := parseArgs(fs, args, 1)
	if err != nil {
		return err
	}
	reason, err := keyring.ParseReason(*reasonName)
	if err != nil {
		return usageError{err}
	}
	var cfgArgs []string
	if *configFile != "" {
		cfgArgs = append(cfgArgs, "--config", *configFile)
	}
	cfg, _, err := config.Load("admin ca", cfgArgs, os.Getenv)
	if err != nil {
		return usageError{err}
	}
	target := pos[0]
	var rev contracts.Revocation
	if strings.HasPrefix(target, "pkcs11:") {
		if err := commandLineTokens(cfg, *pinFile, target); err != nil {
			return usageError{err}
		}
		log, err := newLogger(cfg.Log.Format, "warn", io.Discard)
		if err != nil {
			return usageError{err}
		}
		a := &app{cfg: cfg, log: log}
		k, err := a.openTokens(ctx)
		if err != nil {
			return err
		}
		defer k.Close()
		if rev, err = k.Revocation(ctx, target, reason); err != nil {
			return err
		}
	} else {
		if rev, err = keyring.SerialRevocation(target, reason); err != nil {
			return usageError{err}
		}
	}
	svc, closeFn, err := openIdentity(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeFn()
	if err := svc.RevokeCertificate(ctx, rev, "signet admin ca revoke (command line)"); err != nil {
		return err
	}
	fmt.Fprintln(stdout, tr("cli.ca.revoked", "revoked serial %[1]s (reason %[2]s); Signet's CRL and OCSP responder report it from now on, and no job signs with it", rev.Serial, *reasonName))
	return nil
}
