// Package budget keeps each Bitrix24 portal's REST budget and OVERLOAD_LIMIT pause in a JetStream KV
// bucket (contracts.BucketBudget), so that every Signet process — intakes and workers on several
// hosts — shares one budget per portal and one pause (issue 21, must 2). It implements
// bitrix24.Budget.
//
// The budget is a GCRA (generic cell rate algorithm, the leaky bucket of reference §8.1 written as a
// "theoretical arrival time"): one record per portal, rate.<member_id>, holding the time at which
// the portal's bucket would be empty. Taking a slot is one compare-and-set of that record on its KV
// revision: a request may leave at TAT − τ (τ = the burst less one interval) and TAT moves one
// interval on. The record a process wrote last is cached with its revision, so a process that is
// alone on a portal pays one NATS round trip per REST call; when another process wrote in between,
// the update is refused, the record re-read and the slot computed again (two more round trips).
// Against a REST call of tens to hundreds of milliseconds and a rate of 2 a second that is noise. An
// elected owner per portal (a KV lease) would cost the same round trip as a request to the owner, and
// a failover besides.
//
// The pause is a second record, pause.<member_id>, which every process watches: an OVERLOAD_LIMIT
// seen by one process stops the others before their next call, without a round trip per call.
//
// NATS slow or unreachable: a slot that cannot be taken within OpTimeout comes from a local limiter
// at the portal's rate divided by the processes that shared it recently (at least MinShare, burst 1),
// so that every process falling back at once stays under the plan. The slots taken that way are a
// debt added to the shared record once it answers again. The pause a process already knows keeps
// holding while NATS is away.
//
// It must never let the processes together exceed the configured rate, and never log a token: it only
// sees member_ids.
package budget

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/metrics"
)

// Defaults.
const (
	// DefaultOpTimeout bounds the compare-and-set of one slot; past it the local limiter answers.
	DefaultOpTimeout = 2 * time.Second
	// MinShare is the fewest processes the local fallback assumes share a portal: the shipped
	// configurations run an intake and three workers.
	MinShare = 4
	// peerWindow: a process that took a slot this recently counts as sharing the portal.
	peerWindow = 5 * time.Minute
	// degradedFor: after NATS failed a slot, the next ones go to the local limiter at once for this
	// long instead of each waiting OpTimeout.
	degradedFor = 5 * time.Second
	// slowFor and slowFactor: after QUERY_LIMIT_EXCEEDED every process runs at 80 % for 10 s (the
	// portal's bucket is shared with other applications on our address, reference §8.1).
	slowFor    = 10 * time.Second
	slowFactor = 0.8
	// maxConflicts bounds the compare-and-set retries of one slot before the local limiter answers.
	maxConflicts = 16
)

// Config shapes a Shared budget.
type Config struct {
	// RatePerSec and Burst are the portal's plan (bitrix24.rate_per_sec, bitrix24.burst): what every
	// process together may send, not each.
	RatePerSec float64
	Burst      int
	// OpTimeout bounds one slot's compare-and-set (default DefaultOpTimeout).
	OpTimeout time.Duration
	// ProcessID names this process in the records (default: host name, pid and a random suffix).
	ProcessID string
	Log       *zap.Logger
}

// Shared is the budget of every portal, shared through the KV bucket. Safe for concurrent use.
type Shared struct {
	kv       jetstream.KeyValue
	cfg      Config
	interval time.Duration // one request at RatePerSec
	tau      time.Duration // burst tolerance
	log      *zap.Logger
	stop     func()

	mu       sync.Mutex
	turns    map[string]*sync.Mutex // rate key → one compare-and-set at a time in this process
	cache    map[string]cached      // rate key → last record seen and its revision
	pauses   map[string]time.Time   // pause key → until
	fallback map[string]*rate.Limiter
	debt     map[string]int
	peers    map[string]int
	degraded time.Time
}

type cached struct {
	rec record
	rev uint64
}

