package web

// Limits of the public verification page. Anyone may upload, so no one may take it from the others:
// each client address has a few uploads at a time and a rate, uploads in total are capped, an
// upload must keep arriving at a minimum rate (a slow upload is cut off, not waited for), and only
// the verification itself — after the file is in — takes one of the few verification slots.

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// VerifyLimits bound the verification page; zero fields take the defaults.
type VerifyLimits struct {
	// PerClient is the uploads one client address may have in progress at once (default 2).
	PerClient int
	// RatePerMinute and Burst bound the uploads one client address may start (default 30/min, 10).
	RatePerMinute float64
	Burst         int
	// Uploads is the uploads in progress at once from everyone (default 32); each is a temporary file.
	Uploads int
	// Concurrency is the verifications running at once (default 2): they take CPU and decoding budget.
	Concurrency int
	// MinUploadRate is the slowest an upload may arrive on average, in bytes per second (default
	// 64 KiB/s), after a grace of UploadGrace (default 15 s).
	MinUploadRate int64
	UploadGrace   time.Duration
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names the client; a request from
	// any other address is that address's.
	TrustedProxies []netip.Prefix
}

func (l VerifyLimits) withDefaults() VerifyLimits {
	if l.PerClient <= 0 {
		l.PerClient = 2
	}
	if l.RatePerMinute <= 0 {
		l.RatePerMinute = 30
	}
	if l.Burst <= 0 {
		l.Burst = 10
	}
	if l.Uploads <= 0 {
		l.Uploads = 32
	}
	if l.Concurrency <= 0 {
		l.Concurrency = 2
	}
	if l.MinUploadRate <= 0 {
		l.MinUploadRate = 64 << 10
	}
	if l.UploadGrace <= 0 {
		l.UploadGrace = 15 * time.Second
	}
	return l
}

// maxClients bounds the clients remembered; beyond it, idle ones are forgotten first.
const maxClients = 50000

type clientState struct {
	active  int
	limiter *rate.Limiter
	seen    time.Time
}

// verifyLimiter holds the page's limits and the state of each client address.
type verifyLimiter struct {
	lim     VerifyLimits
	uploads chan struct{}
	checks  chan struct{}

	mu      sync.Mutex
	clients map[string]*clientState
}

func newVerifyLimiter(l VerifyLimits) *verifyLimiter {
	l = l.withDefaults()
	return &verifyLimiter{lim: l, uploads: make(chan struct{}, l.Uploads), checks: make(chan struct{}, l.Concurrency),
		clients: make(map[string]*clientState)}
}

// refusal says why an upload may not start: the HTTP status and the page's message.
type refusal struct {
	status int
	msg    string
}

// admit lets the client start an upload, or says why not; done ends the upload.
func (v *verifyLimiter) admit(client string) (done func(), no *refusal) {
	now := time.Now()
	v.mu.Lock()
	c := v.clients[client]
	if c == nil {
		if len(v.clients) >= maxClients {
			v.forgetIdle(now)
		}
		if len(v.clients) >= maxClients {
			v.mu.Unlock()
			return nil, &refusal{http.StatusServiceUnavailable, "web.verify.limit.global"}
		}
		c = &clientState{limiter: rate.NewLimiter(rate.Limit(v.lim.RatePerMinute/60), v.lim.Burst)}
		v.clients[client] = c
	}
	c.seen = now
	if c.active >= v.lim.PerClient {
		v.mu.Unlock()
		return nil, &refusal{http.StatusTooManyRequests, "web.verify.limit.concurrent"}
	}
	if !c.limiter.AllowN(now, 1) {
		v.mu.Unlock()
		return nil, &refusal{http.StatusTooManyRequests, "web.verify.limit.rate"}
	}
	select {
	case v.uploads <- struct{}{}:
	default:
		v.mu.Unlock()
		return nil, &refusal{http.StatusServiceUnavailable, "web.verify.limit.receiving"}
	}
	c.active++
	v.mu.Unlock()
	return func() {
		<-v.uploads
		v.mu.Lock()
		c.active--
		c.seen = time.Now()
		v.mu.Unlock()
	}, nil
}

// forgetIdle drops the clients with nothing in progress whose rate has refilled (called with mu).
func (v *verifyLimiter) forgetIdle(now time.Time) {
	refill := time.Duration(float64(v.lim.Burst)/v.lim.RatePerMinute*float64(time.Minute)) + time.Minute
	for k, c := range v.clients {
		if c.active == 0 && now.Sub(c.seen) > refill {
			delete(v.clients, k)
		}
	}
}

// check waits (as long as ctx allows) for one of the verification slots; done gives it back.
func (v *verifyLimiter) check(ctx context.Context) (done func(), err error) {
	select {
	case v.checks <- struct{}{}:
		return func() { <-v.checks }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// clientAddress is who is asking: the peer's address, or, when the peer is a trusted proxy, the
// nearest address in X-Forwarded-For that is not one. IPv6 clients are grouped by their /64, which
// one subscriber usually holds whole.
func clientAddress(r *http.Request, trusted []netip.Prefix) string {
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	addr = addr.Unmap()
	if len(trusted) > 0 && isTrusted(addr) {
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break
			}
			addr = a.Unmap()
			if !isTrusted(addr) {
				break
			}
		}
	}
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

// minRateReader cuts an upload off when it arrives slower than rate bytes per second on average
// (after grace): before each read it moves the connection's read deadline to the time by which the
// bytes read so far, and the next chunk, should have arrived.
type minRateReader struct {
	r      interface{ Read([]byte) (int, error) }
	rc     *http.ResponseController
	start  time.Time
	grace  time.Duration
	rate   int64
	n      int64
	failed bool // the deadline could not be set (not a net.Conn): no rate is enforced
}

func (m *minRateReader) Read(p []byte) (int, error) {
	if !m.failed {
		due := m.start.Add(m.grace + time.Duration(float64(m.n+int64(len(p)))/float64(m.rate)*float64(time.Second)))
		if err := m.rc.SetReadDeadline(due); err != nil {
			m.failed = true
		} else {
			// The answer is written after the whole upload: its deadline moves with the read's.
			m.rc.SetWriteDeadline(due.Add(time.Minute))
		}
	}
	n, err := m.r.Read(p)
	m.n += int64(n)
	return n, err
}
