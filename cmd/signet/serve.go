package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/config"
	"github.com/signet-b24/signet/keyring/keyadmin"
	"github.com/signet-b24/signet/pades"
	"github.com/signet-b24/signet/producer"
	"github.com/signet-b24/signet/producer/batch"
	"github.com/signet-b24/signet/producer/requests"
	"github.com/signet-b24/signet/web"
	"github.com/signet-b24/signet/worker"
)

const serveUsage = `Usage: signet %s [flags]

Every setting is a flag here, an environment variable and a key of the YAML file given with --config
(` + "`signet config`" + ` prints them all; ` + "`signet config check`" + ` checks a configuration without starting).
`

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runRole(ctx, "serve", role{intake: true, worker: true}, args, stdout, stderr)
}

func runIntake(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runRole(ctx, "intake", role{intake: true}, args, stdout, stderr)
}

func runWorker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runRole(ctx, "worker", role{worker: true}, args, stdout, stderr)
}

// runRole runs the intake, the workers, or both, until ctx ends (SIGINT/SIGTERM), then drains: the
// HTTP server stops taking requests, jobs in hand finish and are acked, and NATS is drained.
func runRole(ctx context.Context, name string, r role, args []string, stdout, stderr io.Writer) error {
	cfg, rest, err := config.LoadFlags(newFlagSet(name, fmt.Sprintf(serveUsage, name), stderr), args, os.Getenv)
	if err != nil {
		return usageError{err}
	}
	if len(rest) > 0 {
		return usageError{fmt.Errorf("unexpected arguments %v", rest)}
	}
	if name != "serve" && cfg.NATS.URL == "" {
		return usageError{errorf("cli.serve.natsURL", "nats.url is required: `signet %[1]s` joins a NATS cluster; use `signet serve` for everything in one process", name)}
	}
	log, err := newLogger(cfg.Log.Format, cfg.Log.Level, stderr)
	if err != nil {
		return usageError{err}
	}
	defer log.Sync()
	pades.SetLimits(pades.Limits{MaxStreamBytes: cfg.PDF.MaxStreamBytes, MaxDocumentBytes: cfg.PDF.MaxDocumentBytes,
		MaxObjects: cfg.PDF.MaxObjects, ProcessBytes: cfg.PDF.DecodeBudget})
	gc, restoreGC := tuneGC(os.Getenv, serverGCPercent, serverMemoryLimit)
	defer restoreGC()
	log.Info("garbage collector", zap.String("gc_percent", gc.GCPercent), zap.String("memory_limit", gc.MemoryLimit))
	a, err := openApp(ctx, cfg, log, r)
	if err != nil {
		return err
	}
	defer a.Close()
	srv, err := a.start(ctx, r)
	if err != nil {
		return err
	}
	if r.intake {
		u := cfg.PublicURL
		fmt.Fprint(stdout, tr("cli.serve.banner", "Signet is running.\n"+
			"  Control panel:             %[1]s/admin   (create an administrator: signet admin local-admin set LOGIN)\n"+
			"  Operator dashboard:        %[1]s/ops\n"+
			"  Verify a signed PDF:       %[1]s/verify\n"+
			"  Bitrix24 install handler:  %[1]s/bitrix24/install   (allow the portal first: signet admin bitrix24 add DOMAIN)\n"+
			"  Bitrix24 robot handler:    %[1]s/bitrix24/robot\n"+
			"  Bitrix24 Sign button:      %[1]s/bitrix24/placement\n"+
			"  Health / readiness:        %[1]s/healthz  %[1]s/readyz\n"+
			"  Prometheus metrics:        %[2]s   (metrics.listen; not on the public listener)\n"+
			"  Admin API token file:      %[3]s\n"+
			"  Data directory:            %[4]s\n", u, metricsWhere(a), cfg.Security.AdminTokenFile, cfg.DataDir))
		if len(cfg.Tokens) == 0 {
			fmt.Fprintln(stdout, tr("cli.serve.demoCredential", "  Demo signing credential:   %[1]s (SoftHSM token under %[2]s/softhsm)", cfg.Demo.Credential, cfg.DataDir))
		}
	}
	<-ctx.Done()
	log.Info("shutting down: draining in-flight jobs")
	return srv.stop()
}

// metricsWhere says where the process serves /metrics, for the start-up banner.
func metricsWhere(a *app) string {
	if m := a.listener(listenerMetrics); m != nil {
		return m.URL() + "/metrics"
	}
	return "off"
}

// running is a started process: its HTTP listeners and worker pool.
type running struct {
	app      *app // its listeners (app.served)
	pool     chan error
	stopPool context.CancelFunc
	// audit is the audit writer's checkpoint loop; it stops last, so shutdown signs a final checkpoint.
	audit     chan error
	stopAudit context.CancelFunc
	// stopSweep ends the requests' sweeper (intake processes).
	stopSweep context.CancelFunc
}

