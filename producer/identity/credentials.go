package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/signet-b24/signet/keyring"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// BucketCredentials holds the credentials an administrator has disabled.
const BucketCredentials = "signet_credentials"

const disabledKey = "disabled"

// Credential mapping: a user may sign only with the credentials mapped to them (User.Credentials),
// many to many, so "one key for all employees" and "one key per employee" are both configuration.
// A credential is named by its RFC 7512 PKCS#11 URI; two URIs name the same credential when they name
// the same token and agree on every key attribute (object label, id) that both give.

// credentialAttrs reads the path attributes of a pkcs11: URI (RFC 7512 §2.3), percent-decoded.
func credentialAttrs(uri string) (map[string]string, error) {
	// keyring's one rule first: a pin-value is refused there with an error that never holds the PIN
	// (the errors below quote the URI).
	if _, err := keyring.ParseURI(strings.TrimSpace(uri)); errors.Is(err, keyring.ErrPINInURI) {
		return nil, err
	}
	rest, ok := strings.CutPrefix(strings.TrimSpace(uri), "pkcs11:")
	if !ok {
		return nil, fmt.Errorf("%q is not a PKCS#11 URI (pkcs11:token=…;object=…)", uri)
	}
	path, _, _ := strings.Cut(rest, "?")
	attrs := map[string]string{}
	for _, part := range strings.Split(path, ";") {
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("PKCS#11 URI %q: attribute %q has no value", uri, part)
		}
		dv, err := url.PathUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("PKCS#11 URI %q: %w", uri, err)
		}
		attrs[k] = dv
	}
	if attrs["token"] == "" || (attrs["object"] == "" && attrs["id"] == "") {
		return nil, fmt.Errorf("PKCS#11 URI %q must name a token and a key (object= or id=)", uri)
	}
	return attrs, nil
}

// SameCredential reports whether two PKCS#11 URIs name the same key.
func SameCredential(a, b string) bool {
	x, err1 := credentialAttrs(a)
	y, err2 := credentialAttrs(b)
	if err1 != nil || err2 != nil || x["token"] != y["token"] {
		return false
	}
	common := false
	for _, k := range []string{"object", "id"} {
		if x[k] != "" && y[k] != "" {
			if x[k] != y[k] {
				return false
			}
			common = true
		}
	}
	return common
}

// checkCredential refuses a credential that is not mapped to the user, or that is disabled.
func (s *Service) checkCredential(ctx context.Context, u *User, credentialURI string) error {
	if credentialURI == "" {
		return nil
	}
	if !slices.ContainsFunc(u.Credentials, func(m string) bool { return SameCredential(m, credentialURI) }) {
		return fmt.Errorf("signature refused for %q: %w: %s; ask the administrator to map it (signet admin user map %s --credential URI)",
			u.Login, ErrCredentialNotMapped, credentialURI, u.Login)
	}
	disabled, err := s.CredentialDisabled(ctx, credentialURI)
	if err != nil {
		return err
	}
	if disabled {
		return fmt.Errorf("signature refused for %q: %w: %s; ask the administrator to enable it or map another certificate", u.Login, ErrCredentialDisabled, credentialURI)
	}
	return nil
}

// MapCredential lets login sign with credentialURI; makeDefault also makes it the credential used
// when a request names none.
func (s *Service) MapCredential(ctx context.Context, login, credentialURI string, makeDefault bool) (*User, error) {
	if _, err := credentialAttrs(credentialURI); err != nil {
		return nil, fmt.Errorf("mapping a credential to %q: %w", login, err)
	}
	if u, _ := keyring.ParseURI(strings.TrimSpace(credentialURI)); u.PinSource != "" || u.ModulePath != "" {
		// The server opens tokens with its configured module and PIN only (keyring/pin.go, rule 2).
		return nil, fmt.Errorf("mapping a credential to %q: the URI names a PIN source or a module; map the certificate's URI alone (token=…;object=…)", login)
	}
	return s.UpdateUser(ctx, login, func(u *User) error {
		if !slices.ContainsFunc(u.Credentials, func(m string) bool { return SameCredential(m, credentialURI) }) {
			u.Credentials = append(u.Credentials, credentialURI)
		}
		if makeDefault || u.DefaultCredential == "" {
			u.DefaultCredential = credentialURI
		}
		return nil
	})
}

