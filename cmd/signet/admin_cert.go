package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/signet-b24/signet/internal/config"
	"github.com/signet-b24/signet/keyring"
	"github.com/signet-b24/signet/worker"
)

// adminCertUsage is the help of `signet admin cert` and `signet admin ca`; the defaults and the PIN
// rule are the keyring's (keyring/defaults.go and pin.go).
var adminCertUsage = `Usage: signet admin cert <action> [flags]

Actions:
  list [--token URI]        the credentials (keys with a certificate) on every token, or on one
  self-signed --token URI --label L --subject "CN=…,O=…" [--key-type p256|p384|rsa3072|rsa2048] [--days N]
                            generate a sign-only key on the token and store a self-signed
                            document-signing certificate under the same label and CKA_ID
  import --key URI --cert FILE [--chain FILE]
                            attach a certificate (PEM; a bundle carries its chain) to an existing key
  disable URI | enable URI  stop or allow signing with a credential (needs the server's NATS)
  assign URI --portal MEMBER_ID
                            make a credential one portal's: only that portal's administrators see and
                            map it in the control panel (--portal "" makes it Signet-wide again)

Internal CA (signet admin ca):
  init --token URI --label L --subject …      the CA's key stays on the token
  issue --ca CA-URI --token URI --label L --subject …
  export --ca CA-URI --out DIR                writes DIR/root.pem and DIR/root.der
  revoke SERIAL|URI [--reason R]              revoke a certificate the CA issued: its CRL and
                            OCSP responder say so at once and Signet no longer signs with it (needs
                            the server's NATS; R: an RFC 5280 reason such as keyCompromise or
                            superseded, default unspecified)

Defaults when --key-type and --days are left out: ` + keyring.DefaultsText() + `.

A token is named by an RFC 7512 URI (pkcs11:token=acme) or a configured token name. Tokens and PINs
come from the configuration (--config FILE or SIGNET_CONFIG; with no tokens configured, the demo SoftHSM
token under the data directory). A URI may also carry the module and the PIN file, so the commands work
on a token no configuration names:
  pkcs11:token=acme?module-path=/usr/lib/x.so&pin-source=file:/etc/acme.pin
or give the PIN file with --pin-file FILE (it also replaces a configured token's pin_file/pin_env).
A PIN itself is never accepted: not in a URI (pin-value), not as a flag.
`

func init() {
	adminCommands["cert"] = command{runAdminCert, "credentials on the PKCS#11 tokens (list|self-signed|import|disable|enable|assign)"}
	adminCommands["ca"] = command{runAdminCA, "the internal CA (init|issue|export|revoke)"}
}

// runAdminCA is `signet admin ca init|issue|export`, the internal CA's side of runAdminCert.
func runAdminCA(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	name, fs, err := actionFlags("admin ca", adminCertUsage, args, stdout, stderr)
	if fs == nil {
		return err
	}
	if name == "revoke" {
		return runAdminCARevoke(ctx, fs, args[1:], stdout)
	}
	action := map[string]string{"init": "init-ca", "issue": "issue", "export": "export-root"}[name]
	if action == "" {
		return usageError{errorf("cli.cert.unknownCAAction", "unknown CA action %[1]q; use init, issue, export or revoke", name)}
	}
	return runAdminCert(ctx, append([]string{action}, args[1:]...), stdout, stderr)
}

// commandLineTokens applies the keyring's PIN rule for command lines (keyring/pin.go, rule 3)
// to the configuration: a URI with module-path and a PIN file opens a token no configuration names,
// and a PIN file (pin-source or --pin-file) replaces a configured token's.
func commandLineTokens(cfg *config.Config, pinFile string, uris ...string) error {
	configured := make([]keyring.TokenConfig, len(cfg.Tokens))
	for i, t := range cfg.Tokens {
		configured[i] = keyring.TokenConfig{Name: t.Name, Module: t.Module, Label: t.Label, Serial: t.Serial,
			Slot: t.Slot, PinFile: t.PinFile, PinEnv: t.PinEnv, MaxSessions: t.MaxSessions, PoolWaitTimeout: t.PoolWaitTimeout,
			Concurrency: t.Concurrency, RatePerSec: t.RatePerSec}
	}
	tokens, err := keyring.CommandLineTokens(configured, uris, pinFile)
	if err != nil {
		return err
	}
	cfg.Tokens = make([]config.Token, len(tokens))
	for i, t := range tokens {
		cfg.Tokens[i] = config.Token{Name: t.Name, Module: t.Module, Label: t.Label, Serial: t.Serial,
			Slot: t.Slot, PinFile: t.PinFile, PinEnv: t.PinEnv, MaxSessions: t.MaxSessions, PoolWaitTimeout: t.PoolWaitTimeout,
			Concurrency: t.Concurrency, RatePerSec: t.RatePerSec}
	}
	return nil
}

