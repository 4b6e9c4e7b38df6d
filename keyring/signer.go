package keyring

import (
	"crypto"
	"crypto/rsa"
	"fmt"
	"io"
	"sync"

	"github.com/ThalesIgnite/crypto11"
	"github.com/miekg/pkcs11"
)

// key is the crypto.Signer handed out in a Credential. It outlives the crypto11 context it was found
// in: after a reconnect (gen moved) it finds its private key again by CKA_ID and label. It is safe for
// concurrent use; each Sign borrows one session from the token's pool.
type key struct {
	tok   *token
	id    []byte
	label []byte
	pub   crypto.PublicKey
	uri   string

	mu     sync.Mutex
	gen    uint64
	signer crypto11.Signer
}

func (k *key) Public() crypto.PublicKey { return k.pub }

// Sign signs a digest on the token. rsa.PSSSaltLengthAuto becomes PSSSaltLengthEqualsHash, which
// crypto11 supports and every verifier accepts. nil opts mean crypto.Hash(0), as in
// rsa.SignPKCS1v15 (crypto11 would dereference them).
func (k *key) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts == nil {
		opts = crypto.Hash(0)
	}
	if pss, ok := opts.(*rsa.PSSOptions); ok && pss.SaltLength == rsa.PSSSaltLengthAuto {
		c := *pss
		c.SaltLength = rsa.PSSSaltLengthEqualsHash
		opts = &c
	}
	var sig []byte
	err := k.tok.do(func(ctx p11Context, gen uint64) error {
		s, err := k.current(ctx, gen)
		if err != nil {
			return err
		}
		sig, err = s.Sign(rand, digest, opts)
		if isCKR(err, pkcs11.CKR_KEY_HANDLE_INVALID) || isCKR(err, pkcs11.CKR_OBJECT_HANDLE_INVALID) {
			k.forget()
			return k.tok.checkObjectsGone(err)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sign with %s: %w", k.uri, err)
	}
	return sig, nil
}

// current returns the crypto11 signer valid in the context of generation gen.
func (k *key) current(ctx p11Context, gen uint64) (crypto11.Signer, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.signer != nil && k.gen == gen {
		return k.signer, nil
	}
	s, err := ctx.FindKeyPair(k.id, k.label)
	if err != nil {
		return nil, err
	}
	if s == nil { // crypto11 answers nil, nil when nothing matches
		return nil, k.tok.checkObjectsGone(fmt.Errorf("%w: %s is no longer on token %q", ErrKeyNotFound, k.uri, k.tok.name))
	}
	k.signer, k.gen = s, gen
	return s, nil
}

func (k *key) forget() {
	k.mu.Lock()
	k.signer = nil
	k.mu.Unlock()
}
