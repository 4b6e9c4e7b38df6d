// Package jobkey reads and creates the Ed25519 key files with which the intake signs each job's
// authorisation (contracts.JobSigner) and workers verify it (contracts.JobKeys).
//
// Files are PEM, as OpenSSL writes them, so an operator can make and inspect keys without Signet:
//
//	openssl genpkey -algorithm ed25519 -out job-signing.key          # intake and `signet enqueue` only
//	openssl pkey -in job-signing.key -pubout >> job-verify.pem        # every worker; several keys allowed
//
// It must never put a private key into a log or an error, and never gives a worker the private key:
// a process that only verifies reads only the public-key file.
package jobkey

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/signet-b24/signet/contracts"
)

// LoadSigner reads the PKCS#8 Ed25519 private key in path.
func LoadSigner(path string, ttl time.Duration) (*contracts.JobSigner, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("job signing key (security.job_signing_key_file): %w", err)
	}
	priv, err := ParsePrivate(data, path)
	if err != nil {
		return nil, err
	}
	return contracts.NewJobSigner(priv, ttl), nil
}

// ParsePrivate reads a PEM PKCS#8 Ed25519 private key; src names where it came from, for the error
// (which never quotes the key).
func ParsePrivate(data []byte, src string) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("job signing key %s: not a PEM \"PRIVATE KEY\"; make one with `openssl genpkey -algorithm ed25519`", src)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("job signing key %s: not a PKCS#8 key", src)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("job signing key %s: %T, want an Ed25519 key", src, k)
	}
	return priv, nil
}

// EncodePrivate is priv as a PEM PKCS#8 private key, as openssl genpkey writes it.
func EncodePrivate(priv ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// Replace writes priv to path (mode 0600) in place of the key there, which is kept as
// path+".previous" until the next replacement.
func Replace(path string, priv ed25519.PrivateKey) error {
	b, err := EncodePrivate(priv)
	if err != nil {
		return err
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("writing the new job signing key: %w", err)
	}
	if err := os.Rename(path, path+".previous"); err != nil && !errors.Is(err, os.ErrNotExist) {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// LoadOrCreateSigner is LoadSigner, creating the key (mode 0600) on first run, as the embedded
// default does with its other secrets. Its public key is added to verifyPath (created if need be)
// when not there yet, so that the workers of the same data directory trust it.
func LoadOrCreateSigner(path, verifyPath string, ttl time.Duration) (*contracts.JobSigner, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("creating the job signing key: %w", err)
		}
		err = pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("writing the job signing key %s: %w", path, err)
		}
	}
	s, err := LoadSigner(path, ttl)
	if err != nil {
		return nil, err
	}
	if verifyPath != "" {
		if err := Trust(verifyPath, s.Public()); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Trust appends pub to the public-key file at path unless it is there already.
func Trust(path string, pub ed25519.PublicKey) error {
	if keys, err := LoadVerifier(path); err == nil {
		for _, id := range keys.IDs() {
			if id == contracts.JobKeyID(pub) {
				return nil
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("job verification keys: %w", err)
	}
	err = pem.Encode(f, &pem.Block{Type: "PUBLIC KEY", Headers: map[string]string{"Key-Id": contracts.JobKeyID(pub)}, Bytes: der})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// LoadVerifier reads every Ed25519 "PUBLIC KEY" block in path. A file without one is an error: a
// worker that trusts no key would refuse every job.
func LoadVerifier(path string) (*contracts.JobKeys, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("job verification keys (security.job_verify_keys_file): %w", err)
	}
	var pubs []ed25519.PublicKey
	for rest := bytes.TrimSpace(data); len(rest) > 0; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("job verification keys %s: a %q block; the file holds only public keys (never the signing key)", path, block.Type)
		}
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("job verification keys %s: %w", path, err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("job verification keys %s: %T, want Ed25519", path, k)
		}
		pubs = append(pubs, pub)
	}
	if len(pubs) == 0 {
		return nil, fmt.Errorf("job verification keys %s: no PEM \"PUBLIC KEY\"; add the intake's with `openssl pkey -in job-signing.key -pubout`", path)
	}
	return contracts.NewJobKeys(pubs...), nil
}

// Generate makes a fresh signing key in memory: for tests, and for one-off tools.
func Generate(ttl time.Duration) (*contracts.JobSigner, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return contracts.NewJobSigner(priv, ttl), nil
}