// runAdminCert is `signet admin cert …`: the administrator's certificate tasks on the configured
// PKCS#11 tokens. args start after "cert".
func runAdminCert(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	action, fs, err := actionFlags("admin cert", adminCertUsage, args, stdout, stderr)
	if fs == nil {
		return err
	}
	configFile := fs.String("config", os.Getenv("SIGNET_CONFIG"), "YAML configuration file")
	token := fs.String("token", "", "token name (as configured) or label")
	asJSON := fs.Bool("json", false, "print JSON (list)")
	label := fs.String("label", "", "label (CKA_LABEL) of the new key and certificate, e.g. mary-2026")
	subject := fs.String("subject", "", `certificate subject, e.g. "CN=Иванова Мария,O=Acme,C=RU"`)
	keyType := fs.String("key-type", "", "p256, p384, rsa3072 or rsa2048 (default: "+keyring.DefaultsText()+")")
	days := fs.Int("days", 0, "validity in days (default: see --key-type)")
	pinFile := fs.String("pin-file", "", "file holding the PIN of the token the command names (instead of the configuration's)")
	caURI := fs.String("ca", "", "key URI of the issuing CA (issue)")
	keyURI := fs.String("key", "", "key URI, e.g. pkcs11:token=acme;object=mary-2026 (import, export-root)")
	certFile := fs.String("cert", "", "PEM file with the certificate to import")
	chainFile := fs.String("chain", "", "PEM file with the chain certificates to import (optional)")
	dir := fs.String("dir", "", "directory for root.pem and root.der (export-root)")
	fs.StringVar(dir, "out", "", "directory for root.pem and root.der (ca export)")
	export := fs.String("export", "", "also write root.pem and root.der to this directory (init-ca)")
	portal := fs.String("portal", "", "member_id of the portal the credential belongs to (assign)")
	positional, err := parseWithPositional(fs, args[1:])
	if err != nil {
		return usageError{err}
	}
	if positional != "" && action != "disable" && action != "enable" && action != "assign" {
		return usageError{fmt.Errorf("unexpected argument %q", positional)}
	}
	if action == "export-root" && *keyURI == "" {
		*keyURI = *caURI // `ca export --ca URI`
	}
	need := func(name, v string) error {
		if v == "" {
			return usageError{errorf("cli.cert.flagRequired", "--%[1]s is required for %[2]s", name, action)}
		}
		return nil
	}
	// An empty key type and zero days take the defaults of what is made (keyring/defaults.go).
	kt := keyring.KeyType(*keyType)
	switch action {
	case "list":
	case "self-signed", "init-ca":
		if err := errors.Join(need("token", *token), need("label", *label), need("subject", *subject)); err != nil {
			return err
		}
	case "issue":
		if err := errors.Join(need("ca", *caURI), need("token", *token), need("label", *label), need("subject", *subject)); err != nil {
			return err
		}
	case "import":
		if err := errors.Join(need("key", *keyURI), need("cert", *certFile)); err != nil {
			return err
		}
	case "export-root":
		if err := errors.Join(need("ca", *keyURI), need("out", *dir)); err != nil {
			return err
		}
	case "disable", "enable", "assign":
		if !strings.HasPrefix(positional, "pkcs11:") {
			return usageError{errorf("cli.cert.needsURI", "%[1]s needs the credential's URI, e.g. signet admin cert %[1]s 'pkcs11:token=acme;object=mary-2026'", action)}
		}
	default:
		fmt.Fprint(stderr, localUsage("admin cert", adminCertUsage))
		return usageError{errorf("cli.unknownAction", "unknown action %[1]q", action)}
	}
	if action == "self-signed" || action == "init-ca" || action == "issue" {
		if _, err := keyring.ParseSubject(*subject); err != nil {
			return usageError{err}
		}
		purpose := keyring.ForSigner
		if action == "init-ca" {
			purpose = keyring.ForCA
		}
		if _, _, err := purpose.Choose(kt, *days); err != nil {
			return usageError{err}
		}
	}

	var cfgArgs []string
	if *configFile != "" {
		cfgArgs = append(cfgArgs, "--config", *configFile)
	}
	cfg, _, err := config.Load("admin cert", cfgArgs, os.Getenv)
	if err != nil {
		return usageError{err}
	}
	if action == "disable" || action == "enable" || action == "assign" {
		svc, closeFn, err := openIdentity(ctx, cfg)
		if err != nil {
			return err
		}
		defer closeFn()
		if action == "assign" {
			if err := svc.AssignCredential(ctx, positional, *portal); err != nil {
				return err
			}
			to, shown := "Signet-wide", tr("cli.cert.signetWide", "Signet-wide")
			if *portal != "" {
				to, shown = "portal "+*portal, tr("cli.cert.portal", "portal %[1]s", *portal)
			}
			svc.RecordAdminChange(ctx, "", positional, "signet admin cert assign: "+to+" (command line)")
			fmt.Fprintln(stdout, tr("cli.cert.assigned", "assigned %[1]s to %[2]s", positional, shown))
			return nil
		}
		if err := svc.SetCredentialDisabled(ctx, positional, action == "disable"); err != nil {
			return err
		}
		svc.RecordAdminChange(ctx, "", positional, "signet admin cert "+action+" (command line)")
		fmt.Fprintln(stdout, tr("cli.cert."+action+"d", action+"d %[1]s", positional))
		return nil
	}
	if err := commandLineTokens(cfg, *pinFile, *token, *keyURI, *caURI); err != nil {
		return usageError{err}
	}
	log, err := newLogger(cfg.Log.Format, "warn", stderr)
	if err != nil {
		return usageError{err}
	}
	defer log.Sync()
	a := &app{cfg: cfg, log: log}
	k, err := a.openTokens(ctx)
	if err != nil {
		return err
	}
	defer k.Close()

	switch action {
	case "list":
		creds, err := k.List(ctx, *token)
		if err != nil {
			return err
		}
		if *asJSON {
			return certWriteJSON(stdout, creds, k.Status())
		}
		certPrintList(stdout, creds, k.Status())
		return nil
	case "self-signed":
		c, err := k.GenerateSelfSigned(ctx, *token, *label, *subject, kt, *days)
		if err != nil {
			return err
		}
		certPrint(stdout, tr("cli.cert.created", "created"), c)
	case "init-ca":
		c, err := k.InitCA(ctx, *token, *label, *subject, kt, *days)
		if err != nil {
			return err
		}
		certPrint(stdout, tr("cli.cert.createdCA", "created CA"), c)
		if *export != "" {
			if err := keyring.ExportRoot(c, *export); err != nil {
				return err
			}
			fmt.Fprintln(stdout, tr("cli.cert.rootWritten", "root certificate written to %[1]s/root.pem and %[1]s/root.der", *export))
		}
	case "issue":
		c, err := k.Issue(ctx, *caURI, *token, *label, *subject, kt, *days)
		if err != nil {
			return err
		}
		certPrint(stdout, tr("cli.cert.issued", "issued"), c)
		registerIssued(ctx, cfg, c, stderr)
		warnLoopbackRevocation(stderr, cfg)
	case "import":
		certs, err := certReadPEM(*certFile)
		if err != nil {
			return err
		}
		var chain []*x509.Certificate
		if *chainFile != "" {
			if chain, err = certReadPEM(*chainFile); err != nil {
				return err
			}
		}
		// A bundle in --cert (leaf first, as CAs send them) carries its own chain.
		chain = append(certs[1:], chain...)
		if err := k.ImportCertificate(ctx, *keyURI, certs[0], chain); err != nil {
			return err
		}
		c, err := k.Credential(ctx, *keyURI)
		if err != nil {
			return err
		}
		certPrint(stdout, tr("cli.cert.imported", "imported"), c)
	case "export-root":
		c, err := k.Credential(ctx, *keyURI)
		if err != nil {
			return err
		}
		if err := keyring.ExportRoot(c, *dir); err != nil {
			return err
		}
		fmt.Fprintln(stdout, tr("cli.cert.rootOfWritten", "root certificate of %[1]s written to %[2]s/root.pem and %[2]s/root.der", c.URI, *dir))
	}
	return nil
}

