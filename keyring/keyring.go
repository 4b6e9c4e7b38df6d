package keyring

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/miekg/pkcs11"
	"go.uber.org/zap"
)

// cacheTTL bounds how long a resolved credential is reused without looking at the token again, so a
// certificate renewed with another tool is picked up without a restart.
const cacheTTL = 5 * time.Minute

// Keyring holds one long-lived crypto11 context per configured token and resolves PKCS#11 URIs to
// credentials. All methods are safe for concurrent use.
type Keyring struct {
	log    *zap.Logger
	tokens []*token
	byName map[string]*token

	mu     sync.Mutex
	cache  map[string]cacheEntry
	closed bool
	// revocationURL is the base URL of the CA's CRL and OCSP responder, written into the
	// certificates the CA issues (ca.revocation_url; SetRevocationURL).
	revocationURL string
	// register records the certificates the CA issues (SetIssuedRegister); nil records none.
	register IssuedRecorder
}

type cacheEntry struct {
	cred *Credential
	at   time.Time
}

// OpenError lists the tokens that failed to open. Open returns it together with a usable Keyring:
// the other tokens work, and the failed ones are offline (and reconnecting unless the PIN was
// rejected or the configuration is wrong).
type OpenError struct {
	Tokens map[string]error
}

func (e *OpenError) Error() string {
	names := make([]string, 0, len(e.Tokens))
	for n := range e.Tokens {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = e.Tokens[n].Error()
	}
	return fmt.Sprintf("%d of the configured PKCS#11 tokens did not open: %s", len(names), strings.Join(parts, "; "))
}

func (e *OpenError) Unwrap() []error {
	errs := make([]error, 0, len(e.Tokens))
	for _, err := range e.Tokens {
		errs = append(errs, err)
	}
	return errs
}

// Open opens one long-lived crypto11 context per token. A token that fails to open is logged,
// reported in the returned *OpenError (errors.As) and marked offline, and does NOT take the others
// down; the Keyring is returned anyway. Any other error (duplicate names, no tokens) returns a nil
// Keyring. Tokens are opened one after another: see module.go for why a PKCS#11 module must not be
// configured concurrently.
func Open(ctx context.Context, tokens []TokenConfig, log *zap.Logger) (*Keyring, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if len(tokens) == 0 {
		return nil, fmt.Errorf("%w: no tokens configured", ErrInvalidConfig)
	}
	k := &Keyring{log: log, byName: map[string]*token{}, cache: map[string]cacheEntry{}}
	failed := map[string]error{}
	// First build every token, so a configuration error that fails Open as a whole (duplicate
	// names) is found before any context is opened.
	cfgErrs := make([]error, len(tokens))
	for i, tc := range tokens {
		cfg, err := tc.normalize()
		if cfg.Name == "" {
			return nil, fmt.Errorf("%w: token #%d has no name, label, serial or slot", ErrInvalidConfig, i+1)
		}
		if k.byName[cfg.Name] != nil {
			return nil, fmt.Errorf("%w: two tokens are named %q; give each a distinct name", ErrInvalidConfig, cfg.Name)
		}
		t := &token{
			name: cfg.Name, cfg: cfg, log: log,
			wake: make(chan struct{}, 1), done: make(chan struct{}),
			sem: make(chan struct{}, max(cfg.MaxSessions-1, 1)),
		}
		k.tokens = append(k.tokens, t)
		k.byName[cfg.Name] = t
		cfgErrs[i] = err
	}
	for i, t := range k.tokens {
		err := cfgErrs[i]
		if err == nil {
			t.mod = moduleFor(t.cfg.Module)
			t.pin, err = t.cfg.readPIN()
		}
		if err == nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				err = fmt.Errorf("%w: token %q: open cancelled: %w", ErrTokenOffline, t.name, ctxErr)
			} else {
				err = t.connect()
			}
		} else {
			t.setErr(err, true)
		}
		if err != nil {
			failed[t.name] = err
			log.Error("PKCS#11 token did not open", zap.String("token", t.name), zap.Error(err))
		} else {
			log.Info("PKCS#11 token open", zap.String("token", t.name), zap.String("label", t.id.label),
				zap.String("serial", t.id.serial), zap.String("module", t.cfg.Module), zap.Int("max_sessions", t.cfg.MaxSessions))
		}
	}
	for _, t := range k.tokens {
		if t.mod != nil {
			go t.run()
			if !t.online.Load() {
				t.markOffline(nil)
			}
		}
	}
	if len(failed) > 0 {
		return k, &OpenError{Tokens: failed}
	}
	return k, nil
}