// UnmapCredential withdraws credentialURI from login.
func (s *Service) UnmapCredential(ctx context.Context, login, credentialURI string) (*User, error) {
	return s.UpdateUser(ctx, login, func(u *User) error {
		u.Credentials = slices.DeleteFunc(u.Credentials, func(m string) bool { return SameCredential(m, credentialURI) })
		if SameCredential(u.DefaultCredential, credentialURI) {
			u.DefaultCredential = ""
			if len(u.Credentials) > 0 {
				u.DefaultCredential = u.Credentials[0]
			}
		}
		return nil
	})
}

// disabledList is the KV record of disabled credentials.
type disabledList struct {
	URIs    []string  `json:"uris"`
	Updated time.Time `json:"updated"`
}

func (s *Service) readDisabled(ctx context.Context) (disabledList, uint64, error) {
	return readDisabled(ctx, s.creds)
}

func readDisabled(ctx context.Context, kv jetstream.KeyValue) (disabledList, uint64, error) {
	var l disabledList
	e, err := kv.Get(ctx, disabledKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return l, 0, nil
	}
	if err != nil {
		return l, 0, fmt.Errorf("reading disabled credentials: %w", err)
	}
	return l, e.Revision(), json.Unmarshal(e.Value(), &l)
}

// CredentialDisabled reports whether an administrator disabled the credential.
func (s *Service) CredentialDisabled(ctx context.Context, credentialURI string) (bool, error) {
	l, _, err := s.readDisabled(ctx)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(l.URIs, func(d string) bool { return SameCredential(d, credentialURI) }), nil
}

// DisabledCredentials lists the disabled credentials.
func (s *Service) DisabledCredentials(ctx context.Context) ([]string, error) {
	l, _, err := s.readDisabled(ctx)
	return l.URIs, err
}

// SetCredentialDisabled disables or enables a credential for every user; jobs already queued with it
// fail when the worker checks it.
func (s *Service) SetCredentialDisabled(ctx context.Context, credentialURI string, disabled bool) error {
	if _, err := credentialAttrs(credentialURI); err != nil {
		return err
	}
	for range casRetries {
		l, rev, err := s.readDisabled(ctx)
		if err != nil {
			return err
		}
		l.URIs = slices.DeleteFunc(l.URIs, func(d string) bool { return SameCredential(d, credentialURI) })
		if disabled {
			l.URIs = append(l.URIs, credentialURI)
		}
		l.Updated = s.now().UTC()
		b, _ := json.Marshal(l)
		if rev == 0 {
			_, err = s.creds.Create(ctx, disabledKey, b)
		} else {
			_, err = s.creds.Update(ctx, disabledKey, b, rev)
		}
		if err == nil {
			s.log.Info("credential state changed", zap.String("credential", credentialURI), zap.Bool("disabled", disabled))
			return nil
		}
		if !isConflict(err) && !errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("changing credential %s: %w", credentialURI, err)
		}
	}
	return fmt.Errorf("changing credential %s: %w; try again", credentialURI, ErrBusy)
}

// CredentialPolicy answers "is this credential disabled?" for processes that hold no OTP secrets (the
// workers check it again at signing time, so a credential disabled while jobs wait stops them too).
type CredentialPolicy struct{ kv jetstream.KeyValue }

// NewCredentialPolicy opens the credentials bucket without the identity service's keys.
func NewCredentialPolicy(ctx context.Context, js jetstream.JetStream, replicas int) (*CredentialPolicy, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: BucketCredentials,
		Description: "Signet credentials disabled by an administrator", History: 1, Storage: jetstream.FileStorage, Replicas: max(replicas, 1)})
	if err != nil {
		return nil, fmt.Errorf("opening KV bucket %s: %w", BucketCredentials, err)
	}
	return &CredentialPolicy{kv: kv}, nil
}

// LookupCredentialPolicy opens the existing bucket without creating or changing it (a worker with
// nats.provision false, issue 21 must 3).
func LookupCredentialPolicy(ctx context.Context, js jetstream.JetStream) (*CredentialPolicy, error) {
	kv, err := js.KeyValue(ctx, BucketCredentials)
	if err != nil {
		return nil, fmt.Errorf("KV bucket %s: %w; run `signet setup` or start a server with nats.provision true", BucketCredentials, err)
	}
	return &CredentialPolicy{kv: kv}, nil
}

// Disabled reports whether an administrator disabled the credential.
func (p *CredentialPolicy) Disabled(ctx context.Context, credentialURI string) (bool, error) {
	l, _, err := readDisabled(ctx, p.kv)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(l.URIs, func(d string) bool { return SameCredential(d, credentialURI) }), nil
}