// record is rate.<member_id>.
type record struct {
	// TAT is the theoretical arrival time (Unix ns): when the portal's bucket would be empty.
	TAT int64 `json:"tat"`
	// SlowUntil (Unix ns): until then the interval is 1/0.8 of the normal (after QUERY_LIMIT_EXCEEDED).
	SlowUntil int64 `json:"slow_until,omitempty"`
	// Procs maps the processes that took a slot to when they last did (Unix s): the share of the
	// local fallback.
	Procs map[string]int64 `json:"procs,omitempty"`
}

// pause is pause.<member_id>.
type pause struct {
	Until time.Time `json:"until"`
	By    string    `json:"by,omitempty"` // the process that saw OVERLOAD_LIMIT
}

// Provision creates or updates the bucket (`signet setup`, a provisioning server). File storage: a
// NATS restart must not forget a pause of 30 minutes.
func Provision(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      contracts.BucketBudget,
		Description: "Bitrix24 REST budget and OVERLOAD pause per portal, shared by every process",
		History:     1,
		Replicas:    max(replicas, 1),
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("budget bucket: %w", err)
	}
	return kv, nil
}

// Lookup opens the existing bucket without creating or changing it.
func Lookup(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, contracts.BucketBudget)
	if err != nil {
		return nil, fmt.Errorf("budget bucket %s: %w; run `signet setup` or start a server with nats.provision true", contracts.BucketBudget, err)
	}
	return kv, nil
}

// New starts a Shared budget on kv and the watch of the pauses; Close stops it.
func New(kv jetstream.KeyValue, cfg Config) (*Shared, error) {
	if cfg.RatePerSec <= 0 {
		cfg.RatePerSec = 2
	}
	if cfg.Burst <= 0 {
		cfg.Burst = 50
	}
	if cfg.OpTimeout <= 0 {
		cfg.OpTimeout = DefaultOpTimeout
	}
	if cfg.ProcessID == "" {
		cfg.ProcessID = processID()
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	interval := time.Duration(float64(time.Second) / cfg.RatePerSec)
	// One request of margin below the portal's bucket, as the local limiter has (client.go): the portal
	// counts a request when it arrives, and network jitter can bring two closer together there.
	burst := max(cfg.Burst-1, 1)
	s := &Shared{kv: kv, cfg: cfg, interval: interval, tau: time.Duration(burst-1) * interval, log: cfg.Log,
		turns: map[string]*sync.Mutex{}, cache: map[string]cached{}, pauses: map[string]time.Time{}, fallback: map[string]*rate.Limiter{},
		debt: map[string]int{}, peers: map[string]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	w, err := kv.Watch(ctx, "pause.*")
	if err != nil {
		cancel()
		return nil, fmt.Errorf("watching the Bitrix24 pauses in %s: %w", contracts.BucketBudget, err)
	}
	done := make(chan struct{})
	go s.watch(w, done)
	s.stop = func() {
		cancel()
		_ = w.Stop()
		<-done
	}
	return s, nil
}

// Close stops the watch.
func (s *Shared) Close() { s.stop() }

func (s *Shared) watch(w jetstream.KeyWatcher, done chan struct{}) {
	defer close(done)
	for e := range w.Updates() {
		if e == nil {
			continue // the end of the initial values
		}
		s.mu.Lock()
		if e.Operation() != jetstream.KeyValuePut {
			delete(s.pauses, e.Key())
		} else {
			var p pause
			if json.Unmarshal(e.Value(), &p) == nil {
				if p.Until.After(time.Now()) && p.Until.After(s.pauses[e.Key()]) && p.By != s.cfg.ProcessID {
					s.log.Error("ALERT: another Signet process saw Bitrix24 OVERLOAD_LIMIT; this one stops calling the portal too",
						zap.String("portal", strings.TrimPrefix(e.Key(), "pause.")), zap.String("by", p.By), zap.Time("paused_until", p.Until))
				}
				s.pauses[e.Key()] = p.Until
			}
		}
		s.mu.Unlock()
	}
}

// Reserve implements bitrix24.Budget.
func (s *Shared) Reserve(ctx context.Context, memberID string) (time.Time, error) {
	key := "rate." + keyOf(memberID)
	s.mu.Lock()
	degraded := time.Now().Before(s.degraded)
	s.mu.Unlock()
	if !degraded {
		at, err := s.reserveShared(ctx, key)
		if err == nil {
			return at, nil
		}
		if ctx.Err() != nil {
			return time.Time{}, ctx.Err()
		}
		s.mu.Lock()
		s.degraded = time.Now().Add(degradedFor)
		s.mu.Unlock()
		s.log.Warn("the shared Bitrix24 budget in NATS did not answer; this process uses its conservative local share for a while",
			zap.String("member_id", memberID), zap.Error(err))
	}
	return s.reserveLocal(memberID, key), nil
}

// reserveShared takes a slot by compare-and-set of the portal's record. The goroutines of one process
// take their turns (a compare-and-set is one round trip), so that only processes compete for the
// record: a conflict then means another process took a slot, and each is retried at once.
func (s *Shared) reserveShared(ctx context.Context, key string) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout)
	defer cancel()
	s.mu.Lock()
	turn, ok := s.turns[key]
	if !ok {
		turn = &sync.Mutex{}
		s.turns[key] = turn
	}
	s.mu.Unlock()
	turn.Lock()
	defer turn.Unlock()
	if err := ctx.Err(); err != nil {
		return time.Time{}, err
	}
	s.mu.Lock()
	c, ok := s.cache[key]
	s.mu.Unlock()
	for ctx.Err() == nil {
		if !ok {
			var err error
			if c, err = s.get(ctx, key); err != nil {
				return time.Time{}, err
			}
		}
		s.mu.Lock()
		debt := s.debt[key]
		s.mu.Unlock()
		now := time.Now()
		next, at := s.take(c.rec, now, debt)
		data, err := json.Marshal(next)
		if err != nil {
			return time.Time{}, err
		}
		rev, err := s.write(ctx, key, data, c.rev)
		if err == nil {
			s.mu.Lock()
			s.cache[key] = cached{rec: next, rev: rev}
			s.debt[key] -= debt
			s.peers[key] = len(next.Procs)
			s.mu.Unlock()
			return at, nil
		}
		if !conflict(err) {
			return time.Time{}, err
		}
		ok = false // another process wrote in between: read it and compute again
	}
	return time.Time{}, fmt.Errorf("budget record %s: other processes kept writing first for %v: %w", key, s.cfg.OpTimeout, ctx.Err())
}