// Close stops the reconnect loops and closes every context. Signers handed out before fail with
// ErrTokenOffline afterwards.
func (k *Keyring) Close() error {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return nil
	}
	k.closed = true
	k.cache = map[string]cacheEntry{}
	k.mu.Unlock()
	for _, t := range k.tokens {
		close(t.done)
		if t.mod != nil {
			t.shutdown()
		}
	}
	return nil
}

// TokenStatus is one token's health, for `signet status`, the operator page and metrics.
type TokenStatus struct {
	Name                       string
	Online                     bool
	Err                        string
	SessionsInUse, MaxSessions int
}

// Status reports every configured token, in configuration order.
func (k *Keyring) Status() []TokenStatus {
	out := make([]TokenStatus, 0, len(k.tokens))
	for _, t := range k.tokens {
		s := TokenStatus{Name: t.name, Online: t.online.Load(), SessionsInUse: int(t.inUse.Load()), MaxSessions: t.cfg.MaxSessions}
		if err, _ := t.status(); err != nil && !s.Online {
			s.Err = err.Error()
		}
		out = append(out, s)
	}
	return out
}

// tokenFor picks the token a URI names: token= matches a configured name or the token's label,
// serial= and slot-id= the token's identity; with none of them and one token configured, that one.
func (k *Keyring) tokenFor(u URI) (*token, error) {
	if u.Token == "" && u.Serial == "" && u.Slot == nil {
		if len(k.tokens) == 1 {
			return k.tokens[0], nil
		}
		return nil, fmt.Errorf("%w: %s names no token (token=, serial= or slot-id=) and %d tokens are configured", ErrInvalidURI, u, len(k.tokens))
	}
	if t := k.byName[u.Token]; t != nil && u.Serial == "" && u.Slot == nil {
		return t, nil
	}
	for _, t := range k.tokens {
		t.mu.RLock()
		id, gen := t.id, t.gen
		t.mu.RUnlock()
		if u.Token != "" && u.Token != t.name && u.Token != id.label && u.Token != t.cfg.Label {
			continue
		}
		if u.Serial != "" && u.Serial != id.serial && u.Serial != t.cfg.Serial {
			continue
		}
		if u.Slot != nil && (gen == 0 || uint(*u.Slot) != id.slot) {
			continue
		}
		return t, nil
	}
	return nil, fmt.Errorf("%w: %s matches none of the configured tokens (%s)", ErrUnknownToken, u, strings.Join(k.names(), ", "))
}

func (k *Keyring) names() []string {
	n := make([]string, len(k.tokens))
	for i, t := range k.tokens {
		n[i] = t.name
	}
	return n
}

// tokenNamed finds a token by its configured name or label, or by a token URI (pkcs11:token=acme),
// which is resolved like a key URI's token part (tokenFor).
func (k *Keyring) tokenNamed(name string) (*token, error) {
	if strings.HasPrefix(strings.ToLower(name), uriScheme) {
		u, err := ParseURI(name)
		if err != nil {
			return nil, err
		}
		return k.tokenFor(u)
	}
	if t := k.byName[name]; t != nil {
		return t, nil
	}
	for _, t := range k.tokens {
		t.mu.RLock()
		label := t.id.label
		t.mu.RUnlock()
		if label == name && label != "" {
			return t, nil
		}
	}
	return nil, fmt.Errorf("%w: %q is not a configured token (configured: %s)", ErrUnknownToken, name, strings.Join(k.names(), ", "))
}

