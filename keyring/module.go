package keyring

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"

	"github.com/ThalesIgnite/crypto11"
	"github.com/miekg/pkcs11"
)

// A PKCS#11 module is process-wide state: C_Initialize and C_Finalize act on every session of every
// token the module serves. crypto11 counts its contexts per module path and, when Configure fails
// half-way, calls C_Finalize even when other contexts are live; and it ignores
// CKR_USER_ALREADY_LOGGED_IN, so a wrong PIN passes when the token is already logged in. module
// keeps Signet on the safe side of both:
//   - every Configure and Close on a module is serialised by module.mu;
//   - before Configure, the label/serial/slot and the PIN are checked through a separate handle on
//     the same library (raw) that never finalizes while contexts are live, so Configure is only
//     called when it will succeed;
//   - a token already logged in by a live context is only opened again with the same PIN, compared
//     as an HMAC under a per-process random key;
//   - the library is finalized only by the Close of the last context, which waits for the token's
//     operations to end (C_Finalize concurrent with C_Sign crashes SoftHSM inside the library);
//   - should Configure still fail after the pre-check while other contexts are live, every token
//     on the module is taken offline and reconnects, instead of failing later one by one.
//
// The registry is process-wide, so several Keyrings in one process (tests, `signet serve` running
// the demo) share it. Code outside this package must not use crypto11 on the same module.
type module struct {
	path string

	mu     sync.Mutex
	raw    *pkcs11.Ctx         // our own handle on the library: slot lookup, PIN check, object search
	open   int                 // live crypto11 contexts on this module opened by this package
	logins map[string]*login   // by token serial
	tokens map[*token]struct{} // tokens with a live context, told when the module is reset
}

type login struct {
	refs   int
	pinMAC []byte
}

var (
	registryMu sync.Mutex
	registry   = map[string]*module{}
	pinKey     = func() []byte {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			panic("keyring: no randomness for the PIN HMAC key: " + err.Error())
		}
		return b
	}()
)

func moduleFor(path string) *module {
	registryMu.Lock()
	defer registryMu.Unlock()
	m := registry[path]
	if m == nil {
		m = &module{path: path, logins: map[string]*login{}, tokens: map[*token]struct{}{}}
		registry[path] = m
	}
	return m
}

func pinMAC(pin string) []byte {
	h := hmac.New(sha256.New, pinKey)
	h.Write([]byte(pin))
	return h.Sum(nil)
}

// tokenIdentity is what the pre-check learnt about the token before Configure.
type tokenIdentity struct {
	slot   uint
	serial string
	label  string
	model  string
	// hardware: the slot says CKF_HW_SLOT (PKCS#11 v2.40 §3.2, CK_SLOT_INFO): a device, not a
	// software token.
	hardware bool
}

// connect pre-checks the token and then configures a crypto11 context for it. It is the only place
// Signet calls crypto11.Configure.
func (m *module) connect(t *token) (*crypto11.Context, tokenIdentity, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.raw == nil {
		m.raw = pkcs11.New(m.path)
		if m.raw == nil {
			return nil, tokenIdentity{}, fmt.Errorf("%w: token %q: cannot load PKCS#11 module %s (missing file or not a PKCS#11 library)", ErrInvalidConfig, t.name, m.path)
		}
	}
	id, err := m.precheck(t)
	if err != nil {
		return nil, id, err
	}
	cfg := &crypto11.Config{
		Path:            m.path,
		Pin:             t.pin,
		MaxSessions:     t.cfg.MaxSessions,
		PoolWaitTimeout: t.cfg.PoolWaitTimeout,
	}
	switch {
	case id.serial != "":
		cfg.TokenSerial = id.serial
	case t.cfg.Label != "":
		cfg.TokenLabel = t.cfg.Label
	default:
		slot := int(id.slot)
		cfg.SlotNumber = &slot
	}
	ctx, err := crypto11.Configure(cfg)
	if err != nil {
		if m.open > 0 {
			// crypto11 has called C_Finalize under the other contexts: every token on the module
			// must reconnect.
			m.resetLocked(fmt.Errorf("configure of token %q finalized the module: %w", t.name, err))
		}
		return nil, id, t.classify(fmt.Errorf("configure token: %w", err))
	}
	m.open++
	l := m.logins[id.serial]
	if l == nil {
		l = &login{pinMAC: pinMAC(t.pin)}
		m.logins[id.serial] = l
	}
	l.refs++
	m.tokens[t] = struct{}{}
	return ctx, id, nil
}

