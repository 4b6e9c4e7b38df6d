package worker

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/budget"
	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/queue"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
	"github.com/signet-b24/signet/storage"
)

// callbackRig is the callback side of workers on real parts: JetStream with Signet's streams and
// consumers, the Bitrix24 budget bucket the processes share, the jobs bucket and local storage.
type callbackRig struct {
	*queueRig
	budget  jetstream.KeyValue
	results *Results
	store   storage.Store
}

func newCallbackRig(t *testing.T, maxDeliver int) *callbackRig {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	ns := natstest.Start(t)
	if err := queue.Provision(ctx, ns.JS, queue.Settings{Replicas: 1, AckWait: 5 * time.Second, MaxDeliver: maxDeliver, MaxAckPending: 64}); err != nil {
		t.Fatal(err)
	}
	kv, err := budget.Provision(ctx, ns.JS, 1)
	if err != nil {
		t.Fatal(err)
	}
	results, store := resultsAndStore(ctx, t, ns.JS, "", storage.Options{})
	return &callbackRig{queueRig: &queueRig{t: t, ctx: ctx, nc: ns.NC, js: ns.JS}, budget: kv, results: results, store: store}
}

// client is one process's REST client, with its own handle on the shared budget, holding the
// tokens of portals.
func (r *callbackRig) client(process string, cfg bitrix24.ClientConfig, portals ...*emulator.Portal) *bitrix24.Client {
	r.t.Helper()
	b, err := budget.New(r.budget, budget.Config{RatePerSec: cfg.RatePerSec, Burst: cfg.Burst, ProcessID: process})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(b.Close)
	tokens := bitrix24.NewMemoryTokenStore()
	for _, p := range portals {
		if err := tokens.Save(r.ctx, p.NewAuth(emulator.AdminUserID)); err != nil {
			r.t.Fatal(err)
		}
	}
	cfg.ClientID, cfg.ClientSecret, cfg.OAuthURL = portals[0].ClientID(), portals[0].ClientSecret(), portals[0].OAuthURL()
	cfg.AllowPrivate, cfg.HTTPClient, cfg.Budget = true, &http.Client{Timeout: 10 * time.Second}, b
	return bitrix24.NewClient(cfg, tokens)
}

// run consumes the callback consumers as Pool.Run does, two callbacks at a time each, until the test
// ends.
func (r *callbackRig) run(client *bitrix24.Client, maxDeliver int, consumers ...string) *Pool {
	p := &Pool{JS: r.js, AckWait: 5 * time.Second, MaxDeliver: maxDeliver, Log: zaptest.NewLogger(r.t),
		Signer: &Signer{Results: r.results},
		Caller: &Caller{Portal: client, Store: r.store, Results: r.results, LinkTTL: time.Hour, Log: zap.NewNop()}}
	hard, stopHard := context.WithCancel(context.WithoutCancel(r.ctx))
	soft, stop := context.WithCancel(r.ctx)
	done := make(chan error, len(consumers))
	for _, consumer := range consumers {
		go func() { done <- p.consume(soft, hard, contracts.StreamCallback, consumer, 2, p.handleCallback) }()
	}
	r.t.Cleanup(func() {
		stop()
		for range consumers {
			<-done
		}
		stopHard()
	})
	return p
}

// failed queues the callback of a failed job of kind for a fresh robot call on portal, on the subject
// a worker would use, and returns the robot's event_token and the job id.
func (r *callbackRig) failed(portal *emulator.Portal, kind contracts.JobKind, deal int) (token, jobID string) {
	r.t.Helper()
	token, _ = portal.NewRobotCall("signet_sign_pdf", deal, nil)
	jobID = fmt.Sprintf("%s-%d-%d", portal.MemberID(), deal, time.Now().UnixNano())
	data, err := (&contracts.Callback{JobID: jobID, Kind: kind, Portal: contracts.Portal{MemberID: portal.MemberID()},
		Reply: contracts.Reply{EventToken: token}, Outcome: contracts.OutcomeFailed, Error: "the token is locked"}).Marshal()
	if err != nil {
		r.t.Fatal(err)
	}
	r.publish(kind.CallbackSubject(), "cb-"+jobID, data)
	return token, jobID
}

func startPortal(t testing.TB, cfg emulator.Config) *emulator.Portal {
	t.Helper()
	p := emulator.New(cfg)
	if _, err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// resultsAndStore opens the results bucket on js and a local store in dir (a new temporary folder
// when empty) that never prunes, both closed with the test.
func resultsAndStore(ctx context.Context, t testing.TB, js jetstream.JetStream, dir string, o storage.Options) (*Results, storage.Store) {
	t.Helper()
	results, err := OpenResults(ctx, js, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if dir == "" {
		dir = t.TempDir()
	}
	o.PruneInterval = -1
	store, err := storage.Open(ctx, "file://"+dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return results, store
}

// runPool runs pool.Run until the test ends, then waits for it to return.
func runPool(ctx context.Context, t testing.TB, pool *Pool) {
	pctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- pool.Run(pctx) }()
	t.Cleanup(func() {
		stop()
		<-done
	})
}

// adminClient is a REST client of p holding its administrator's tokens, with no shared budget; cfg
// holds what a test tunes (its rate).
func adminClient(ctx context.Context, t testing.TB, p *emulator.Portal, cfg bitrix24.ClientConfig) *bitrix24.Client {
	t.Helper()
	tokens := bitrix24.NewMemoryTokenStore()
	if err := tokens.Save(ctx, p.NewAuth(emulator.AdminUserID)); err != nil {
		t.Fatal(err)
	}
	cfg.ClientID, cfg.ClientSecret, cfg.OAuthURL = p.ClientID(), p.ClientSecret(), p.OAuthURL()
	cfg.AllowPrivate, cfg.HTTPClient = true, &http.Client{Timeout: 10 * time.Second}
	return bitrix24.NewClient(cfg, tokens)
}
