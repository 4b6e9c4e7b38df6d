// Package portals keeps the Bitrix24 portals that installed Signet, keyed by member_id, in a JetStream
// KV bucket: their endpoints, application_token and OAuth tokens. The intake reads it to authenticate
// robot calls; the callback workers use it as the REST client's token store. It never logs a token, and
// never writes one to the bucket in clear: the access token, refresh token and application_token are
// sealed with AES-256-GCM (the keys of security.secret_keys_file), bound to the portal's member_id.
//
// It sits beside bitrix24 rather than in internal/ because a portal record is a bitrix24.Auth and the
// Registry is the REST client's bitrix24.TokenStore: it belongs to the protocol, and internal/ imports
// no domain package (docs/architecture.md).
package portals

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/contracts"
)

// ErrUnknownPortal: no portal with that member_id installed Signet.
var ErrUnknownPortal = errors.New("portal not registered")

// Portal is one installed portal.
type Portal struct {
	Auth      bitrix24.Auth `json:"auth"`
	Installed time.Time     `json:"installed"`
	Updated   time.Time     `json:"updated"`
	Install   Install       `json:"install"`
	// Language is the portal's Bitrix24 language id: LANGUAGE_ID of ONAPPINSTALL, or until one arrives
	// LANG of the installation page (the installing administrator's). Messages to the portal (timeline
	// comments, notifications) are written in it (issue 18, must 2; internal/i18n.FromBitrix24). Empty
	// for portals installed before it was recorded: English.
	Language string `json:"language,omitempty"`
}

// Install says how the portal proved itself (producer/install.go, docs/security/portal.md).
type Install struct {
	// Proven is when the portal last confirmed an administrator's access token for this member_id at
	// its registered address (the installation page, or an install event carrying tokens).
	Proven time.Time `json:"proven,omitempty"`
	// TokenSource is how the stored application_token was accepted: TokenProven (it arrived with a
	// proven access token, or matched the stored one) or TokenWindow (a token-less ONAPPINSTALL soon
	// after the installation page proved the portal).
	TokenSource string    `json:"token_source,omitempty"`
	TokenSet    time.Time `json:"token_set,omitempty"`
}

// Token sources of Install.TokenSource.
const (
	TokenProven = "proven"
	TokenWindow = "window"
)

// kvTimeout bounds one read or token write of a portal's record. Every REST call reads the record
// (Load), often under a long deadline (a Batcher request has 10 minutes), and nats.go applies its own
// 5 s timeout only to a context without one: a KV read whose reply died with a stream leader waited
// out the whole deadline, holding the portal's batch queue and every job and callback behind it
// (issue 21 must 7; docs/testing.md, TestMultiHost).
const kvTimeout = 5 * time.Second

// ErrChanged: the portal's record changed since it was read (another install at the same time); read
// it again and retry.
var ErrChanged = errors.New("portal record changed meanwhile; retry")

// Sealer encrypts the tokens at rest (identity.Keys implements it). aad binds a ciphertext to its
// portal.
type Sealer interface {
	Seal(plain []byte, aad string) ([]byte, error)
	Open(data []byte, aad string) ([]byte, error)
}

// Registry is the portals bucket.
type Registry struct {
	kv     jetstream.KeyValue
	sealer Sealer

	// decoded keeps the last decoded record of each portal with its revision: every REST call reads the
	// portal (tokens rotate, and another process may have rotated them), but a revision already seen
	// need not be unsealed and parsed again.
	mu      sync.Mutex
	decoded map[string]decodedPortal
}

type decodedPortal struct {
	rev uint64
	p   Portal
}

// record is what the bucket holds: the Auth with its three secrets blanked, and the secrets sealed.
type record struct {
	Auth      bitrix24.Auth   `json:"auth"`
	Sealed    json.RawMessage `json:"sealed"`
	Installed time.Time       `json:"installed"`
	Updated   time.Time       `json:"updated"`
	Install   Install         `json:"install"`
	Language  string          `json:"language,omitempty"`
}

