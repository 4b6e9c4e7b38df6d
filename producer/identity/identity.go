// Package identity holds Signet's users and authorises every signature: the signer's TOTP code
// (RFC 6238, replay-proof and rate-limited), the administrator's "OTP not required" switch, or a
// batch grant. Every intake path (robot, Sign button, batch) calls Service.Authorize and nothing
// else decides whether a signature is allowed.
//
// State lives in JetStream KV buckets; every read-modify-write is an Update on the revision just
// read, retried on conflict, so two intake processes can never both accept one code or overspend a
// grant.
//
// This package must never write an OTP secret, a submitted code, an enrolment token or a key to a
// log, an error message or a URL (the enrolment link carries its single-use token by design), and
// never stores a secret unencrypted.
package identity

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
	"go.uber.org/zap"
)

// KV bucket names.
const (
	BucketUsers  = "signet_users"
	BucketOTP    = "signet_otp"
	BucketEnrol  = "signet_enrol"
	BucketGrants = "signet_grants"
)

// Clock returns the current time; tests pass a controllable one.
type Clock func() time.Time

// Config of the identity service. Zero values take the defaults in the field comments.
type Config struct {
	MaxFailures int           // wrong codes in a row before a lockout; default 5
	Lockout     time.Duration // lockout length; default 15m
	Skew        uint          // accepted time steps either side of now (RFC 6238 §5.2); default 1
	EnrolTTL    time.Duration // enrolment link validity; default 1h
	GrantTTL    time.Duration // batch grant validity when none is asked for; default 12h
	MaxGrantTTL time.Duration // longest batch grant validity accepted; default 7 days
	Issuer      string        // issuer shown in the authenticator app; default "Signet"
	PublicURL   string        // base for enrolment links; default http://127.0.0.1:8080
	Replicas    int           // KV bucket replicas when NATS is clustered; default 1
	Keys        *Keys         // secret encryption; required
	Clock       Clock         // default time.Now
	Log         *zap.Logger   // default no-op
	// Audit receives enrolment, grant and lockout events (the AUDIT stream); nil records nothing.
	Audit Recorder
	// Lookup opens the existing buckets and creates or changes none (CLI commands, servers with
	// nats.provision false: issue 21 must 3); Provision makes them.
	Lookup bool
}

// Recorder appends an event to the audit trail.
type Recorder interface {
	Record(ctx context.Context, e contracts.AuditEvent) error
}

// audit records e; a failure is logged, never returned: the trail must not block a signer.
func (s *Service) audit(ctx context.Context, e contracts.AuditEvent) {
	if s.cfg.Audit == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = s.now().UTC()
	}
	if err := s.cfg.Audit.Record(ctx, e); err != nil {
		s.log.Error("audit event not recorded", zap.String("action", e.Action), zap.Error(err))
	}
}

// DefaultSkew is the default number of RFC 6238 time steps accepted either side of now.
const DefaultSkew uint = 1

// period is the RFC 6238 time step X; authenticator apps assume 30 s, so it is not configurable.
const period = 30

// Service is the identity store and the one authorisation check.
type Service struct {
	cfg    Config
	skew   uint
	users  jetstream.KeyValue
	otp    jetstream.KeyValue
	enrol  jetstream.KeyValue
	grants jetstream.KeyValue
	creds  jetstream.KeyValue
	log    *zap.Logger
}

