package keyring

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/pkcs11"
	"github.com/thales-e-security/pool"
	"go.uber.org/zap"
)

// Reconnect backoff; variables so that tests can shorten them.
var (
	reconnectMin = 200 * time.Millisecond
	reconnectMax = 30 * time.Second
)

// token is one configured PKCS#11 token: its crypto11 context while online, and the goroutine that
// brings it back when it goes offline.
type token struct {
	name string
	cfg  TokenConfig
	pin  string
	mod  *module
	log  *zap.Logger

	// mu is held shared by every operation for its whole duration and exclusively by (re)connect and
	// close, so a context is never closed under a running C_Sign.
	mu   sync.RWMutex
	ctx  p11Context
	id   tokenIdentity
	gen  uint64 // incremented on every successful connect; keys re-find their handles when it moves
	shut bool   // set by shutdown; connect refuses afterwards

	online atomic.Bool
	inUse  atomic.Int64
	// sem holds one slot per pooled session (MaxSessions-1: crypto11 keeps one session for the
	// login), so inUse counts sessions really held, and a full pool turns into ErrTokenBusy after
	// PoolWaitTimeout instead of an unbounded queue inside crypto11.
	sem chan struct{}

	errMu   sync.Mutex
	lastErr error
	fatal   bool // PIN rejected or bad configuration: never retried

	wake chan struct{}
	done chan struct{}
}

func (t *token) selector() string {
	switch {
	case t.cfg.Label != "":
		return fmt.Sprintf("label %q", t.cfg.Label)
	case t.cfg.Serial != "":
		return fmt.Sprintf("serial %q", t.cfg.Serial)
	case t.cfg.Slot != nil:
		return fmt.Sprintf("slot %d", *t.cfg.Slot)
	}
	return "no selector"
}

func (t *token) pinSource() string {
	if t.cfg.PinFile != "" {
		return "file " + t.cfg.PinFile
	}
	return "environment variable " + t.cfg.PinEnv
}

func (t *token) setErr(err error, fatal bool) {
	t.errMu.Lock()
	t.lastErr = err
	t.fatal = t.fatal || fatal
	t.errMu.Unlock()
}

func (t *token) status() (error, bool) {
	t.errMu.Lock()
	defer t.errMu.Unlock()
	return t.lastErr, t.fatal
}

// connect opens the context. On failure the token stays offline with the error recorded.
func (t *token) connect() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.shut {
		return fmt.Errorf("token %q: %w", t.name, ErrClosed)
	}
	if t.ctx != nil {
		return nil
	}
	ctx, id, err := t.mod.connect(t)
	if err != nil {
		fatal := errors.Is(err, ErrPINIncorrect) || errors.Is(err, ErrPINLocked) || errors.Is(err, ErrInvalidConfig)
		t.setErr(err, fatal)
		return err
	}
	t.ctx, t.id = ctx, id
	t.gen++
	t.setErr(nil, false)
	t.online.Store(true)
	return nil
}

// shutdown closes the context for good: a reconnect that races with Keyring.Close cannot open a
// new one afterwards.
func (t *token) shutdown() {
	t.setErr(ErrClosed, true)
	t.mu.Lock()
	t.shut = true
	t.mu.Unlock()
	t.disconnect()
}

// disconnect closes the context (if any) and leaves the token offline.
func (t *token) disconnect() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.online.Store(false)
	if t.ctx == nil {
		return
	}
	if err := t.mod.disconnect(t, t.ctx, t.id.serial); err != nil {
		t.log.Debug("closing PKCS#11 context", zap.String("token", t.name), zap.Error(err))
	}
	t.ctx = nil
}