type secrets struct {
	AccessToken      string `json:"access_token"`
	RefreshToken     string `json:"refresh_token"`
	ApplicationToken string `json:"application_token"`
}

func aad(memberID string) string { return "signet-portal:" + memberID }

func (r *Registry) encode(p Portal) ([]byte, error) {
	plain, err := json.Marshal(secrets{p.Auth.AccessToken, p.Auth.RefreshToken, p.Auth.ApplicationToken})
	if err != nil {
		return nil, err
	}
	sealed, err := r.sealer.Seal(plain, aad(p.Auth.MemberID))
	if err != nil {
		return nil, fmt.Errorf("portal %s: sealing tokens: %w", p.Auth.MemberID, err)
	}
	rec := record{Auth: p.Auth, Sealed: sealed, Installed: p.Installed, Updated: p.Updated, Install: p.Install, Language: p.Language}
	rec.Auth.AccessToken, rec.Auth.RefreshToken, rec.Auth.ApplicationToken = "", "", ""
	return json.Marshal(rec)
}

func (r *Registry) decode(memberID string, data []byte) (*Portal, error) {
	var rec record
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("portal %s: stored record unreadable: %w", memberID, err)
	}
	if rec.Auth.MemberID != memberID {
		return nil, fmt.Errorf("portal %s: stored record belongs to %q", memberID, rec.Auth.MemberID)
	}
	plain, err := r.sealer.Open(rec.Sealed, aad(memberID))
	if err != nil {
		return nil, fmt.Errorf("portal %s: tokens: %w", memberID, err)
	}
	var sec secrets
	if err := json.Unmarshal(plain, &sec); err != nil {
		return nil, fmt.Errorf("portal %s: sealed tokens unreadable: %w", memberID, err)
	}
	p := &Portal{Auth: rec.Auth, Installed: rec.Installed, Updated: rec.Updated, Install: rec.Install, Language: rec.Language}
	p.Auth.AccessToken, p.Auth.RefreshToken, p.Auth.ApplicationToken = sec.AccessToken, sec.RefreshToken, sec.ApplicationToken
	return p, nil
}

// Open creates or opens the bucket. sealer encrypts the tokens at rest and is required.
func Open(ctx context.Context, js jetstream.JetStream, replicas int, sealer Sealer) (*Registry, error) {
	if sealer == nil {
		return nil, errors.New("portals bucket: a Sealer (security.secret_keys_file) is required: tokens are never stored in clear")
	}
	kv, err := Provision(ctx, js, replicas)
	if err != nil {
		return nil, err
	}
	return &Registry{kv: kv, sealer: sealer}, nil
}

// Provision creates or updates the bucket (`signet setup`, a provisioning server); it needs no keys.
func Provision(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      contracts.BucketPortals,
		Description: "Bitrix24 portals that installed Signet, by member_id",
		History:     1,
		Replicas:    max(replicas, 1),
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("portals bucket: %w", err)
	}
	return kv, nil
}

// Lookup opens the existing bucket without creating or changing it, for read-only commands (issue 21
// must 3: `signet status` must not rescale a bucket); jetstream.ErrBucketNotFound when it is missing.
func Lookup(ctx context.Context, js jetstream.JetStream, sealer Sealer) (*Registry, error) {
	if sealer == nil {
		return nil, errors.New("portals bucket: a Sealer (security.secret_keys_file) is required to read the tokens")
	}
	kv, err := js.KeyValue(ctx, contracts.BucketPortals)
	if err != nil {
		return nil, fmt.Errorf("portals bucket: %w", err)
	}
	return &Registry{kv: kv, sealer: sealer}, nil
}

