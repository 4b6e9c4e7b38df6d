package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/portals"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/audit"
	"github.com/signet-b24/signet/internal/config"
	"github.com/signet-b24/signet/internal/natsembed"
	"github.com/signet-b24/signet/keyring"
	"github.com/signet-b24/signet/keyring/keyadmin"
	"github.com/signet-b24/signet/keyring/softhsm"
	"github.com/signet-b24/signet/producer/external"
	"github.com/signet-b24/signet/producer/identity"
	"github.com/signet-b24/signet/producer/requests"
	"github.com/signet-b24/signet/producer/routes"
	"github.com/signet-b24/signet/storage"
	"github.com/signet-b24/signet/web"
	"github.com/signet-b24/signet/worker"
)

// app is one Signet process: the parts that serve, intake and worker share.
type app struct {
	cfg      *config.Config
	log      *zap.Logger
	embedded *server.Server
	nc       *nats.Conn
	js       jetstream.JetStream
	portals  *portals.Registry
	identity *identity.Service
	store    storage.Store
	keys     *keyring.Keyring
	b24      *bitrix24.Client
	results  *worker.Results
	policy   *identity.CredentialPolicy
	audit    *audit.Writer
	// requests are the requests to sign (issue 19), on intake processes once started.
	requests *requests.Service
	// external are the external signers' invitations (issue 20, external.go), on intake processes.
	external *external.Service
	routes   *routes.Engine
	closers  []func()
	// jobKey signs jobs (intake), jobKeys verifies them (worker): jobkeys.go.
	jobKey  *contracts.JobSigner
	jobKeys *contracts.JobKeys
	// served are the HTTP listeners, public and metrics (listeners.go), once started.
	served []*served
	// trust are the verification page's trust anchors (verify.trust_anchors); none: the system's.
	trust []*x509.Certificate
	// secrets is the sealed shared-secrets bucket and what it holds (sharedsecrets.go): the same on
	// every process, so any intake answers any request.
	secrets                         jetstream.KeyValue
	linkSecret, formKey, adminToken []byte
	admins                          web.AdminStore
	// keyAdmin is what the control panel and the admin API administer the tokens through: this
	// process's keyring, or in an intake without tokens the workers' through NATS (keyring/keyadmin).
	keyAdmin keyring.Admin
	// responder answers CRL and OCSP requests where the internal CA's keys are (workers, serve).
	responder *keyring.Responder
}

// role says which parts a process needs.
type role struct{ intake, worker bool }