// start serves HTTP (the public listener and the metrics one, listeners.go) and runs the worker pool.
func (a *app) start(ctx context.Context, r role) (*running, error) {
	var in *producer.Intake
	if r.intake {
		in = &producer.Intake{JS: a.js, Portals: a.portals, Identity: a.identity,
			RobotCode: a.cfg.Bitrix24.RobotCode, Bitrix: a.b24, PublicURL: a.cfg.PublicURL, FormKey: a.formKey, Audit: a.audit, Log: a.log.Named("intake"), JobKey: a.jobKey,
			TimeZone: a.cfg.Signing.TimeZone,
			Links: func(ctx context.Context, key string) (string, error) {
				return a.store.URL(ctx, key, a.cfg.Storage.LinkTTL)
			},
			RequestDeadline: a.cfg.Requests.Deadline}
		if a.keyAdmin != nil {
			// The Sign dialog names certificates by person, issuer and validity (issue 19, must 6).
			in.Certificate = func(ctx context.Context, uri string) (*x509.Certificate, error) {
				c, err := a.keyAdmin.Credential(ctx, uri)
				if err != nil {
					return nil, err
				}
				return c.Certificate, nil
			}
		}
		store, err := requests.OpenStore(ctx, a.js, a.cfg.NATS.Replicas)
		if err != nil {
			return nil, err
		}
		a.requests = &requests.Service{Store: store, Queue: in.RequestQueue(), Grants: a.identity, Notifiers: []requests.Notifier{in},
			Log: a.log.Named("requests")}
		in.Requests = a.requests
		// The bulk-signing page (issue 19, must 3): its batches go through the same enqueuer as
		// `signet enqueue`, the estimate at the portal plan's REST rate.
		kv, err := a.js.KeyValue(ctx, batch.Bucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			kv, err = batch.OpenBucket(ctx, a.js, a.cfg.NATS.Replicas, a.cfg.Storage.Retention)
		}
		if err != nil {
			return nil, err
		}
		in.Bulk = &producer.BulkSigning{RatePerSec: a.cfg.Bitrix24.RatePerSec,
			Enqueuer: &batch.Enqueuer{JS: a.js, KV: kv, Store: a.store, Identity: a.identity, JobKey: a.jobKey, Log: a.log.Named("bulk")},
			Jobs:     func(ctx context.Context) (jetstream.KeyValue, error) { return a.js.KeyValue(ctx, contracts.BucketJobs) }}
		if err := a.startExternal(ctx); err != nil {
			return nil, err
		}
		if err := a.startRoutes(ctx, in); err != nil {
			return nil, err
		}
	}
	if err := a.serveListeners(in, r); err != nil {
		return nil, err
	}
	if a.keys != nil {
		// Key administration for intakes that hold no token (keyring/keyadmin).
		stop, err := keyadmin.Serve(a.nc, a.keys, a.responder, a.audit, a.log.Named("keyadmin"))
		if err != nil {
			return nil, err
		}
		a.closers = append(a.closers, stop)
	}
	run := &running{app: a}
	if a.requests != nil {
		sctx, cancel := context.WithCancel(ctx)
		run.stopSweep = cancel
		go a.requests.Run(sctx, a.cfg.Requests.SweepInterval)
		if a.routes != nil {
			go a.routes.Run(sctx, a.cfg.Requests.SweepInterval)
		}
	}
	if r.worker {
		pctx, cancel := context.WithCancel(ctx)
		run.stopPool = cancel
		run.pool = make(chan error, 1)
		p := a.pool()
		go func() { run.pool <- p.Run(pctx) }()
		m := &worker.Monitor{JS: a.js, Keys: a.keys, Log: a.log.Named("monitor")}
		go m.Run(pctx)
		a.startArchive(pctx)
	}
	actx, acancel := context.WithCancel(context.WithoutCancel(ctx))
	run.stopAudit, run.audit = acancel, make(chan error, 1)
	go func() { run.audit <- a.audit.Run(actx) }()
	return run, nil
}

// httpServer serves h with every timeout set: a slow client is cut off instead of holding a
// connection (and, before, a verification slot) for as long as it likes. The verification page
// moves its upload's deadlines while the upload keeps arriving (web/verifylimit.go).
func (a *app) httpServer(h http.Handler) *http.Server {
	c := a.cfg.HTTP
	return &http.Server{Handler: h, ReadHeaderTimeout: c.ReadHeaderTimeout, ReadTimeout: c.ReadTimeout,
		WriteTimeout: c.WriteTimeout, IdleTimeout: c.IdleTimeout, MaxHeaderBytes: c.MaxHeaderBytes,
		ErrorLog: zap.NewStdLog(a.log.Named("http"))}
}

