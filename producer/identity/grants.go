package identity

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
)

// Grant is a batch grant: one OTP authorises up to Max documents signed as Login with the key
// Credential until Expires. Jobs carry the grant id instead of their own code.
type Grant struct {
	ID         string    `json:"id"`
	Login      string    `json:"login"`
	Credential string    `json:"credential"` // RFC 7512 pkcs11: URI of the signing key
	Max        int       `json:"max"`
	Used       int       `json:"used"`
	Expires    time.Time `json:"expires"`
	Created    time.Time `json:"created"`
	Revoked    bool      `json:"revoked"`
}

// MaxGrantDocuments bounds one grant's count; a batch larger than this takes several grants.
const MaxGrantDocuments = 1_000_000

var grantIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func newGrantID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "g" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)), nil
}

// CreateGrant authorises a batch with the user's OTP (through Authorize, like every other path)
// and stores a grant for max documents with credentialURI, valid for ttl (0: Config.GrantTTL).
func (s *Service) CreateGrant(ctx context.Context, login, code, credentialURI string, max int, ttl time.Duration) (*Grant, error) {
	if max <= 0 || max > MaxGrantDocuments {
		return nil, fmt.Errorf("batch grant for %q: the document count must be 1–%d (got %d): %w", login, MaxGrantDocuments, max, ErrGrantInvalid)
	}
	if strings.TrimSpace(credentialURI) == "" {
		return nil, fmt.Errorf("batch grant for %q: name the signing key (pkcs11: URI): %w", login, ErrGrantInvalid)
	}
	if ttl <= 0 {
		ttl = s.cfg.GrantTTL
	}
	if ttl > s.cfg.MaxGrantTTL {
		return nil, fmt.Errorf("batch grant for %q: validity %s is longer than the allowed %s; split the batch: %w", login, ttl, s.cfg.MaxGrantTTL, ErrGrantInvalid)
	}
	d, err := s.Authorize(ctx, login, code, "", credentialURI)
	if err != nil {
		return nil, err
	}
	id, err := newGrantID()
	if err != nil {
		return nil, fmt.Errorf("batch grant for %q: %w", login, err)
	}
	now := s.now().UTC()
	g := Grant{ID: id, Login: d.Login, Credential: credentialURI, Max: max, Expires: now.Add(ttl), Created: now}
	b, err := json.Marshal(g)
	if err != nil {
		return nil, err
	}
	if _, err := s.grants.Create(ctx, id, b); err != nil {
		return nil, fmt.Errorf("batch grant for %q: storing: %w; try again", d.Login, err)
	}
	s.audit(ctx, contracts.AuditEvent{Action: contracts.AuditGrantIssued, Login: d.Login, Credential: credentialURI, Outcome: contracts.AuditOK,
		Detail: fmt.Sprintf("grant %s: %d documents until %s, authorised by %s", GrantRef(id), max, g.Expires.Format(time.RFC3339), d.Method)})
	s.log.Info("batch grant created", zapLogin(d.Login), zap.String("grant", GrantRef(id)), zap.String("credential", credentialURI),
		zap.Int("max", max), zap.Time("expires", g.Expires), zap.String("authorised_by", d.Method))
	return &g, nil
}

func (s *Service) getGrant(ctx context.Context, id string) (*Grant, uint64, error) {
	if !grantIDRe.MatchString(id) {
		return nil, 0, fmt.Errorf("batch grant %q: %w; check the grant id", id, ErrGrantNotFound)
	}
	b, rev, err := getRev(ctx, s.grants, id)
	if err != nil {
		return nil, 0, fmt.Errorf("reading batch grant %s: %w", GrantRef(id), err)
	}
	if b == nil {
		return nil, 0, fmt.Errorf("batch grant %s: %w; check the grant id or create a new grant", GrantRef(id), ErrGrantNotFound)
	}
	var g Grant
	if err := json.Unmarshal(b, &g); err != nil {
		return nil, 0, fmt.Errorf("batch grant %s: damaged record: %w", GrantRef(id), err)
	}
	return &g, rev, nil
}

// GetGrant returns one grant (for progress: Used of Max).
func (s *Service) GetGrant(ctx context.Context, id string) (*Grant, error) {
	g, _, err := s.getGrant(ctx, id)
	return g, err
}