func certReadPEM(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	certs, err := keyring.ParsePEMCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(certs) == 0 {
		return nil, errorf("cli.cert.noPEM", "%[1]s holds no PEM CERTIFICATE block", path)
	}
	return certs, nil
}

func certStatus(c *keyring.Credential) string {
	if err := c.CheckValid(time.Now()); err != nil {
		switch {
		case errors.Is(err, keyring.ErrExpired):
			return tr("cli.cert.expired", "EXPIRED")
		case errors.Is(err, keyring.ErrNotYetValid):
			return tr("cli.cert.notYetValid", "NOT YET VALID")
		}
		return tr("cli.cert.invalid", "INVALID")
	}
	if left := time.Until(c.Certificate.NotAfter); left < worker.ExpiryWarning {
		return tr("cli.cert.expiresIn", "EXPIRES IN %[1]v DAYS", int(left.Hours()/24))
	}
	return tr("cli.cert.valid", "valid")
}

func certPrint(w io.Writer, what string, c *keyring.Credential) {
	fmt.Fprint(w, tr("cli.cert.print", "%[1]s %[2]s\n  subject:   %[3]s\n  issuer:    %[4]s\n  key:       %[5]s (on token %[6]s, not extractable)\n  valid:     %[7]s … %[8]s\n",
		what, c.URI, c.Certificate.Subject.String(), c.Certificate.Issuer.String(), keyring.KeyDescription(c), c.Token,
		c.Certificate.NotBefore.UTC().Format(time.DateOnly), c.Certificate.NotAfter.UTC().Format(time.DateOnly)))
	if len(c.Chain) > 0 {
		names := make([]string, len(c.Chain))
		for i, cc := range c.Chain {
			names[i] = cc.Subject.String()
		}
		fmt.Fprintln(w, tr("cli.cert.chain", "  chain:     %[1]s", strings.Join(names, " → ")))
	}
}