// take is one GCRA step: the slot's send time and the record after it. debt slots taken locally
// while NATS was away are added first.
func (s *Shared) take(r record, now time.Time, debt int) (record, time.Time) {
	interval := s.interval
	if now.UnixNano() < r.SlowUntil {
		interval = time.Duration(float64(interval) / slowFactor)
	}
	tat := max(r.TAT, now.UnixNano()) + int64(debt)*int64(interval)
	at := time.Unix(0, max(tat-int64(s.tau), now.UnixNano()))
	next := record{TAT: tat + int64(interval), SlowUntil: r.SlowUntil, Procs: map[string]int64{}}
	if r.SlowUntil < now.UnixNano() {
		next.SlowUntil = 0
	}
	for id, seen := range r.Procs {
		if now.Unix()-seen < int64(peerWindow/time.Second) {
			next.Procs[id] = seen
		}
	}
	next.Procs[s.cfg.ProcessID] = now.Unix()
	return next, at
}

// reserveLocal is the fallback: the portal's rate over the processes that share it, no burst.
func (s *Shared) reserveLocal(memberID, key string) time.Time {
	s.mu.Lock()
	l, ok := s.fallback[key]
	if !ok {
		share := max(s.peers[key], MinShare)
		l = rate.NewLimiter(rate.Limit(s.cfg.RatePerSec/float64(share)), 1)
		s.fallback[key] = l
	}
	s.debt[key]++
	s.mu.Unlock()
	metrics.Bitrix24BudgetFallback.WithLabelValues(metrics.PortalLabel(memberID)).Inc()
	return time.Now().Add(l.Reserve().Delay())
}

func (s *Shared) get(ctx context.Context, key string) (cached, error) {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return cached{}, nil
	}
	if err != nil {
		return cached{}, err
	}
	var r record
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		// A record nobody can read is replaced: the worst case is one burst.
		s.log.Warn("unreadable budget record replaced", zap.String("key", key), zap.Error(err))
	}
	return cached{rec: r, rev: e.Revision()}, nil
}