func cacheKey(t *token, id, label []byte) string {
	return fmt.Sprintf("%s\x00%x\x00%s", t.name, id, label)
}

// Credential resolves a key URI (token plus id and/or object label) to the key, its certificate
// (same CKA_ID, else same label) and the chain certificates stored on the token (matched by
// issuer, signatures checked). Results are cached for a few minutes. Accepted forms:
//
//	pkcs11:token=acme;object=mary-2026;id=%01   token label (or configured name), label and CKA_ID
//	pkcs11:token=acme;object=mary-2026          label only (must match exactly one key)
//	pkcs11:serial=8b723c82d6f0b28e;id=%01       token by serial number, key by CKA_ID
//	pkcs11:slot-id=3;object=mary-2026           token by slot
//	pkcs11:object=mary-2026                     when exactly one token is configured
//
// module-path and pin-source are ignored (the token is open already; pin.go, rule 2); a pin-value is
// refused (rule 1), so that a PIN never travels inside a job or a log line.
func (k *Keyring) Credential(ctx context.Context, uri string) (*Credential, error) {
	return k.lookup(ctx, uri, true)
}

// Key is Credential for a key whose certificate may live outside the token (signet sign --cert): the
// returned Credential's Certificate is nil when the token holds none.
func (k *Keyring) Key(ctx context.Context, uri string) (*Credential, error) {
	return k.lookup(ctx, uri, false)
}

func (k *Keyring) lookup(ctx context.Context, uri string, needCert bool) (*Credential, error) {
	u, err := keyURI(uri)
	if err != nil {
		return nil, err
	}
	t, err := k.tokenFor(u)
	if err != nil {
		return nil, err
	}
	var label []byte
	if u.Object != "" {
		label = []byte(u.Object)
	}
	return k.credential(ctx, t, u.ID, label, needCert)
}

func (k *Keyring) credential(ctx context.Context, t *token, id, label []byte, needCert bool) (*Credential, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ck := cacheKey(t, id, label)
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return nil, ErrClosed
	}
	if e, ok := k.cache[ck]; ok && time.Since(e.at) < cacheTTL {
		k.mu.Unlock()
		if !t.online.Load() {
			// Answer retry-later now rather than hand out a key that cannot sign.
			return nil, t.offlineErr()
		}
		return e.cred, nil
	}
	k.mu.Unlock()

	var cred *Credential
	err := t.do(func(c p11Context, gen uint64) error {
		var err error
		cred, err = k.resolve(c, gen, t, id, label)
		return err
	})
	if err != nil {
		return nil, err
	}
	if cred.Certificate == nil {
		if needCert {
			return nil, fmt.Errorf("%w: key %s has no certificate with its CKA_ID or label; import one (signet admin cert import)", ErrCertificateNotFound, cred.URI)
		}
		return cred, nil
	}
	k.mu.Lock()
	if !k.closed {
		k.cache[ck] = cacheEntry{cred: cred, at: time.Now()}
	}
	k.mu.Unlock()
	return cred, nil
}

