package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/audit"
	"github.com/signet-b24/signet/internal/jobkey"
	"github.com/signet-b24/signet/producer/identity"
)

func init() {
	adminCommands["keys"] = command{runAdminKeys, "the job signing key: rotate it on every intake and worker at once (rotate)"}
}

const adminKeysUsage = `Usage: signet admin keys rotate [flags]

Makes a new job signing key (Ed25519) and puts it in use on every running intake, without a restart:
  - the new public key, endorsed by the current signing key, is stored in NATS (signet_secrets); a
    worker trusts it when the endorsement leads to a key of its security.job_verify_keys_file, so the
    workers' files need no change;
  - the new private key is stored in NATS sealed under security.secret_keys_file; every intake follows
    it at once;
  - on this host, security.job_signing_key_file is replaced (the old key kept as .previous, for
    ` + "`signet enqueue`" + ` here) and the new public key is added to security.job_verify_keys_file.
Jobs signed with the previous key stay valid until they expire (security.job_ttl). The current key is
the one in NATS after an earlier rotation, else this host's security.job_signing_key_file.
`

func runAdminKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	action, fs, err := actionFlags("admin keys", adminKeysUsage, args, stdout, stderr)
	if fs == nil {
		return err
	}
	load := settingFlags(fs, keys(natsClientKeys, []string{"security.secret_keys_file", "security.job_signing_key_file",
		"security.job_verify_keys_file", "security.job_ttl"})...)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if action != "rotate" {
		return usageError{errorf("cli.keys.unknownAction", "unknown action %[1]q; run `signet admin keys help`", action)}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %v", fs.Args())}
	}
	cfg, nc, js, err := loadAndDialNATS(load, "admin keys")
	if err != nil {
		return err
	}
	defer nc.Close()
	sealer, err := identity.LoadKeys(cfg.Security.SecretKeysFile)
	if err != nil {
		return wrapf(err, "cli.keys.secretKeys", "%[1]v; the rotated key is sealed under the servers' security.secret_keys_file: point to it", err)
	}
	kv, err := js.KeyValue(ctx, contracts.BucketSecrets)
	if err != nil {
		return wrapf(err, "cli.keys.noBucket", "bucket %[1]s: %[2]v; run `signet setup` or start a server first", contracts.BucketSecrets, err)
	}
	sec := cfg.Security
	current, err := jobkey.LoadSigner(sec.JobSigningKeyFile, sec.JobTTL)
	if shared, serr := sharedJobKey(ctx, kv, sealer); serr != nil {
		return serr
	} else if shared != nil {
		current, err = contracts.NewJobSigner(shared, sec.JobTTL), nil
	}
	if err != nil {
		return wrapf(err, "cli.keys.notIntake", "%[1]v; run this on an intake host (it needs the current signing key to endorse the new one)", err)
	}
	priv, err := rotateJobKey(ctx, kv, sealer, current)
	if err != nil {
		return err
	}
	pub := priv.Public().(ed25519.PublicKey)
	var local error
	if err := jobkey.Replace(sec.JobSigningKeyFile, priv); err != nil {
		local = wrapf(err, "cli.keys.notReplaced", "the key is rotated in NATS, but %[1]s was not replaced: %[2]v", sec.JobSigningKeyFile, err)
	} else if err := jobkey.Trust(sec.JobVerifyKeysFile, pub); err != nil {
		local = wrapf(err, "cli.keys.notUpdated", "the key is rotated in NATS, but %[1]s was not updated: %[2]v", sec.JobVerifyKeysFile, err)
	}
	w := audit.NewWriter(js, nil, audit.Options{})
	if err := w.Record(ctx, contracts.AuditEvent{Action: contracts.AuditAdminChange, Outcome: contracts.AuditOK,
		Detail: "by the command line (signet admin keys rotate): job signing key " + current.KeyID() + " replaced by " + contracts.JobKeyID(pub)}); err != nil {
		fmt.Fprintln(stderr, tr("cli.keys.auditWarning", "warning: the audit trail did not record the rotation: %[1]v", err))
	}
	fmt.Fprintln(stdout, tr("cli.keys.rotated", "job signing key rotated: %[1]s → %[2]s; every running intake signs with it now, workers trust it through the endorsement",
		current.KeyID(), contracts.JobKeyID(pub)))
	return errors.Join(local)
}
