package worker

import (
	"context"
	"crypto"
	"io"
	"sync"
	"time"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/metrics"
	"github.com/signet-b24/signet/keyring"
)

// Tokens schedules the signatures of this worker on each PKCS#11 token. A USB token or a smartcard
// has one chip for every certificate on it and signs 2–20 times a second; what is sent to it beyond
// that only queues inside the driver, in no particular order. Here each token has a gate instead:
// a semaphore of Limits.Concurrency slots (one for a hardware token), an optional pace
// (Limits.RatePerSec), and two queues, so that when a slot frees the next signature is a person's
// (robot, Sign button) before any night batch's (issue 21, must 5: interactive jobs overtake batch
// jobs at the token, not only in the queue). A job waiting here is in hand: its heartbeat
// (consume.go) and its lease (lease.go) keep JetStream from handing it to another worker meanwhile.
//
// Each gate also measures the token: an exponentially weighted mean of its C_Sign durations gives the
// signatures a second it sustains (Rate), which the batch status turns into a time left.
type Tokens struct {
	limits func(token string) keyring.Limits

	mu    sync.Mutex
	gates map[string]*gate
}

// NewTokens schedules on the limits the keyring gives (Keyring.Limits); a token's limits are read
// when its first signature is asked for.
func NewTokens(limits func(token string) keyring.Limits) *Tokens {
	return &Tokens{limits: limits, gates: map[string]*gate{}}
}

// priority orders the queues of a gate: a lower one goes first.
type priority int

const (
	interactive priority = iota
	background
	priorities
)

func (p priority) String() string {
	if p == interactive {
		return "interactive"
	}
	return "batch"
}

// priorityOf: robot calls and the Sign button (a workflow or a person waits for them) go first, a
// night batch after them.
func priorityOf(k contracts.JobKind) priority {
	if k == contracts.KindBatch {
		return background
	}
	return interactive
}

// gate returns the token's gate, made at its first signature; label is the token's label as the
// credential's URI names it (token=), which the batch status matches a batch's credential against.
func (ts *Tokens) gate(token, label string) *gate {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	g := ts.gates[token]
	if g == nil {
		l := ts.limits(token)
		g = &gate{token: token, label: label, limits: l, free: max(l.Concurrency, 1)}
		if l.RatePerSec > 0 {
			g.interval = time.Duration(float64(time.Second) / l.RatePerSec)
		}
		ts.gates[token] = g
	}
	return g
}

// Key returns the credential's key, whose every signature goes through its token's gate at the job's
// priority. ctx is the job's: a job cancelled while it waits (drain deadline, jobTimeout) leaves the
// queue. The wait has no bound of its own, unlike the session pool's pool_wait_timeout: on a slow token
// a long queue is expected, and a retry-later there would only spend the job's deliveries. With ts nil
// the key is returned as it is.
func (ts *Tokens) Key(ctx context.Context, cred *keyring.Credential, kind contracts.JobKind) crypto.Signer {
	if ts == nil {
		return cred.Key
	}
	label := ""
	if u, err := keyring.ParseURI(cred.URI); err == nil {
		label = u.Token
	}
	return &scheduledKey{ctx: ctx, key: cred.Key, gate: ts.gate(cred.Token, label), prio: priorityOf(kind)}
}

// TokenRate is one token's measured figures.
type TokenRate struct {
	Token, Label string
	// Rate is the signatures a second the token sustains (0 until it has signed).
	Rate   float64
	Signed uint64
	Limits keyring.Limits
	// Signing are the slots taken and Waiting the jobs queued for one, by priority: the work at the
	// gate, which the token records carry for the inbox's estimate (token_rates.go).
	Signing int
	Waiting [priorities]int
}

// Rates returns the figures of every token this worker has signed with.
func (ts *Tokens) Rates() []TokenRate {
	if ts == nil {
		return nil
	}
	ts.mu.Lock()
	gates := make([]*gate, 0, len(ts.gates))
	for _, g := range ts.gates {
		gates = append(gates, g)
	}
	ts.mu.Unlock()
	out := make([]TokenRate, 0, len(gates))
	for _, g := range gates {
		g.mu.Lock()
		r := TokenRate{Token: g.token, Label: g.label, Rate: g.rateLocked(), Signed: g.signed, Limits: g.limits,
			Signing: max(g.limits.Concurrency, 1) - g.free}
		for p := range g.queues {
			r.Waiting[p] = len(g.queues[p])
		}
		out = append(out, r)
		g.mu.Unlock()
	}
	return out
}