// rollingWrites lets a response take as long as it keeps moving: each write must finish within the
// server's write timeout, instead of the whole response. For downloads (/files/): a 100 MB signed
// PDF to a slow client outlasts http.write_timeout, a reader that stops reading does not.
func rollingWrites(h http.Handler, per time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&rollingWriter{ResponseWriter: w, rc: http.NewResponseController(w), per: per}, r)
	})
}

type rollingWriter struct {
	http.ResponseWriter
	rc  *http.ResponseController
	per time.Duration
}

func (w *rollingWriter) Write(p []byte) (int, error) {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.per))
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *rollingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// verifyLimits are the verification page's limits from the verify and http settings.
func (a *app) verifyLimits() web.VerifyLimits {
	v := a.cfg.Verify
	proxies, _ := a.cfg.TrustedProxies() // checked by config.Validate
	return web.VerifyLimits{PerClient: v.PerClient, RatePerMinute: v.RatePerMinute, Burst: v.Burst, Uploads: v.Uploads,
		Concurrency: v.Concurrency, MinUploadRate: v.MinUploadRate, TrustedProxies: proxies}
}

// loginLimits applies the security.login_* settings to the control panel's sign-in throttle
// (web/throttle.go; issue 15, found 6). security.login_max_per_address 0 turns the
// per-address limit off, which web.Config spells as a negative number.
func (a *app) loginLimits(c web.Config) web.Config {
	s := a.cfg.Security
	c.LoginMaxFailures, c.LoginLockout, c.MaxConcurrentHashes = s.LoginMaxFailures, s.LoginLockout, s.LoginConcurrentHashes
	c.LoginMaxPerAddress = s.LoginMaxPerAddress
	if c.LoginMaxPerAddress == 0 {
		c.LoginMaxPerAddress = -1
	}
	return c
}

func (a *app) pool() *worker.Pool {
	// One Batcher for both: Disk and CRM lookups of jobs being signed and the callbacks of finished
	// ones share batch requests of up to 50 commands per portal.
	batch := bitrix24.NewBatcher(a.b24, 0)
	log := a.log.Named("worker")
	var tokens *worker.Tokens
	if a.keys != nil {
		tokens = worker.NewTokens(a.keys.Limits)
	}
	return &worker.Pool{
		JS: a.js, Interactive: a.cfg.Worker.Interactive, Batch: a.cfg.Worker.Batch, Callbacks: a.cfg.Worker.Callbacks,
		AckWait: a.cfg.Worker.AckWait, MaxDeliver: a.cfg.Worker.MaxDeliver, DrainTimeout: drainTimeout, Audit: a.audit, Log: log,
		Signer: &worker.Signer{Keys: a.keys, Policy: a.policy, Audit: a.audit, PublicURL: a.cfg.PublicURL, Portal: a.b24, Batch: batch, Store: a.store, Results: a.results,
			TempDir: a.cfg.Worker.TempDir, MaxPDFBytes: a.cfg.Worker.MaxPDFBytes, Log: log, JobKeys: a.jobKeys,
			TSA: a.timestamper(), Level: pades.Level(a.cfg.Signing.Level), Revocations: a.policy, Tokens: tokens},
		Caller: &worker.Caller{Portal: a.b24, Batch: batch, Store: a.store, Results: a.results, LinkTTL: a.cfg.Storage.LinkTTL, Log: log,
			Portals: a.portals, LinkField: a.cfg.Bitrix24.LinkField, StatusField: a.cfg.Bitrix24.StatusField},
	}
}

// drainTimeout is how long jobs in hand may run after SIGTERM before they are handed back (NAK) to
// JetStream for another worker; with the HTTP shutdown it stays under Kubernetes' default 30 s grace.
const drainTimeout = worker.DefaultDrainTimeout

// stop ends HTTP intake first (no new jobs), then the pool: buffered messages are handed back at once,
// jobs in hand get drainTimeout to finish and be acked, and the rest are NAKed. Nothing is lost; at
// worst a job is signed by the next worker instead.
func (r *running) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := r.app.shutdownListeners(ctx)
	if r.stopSweep != nil {
		r.stopSweep()
	}
	if r.pool != nil {
		r.stopPool()
		select {
		case perr := <-r.pool:
			if perr != nil && !errors.Is(perr, context.Canceled) {
				err = errors.Join(err, perr)
			}
		case <-time.After(drainTimeout + 10*time.Second):
			err = errors.Join(err, errors.New("worker pool did not stop within the drain timeout; unacked jobs are redelivered after ack_wait"))
		}
	}
	r.stopAudit()
	if aerr := <-r.audit; aerr != nil && !errors.Is(aerr, context.Canceled) {
		err = errors.Join(err, fmt.Errorf("final audit checkpoint: %w", aerr))
	}
	return err
}