// markOffline takes the token out of service and wakes the reconnect loop. It only touches atomics
// and channels, so it is safe while an operation holds mu.
func (t *token) markOffline(cause error) {
	if t.online.CompareAndSwap(true, false) {
		t.setErr(cause, false)
		t.log.Warn("PKCS#11 token offline; reconnecting in the background",
			zap.String("token", t.name), zap.Error(cause))
	}
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// run is the reconnect loop: whenever the token is offline for a reason that may pass (device
// removed, session lost, module finalized, token not present yet) it closes the old context and
// configures a new one, with exponential backoff. A rejected PIN is never retried.
func (t *token) run() {
	for {
		select {
		case <-t.done:
			return
		case <-t.wake:
		}
		backoff := reconnectMin
		for !t.online.Load() {
			if _, fatal := t.status(); fatal {
				break
			}
			t.disconnect()
			err := t.connect()
			if err == nil {
				t.log.Info("PKCS#11 token back online", zap.String("token", t.name),
					zap.String("serial", t.id.serial))
				break
			}
			t.log.Warn("PKCS#11 token reconnect failed", zap.String("token", t.name),
				zap.Duration("retry_in", backoff), zap.Error(err))
			select {
			case <-t.done:
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, reconnectMax)
		}
	}
}

// do runs f with the live context, counting the session it occupies and classifying its error.
func (t *token) do(f func(ctx p11Context, gen uint64) error) error {
	if !t.online.Load() {
		return t.offlineErr()
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.ctx == nil || !t.online.Load() {
		return t.offlineErr()
	}
	if err := t.acquire(); err != nil {
		return err
	}
	defer t.release()
	return t.classify(f(t.ctx, t.gen))
}

func (t *token) acquire() error {
	select {
	case t.sem <- struct{}{}:
	default:
		timer := time.NewTimer(t.cfg.PoolWaitTimeout)
		defer timer.Stop()
		select {
		case t.sem <- struct{}{}:
		case <-timer.C:
			return fmt.Errorf("%w: token %q: no free session within %s (max_sessions %d); retry later",
				ErrTokenBusy, t.name, t.cfg.PoolWaitTimeout, t.cfg.MaxSessions)
		}
	}
	t.inUse.Add(1)
	return nil
}

func (t *token) release() {
	t.inUse.Add(-1)
	<-t.sem
}

func (t *token) offlineErr() error {
	last, fatal := t.status()
	what := "Signet reconnects in the background; retry later"
	switch {
	case errors.Is(last, ErrClosed):
		// Still ErrTokenOffline: a job caught by a shutdown is retried by another worker.
		what = "this process is shutting down; retry later"
	case fatal:
		what = "fix the token configuration and restart"
	}
	if last != nil {
		return fmt.Errorf("%w: token %q (%s): %w", ErrTokenOffline, t.name, what, last)
	}
	return fmt.Errorf("%w: token %q (%s)", ErrTokenOffline, t.name, what)
}

// deviceErrors are the return values after which the context is useless: the device, the session
// pool or the library state is gone. PKCS#11 v2.40 §5.1.
var deviceErrors = map[pkcs11.Error]bool{
	pkcs11.CKR_DEVICE_REMOVED:            true,
	pkcs11.CKR_DEVICE_ERROR:              true,
	pkcs11.CKR_DEVICE_MEMORY:             false,
	pkcs11.CKR_TOKEN_NOT_PRESENT:         true,
	pkcs11.CKR_TOKEN_NOT_RECOGNIZED:      true,
	pkcs11.CKR_SESSION_HANDLE_INVALID:    true,
	pkcs11.CKR_SESSION_CLOSED:            true,
	pkcs11.CKR_SESSION_COUNT:             false,
	pkcs11.CKR_USER_NOT_LOGGED_IN:        true,
	pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED:  true,
	pkcs11.CKR_GENERAL_ERROR:             true,
	pkcs11.CKR_FUNCTION_FAILED:           false,
	pkcs11.CKR_SLOT_ID_INVALID:           true,
	pkcs11.CKR_OPERATION_NOT_INITIALIZED: false,
}

// classify turns a device/session failure into ErrTokenOffline (and starts the reconnect) and a
// session-pool timeout into ErrTokenBusy; other errors pass through.
func (t *token) classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrTokenOffline) || errors.Is(err, ErrPINIncorrect) || errors.Is(err, ErrPINLocked) ||
		errors.Is(err, ErrTokenNotFound) || errors.Is(err, ErrInvalidConfig) {
		return err
	}
	if errors.Is(err, pool.ErrTimeout) {
		return fmt.Errorf("%w: token %q: no free session within %s (max_sessions %d); retry later: %w",
			ErrTokenBusy, t.name, t.cfg.PoolWaitTimeout, t.cfg.MaxSessions, err)
	}
	var p11 pkcs11.Error
	if errors.As(err, &p11) && deviceErrors[p11] {
		if p11 == pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED {
			// The whole module was finalized: every token on it is dead, not only this one.
			go t.mod.reset(fmt.Errorf("module %s was finalized: %w", t.mod.path, err))
		}
		t.markOffline(err)
		return fmt.Errorf("%w: token %q: %w; Signet reconnects in the background, retry later", ErrTokenOffline, t.name, err)
	}
	return err
}

// checkObjectsGone runs after a handle we held turned invalid. One deleted key is not a token
// problem; a token that suddenly shows no private key at all is what a token removed from under the
// library looks like when the module does not report CKR_DEVICE_REMOVED (SoftHSM whose token
// directory went away does exactly this). Then the token is taken offline and reconnected, which
// re-reads it from scratch.
func (t *token) checkObjectsGone(cause error) error {
	keys, err := t.findObjects(pkcs11.CKO_PRIVATE_KEY)
	if err != nil {
		return err
	}
	if len(keys) > 0 {
		return cause
	}
	lost := fmt.Errorf("the token shows no private keys any more after %w", cause)
	t.markOffline(lost)
	return fmt.Errorf("%w: token %q: %w; Signet reconnects in the background, retry later", ErrTokenOffline, t.name, lost)
}
