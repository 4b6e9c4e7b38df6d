package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/config"
	"github.com/signet-b24/signet/producer/identity"
	"github.com/signet-b24/signet/web"
)

// The secrets every process of one Signet must agree on live in NATS, sealed under
// security.secret_keys_file, instead of in each host's data directory (issue 21 must 1): a Sign
// dialog opened on intake A is submitted to intake B, a download link made by any worker is served
// by any process, the admin API token works on every intake. The sealing keys are then the one file
// that must be the same on every host (or come from a Kubernetes Secret); they already were, for the
// portals' OAuth tokens and the OTP secrets.
//
// Migration: the first process that finds a secret missing from the bucket takes the value of the
// old file in its data directory when there is one (so open dialogs, outstanding links and the
// operators' admin token keep working), and otherwise makes a new one. Later processes read NATS.
const (
	secretLink       = "link"        // HMAC key of the /files/ download links (<data_dir>/link.secret)
	secretForm       = "form"        // HMAC key of the Sign dialog's form (<data_dir>/placement.key)
	secretAdminToken = "admin-token" // the admin API's bearer token (security.admin_token_file)
)

// provisionSecrets creates or updates the secrets bucket (`signet setup`, a provisioning server).
func provisionSecrets(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: contracts.BucketSecrets,
		Description: "Signet's shared secrets, sealed under security.secret_keys_file", History: 5, Replicas: max(replicas, 1)})
	if err != nil {
		return nil, fmt.Errorf("secrets bucket %s: %w", contracts.BucketSecrets, err)
	}
	return kv, nil
}

// sharedSecret returns the secret name from the bucket. When the bucket has none yet, it stores the
// old file's secret (legacyFile, hex as loadOrCreateSecret wrote it) or a new random one; two
// processes starting at once both end with the one that was stored first.
func sharedSecret(ctx context.Context, kv jetstream.KeyValue, keys *identity.Keys, name, legacyFile string, log *zap.Logger) ([]byte, error) {
	aad := "signet secrets " + name
	// On a replicated bucket a Get may be answered by a replica that has not yet seen the value
	// another process just created (direct gets are served by followers too), so after losing the
	// race to Create, read again for a while before giving up.
	for attempt := range 20 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("shared secret %q in NATS bucket %s: %w", name, contracts.BucketSecrets, ctx.Err())
			case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
			}
		}
		e, err := kv.Get(ctx, name)
		if err == nil {
			s, err := keys.Open(e.Value(), aad)
			if err != nil {
				return nil, fmt.Errorf("shared secret %q in NATS bucket %s: %w; security.secret_keys_file must be the same file on every host", name, contracts.BucketSecrets, err)
			}
			return s, nil
		}
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, fmt.Errorf("reading shared secret %q from NATS bucket %s: %w", name, contracts.BucketSecrets, err)
		}
		s, imported, err := legacySecret(legacyFile)
		if err != nil {
			return nil, err
		}
		sealed, err := keys.Seal(s, aad)
		if err != nil {
			return nil, err
		}
		if _, err := kv.Create(ctx, name, sealed); errors.Is(err, jetstream.ErrKeyExists) {
			continue // another process stored it first: read theirs
		} else if err != nil {
			return nil, fmt.Errorf("storing shared secret %q in NATS bucket %s: %w", name, contracts.BucketSecrets, err)
		}
		if imported {
			log.Info("shared secret imported into NATS; the file is no longer read", zap.String("secret", name), zap.String("file", legacyFile))
		}
		return s, nil
	}
	return nil, fmt.Errorf("shared secret %q in NATS bucket %s could not be read or stored; is NATS healthy?", name, contracts.BucketSecrets)
}

// legacySecret reads the secret a data directory held before, or makes a new one.
func legacySecret(path string) (s []byte, imported bool, err error) {
	if path != "" {
		if _, err := os.Stat(path); err == nil {
			s, err := loadOrCreateSecret(path)
			return s, err == nil, err
		}
	}
	s = make([]byte, 32)
	_, err = rand.Read(s)
	return s, false, err
}

// adminTokenFile keeps security.admin_token_file equal to the admin API token in NATS, for the
// operator who reads it there: written when missing, left alone (with a warning naming the file,
// never the token) when it holds another token.
func adminTokenFile(path string, token []byte, log *zap.Logger) {
	want := hex.EncodeToString(token)
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.WriteFile(path, []byte(want+"\n"), 0o600); err != nil {
			log.Warn("cannot write the admin API token file; read the token on another host", zap.String("file", path), zap.Error(err))
		}
	case err != nil:
		log.Warn("cannot read the admin API token file", zap.String("file", path), zap.Error(err))
	case strings.TrimSpace(string(b)) != want:
		log.Warn("security.admin_token_file holds another token than the one every intake shares (in NATS); replace the file with the one of the first intake, or delete it and restart to have it written",
			zap.String("file", path))
	}
}

// openSecrets looks up the secrets bucket and opens the secrets the role needs.
func (a *app) openSecrets(ctx context.Context, keys *identity.Keys, r role) error {
	kv, err := a.js.KeyValue(ctx, contracts.BucketSecrets)
	if err != nil {
		return fmt.Errorf("secrets bucket %s: %w; run `signet setup` or start a server with nats.provision true", contracts.BucketSecrets, err)
	}
	a.secrets = kv
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if a.linkSecret, err = sharedSecret(octx, kv, keys, secretLink, dataFile(a.cfg, "link.secret"), a.log); err != nil {
		return err
	}
	if !r.intake {
		return nil
	}
	if a.formKey, err = sharedSecret(octx, kv, keys, secretForm, dataFile(a.cfg, "placement.key"), a.log); err != nil {
		return err
	}
	if a.adminToken, err = sharedSecret(octx, kv, keys, secretAdminToken, a.cfg.Security.AdminTokenFile, a.log); err != nil {
		return err
	}
	adminTokenFile(a.cfg.Security.AdminTokenFile, a.adminToken, a.log)
	// The local administrators too; a passwords file written while no NATS was reachable (the first
	// `signet admin local-admin set` before any server ran) is imported once.
	admins := &web.AdminsNATS{KV: kv, Keys: keys}
	n, err := web.ImportAdminsFile(octx, a.cfg.Security.AdminPasswordsFile, admins)
	if err != nil {
		return fmt.Errorf("security.admin_passwords_file: %w", err)
	}
	if n > 0 {
		a.log.Info("local administrators imported into NATS; the file was renamed and is no longer read",
			zap.Int("logins", n), zap.String("file", a.cfg.Security.AdminPasswordsFile+".imported"))
	}
	a.admins = admins
	return nil
}

// dataFile is a file of the data directory.
func dataFile(cfg *config.Config, name string) string { return filepath.Join(cfg.DataDir, name) }