// openApp connects to (or starts) NATS, provisions streams and buckets (unless nats.provision is
// false: then it checks they exist), and opens storage, the tokens
// and the Bitrix24 client as the role needs them.
func openApp(ctx context.Context, cfg *config.Config, log *zap.Logger, r role) (_ *app, err error) {
	a := &app{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory %s: %w", cfg.DataDir, err)
	}
	if err := a.openJobKeys(r); err != nil {
		return nil, err
	}
	if f := cfg.Verify.TrustAnchors; f != "" && r.intake {
		if a.trust, err = certReadPEM(f); err != nil {
			return nil, wrapf(err, "cli.serve.trustAnchors", "verify.trust_anchors: %[1]v; give a PEM file of root certificates", err)
		}
	}
	natsURL := cfg.NATS.URL
	if natsURL == "" {
		// The embedded server's client port is open to every local user: it takes one user, whose
		// password is made on first run beside the other secrets (the CLI reads it there).
		pw, err := loadOrCreateSecret(natsPasswordFile(cfg))
		if err != nil {
			return nil, err
		}
		a.embedded, err = natsembed.Start(natsembed.Options{
			StoreDir: filepath.Join(cfg.DataDir, "jetstream"), Port: cfg.NATS.Port,
			MonitorPort: cfg.NATS.MonitorPort, SyncAlways: cfg.NATS.SyncAlways,
			User: embeddedUser, Password: hex.EncodeToString(pw),
		})
		if err != nil {
			return nil, err
		}
		natsURL = a.embedded.ClientURL()
		if err := os.WriteFile(natsURLFile(cfg), []byte(natsURL+"\n"), 0o600); err != nil {
			return nil, err
		}
		a.closers = append(a.closers, func() { os.Remove(natsURLFile(cfg)) })
		log.Info("embedded NATS with JetStream started", zap.String("url", natsURL), zap.String("store", filepath.Join(cfg.DataDir, "jetstream")))
	}
	auth, err := natsAuth(cfg)
	if err != nil {
		return nil, err
	}
	opts := append([]nats.Option{nats.Name("signet"), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second),
		// A permission this role lacks is reported asynchronously by the server: say which.
		// A slow consumer names its subscription, so a post-mortem can tell a pull from a watcher.
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if sub != nil {
				log.Warn("NATS error", zap.Error(err), zap.String("subject", sub.Subject))
				return
			}
			log.Warn("NATS error", zap.Error(err))
		})}, auth...)
	if a.embedded != nil {
		// In the same process the connection is a pipe, not a loopback socket: no system call per
		// message (a read and a write on each side were a seventh of the CPU of a signed document).
		opts = append(opts, nats.InProcessServer(a.embedded))
	}
	if a.nc, err = nats.Connect(natsURL, opts...); err != nil {
		return nil, fmt.Errorf("connecting to NATS at %s: %w", natsURL, err)
	}
	if a.js, err = jetstream.New(a.nc); err != nil {
		return nil, err
	}
	// nats.provision (setup.go): provision as `signet setup` does, or only check that someone did.
	if cfg.NATS.Provision {
		err = provisionNATS(ctx, cfg, a.js, r)
	} else {
		err = requireProvisioned(ctx, a.js)
	}
	if err != nil {
		return nil, err
	}
	secretKeys, err := loadOrCreateSecretKeys(cfg.Security.SecretKeysFile)
	if err != nil {
		return nil, err
	}
	if err := a.openSecrets(ctx, secretKeys, r); err != nil {
		return nil, err
	}
	// A rotated job signing key (jobkeyrotation.go): intakes sign with it, workers trust it.
	if r.intake {
		if err := a.followJobKey(ctx, secretKeys); err != nil {
			return nil, err
		}
	}
	if r.worker {
		a.trustEndorsedJobKeys()
	}
	if a.portals, err = portals.Lookup(ctx, a.js, secretKeys); err != nil {
		return nil, wrapf(err, "cli.serve.notProvisioned", "%[1]v; run `signet setup` or start a server with nats.provision true", err)
	}
	if a.store, err = a.openStorage(ctx); err != nil {
		return nil, err
	}
	if r.worker {
		if a.results, err = worker.LookupResults(ctx, a.js); err != nil {
			return nil, err
		}
		if a.policy, err = identity.LookupCredentialPolicy(ctx, a.js); err != nil {
			return nil, err
		}
		if a.keys, err = a.openTokens(ctx); err != nil {
			return nil, err
		}
		a.keyAdmin = a.keys
		// The intake may write the credentials bucket: the certificates its control panel and admin
		// API issue go into the register the OCSP responder reads (keyring/register.go).
		if r.intake {
			a.keys.SetIssuedRegister(a.policy)
		}
		// The internal CA's CRL and OCSP responder, wherever its key is (issue 17 must 3): "unknown"
		// for a serial neither in the register nor on the tokens.
		a.responder = keyring.NewResponder(a.keys, a.policy, log.Named("ca")).WithRegister(a.policy)
	} else if r.intake {
		a.keyAdmin = &keyadmin.Client{NC: a.nc}
	}
	// Both roles call Bitrix24: the intake registers the robot and the Sign button at install and lists
	// a deal's files for the Sign dialog; the workers sign and call back.
	shared, err := openBudget(ctx, cfg, a.js, log.Named("bitrix24"), true)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, shared.Close)
	if a.b24, err = newBitrix24Client(cfg, a.portals, shared, log.Named("bitrix24")); err != nil {
		return nil, err
	}
	// An audit chain per process, tied by checkpoints (internal/audit); the workers, which hold the
	// token, sign theirs, and the intake's unsigned ones are covered by the next signed one.
	var auditKey crypto.Signer
	if a.keys != nil && cfg.Audit.Credential != "" {
		cred, err := a.keys.Credential(ctx, cfg.Audit.Credential)
		if err != nil {
			return nil, fmt.Errorf("audit.credential %s: %w", cfg.Audit.Credential, err)
		}
		auditKey = cred.Key
	}
	a.audit = audit.NewWriter(a.js, auditKey, audit.Options{CheckpointEvery: cfg.Audit.CheckpointEvery,
		CheckpointInterval: cfg.Audit.CheckpointInterval, Log: log.Named("audit")})
	if r.intake {
		// bitrix24.portals is the initial set of the allowed portals every intake shares; portals
		// added at run time stay (bitrix24/portals/allowed.go).
		if err := a.portals.AllowDomains(ctx, cfg.Bitrix24.Portals...); err != nil {
			return nil, fmt.Errorf("bitrix24.portals: %w", err)
		}
		a.identity, err = identity.New(ctx, a.js, identity.Config{Audit: a.audit, PublicURL: cfg.PublicURL, Keys: secretKeys,
			Log: log.Named("identity"), Lookup: true}) // provisioned above (provisionNATS)
		if err != nil {
			return nil, err
		}
		// Where enrolment links are answered, for `signet admin user enrol` (identity/publicurl.go).
		if err := a.identity.AnnouncePublicURL(ctx); err != nil {
			log.Warn("enrolment links printed by the CLI will use its own public_url", zap.Error(err))
		}
	}
	return a, nil
}

func (a *app) openStorage(ctx context.Context) (storage.Store, error) {
	return openStorage(ctx, a.cfg, storage.Options{PublicURL: a.cfg.PublicURL, LinkSecret: a.linkSecret, Log: a.log.Named("storage")},
		a.cfg.NATS.Provision)
}

