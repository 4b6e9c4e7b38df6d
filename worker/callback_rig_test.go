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
	results, err := OpenResults(ctx, ns.JS, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	store, err := storage.Open(ctx, "file://"+t.TempDir(), storage.Options{PruneInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
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

func startPortal(t *testing.T, cfg emulator.Config) *emulator.Portal {
	t.Helper()
	p := emulator.New(cfg)
	if _, err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}