// Drain implements bitrix24.Budget: the portal's bucket is full, so the shared record is set as
// if it were (the next slot one interval from now for every process) and slowed for slowFor.
func (s *Shared) Drain(ctx context.Context, memberID string) {
	key := "rate." + keyOf(memberID)
	s.update(ctx, key, func(r *record, now time.Time) {
		full := now.UnixNano() + int64(s.tau) + int64(s.interval)
		r.TAT = max(r.TAT, full)
		r.SlowUntil = now.Add(slowFor).UnixNano()
	})
}

// update applies f to the record by compare-and-set; it gives up quietly (a drain is advice).
func (s *Shared) update(ctx context.Context, key string, f func(*record, time.Time)) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout)
	defer cancel()
	for range maxConflicts {
		c, err := s.get(ctx, key)
		if err != nil {
			return
		}
		f(&c.rec, time.Now())
		data, _ := json.Marshal(c.rec)
		rev, err := s.write(ctx, key, data, c.rev)
		if err == nil {
			s.mu.Lock()
			s.cache[key] = cached{rec: c.rec, rev: rev}
			s.mu.Unlock()
			return
		}
		if !conflict(err) {
			return
		}
	}
}

// Pause implements bitrix24.Budget: the pause record ends at the later of its end and until. The
// local copy is set first, so this process stops at once whatever NATS does.
func (s *Shared) Pause(ctx context.Context, memberID string, until time.Time) {
	key := "pause." + keyOf(memberID)
	s.mu.Lock()
	if until.After(s.pauses[key]) {
		s.pauses[key] = until
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.OpTimeout)
	defer cancel()
	for range maxConflicts {
		var old pause
		var rev uint64
		e, err := s.kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			s.log.Warn("the Bitrix24 pause could not be shared through NATS; only this process stops", zap.String("member_id", memberID), zap.Error(err))
			return
		default:
			rev = e.Revision()
			_ = json.Unmarshal(e.Value(), &old)
		}
		if !until.After(old.Until) {
			return
		}
		data, _ := json.Marshal(pause{Until: until.UTC(), By: s.cfg.ProcessID})
		if _, err = s.write(ctx, key, data, rev); err == nil {
			return
		}
		if !conflict(err) {
			s.log.Warn("the Bitrix24 pause could not be shared through NATS; only this process stops", zap.String("member_id", memberID), zap.Error(err))
			return
		}
	}
}

// PausedUntil implements bitrix24.Budget.
func (s *Shared) PausedUntil(memberID string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pauses["pause."+keyOf(memberID)]
}

// Resume ends a portal's pause for every process (an administrator heard from Bitrix24 support that
// the block is lifted).
func (s *Shared) Resume(ctx context.Context, memberID string) error {
	key := "pause." + keyOf(memberID)
	s.mu.Lock()
	delete(s.pauses, key)
	s.mu.Unlock()
	if err := s.kv.Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("ending the pause of portal %s: %w", memberID, err)
	}
	return nil
}

// write stores data at key if the key is still at revision rev (0: if it does not exist yet): the
// compare-and-set every change of a record goes through.
func (s *Shared) write(ctx context.Context, key string, data []byte, rev uint64) (uint64, error) {
	if rev == 0 {
		return s.kv.Create(ctx, key, data)
	}
	return s.kv.Update(ctx, key, data, rev)
}

// conflict: the record changed since it was read (another process took a slot), or was created by
// another process first.
func conflict(err error) bool {
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	var apiErr *jetstream.APIError // R3 streams answer a conflict with another code (nats.go errors.go)
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// keyOf makes a KV key token of a member_id: as it is when it is one (hex in practice), else a hash,
// so that no member_id can address another key.
func keyOf(memberID string) string {
	if memberID != "" && len(memberID) <= 128 && strings.IndexFunc(memberID, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	}) < 0 {
		return memberID
	}
	h := sha256.Sum256([]byte(memberID))
	return "h" + hex.EncodeToString(h[:16])
}

func processID() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", keyOf(host), os.Getpid(), hex.EncodeToString(b))
}