// ewmaWeight is the weight of the newest C_Sign duration in the mean: about the last ten signatures
// count, so a token that slows down (a busy USB hub, a card's thermal throttling) shows it within
// seconds, and one slow signature does not swing the estimate.
const ewmaWeight = 0.2

// gate is one token's slots, queues, pace and measurement.
type gate struct {
	token    string
	label    string
	limits   keyring.Limits
	interval time.Duration // 1/rate_per_sec; 0: no pace

	mu     sync.Mutex
	free   int
	queues [priorities][]*waiter
	next   time.Time // the earliest start of the next signature under the pace
	mean   float64   // seconds per C_Sign, exponentially weighted; 0 before the first
	signed uint64
}

type waiter struct {
	ready   chan struct{}
	granted bool // set under gate.mu when a slot is handed over
}

// acquire takes a slot: at once when one is free and nobody of the same or a higher priority waits,
// else in turn, interactive before batch, first come first served within a priority. Then it waits
// for the pace. On error no slot is held.
func (g *gate) acquire(ctx context.Context, p priority) error {
	g.mu.Lock()
	if g.free > 0 && g.queued(p) == 0 {
		g.free--
		g.mu.Unlock()
		return g.pace(ctx)
	}
	w := &waiter{ready: make(chan struct{})}
	g.queues[p] = append(g.queues[p], w)
	g.mu.Unlock()
	waiting := metrics.TokenWaiting.WithLabelValues(g.token, p.String())
	waiting.Inc()
	defer waiting.Dec()
	select {
	case <-w.ready:
		return g.pace(ctx)
	case <-ctx.Done():
	}
	g.mu.Lock()
	if w.granted {
		// Handed a slot just as the job ended: pass it on.
		g.mu.Unlock()
		g.release()
		return ctx.Err()
	}
	q := g.queues[p]
	for i, x := range q {
		if x == w {
			g.queues[p] = append(q[:i:i], q[i+1:]...)
			break
		}
	}
	g.mu.Unlock()
	return ctx.Err()
}

// queued counts the waiters that go before or with a newcomer of priority p.
func (g *gate) queued(p priority) int {
	n := 0
	for q := interactive; q <= p; q++ {
		n += len(g.queues[q])
	}
	return n
}

// pace waits, holding the slot, until the token's rate_per_sec allows the next signature; the slot
// order decided who goes first, so a batch cannot overtake a person by pacing.
func (g *gate) pace(ctx context.Context) error {
	if g.interval <= 0 {
		return nil
	}
	g.mu.Lock()
	now := time.Now()
	start := now
	if g.next.After(now) {
		start = g.next
	}
	g.next = start.Add(g.interval)
	g.mu.Unlock()
	wait := start.Sub(now)
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		g.release()
		return ctx.Err()
	}
}

// release hands the slot to the first interactive waiter, else the first batch one, else frees it.
func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for p := range g.queues {
		if q := g.queues[p]; len(q) > 0 {
			w := q[0]
			q[0] = nil
			g.queues[p] = q[1:]
			w.granted = true
			close(w.ready)
			return
		}
	}
	g.free++
}

// observe adds one C_Sign duration to the mean.
func (g *gate) observe(d time.Duration) {
	g.mu.Lock()
	if g.signed == 0 || g.mean == 0 {
		g.mean = d.Seconds()
	} else {
		g.mean += ewmaWeight * (d.Seconds() - g.mean)
	}
	g.signed++
	rate := g.rateLocked()
	g.mu.Unlock()
	metrics.TokenSignRate.WithLabelValues(g.token).Set(rate)
}

// rateLocked is the signatures a second the token sustains: its slots over the mean duration of one
// signature, capped by rate_per_sec.
func (g *gate) rateLocked() float64 {
	if g.mean <= 0 {
		return 0
	}
	r := float64(max(g.limits.Concurrency, 1)) / g.mean
	if g.limits.RatePerSec > 0 && g.limits.RatePerSec < r {
		r = g.limits.RatePerSec
	}
	return r
}

// scheduledKey is a credential's key seen by one job: its signatures pass the token's gate.
type scheduledKey struct {
	ctx  context.Context
	key  crypto.Signer
	gate *gate
	prio priority
}

func (k *scheduledKey) Public() crypto.PublicKey { return k.key.Public() }

func (k *scheduledKey) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if err := k.gate.acquire(k.ctx, k.prio); err != nil {
		return nil, err
	}
	defer k.gate.release()
	t0 := time.Now()
	sig, err := k.key.Sign(rand, digest, opts)
	if err == nil {
		k.gate.observe(time.Since(t0))
	}
	return sig, err
}
