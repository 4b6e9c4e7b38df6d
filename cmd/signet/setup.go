package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24/budget"
	"github.com/signet-b24/signet/bitrix24/portals"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/config"
	"github.com/signet-b24/signet/internal/queue"
	"github.com/signet-b24/signet/producer/batch"
	"github.com/signet-b24/signet/producer/external"
	"github.com/signet-b24/signet/producer/identity"
	"github.com/signet-b24/signet/producer/requests"
	"github.com/signet-b24/signet/producer/routes"
	"github.com/signet-b24/signet/storage"
	"github.com/signet-b24/signet/web"
	"github.com/signet-b24/signet/worker"
)

// Provisioning is explicit (issue 21 must 3): `signet setup` creates and updates the streams,
// consumers and buckets with this configuration's replicas and worker settings, and the S3 bucket
// with its lifecycle rule. A server does the same at start while nats.provision is true (the default,
// so `signet serve`, `go tool task run` and the demo need no extra step); on a cluster, every process
// but one declared owner sets nats.provision false, or all do and `signet setup` is run on each
// change, so the last process to start no longer decides cluster-wide settings. Read-only commands
// never provision: they look up (queue.Missing, portals.Lookup, storage ReadOnly).

func runSetup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("setup", `Usage: signet setup [flags]

Creates or updates the JetStream streams, consumers and KV buckets with this configuration's
nats.replicas and worker settings, and the storage (S3: the bucket, Object Lock check and retention
lifecycle rule). Safe to run again: an unchanged configuration changes nothing. Run it on a cluster
whose servers have nats.provision false, after each change of those settings.
`, stderr)
	load := settingFlags(fs, keys(natsClientKeys, storageKeys, []string{"worker.ack_wait", "worker.max_deliver",
		"worker.max_ack_pending", "worker.interactive", "worker.batch", "worker.callbacks"})...)
	if _, err := parseArgs(fs, args, 0); err != nil {
		return err
	}
	cfg, nc, js, err := loadAndDialNATS(load, "setup")
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := provisionNATS(ctx, cfg, js, role{intake: true, worker: true}); err != nil {
		return err
	}
	st, err := openStorage(ctx, cfg, storage.Options{PruneInterval: -1}, true)
	if err != nil {
		return err
	}
	st.Close()
	fmt.Fprintln(stdout, tr("cli.setup.done", "Provisioned with %[1]v replica(s): streams %[2]v, their consumers, buckets %[3]v; storage %[4]s.",
		max(cfg.NATS.Replicas, 1), streamNames(cfg), setupBuckets, redactURL(cfg.Storage.URL)))
	return nil
}

// setupBuckets are the KV buckets setup and a provisioning server create before any role opens them.
var setupBuckets = append([]string{contracts.BucketPortals, contracts.BucketJobs, contracts.BucketBudget, contracts.BucketRequests, contracts.BucketSecrets, batch.Bucket, web.BucketSessions, routes.Bucket, external.BucketInvitations}, identity.Buckets()...)

func streamNames(cfg *config.Config) []string {
	var out []string
	for _, sc := range queue.Streams(queueSettings(cfg)) {
		out = append(out, sc.Name)
	}
	return out
}

func queueSettings(cfg *config.Config) queue.Settings {
	return queue.Settings{Replicas: cfg.NATS.Replicas, AckWait: cfg.Worker.AckWait, MaxDeliver: cfg.Worker.MaxDeliver,
		MaxAckPending: cfg.AckPending()}
}

// provisionNATS creates or updates the streams, consumers and buckets of role r (setup: every role).
// A server provisions only its own role's buckets, which its NATS user may create
// (deploy/nats/signet-accounts.conf: a worker may not touch the identity buckets).
func provisionNATS(ctx context.Context, cfg *config.Config, js jetstream.JetStream, r role) error {
	if err := queue.Provision(ctx, js, queueSettings(cfg)); err != nil {
		return fmt.Errorf("provisioning JetStream: %w", err)
	}
	if _, err := portals.Provision(ctx, js, cfg.NATS.Replicas); err != nil {
		return err
	}
	if _, err := provisionSecrets(ctx, js, cfg.NATS.Replicas); err != nil {
		return err
	}
	if _, err := budget.Provision(ctx, js, cfg.NATS.Replicas); err != nil {
		return err
	}
	if r.worker {
		if _, err := worker.OpenResults(ctx, js, cfg.NATS.Replicas, cfg.Storage.Retention); err != nil {
			return err
		}
		if _, err := identity.NewCredentialPolicy(ctx, js, cfg.NATS.Replicas); err != nil {
			return err
		}
	}
	if r.intake {
		if err := identity.Provision(ctx, js, cfg.NATS.Replicas); err != nil {
			return err
		}
		if _, err := batch.OpenBucket(ctx, js, cfg.NATS.Replicas, cfg.Storage.Retention); err != nil {
			return err
		}
		if _, err := web.ProvisionSessions(ctx, js, cfg.NATS.Replicas); err != nil {
			return fmt.Errorf("sessions bucket: %w", err)
		}
		if _, err := requests.OpenStore(ctx, js, cfg.NATS.Replicas); err != nil {
			return err
		}
		if _, err := routes.OpenStore(ctx, js, cfg.NATS.Replicas); err != nil {
			return err
		}
		if err := external.Provision(ctx, js, cfg.NATS.Replicas); err != nil {
			return err
		}
	}
	return nil
}

// requireProvisioned is what a server with nats.provision false does instead: it checks, and says
// what to run when something is missing.
func requireProvisioned(ctx context.Context, js jetstream.JetStream) error {
	missing, err := queue.Missing(ctx, js)
	if err != nil {
		return err
	}
	buckets, err := missingBuckets(ctx, js)
	if err != nil {
		return err
	}
	return queue.MissingError(append(missing, buckets...))
}

// missingBuckets looks every bucket setup makes up, changing nothing, and names those that are missing.
func missingBuckets(ctx context.Context, js jetstream.JetStream) ([]string, error) {
	var missing []string
	for _, b := range setupBuckets {
		_, err := js.KeyValue(ctx, b)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			missing = append(missing, "bucket "+b)
		} else if err != nil {
			return nil, fmt.Errorf("looking up bucket %s: %w", b, err)
		}
	}
	return missing, nil
}

// openStorage opens cfg's storage; provision false opens it read-only (no bucket, no lifecycle rule).
func openStorage(ctx context.Context, cfg *config.Config, o storage.Options, provision bool) (storage.Store, error) {
	o.Retention = cfg.Storage.Retention
	o.ReadOnly = !provision
	if cfg.Storage.CredentialsFile != "" {
		o.Credentials.File = cfg.Storage.CredentialsFile
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	return storage.Open(ctx, cfg.Storage.URL, o)
}
