package contracts

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"
)

// A worker that trusts only the first key accepts a job signed two rotations later, through the chain
// of endorsements, and nothing a NATS writer without a trusted key can make: a key endorsed by
// itself, by an untrusted key, or an endorsement altered after signing.
func TestJobKeyEndorsementChain(t *testing.T) {
	gen := func() ed25519.PrivateKey {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	pub := func(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }
	k1, k2, k3, mallory := gen(), gen(), gen(), gen()
	s := NewJobSigner(k1, time.Hour)
	store := map[string]*JobKeyEndorsement{}
	store[JobKeyID(pub(k2))] = s.Endorse(pub(k2), time.Now())
	s.Rotate(k2)
	store[JobKeyID(pub(k3))] = s.Endorse(pub(k3), time.Now())
	s.Rotate(k3)
	m := NewJobSigner(mallory, time.Hour)
	store[JobKeyID(pub(mallory))] = m.Endorse(pub(mallory), time.Now()) // self-endorsed

	worker := NewJobKeys(pub(k1))
	worker.Fetch = func(kid string) (*JobKeyEndorsement, error) { return store[kid], nil }
	job := func(signer *JobSigner) *SignJob {
		j := &SignJob{ID: "j1", Credential: "pkcs11:token=t;object=o"}
		signer.Sign(j, time.Now())
		return j
	}
	if err := worker.Verify(job(s), time.Now()); err != nil {
		t.Fatalf("a job signed two rotations later: %v", err)
	}
	if err := worker.Verify(job(m), time.Now()); !errors.Is(err, ErrJobUnauthorised) {
		t.Fatalf("a job signed by a self-endorsed key: %v, want unauthorised", err)
	}
	// Endorsed by a key the worker does not trust.
	evil := gen()
	store[JobKeyID(pub(evil))] = m.Endorse(pub(evil), time.Now())
	if err := worker.Verify(job(NewJobSigner(evil, time.Hour)), time.Now()); !errors.Is(err, ErrJobUnauthorised) {
		t.Fatalf("a job signed by a key endorsed by an untrusted one: %v, want unauthorised", err)
	}
	// A genuine endorsement with its key swapped.
	swapped := gen()
	e := *store[JobKeyID(pub(k2))]
	e.Public = pub(swapped)
	store[JobKeyID(pub(swapped))] = &e
	if err := NewJobKeys(pub(k1)).Verify(job(NewJobSigner(swapped, time.Hour)), time.Now()); !errors.Is(err, ErrJobUnauthorised) {
		t.Fatal("a worker without Fetch trusted an unknown key")
	}
	if err := worker.Verify(job(NewJobSigner(swapped, time.Hour)), time.Now()); !errors.Is(err, ErrJobUnauthorised) {
		t.Fatalf("a job signed by a key put into a genuine endorsement: %v, want unauthorised", err)
	}
}