// New creates or opens the KV buckets (idempotently) and returns the service.
func New(ctx context.Context, js jetstream.JetStream, cfg Config) (*Service, error) {
	if cfg.Keys == nil || len(cfg.Keys.order) == 0 {
		return nil, fmt.Errorf("identity: OTP secrets must be encrypted; load keys with LoadKeys: %w", ErrNoKeys)
	}
	if cfg.MaxFailures <= 0 {
		cfg.MaxFailures = 5
	}
	if cfg.Lockout <= 0 {
		cfg.Lockout = 15 * time.Minute
	}
	if cfg.EnrolTTL <= 0 {
		cfg.EnrolTTL = time.Hour
	}
	if cfg.GrantTTL <= 0 {
		cfg.GrantTTL = 12 * time.Hour
	}
	if cfg.MaxGrantTTL <= 0 {
		cfg.MaxGrantTTL = 7 * 24 * time.Hour
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "Signet"
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = "http://127.0.0.1:8080"
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	s := &Service{cfg: cfg, skew: cfg.Skew, log: cfg.Log.Named("identity")}
	// Skew is a uint, so 0 cannot mean "default" and "exactly now" at once; 0 takes the default
	// and exact-step-only is not offered (phones drift).
	if s.skew == 0 {
		s.skew = DefaultSkew
	}
	into := map[string]*jetstream.KeyValue{BucketUsers: &s.users, BucketOTP: &s.otp, BucketEnrol: &s.enrol,
		BucketGrants: &s.grants, BucketCredentials: &s.creds}
	for _, b := range buckets {
		var (
			kv  jetstream.KeyValue
			err error
		)
		if cfg.Lookup {
			kv, err = js.KeyValue(ctx, b.name)
		} else {
			kv, err = js.CreateOrUpdateKeyValue(ctx, b.config(cfg.Replicas))
		}
		if err != nil {
			return nil, fmt.Errorf("identity: opening KV bucket %s: %w", b.name, err)
		}
		*into[b.name] = kv
	}
	return s, nil
}

// bucket is one of the identity service's KV buckets.
type bucket struct {
	name string
	desc string
	hist uint8
	ttl  time.Duration
}

var buckets = []bucket{
	{BucketUsers, "Signet users and Bitrix24 user id index", 5, 0},
	{BucketOTP, "Signet OTP state: encrypted secret, last used step, failures", 1, 0},
	// Enrolment records outlive their link so that an old link still gets a clear page for a week.
	{BucketEnrol, "Signet OTP enrolment links (token hashes, encrypted pending secrets)", 1, 7 * 24 * time.Hour},
	{BucketGrants, "Signet batch grants", 1, 0},
	{BucketCredentials, "Signet credentials disabled by an administrator", 1, 0},
}

func (b bucket) config(replicas int) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{Bucket: b.name, Description: b.desc, History: b.hist, TTL: b.ttl,
		Storage: jetstream.FileStorage, Replicas: max(replicas, 1)}
}

// Provision creates or updates every identity bucket (`signet setup`, a provisioning server).
func Provision(ctx context.Context, js jetstream.JetStream, replicas int) error {
	for _, b := range buckets {
		if _, err := js.CreateOrUpdateKeyValue(ctx, b.config(replicas)); err != nil {
			return fmt.Errorf("identity: KV bucket %s: %w", b.name, err)
		}
	}
	return nil
}

// Buckets names the identity buckets.
func Buckets() []string {
	out := make([]string, 0, len(buckets))
	for _, b := range buckets {
		out = append(out, b.name)
	}
	return out
}

func (s *Service) now() time.Time { return s.cfg.Clock() }

// loginKey maps a login to a KV key token: logins are case-insensitive (as in Bitrix24) and may
// hold characters KV keys cannot ('@', spaces), so the lowercased login is base64url-encoded.
func loginKey(login string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strings.ToLower(strings.TrimSpace(login))))
}

// casRetries bounds the optimistic-concurrency loops; each lost round means another writer won,
// so this many rounds only run out under pathological contention.
const casRetries = 64

// isConflict reports a lost optimistic-concurrency race (Update on a stale revision, Create of an
// existing key).
func isConflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists)
}

// putRev writes value to key if the key is still at rev (0: if it does not exist yet).
func putRev(ctx context.Context, kv jetstream.KeyValue, key string, value []byte, rev uint64) (uint64, error) {
	if rev == 0 {
		return kv.Create(ctx, key, value)
	}
	return kv.Update(ctx, key, value, rev)
}

// getRev reads key; a missing key is (nil, 0, nil).
func getRev(ctx context.Context, kv jetstream.KeyValue, key string) ([]byte, uint64, error) {
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	return e.Value(), e.Revision(), nil
}

// listKeys lists keys matching filter, treating an empty bucket as no keys.
func listKeys(ctx context.Context, kv jetstream.KeyValue, filter string) ([]string, error) {
	l, err := kv.ListKeysFiltered(ctx, filter)
	if err != nil {
		return nil, err
	}
	var keys []string
	for k := range l.Keys() {
		keys = append(keys, k)
	}
	_ = l.Stop() // the lister has already stopped its watcher when the channel closed
	if err := ctx.Err(); err != nil {
		return nil, err // the channel also closes on cancel: the list may be partial
	}
	return keys, nil
}

func zapLogin(login string) zap.Field    { return zap.String("login", login) }
func zapBool(k string, v bool) zap.Field { return zap.Bool(k, v) }

// RecordAdminChange puts a change made outside the control panel (the `signet admin` commands) in the
// audit trail; the control panel records its own, with the administrator's name.
func (s *Service) RecordAdminChange(ctx context.Context, login, credential, detail string) {
	s.audit(ctx, contracts.AuditEvent{Action: contracts.AuditAdminChange, Login: login, Credential: credential,
		Outcome: contracts.AuditOK, Detail: detail})
}
