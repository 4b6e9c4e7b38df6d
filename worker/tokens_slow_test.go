package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/jobkey"
	"github.com/signet-b24/signet/internal/queue"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/keyring"
	"github.com/signet-b24/signet/keyring/softhsm/slowtoken"
	"github.com/signet-b24/signet/storage"
)

// slowRig is a worker pool whose one token is the slow PKCS#11 module (keyring/softhsm/slowtoken:
// SoftHSM behind a chip that takes perSignature per signature, one at a time), on a real JetStream,
// local storage and the emulated portal. Interactive jobs are robot calls on a deal file; batch jobs
// read one uploaded document from the storage, as `signet enqueue` leaves them.
type slowRig struct {
	t       testing.TB
	ctx     context.Context
	js      jetstream.JetStream
	portal  *emulator.Portal
	results *Results
	intake  *contracts.JobSigner
	tokens  *Tokens
	cred    string
	sink    string
	pdf     []byte
	docKey  string
	deal    int
}

// newSlowRig starts the rig; schedule false leaves the token's gate out (Signer.Tokens nil), so
// that signatures queue in the module's own lock, as they would in a token's driver.
func newSlowRig(t testing.TB, ctx context.Context, perSignature, ackWait time.Duration, interactive, batch int, schedule bool) *slowRig {
	t.Helper()
	testenv.RequireTool(t, "softhsm2-util")
	testenv.RequireTool(t, "gcc")
	tok, err := slowtoken.Prepare(t.TempDir(), "card", perSignature)
	if err != nil {
		if testenv.Strict() {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	kr, err := keyring.Open(ctx, []keyring.TokenConfig{{Name: "card", Module: tok.Module, Label: tok.Label, PinFile: tok.PinFile}}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kr.Close() })
	cred, err := kr.GenerateSelfSigned(ctx, "card", "mary", "CN=Mary,O=Signet test", keyring.RSA2048, 30)
	if err != nil {
		t.Fatal(err)
	}
	portal := startPortal(t, emulator.Config{})
	// The portal's budget is another slice's subject (issue 21, must 2): here it is wide, so that
	// what the figures show is the token.
	client := adminClient(ctx, t, portal, bitrix24.ClientConfig{RatePerSec: 1000, Burst: 1000})

	ns := natstest.Start(t)
	if err := queue.Provision(ctx, ns.JS, queue.Settings{Replicas: 1, AckWait: ackWait, MaxDeliver: 5, MaxAckPending: 64}); err != nil {
		t.Fatal(err)
	}
	results, store := resultsAndStore(ctx, t, ns.JS, "", storage.Options{PublicURL: "http://signet.test", LinkSecret: []byte("0123456789abcdef0123456789abcdef")})
	pdf, err := os.ReadFile(filepath.Join("..", "testdata", "pdf", "invoice.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	docKey := contracts.IncomingPrefix + "night/invoice.pdf"
	if _, err := store.Put(ctx, docKey, bytes.NewReader(pdf), int64(len(pdf)), "application/pdf", sha256Hex(pdf)); err != nil {
		t.Fatal(err)
	}
	intake, err := jobkey.Generate(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(sink.Close)

	r := &slowRig{t: t, ctx: ctx, js: ns.JS, portal: portal, results: results, intake: intake, cred: cred.URI, sink: sink.URL,
		pdf: pdf, docKey: docKey, deal: 1188, tokens: NewTokens(kr.Limits)}
	tokens := r.tokens
	if !schedule {
		tokens = nil
	}
	pool := &Pool{JS: ns.JS, Interactive: interactive, Batch: batch, Callbacks: 16, AckWait: ackWait, MaxDeliver: 5, Log: zap.NewNop(),
		Signer: &Signer{Keys: kr, Portal: client, Store: store, Results: results, TempDir: t.TempDir(),
			MaxPDFBytes: 10 << 20, Log: zap.NewNop(), JobKeys: contracts.NewJobKeys(intake.Public()), Tokens: tokens},
		Caller: &Caller{Portal: client, Store: store, Results: results, LinkTTL: time.Hour, Log: zap.NewNop()}}
	old := tokenRatesEvery
	tokenRatesEvery = time.Second
	t.Cleanup(func() { tokenRatesEvery = old })
	runPool(ctx, t, pool)
	return r
}

// robotJob is a signed robot job for a new file of the deal, with a waiting workflow's event_token.
func (r *slowRig) robotJob(id string) *contracts.SignJob {
	disk, _ := r.portal.AddDealFile(r.deal, id+".pdf", r.pdf)
	eventToken, status, err := r.portal.RobotCall(r.ctx, r.sink, "signet_sign_pdf", r.deal, nil)
	if err != nil || status != http.StatusOK {
		r.t.Fatalf("robot call: %d, %v", status, err)
	}
	j := &contracts.SignJob{ID: id, Kind: contracts.KindRobot, Created: time.Now().UTC(),
		Portal:     contracts.Portal{MemberID: r.portal.MemberID()},
		Document:   contracts.Document{DiskFileID: disk, EntityTypeID: 2, EntityID: r.deal},
		Signer:     contracts.Signer{Login: "mary", BitrixUserID: 1, Authorization: "otp"},
		Credential: r.cred,
		Reply:      contracts.Reply{EventToken: eventToken, WorkflowID: "wf-" + id}}
	return j
}

// batchJob is document n of a night batch: the uploaded invoice, under a batch grant.
func (r *slowRig) batchJob(batchID string, n int) *contracts.SignJob {
	return &contracts.SignJob{ID: fmt.Sprintf("%s-%d", batchID, n), Kind: contracts.KindBatch, BatchID: batchID, Created: time.Now().UTC(),
		Portal:     contracts.Portal{MemberID: r.portal.MemberID()},
		Document:   contracts.Document{URL: contracts.SharedStoragePrefix + r.docKey, FileName: fmt.Sprintf("invoice-%d.pdf", n)},
		Signer:     contracts.Signer{Login: "mary", Authorization: "grant", GrantID: "grant-" + batchID},
		Credential: r.cred}
}

// publish signs the job as an intake would and puts it on its kind's subject.
func (r *slowRig) publish(j *contracts.SignJob) {
	r.t.Helper()
	j.V = contracts.Version
	r.intake.Sign(j, time.Now())
	data, err := j.Marshal()
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.js.PublishMsg(r.ctx, &nats.Msg{Subject: j.Kind.Subject(), Data: data,
		Header: nats.Header{contracts.HeaderMsgID: []string{j.ID}}}); err != nil {
		r.t.Fatal(err)
	}
}

// signedAt watches the results bucket and reports when each job's result was recorded ("res.<id>"),
// as the worker's RecordSigned leaves it.
func (r *slowRig) signedAt() (get func() map[string]time.Time, stop func()) {
	r.t.Helper()
	w, err := r.results.kv.Watch(r.ctx, "res.>", jetstream.UpdatesOnly())
	if err != nil {
		r.t.Fatal(err)
	}
	var mu sync.Mutex
	at := map[string]time.Time{}
	go func() {
		for e := range w.Updates() {
			if e == nil {
				continue
			}
			id := strings.TrimPrefix(e.Key(), "res.")
			mu.Lock()
			if _, ok := at[id]; !ok {
				at[id] = time.Now()
			}
			mu.Unlock()
		}
	}()
	return func() map[string]time.Time {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(at)
	}, func() { _ = w.Stop() }
}

// slowRun is one run of a batch with interactive jobs arriving meanwhile.
type slowRun struct {
	batch       time.Duration   // first batch publish to its last signature
	interactive []time.Duration // enqueue → signed, each interactive job
	rate        float64         // the token's measured rate at the end
	redelivered int             // deliveries of SIGN messages beyond the first of each
}

// run publishes a batch of n documents, then an interactive job every `every` until the batch is
// signed, and waits for all of them.
func (r *slowRig) run(n int, every time.Duration) slowRun {
	r.t.Helper()
	get, stop := r.signedAt()
	defer stop()
	before := r.deliveries()
	start := time.Now()
	batchID := "night" + strconv.FormatInt(start.UnixNano(), 36)
	for i := range n {
		r.publish(r.batchJob(batchID, i))
	}
	enqueued := map[string]time.Time{}
	batchDone := func(at map[string]time.Time) bool {
		for i := range n {
			if _, ok := at[fmt.Sprintf("%s-%d", batchID, i)]; !ok {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(5 * time.Minute) // liveness only: a stuck pool fails here, not on a figure
	tick := time.NewTicker(every)
	defer tick.Stop()
	for k := 0; ; k++ {
		if batchDone(get()) {
			break
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("the batch of %d is not signed after 5 minutes (%d signed)", n, len(get()))
		}
		j := r.robotJob(fmt.Sprintf("%s-i%d", batchID, k))
		enqueued[j.ID] = time.Now()
		r.publish(j)
		<-tick.C
	}
	var last time.Time
	for _, t := range get() {
		if t.After(last) {
			last = t
		}
	}
	for {
		at := get()
		missing := 0
		for id := range enqueued {
			if _, ok := at[id]; !ok {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%d interactive jobs not signed after 5 minutes", missing)
		}
		time.Sleep(20 * time.Millisecond)
	}
	at := get()
	out := slowRun{batch: last.Sub(start)}
	for id, t0 := range enqueued {
		out.interactive = append(out.interactive, at[id].Sub(t0))
	}
	slices.Sort(out.interactive)
	for _, tr := range r.tokens.Rates() {
		out.rate = tr.Rate
	}
	out.redelivered = int(r.deliveries()-before) - n - len(enqueued)
	return out
}

// deliveries counts the deliveries of both SIGN consumers so far, redeliveries included: a
// consumer's sequence (delivered.consumer_seq) moves on every delivery, whereas num_redelivered only
// counts the messages still unacknowledged.
func (r *slowRig) deliveries() uint64 {
	r.t.Helper()
	var n uint64
	for _, c := range []string{contracts.ConsumerSignBatch, contracts.ConsumerSignInteractive} {
		cons, err := r.js.Consumer(r.ctx, contracts.StreamSign, c)
		if err != nil {
			r.t.Fatal(err)
		}
		info, err := cons.Info(r.ctx)
		if err != nil {
			r.t.Fatal(err)
		}
		n += info.Delivered.Consumer
	}
	return n
}

// percentile is the q-quantile (0..1) of sorted durations, nearest rank.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// slowBatchSize is the batch of the scheduling test: the 500 documents (about a minute at 10
// signatures a second), 100 with -short.
func slowBatchSize() int {
	if v, err := strconv.Atoi(os.Getenv("SIGNET_SLOW_BATCH")); err == nil && v > 0 {
		return v
	}
	if testing.Short() {
		return 100
	}
	return 500
}

// Issue 21, must 5: on a token that signs 10 times a second (the slow module, 100 ms per signature,
// one at a time), a 500-document batch runs while a robot job arrives every half second; the robot
// jobs overtake the batch at the token, so their p99 from enqueue to signed stays under 2 s (a
// generous functional bound: without the token's priority queue a robot job waits behind every
// batch job in hand). Every batch document is signed, and no SIGN message is delivered
// again while its job waits for the token (the heartbeat and the lease hold it). The precise figures
// are BenchmarkSlowTokenInteractiveP99's (bench/RESULTS.md).
func TestSlowTokenInteractiveOvertakesBatch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	r := newSlowRig(t, ctx, 100*time.Millisecond, 5*time.Second, 8, 8, true)
	n := slowBatchSize()
	res := r.run(n, 500*time.Millisecond)
	p50, p99 := percentile(res.interactive, .5), percentile(res.interactive, .99)
	t.Logf("batch of %d signed in %s (%.1f docs/s); %d robot jobs meanwhile: p50 %s, p99 %s, max %s; token measured at %.1f signatures/s",
		n, res.batch.Round(time.Millisecond), float64(n)/res.batch.Seconds(), len(res.interactive),
		p50.Round(time.Millisecond), p99.Round(time.Millisecond), res.interactive[len(res.interactive)-1].Round(time.Millisecond), res.rate)
	if len(res.interactive) < 10 {
		t.Fatalf("only %d robot jobs arrived during the batch; the test measured nothing", len(res.interactive))
	}
	if p99 >= 2*time.Second {
		t.Errorf("robot jobs' p99 from enqueue to signed is %s during a batch on a 10/s token, want under 2 s", p99)
	}
	if res.redelivered != 0 {
		t.Errorf("%d SIGN messages were delivered again while their jobs waited for the token", res.redelivered)
	}
	// The module waits 100 ms per signature, one at a time: no measurement can exceed 10 a second.
	if res.rate <= 0 || res.rate > 10 {
		t.Errorf("the token's measured rate is %.2f signatures/s; want between 0 and 10 (100 ms per signature)", res.rate)
	}
	// The worker keeps the measurement where the batch status reads it.
	var tr contracts.TokenRate
	r.waitFor("the token's rate in the jobs bucket", func() bool {
		keys, err := r.results.kv.ListKeysFiltered(ctx, contracts.TokenRatePrefix+">")
		if err != nil {
			return false
		}
		for k := range keys.Keys() {
			if e, err := r.results.kv.Get(ctx, k); err == nil && json.Unmarshal(e.Value(), &tr) == nil {
				return tr.Token == "card" && tr.Label == "card" && tr.Rate > 0 && tr.Rate <= 10 && tr.Concurrency == 1
			}
		}
		return false
	})
}

// A batch job may wait for the token longer than AckWait, and longer than its lease's stale time:
// with 32 batch jobs in hand on a 10/s token each waits about 3 s, against an AckWait of 1.5 s. The
// in-progress acknowledgements and the lease refreshes that run while a job is in hand keep every
// message with its worker: no SIGN message is delivered twice, and every document is signed.
func TestSlowTokenWaitKeepsDelivery(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r := newSlowRig(t, ctx, 100*time.Millisecond, 1500*time.Millisecond, 2, 32, true)
	res := r.run(64, time.Second)
	t.Logf("64 batch documents in %s beside %d robot jobs (max %s)", res.batch.Round(time.Millisecond), len(res.interactive),
		res.interactive[len(res.interactive)-1].Round(time.Millisecond))
	if res.redelivered != 0 {
		t.Errorf("%d SIGN deliveries beyond the first while jobs waited for the token longer than AckWait", res.redelivered)
	}
}

// waitFor polls cond until it holds; 30 s without fails the test (a liveness bound, not a timing).
func (r *slowRig) waitFor(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("still waiting for %s after 30 s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// BenchmarkSlowTokenInteractiveP99 is the scheduling test's run with its figures: a batch
// (SIGNET_SLOW_BATCH documents, default 500) on a 10/s token while a robot job arrives every half
// second, with the token's gate ("scheduled") and without it ("unscheduled": every signature goes
// straight to the module, whose lock is the chip). Run one iteration of each:
//
//	go test -run XXX -bench SlowTokenInteractiveP99 -benchtime 1x ./worker/
func BenchmarkSlowTokenInteractiveP99(b *testing.B) {
	for _, schedule := range []bool{true, false} {
		name := "unscheduled"
		if schedule {
			name = "scheduled"
		}
		b.Run(name, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			r := newSlowRig(b, ctx, 100*time.Millisecond, 5*time.Second, 8, 8, schedule)
			n := slowBatchSize()
			b.ResetTimer()
			for range b.N {
				res := r.run(n, 500*time.Millisecond)
				b.ReportMetric(float64(n)/res.batch.Seconds(), "batch_docs/s")
				b.ReportMetric(float64(percentile(res.interactive, .5).Milliseconds()), "p50_ms")
				b.ReportMetric(float64(percentile(res.interactive, .99).Milliseconds()), "p99_ms")
				b.ReportMetric(float64(res.interactive[len(res.interactive)-1].Milliseconds()), "max_ms")
				b.ReportMetric(float64(len(res.interactive)), "robot_jobs")
				b.ReportMetric(float64(res.redelivered), "redelivered")
			}
		})
	}
}