// openTokens opens the configured tokens; with none configured it creates (on first run) and opens the
// demo SoftHSM token under <data_dir>/softhsm with a self-signed demo certificate.
func (a *app) openTokens(ctx context.Context) (*keyring.Keyring, error) {
	cfg := a.cfg
	var tokens []keyring.TokenConfig
	for _, t := range cfg.Tokens {
		tokens = append(tokens, keyring.TokenConfig{Name: t.Name, Module: t.Module, Label: t.Label, Serial: t.Serial,
			Slot: t.Slot, PinFile: t.PinFile, PinEnv: t.PinEnv, MaxSessions: t.MaxSessions, PoolWaitTimeout: t.PoolWaitTimeout,
			Concurrency: t.Concurrency, RatePerSec: t.RatePerSec})
	}
	demo := len(tokens) == 0
	if demo {
		dir, _ := filepath.Abs(filepath.Join(cfg.DataDir, "softhsm"))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		// The PIN files hold the hex of random bytes, which is also the PIN the token is initialised with.
		pinFile := filepath.Join(dir, "user.pin")
		pin, err := loadOrCreateSecret(pinFile)
		if err != nil {
			return nil, err
		}
		so, err := loadOrCreateSecret(filepath.Join(dir, "so.pin"))
		if err != nil {
			return nil, err
		}
		module, err := softhsm.Init(dir, cfg.Demo.Token, hex.EncodeToString(so), hex.EncodeToString(pin))
		if err != nil {
			return nil, fmt.Errorf("demo token: %w", err)
		}
		tokens = []keyring.TokenConfig{{Name: cfg.Demo.Token, Module: module, Label: cfg.Demo.Token, PinFile: pinFile}}
	}
	k, err := keyring.Open(ctx, tokens, a.log.Named("keyring"))
	var oe *keyring.OpenError
	if err != nil && !(errors.As(err, &oe) && k != nil) {
		return nil, err
	}
	if err != nil {
		a.log.Warn("some tokens are offline; their jobs wait until they come back", zap.Error(err))
	}
	// Certificates the internal CA issues name its CRL and OCSP responder (issue 17 must 3).
	if cfg.CA.RevocationURL != "off" {
		k.SetRevocationURL(cfg.CA.RevocationURL)
	}
	if demo {
		if _, err := k.Credential(ctx, cfg.Demo.Credential); errors.Is(err, keyring.ErrKeyNotFound) {
			u, perr := keyring.ParseURI(cfg.Demo.Credential)
			if perr != nil {
				return nil, fmt.Errorf("demo.credential: %w", perr)
			}
			// Key type and validity: the signer's defaults (keyring/defaults.go).
			cred, err := k.GenerateSelfSigned(ctx, cfg.Demo.Token, u.Object, "CN=Signet Demo Signer,O=Signet", "", 0)
			if err != nil {
				return nil, fmt.Errorf("creating the demo certificate: %w", err)
			}
			a.log.Info("demo certificate created on the SoftHSM token", zap.String("credential", cred.URI), zap.String("subject", cred.Certificate.Subject.String()))
		} else if err != nil {
			return nil, fmt.Errorf("demo credential: %w", err)
		}
	}
	return k, nil
}

// adminOnly guards the admin API with the bearer token every intake shares (sharedsecrets.go; a copy
// is in security.admin_token_file for the operator).
func (a *app) adminOnly(next http.Handler) http.Handler {
	want := a.adminToken
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if len(want) < 16 || !bitrix24.VerifyApplicationToken(hex.EncodeToString(want), got) {
			http.Error(w, "administrator token required (Authorization: Bearer <contents of security.admin_token_file>)", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(keyring.WithActor(r.Context(), "the admin API token")))
	})
}

func (a *app) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	if a.keys != nil {
		a.keys.Close()
	}
	if a.store != nil {
		a.store.Close()
	}
	if a.nc != nil {
		a.nc.Drain()
		a.nc.Close()
	}
	if a.embedded != nil {
		a.embedded.Shutdown()
		a.embedded.WaitForShutdown()
	}
}

// loadOrCreateSecret reads a 32-byte secret from path (stored as hex), creating it on first run.
func loadOrCreateSecret(path string) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil {
		s, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(s) < 16 {
			return nil, errorf("cli.serve.notHex", "%[1]s does not hold a hex secret; delete it to make a new one", path)
		}
		return s, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	s := make([]byte, 32)
	if _, err := rand.Read(s); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(s)+"\n"), 0o600); err != nil {
		return nil, err
	}
	return s, nil
}

// loadOrCreateSecretKeys loads the keys that encrypt secrets at rest, making the first one on first run.
func loadOrCreateSecretKeys(path string) (*identity.Keys, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		line, err := identity.GenerateKeyLine()
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, []byte(line+"\n"), 0o600); err != nil {
			return nil, err
		}
	}
	k, err := identity.LoadKeys(path)
	if err != nil {
		return nil, fmt.Errorf("security.secret_keys_file %s: %w", path, err)
	}
	return k, nil
}
