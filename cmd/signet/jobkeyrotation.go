package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/jobkey"
	"github.com/signet-b24/signet/producer/identity"
)

// Job-key rotation across processes (`signet admin keys rotate`, issue 21 must 4). Two records in
// the secrets bucket:
//
//   - jobSigningKey: the current signing key, sealed; every intake follows it (a KV watch), so all
//     of them switch at once, without a restart.
//   - jobKeyPrefix+kid: the public key kid, endorsed by the key it replaced (contracts.JobKeyEndorsement);
//     a worker that meets a job signed by kid trusts it when the endorsement chain leads to a key of
//     its security.job_verify_keys_file (contracts.JobKeys.Fetch), so no file is copied to the workers.
const (
	jobSigningKey = "job-signing"
	jobKeyPrefix  = "jobkey."
	jobSigningAAD = "signet secrets " + jobSigningKey
)

// rotateJobKey makes a new signing key, endorsed by current, and stores both records: the
// endorsement first, so that no job is signed by a key a worker cannot yet trust.
func rotateJobKey(ctx context.Context, kv jetstream.KeyValue, keys *identity.Keys, current *contracts.JobSigner) (ed25519.PrivateKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	e, _ := json.Marshal(current.Endorse(pub, time.Now()))
	if _, err := kv.Put(ctx, jobKeyPrefix+contracts.JobKeyID(pub), e); err != nil {
		return nil, fmt.Errorf("storing the new job key's endorsement: %w", err)
	}
	pemKey, err := jobkey.EncodePrivate(priv)
	if err != nil {
		return nil, err
	}
	sealed, err := keys.Seal(pemKey, jobSigningAAD)
	if err != nil {
		return nil, err
	}
	if _, err := kv.Put(ctx, jobSigningKey, sealed); err != nil {
		return nil, fmt.Errorf("storing the new job signing key: %w", err)
	}
	return priv, nil
}

// sharedJobKey is the signing key stored by the last rotation; nil when there was none.
func sharedJobKey(ctx context.Context, kv jetstream.KeyValue, keys *identity.Keys) (ed25519.PrivateKey, error) {
	e, err := kv.Get(ctx, jobSigningKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return openJobKey(e.Value(), keys)
}

func openJobKey(sealed []byte, keys *identity.Keys) (ed25519.PrivateKey, error) {
	b, err := keys.Open(sealed, jobSigningAAD)
	if err != nil {
		return nil, fmt.Errorf("the rotated job signing key in NATS: %w; security.secret_keys_file must be the same file on every host", err)
	}
	return jobkey.ParsePrivate(b, "in NATS bucket "+contracts.BucketSecrets)
}

// followJobKey makes the intake sign with the rotated key, now and whenever it is rotated again.
func (a *app) followJobKey(ctx context.Context, keys *identity.Keys) error {
	w, err := a.secrets.Watch(ctx, jobSigningKey)
	if err != nil {
		return fmt.Errorf("following the job signing key: %w", err)
	}
	a.closers = append(a.closers, func() { _ = w.Stop() })
	// The watch gives the current record first (or nil when there is none), then each change.
	select {
	case e := <-w.Updates():
		if e != nil {
			if err := a.useJobKey(e.Value(), keys); err != nil {
				return err
			}
		}
	case <-time.After(10 * time.Second):
		return errors.New("following the job signing key: NATS did not answer")
	}
	go func() {
		for e := range w.Updates() {
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			if err := a.useJobKey(e.Value(), keys); err != nil {
				a.log.Error("job signing key rotated but not usable here; this intake keeps the previous one", zap.Error(err))
			}
		}
	}()
	return nil
}

func (a *app) useJobKey(sealed []byte, keys *identity.Keys) error {
	priv, err := openJobKey(sealed, keys)
	if err != nil {
		return err
	}
	if contracts.JobKeyID(priv.Public().(ed25519.PublicKey)) != a.jobKey.KeyID() {
		a.jobKey.Rotate(priv)
		a.log.Info("job signing key rotated", zap.String("key_id", a.jobKey.KeyID()))
	}
	return nil
}

// trustEndorsedJobKeys lets the worker trust rotated keys through their endorsements in NATS.
func (a *app) trustEndorsedJobKeys() {
	kv := a.secrets
	a.jobKeys.Fetch = func(kid string) (*contracts.JobKeyEndorsement, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e, err := kv.Get(ctx, jobKeyPrefix+kid)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		var out contracts.JobKeyEndorsement
		if err := json.Unmarshal(e.Value(), &out); err != nil {
			return nil, err
		}
		return &out, nil
	}
}