// spendGrant consumes one document of the grant: Update on the revision read, retried on
// conflict, so concurrent intakes never spend more than Max.
func (s *Service) spendGrant(ctx context.Context, u *User, id, credentialURI string) (*Decision, error) {
	login := u.Login
	for range casRetries {
		g, rev, err := s.getGrant(ctx, id)
		if err != nil {
			return nil, err
		}
		switch {
		case loginKey(g.Login) != loginKey(login):
			return nil, fmt.Errorf("batch grant %s refused for %q: %w: it belongs to %q; each signer needs their own grant", GrantRef(id), login, ErrGrantScope, g.Login)
		case g.Credential != credentialURI:
			return nil, fmt.Errorf("batch grant %s refused for %q: %w: it covers key %s, not %s; create a grant for that key", GrantRef(id), login, ErrGrantScope, g.Credential, credentialURI)
		case g.Revoked:
			return nil, fmt.Errorf("batch grant %s refused for %q: %w; create a new grant with a fresh OTP", GrantRef(id), login, ErrGrantRevoked)
		case !s.now().Before(g.Expires):
			return nil, fmt.Errorf("batch grant %s refused for %q: %w at %s; create a new grant with a fresh OTP", GrantRef(id), login, ErrGrantExpired, g.Expires.Format(time.RFC3339))
		case g.Used >= g.Max:
			return nil, fmt.Errorf("batch grant %s refused for %q: %w (all %d used); create a new grant with a fresh OTP", GrantRef(id), login, ErrGrantExhausted, g.Max)
		}
		// A credential unmapped or disabled after the grant was made stops the grant too.
		if err := s.checkCredential(ctx, u, credentialURI); err != nil {
			return nil, err
		}
		g.Used++
		b, err := json.Marshal(g)
		if err != nil {
			return nil, err
		}
		if _, err := s.grants.Update(ctx, id, b, rev); err != nil {
			if isConflict(err) {
				continue
			}
			return nil, fmt.Errorf("batch grant %s for %q: %w; try again", GrantRef(id), login, err)
		}
		return &Decision{Login: g.Login, Method: MethodGrant, GrantID: id}, nil
	}
	return nil, fmt.Errorf("batch grant %s for %q: %w; try again", GrantRef(id), login, ErrBusy)
}

// ListGrants returns all grants, newest first.
func (s *Service) ListGrants(ctx context.Context) ([]Grant, error) {
	keys, err := listKeys(ctx, s.grants, ">")
	if err != nil {
		return nil, fmt.Errorf("listing batch grants: %w", err)
	}
	var out []Grant
	for _, k := range keys {
		g, _, err := s.getGrant(ctx, k)
		if errors.Is(err, ErrGrantNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("listing batch grants: %w", err)
		}
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

// RevokeGrant stops a grant at once; revoking twice is not an error.
func (s *Service) RevokeGrant(ctx context.Context, id string) error {
	for range casRetries {
		g, rev, err := s.getGrant(ctx, id)
		if err != nil {
			return err
		}
		if g.Revoked {
			return nil
		}
		g.Revoked = true
		b, err := json.Marshal(g)
		if err != nil {
			return err
		}
		if _, err := s.grants.Update(ctx, id, b, rev); err != nil {
			if isConflict(err) {
				continue
			}
			return fmt.Errorf("revoking batch grant %s: %w; try again", GrantRef(id), err)
		}
		s.audit(ctx, contracts.AuditEvent{Action: contracts.AuditGrantRevoked, Login: g.Login, Credential: g.Credential, Outcome: contracts.AuditOK,
			Detail: fmt.Sprintf("grant %s: %d of %d used", GrantRef(id), g.Used, g.Max)})
		s.log.Info("batch grant revoked", zapLogin(g.Login), zap.String("grant", GrantRef(id)), zap.Int("used", g.Used), zap.Int("max", g.Max))
		return nil
	}
	return fmt.Errorf("revoking batch grant %s: %w; try again", GrantRef(id), ErrBusy)
}

// GrantRef names a grant in messages, logs and audit events without its whole id (contracts.GrantRef).
func GrantRef(id string) string { return contracts.GrantRef(id) }