func certPrintList(w io.Writer, creds []*keyring.Credential, status []keyring.TokenStatus) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, tr("cli.cert.listHeader", "TOKEN\tLABEL\tID\tKEY\tSUBJECT\tISSUER\tSERIAL\tNOT BEFORE\tNOT AFTER\tSTATUS\tURI"))
	for _, c := range creds {
		fmt.Fprintf(tw, "%s\t%s\t%x\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Token, c.Label, c.ID, keyring.KeyDescription(c),
			c.Certificate.Subject, c.Certificate.Issuer, c.Certificate.SerialNumber.Text(16),
			c.Certificate.NotBefore.UTC().Format(time.DateOnly), c.Certificate.NotAfter.UTC().Format(time.DateOnly), certStatus(c), c.URI)
	}
	_ = tw.Flush()
	for _, s := range status {
		if !s.Online {
			fmt.Fprintln(w, tr("cli.cert.tokenOffline", "token %[1]s is OFFLINE: %[2]s", s.Name, s.Err))
		}
	}
}

// warnLoopbackRevocation says so when an issued certificate names a CRL and OCSP address that only
// this machine reaches (ca.revocation_url, by default public_url, left at its loopback default):
// PDF readers elsewhere cannot check it, and pdfsig then refuses the certificate.
func warnLoopbackRevocation(w io.Writer, cfg *config.Config) {
	u, err := url.Parse(cfg.CA.RevocationURL)
	if cfg.CA.RevocationURL == "off" || err != nil {
		return
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		fmt.Fprintln(w, tr("cli.cert.loopbackRevocation", "warning: the certificate names %[1]s for its CRL and OCSP, which only this machine reaches; "+
			"run with the server's configuration (public_url or ca.revocation_url), or set ca.revocation_url: off", cfg.CA.RevocationURL))
	}
}
