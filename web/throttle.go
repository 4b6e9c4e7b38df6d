package web

import (
	"sync"
	"time"
)

// Sign-in limits of the control panel (per process). An attempt is counted before its password is
// hashed, so attempts sent in parallel past a limit are refused without a hash; and only a few
// Argon2id hashes (64 MiB each) run at once, so a flood of sign-ins costs bounded memory and CPU.
const (
	// DefaultLoginMaxFailures wrong passwords in a row for one login lock it for DefaultLoginLockout.
	DefaultLoginMaxFailures = 5
	DefaultLoginLockout     = 15 * time.Minute
	// DefaultLoginMaxPerAddress wrong passwords from one client address within DefaultLoginLockout
	// lock that address for DefaultLoginLockout, whatever the logins tried.
	DefaultLoginMaxPerAddress = 20
	// DefaultMaxConcurrentHashes is how many Argon2id checks run at once; a sign-in beyond them is
	// answered 503 with Retry-After at once, without hashing.
	DefaultMaxConcurrentHashes = 2
	// maxTracked bounds the throttle's tables; past it, entries with nothing in flight and no lock go.
	maxTracked = 10000
)

// throttle counts sign-in attempts per login and per client address.
type throttle struct {
	maxLogin, maxAddr int
	lockout           time.Duration

	mu     sync.Mutex
	logins map[string]*attempts
	addrs  map[string]*attempts
}

// attempts is one login's or one address's record.
type attempts struct {
	failed   int       // wrong passwords: in a row (login) or since since (address)
	inflight int       // attempts admitted whose password is being checked
	since    time.Time // the address's first counted failure
	until    time.Time // locked until
}

func newThrottle(maxLogin, maxAddr int, lockout time.Duration) *throttle {
	return &throttle{maxLogin: maxLogin, maxAddr: maxAddr, lockout: lockout,
		logins: map[string]*attempts{}, addrs: map[string]*attempts{}}
}

func entry(m map[string]*attempts, k string, now time.Time) *attempts {
	if a := m[k]; a != nil {
		return a
	}
	if len(m) >= maxTracked {
		for key, a := range m {
			if a.inflight == 0 && !now.Before(a.until) {
				delete(m, key)
			}
		}
	}
	a := &attempts{}
	m[k] = a
	return a
}

// admit reserves an attempt for login from addr, before any hashing. It refuses (with how long to
// wait) when either is locked, or when the failures so far plus the attempts still being checked
// reach a limit: then one more wrong password could not be told from the ones in flight.
func (t *throttle) admit(login, addr string, now time.Time) (time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l, a := entry(t.logins, login, now), entry(t.addrs, addr, now)
	if !a.since.IsZero() && now.Sub(a.since) > t.lockout {
		a.failed, a.since = 0, time.Time{}
	}
	for _, e := range []*attempts{l, a} {
		if now.Before(e.until) {
			return e.until.Sub(now), false
		}
	}
	if l.failed+l.inflight >= t.maxLogin || (t.maxAddr > 0 && a.failed+a.inflight >= t.maxAddr) {
		return 5 * time.Second, false // decided once the attempts in flight are
	}
	l.inflight++
	a.inflight++
	return 0, true
}

// done records the outcome of an admitted attempt; abandoned (never checked) counts as nothing.
func (t *throttle) done(login, addr string, ok, abandoned bool, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l, a := entry(t.logins, login, now), entry(t.addrs, addr, now)
	l.inflight, a.inflight = max(l.inflight-1, 0), max(a.inflight-1, 0)
	switch {
	case abandoned:
	case ok:
		l.failed = 0
	default:
		if l.failed++; l.failed >= t.maxLogin {
			l.failed, l.until = 0, now.Add(t.lockout)
		}
		if a.since.IsZero() {
			a.since = now
		}
		if a.failed++; t.maxAddr > 0 && a.failed >= t.maxAddr {
			a.failed, a.since, a.until = 0, time.Time{}, now.Add(t.lockout)
		}
	}
}