// key maps a member_id (hex in practice) to a KV key; anything outside [A-Za-z0-9_-] is refused so a
// caller-controlled member_id can never address another key.
func key(memberID string) (string, error) {
	if memberID == "" || len(memberID) > 128 || strings.IndexFunc(memberID, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	}) >= 0 {
		return "", fmt.Errorf("member_id %q is not a Bitrix24 member_id", memberID)
	}
	return "m." + memberID, nil
}

// Get returns the portal, or ErrUnknownPortal.
func (r *Registry) Get(ctx context.Context, memberID string) (*Portal, uint64, error) {
	k, err := key(memberID)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrUnknownPortal, err)
	}
	kctx, cancel := context.WithTimeout(ctx, kvTimeout)
	e, err := r.kv.Get(kctx, k)
	cancel()
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, fmt.Errorf("%w: member_id %s; install the Signet application on the portal", ErrUnknownPortal, memberID)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("portal %s: %w", memberID, err)
	}
	if p, ok := r.cached(memberID, e.Revision()); ok {
		return p, e.Revision(), nil
	}
	p, err := r.decode(memberID, e.Value())
	if err != nil {
		return nil, 0, err
	}
	r.remember(memberID, e.Revision(), p)
	return p, e.Revision(), nil
}

// cached returns a copy of the portal as decoded at revision rev, if that is the one remembered.
func (r *Registry) cached(memberID string, rev uint64) (*Portal, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.decoded[memberID]
	if !ok || d.rev != rev {
		return nil, false
	}
	p := d.p
	return &p, true
}

func (r *Registry) remember(memberID string, rev uint64, p *Portal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.decoded == nil {
		r.decoded = map[string]decodedPortal{}
	}
	r.decoded[memberID] = decodedPortal{rev: rev, p: *p}
}

// Put stores a portal as installed now (ONAPPINSTALL); a re-install replaces the record.
func (r *Registry) Put(ctx context.Context, a bitrix24.Auth, now time.Time) error {
	k, err := key(a.MemberID)
	if err != nil {
		return err
	}
	p := Portal{Auth: a, Installed: now, Updated: now}
	if old, _, err := r.Get(ctx, a.MemberID); err == nil {
		p.Installed = old.Installed
	}
	data, err := r.encode(p)
	if err != nil {
		return err
	}
	if _, err := r.kv.Put(ctx, k, data); err != nil {
		return fmt.Errorf("portal %s: %w", a.MemberID, err)
	}
	return nil
}

// Store writes p as read at revision rev (0: the portal must not exist yet), so that two installs at
// once cannot both win: the loser gets ErrChanged. The install date of an existing record is kept.
func (r *Registry) Store(ctx context.Context, p Portal, rev uint64) error {
	k, err := key(p.Auth.MemberID)
	if err != nil {
		return err
	}
	data, err := r.encode(p)
	if err != nil {
		return err
	}
	if rev == 0 {
		_, err = r.kv.Create(ctx, k, data)
	} else {
		_, err = r.kv.Update(ctx, k, data, rev)
	}
	if changedMeanwhile(err) {
		return fmt.Errorf("portal %s: %w", p.Auth.MemberID, ErrChanged)
	}
	if err != nil {
		return fmt.Errorf("portal %s: %w", p.Auth.MemberID, err)
	}
	return nil
}

// changedMeanwhile says whether a Create or Update lost to another write of the same key.
func changedMeanwhile(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) || (errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence)
}

// ByDomain returns the installed portal whose registered domain is domain (case-insensitive), or
// ErrUnknownPortal. A domain belongs to one member_id.
func (r *Registry) ByDomain(ctx context.Context, domain string) (*Portal, error) {
	keys, err := r.kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = keys.Stop() }()
	for k := range keys.Keys() {
		p, _, err := r.Get(ctx, strings.TrimPrefix(k, "m."))
		if err != nil {
			if errors.Is(err, ErrUnknownPortal) {
				continue
			}
			return nil, err
		}
		if strings.EqualFold(p.Auth.Domain, domain) {
			return p, nil
		}
	}
	return nil, fmt.Errorf("%w: no portal with domain %s", ErrUnknownPortal, domain)
}