// precheck finds the token's slot and checks the PIN without touching the live contexts. When no
// context is live the library is initialised here and finalized again before Configure.
func (m *module) precheck(t *token) (tokenIdentity, error) {
	var id tokenIdentity
	if m.open == 0 {
		err := m.raw.Initialize()
		switch {
		case err == nil:
			defer func() { _ = m.raw.Finalize() }()
		case isCKR(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED):
			// Someone else in the process initialised it; leave it to them.
		default:
			return id, fmt.Errorf("%w: token %q: C_Initialize of %s: %v", ErrTokenOffline, t.name, m.path, err)
		}
	}
	slots, err := m.raw.GetSlotList(true)
	if err != nil {
		return id, fmt.Errorf("%w: token %q: list slots of %s: %v", ErrTokenOffline, t.name, m.path, err)
	}
	found := false
	for _, s := range slots {
		info, err := m.raw.GetTokenInfo(s)
		if err != nil {
			continue
		}
		if (t.cfg.Slot != nil && uint(*t.cfg.Slot) == s) ||
			(t.cfg.Serial != "" && info.SerialNumber == t.cfg.Serial) ||
			(t.cfg.Label != "" && info.Label == t.cfg.Label) {
			id = tokenIdentity{slot: s, serial: info.SerialNumber, label: info.Label, model: info.Model}
			if si, err := m.raw.GetSlotInfo(s); err == nil {
				id.hardware = si.Flags&pkcs11.CKF_HW_SLOT != 0
			}
			found = true
			break
		}
	}
	if !found {
		return id, fmt.Errorf("%w: token %q (%s) is not in module %s; check the label/serial/slot with `pkcs11-tool --module %s --list-slots`",
			ErrTokenNotFound, t.name, t.selector(), m.path, m.path)
	}
	if l := m.logins[id.serial]; l != nil && id.serial != "" {
		// Already logged in by a live context: C_Login would answer CKR_USER_ALREADY_LOGGED_IN
		// whatever the PIN, so compare with the PIN that logged in.
		if !hmac.Equal(l.pinMAC, pinMAC(t.pin)) {
			return id, fmt.Errorf("%w: token %q: the PIN differs from the one token %s is already logged in with in this process; fix the PIN source",
				ErrPINIncorrect, t.name, id.serial)
		}
		return id, nil
	}
	sess, err := m.raw.OpenSession(id.slot, pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		return id, fmt.Errorf("%w: token %q: open a session to check the PIN: %v", ErrTokenOffline, t.name, err)
	}
	// Closing the only session of the token logs the user out again; Configure logs in for real.
	defer func() { _ = m.raw.CloseSession(sess) }()
	err = m.raw.Login(sess, pkcs11.CKU_USER, t.pin)
	switch {
	case err == nil, isCKR(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN):
		return id, nil
	case isCKR(err, pkcs11.CKR_PIN_INCORRECT), isCKR(err, pkcs11.CKR_PIN_INVALID), isCKR(err, pkcs11.CKR_PIN_LEN_RANGE):
		return id, fmt.Errorf("%w: token %q: the token refused the PIN from %s; fix it before restarting (Signet will not retry, to avoid locking the token)",
			ErrPINIncorrect, t.name, t.pinSource())
	case isCKR(err, pkcs11.CKR_PIN_LOCKED), isCKR(err, pkcs11.CKR_PIN_EXPIRED):
		return id, fmt.Errorf("%w: token %q: %v; the security officer must unlock or reset the user PIN", ErrPINLocked, t.name, err)
	default:
		return id, fmt.Errorf("%w: token %q: log in: %v", ErrTokenOffline, t.name, err)
	}
}

// disconnect closes a context opened by connect. crypto11 finalizes the module when it was the last.
func (m *module) disconnect(t *token, ctx p11Context, serial string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	err := ctx.Close()
	m.open--
	if l := m.logins[serial]; l != nil {
		l.refs--
		if l.refs <= 0 {
			delete(m.logins, serial)
		}
	}
	delete(m.tokens, t)
	return err
}

// reset tells every token with a live context on this module that the module was finalized under
// it (CKR_CRYPTOKI_NOT_INITIALIZED): all of them must close and configure again.
func (m *module) reset(cause error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.resetLocked(cause)
}

func (m *module) resetLocked(cause error) {
	for t := range m.tokens {
		t.markOffline(cause)
	}
}

func isCKR(err error, code uint) bool {
	var e pkcs11.Error
	return errors.As(err, &e) && uint(e) == code
}