// resolve finds the key pair, then its certificate and chain. Runs inside token.do.
func (k *Keyring) resolve(c p11Context, gen uint64, t *token, id, label []byte) (*Credential, error) {
	want := URI{Token: t.id.label, Object: string(label), ID: id}
	signers, err := c.FindKeyPairs(id, label)
	if err != nil {
		return nil, fmt.Errorf("find key %s: %w", want, err)
	}
	switch len(signers) {
	case 0:
		return nil, fmt.Errorf("%w: no private key matches %s on token %q; list the keys with `signet admin cert list --token %s`",
			ErrKeyNotFound, want, t.name, t.name)
	case 1:
	default:
		return nil, fmt.Errorf("%w: %d private keys match %s on token %q; add id= to the URI", ErrKeyNotFound, len(signers), want, t.name)
	}
	s := signers[0]
	kid, klabel, err := keyAttrs(c, s)
	if err != nil {
		return nil, fmt.Errorf("read attributes of key %s: %w", want, err)
	}
	certs, err := t.findObjects(pkcs11.CKO_CERTIFICATE)
	if err != nil {
		return nil, fmt.Errorf("list certificates on token %q: %w", t.name, err)
	}
	u := URI{Token: t.id.label, Object: string(klabel), ID: kid}
	cred := &Credential{
		URI:   u.String(),
		Token: t.name,
		Label: string(klabel),
		ID:    kid,
	}
	cred.Key = &key{tok: t, id: kid, label: klabel, pub: s.Public(), uri: cred.URI, gen: gen, signer: s}
	cred.Certificate = pickCertificate(s.Public(), kid, klabel, certs)
	if cred.Certificate != nil {
		cred.Chain = buildChain(cred.Certificate, certs)
	}
	return cred, nil
}

// pickCertificate returns the certificate for the key: same CKA_ID first, else same label; in both
// cases only if it carries the key's public key.
func pickCertificate(pub crypto.PublicKey, id, label []byte, certs []p11Object) *x509.Certificate {
	match := func(o p11Object) bool {
		eq, ok := o.cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
		return ok && eq.Equal(pub)
	}
	if len(id) > 0 {
		for _, o := range certs {
			if bytes.Equal(o.id, id) && match(o) {
				return o.cert
			}
		}
	}
	if len(label) > 0 {
		for _, o := range certs {
			if bytes.Equal(o.label, label) && match(o) {
				return o.cert
			}
		}
	}
	return nil
}

// List returns every credential (a key with a certificate) on every online token, or on the one
// token named. Keys without a certificate are left out. An offline token is skipped when listing
// all tokens, and an error when it is the one named.
func (k *Keyring) List(ctx context.Context, tokenName string) ([]*Credential, error) {
	ts := k.tokens
	if tokenName != "" {
		t, err := k.tokenNamed(tokenName)
		if err != nil {
			return nil, err
		}
		ts = []*token{t}
	}
	var out []*Credential
	for _, t := range ts {
		var keys []p11Object
		err := t.do(func(p11Context, uint64) error {
			var err error
			keys, err = t.findObjects(pkcs11.CKO_PRIVATE_KEY)
			return err
		})
		if err != nil {
			if tokenName == "" && errors.Is(err, ErrTokenOffline) {
				continue
			}
			return nil, fmt.Errorf("list keys on token %q: %w", t.name, err)
		}
		for _, o := range keys {
			if len(o.id) == 0 && len(o.label) == 0 {
				continue
			}
			c, err := k.credential(ctx, t, o.id, o.label, false)
			if err != nil {
				if errors.Is(err, ErrKeyNotFound) {
					continue // private key without its public half: not usable through crypto11
				}
				return nil, err
			}
			if c.Certificate != nil {
				out = append(out, c)
			}
		}
	}
	return out, nil
}

// invalidate drops every cached credential of the token (after generating or importing).
func (k *Keyring) invalidate(t *token) {
	k.mu.Lock()
	defer k.mu.Unlock()
	prefix := t.name + "\x00"
	for ck := range k.cache {
		if strings.HasPrefix(ck, prefix) {
			delete(k.cache, ck)
		}
	}
}

// keyURI parses a URI that must name a key (a pin-value is refused by ParseURI, pin.go).
func keyURI(s string) (URI, error) {
	u, err := ParseURI(s)
	if err != nil {
		return u, err
	}
	if len(u.ID) == 0 && u.Object == "" {
		return u, fmt.Errorf("%w: %s names no key; add id= or object=", ErrInvalidURI, u)
	}
	return u, nil
}
