// Package portals keeps the Bitrix24 portals that installed Signet, keyed by member_id, in a JetStream
// KV bucket: their endpoints, application_token and OAuth tokens. The intake reads it to authenticate
// robot calls; the callback workers use it as the REST client's token store. It never logs a token.
package portals

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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
}

// Registry is the portals bucket.
type Registry struct {
	kv jetstream.KeyValue
}

// Open creates or opens the bucket.
func Open(ctx context.Context, js jetstream.JetStream, replicas int) (*Registry, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      contracts.BucketPortals,
		Description: "Bitrix24 portals that installed Signet, by member_id",
		History:     1,
		Replicas:    replicas,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("portals bucket: %w", err)
	}
	return &Registry{kv: kv}, nil
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
	e, err := r.kv.Get(ctx, k)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, fmt.Errorf("%w: member_id %s; install the Signet application on the portal", ErrUnknownPortal, memberID)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("portal %s: %w", memberID, err)
	}
	var p Portal
	if err := json.Unmarshal(e.Value(), &p); err != nil {
		return nil, 0, fmt.Errorf("portal %s: stored record unreadable: %w", memberID, err)
	}
	return &p, e.Revision(), nil
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
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if _, err := r.kv.Put(ctx, k, data); err != nil {
		return fmt.Errorf("portal %s: %w", a.MemberID, err)
	}
	return nil
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

// Save implements bitrix24.TokenStore: it stores rotated tokens and endpoints with a revision check, so
// that two workers refreshing at once cannot put back an older refresh token.
func (r *Registry) Save(ctx context.Context, a bitrix24.Auth) error {
	k, err := key(a.MemberID)
	if err != nil {
		return err
	}
	for attempt := 0; attempt < 5; attempt++ {
		p, rev, err := r.Get(ctx, a.MemberID)
		if err != nil {
			return err
		}
		keepAppToken := p.Auth.ApplicationToken
		p.Auth = a
		if p.Auth.ApplicationToken == "" {
			p.Auth.ApplicationToken = keepAppToken
		}
		p.Updated = time.Now()
		data, err := json.Marshal(p)
		if err != nil {
			return err
		}
		if _, err = r.kv.Update(ctx, k, data, rev); err == nil {
			return nil
		}
		var apiErr *jetstream.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence {
			return fmt.Errorf("portal %s: saving tokens: %w", a.MemberID, err)
		}
	}
	return fmt.Errorf("portal %s: saving tokens: too many concurrent updates", a.MemberID)
}