// Move is the administrator's step for a renamed portal (`signet admin bitrix24 move`): the stored
// domain and client_endpoint become scheme://domain/rest/. Nothing else moves them.
func (r *Registry) Move(ctx context.Context, memberID, scheme, domain string) error {
	if scheme != "https" && scheme != "http" || domain == "" || strings.ContainsAny(domain, "/?#@ ") {
		return fmt.Errorf("portal %s: %q is not a portal domain", memberID, domain)
	}
	for attempt := 0; attempt < 5; attempt++ {
		p, rev, err := r.Get(ctx, memberID)
		if err != nil {
			return err
		}
		p.Auth.Domain, p.Auth.ClientEndpoint = domain, scheme+"://"+domain+"/rest/"
		p.Updated = time.Now().UTC()
		if err = r.Store(ctx, *p, rev); !errors.Is(err, ErrChanged) {
			return err
		}
	}
	return fmt.Errorf("portal %s: %w", memberID, ErrChanged)
}

// Delete removes a portal (ONAPPUNINSTALL).
func (r *Registry) Delete(ctx context.Context, memberID string) error {
	k, err := key(memberID)
	if err != nil {
		return err
	}
	if err := r.kv.Delete(ctx, k); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("portal %s: %w", memberID, err)
	}
	r.mu.Lock()
	delete(r.decoded, memberID)
	r.mu.Unlock()
	return nil
}

// List returns every registered portal.
func (r *Registry) List(ctx context.Context) ([]Portal, error) {
	keys, err := r.kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var out []Portal
	for k := range keys.Keys() {
		p, _, err := r.Get(ctx, strings.TrimPrefix(k, "m."))
		if err == nil {
			out = append(out, *p)
		}
	}
	return out, nil
}

// Load implements bitrix24.TokenStore.
func (r *Registry) Load(ctx context.Context, memberID string) (bitrix24.Auth, error) {
	p, _, err := r.Get(ctx, memberID)
	if err != nil {
		return bitrix24.Auth{}, err
	}
	return p.Auth, nil
}

// Save implements bitrix24.TokenStore: it stores rotated tokens with a revision check, so that two
// workers refreshing at once cannot put back an older refresh token. The stored domain and
// client_endpoint are kept: only Move changes them.
func (r *Registry) Save(ctx context.Context, a bitrix24.Auth) error {
	k, err := key(a.MemberID)
	if err != nil {
		return err
	}
	for attempt := 0; attempt < 30; attempt++ {
		if attempt > 0 { // another writer won the revision race: re-read and try again, spread out
			select {
			case <-time.After(time.Duration(rand.Int64N(int64(attempt)*int64(5*time.Millisecond)) + 1)):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		p, rev, err := r.Get(ctx, a.MemberID)
		if err != nil {
			return err
		}
		keepAppToken, keepDomain, keepEndpoint := p.Auth.ApplicationToken, p.Auth.Domain, p.Auth.ClientEndpoint
		p.Auth = a
		if p.Auth.ApplicationToken == "" {
			p.Auth.ApplicationToken = keepAppToken
		}
		// Rotated tokens never move the portal: its address changes only through Move (issue 15).
		p.Auth.Domain, p.Auth.ClientEndpoint = keepDomain, keepEndpoint
		p.Updated = time.Now()
		data, err := r.encode(*p)
		if err != nil {
			return err
		}
		kctx, cancel := context.WithTimeout(ctx, kvTimeout)
		_, err = r.kv.Update(kctx, k, data, rev)
		cancel()
		if err == nil {
			return nil
		}
		var apiErr *jetstream.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence {
			return fmt.Errorf("portal %s: saving tokens: %w", a.MemberID, err)
		}
	}
	return fmt.Errorf("portal %s: saving tokens: too many concurrent updates", a.MemberID)
}
