// Package keyadmin carries key administration between an intake and the workers that hold the tokens,
// over NATS request-reply (issue 21 must 4): in the intake + worker topology the certificate and token
// pages and APIs of the intake reach the workers' tokens here, instead of answering 404.
//
// Subjects (contracts): SubjectKeysAll, which every worker answers (the tokens' state, every
// credential, a revocation by serial), and SubjectKeysTokenPrefix+hex(token name), which one worker
// holding that token answers (queue group QueueKeys). Only the intake's NATS user may publish on
// them (deploy/nats/signet-accounts.conf); each request names the administrator, and the worker
// records every change in the audit trail under that name. No private key and no PIN crosses the
// wire: a request carries names, subjects and certificates, a reply certificates and state.
package keyadmin

import (
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/keyring"
)

// Operations of a request.
const (
	opStatus     = "status"
	opList       = "list"
	opCredential = "credential"
	opSelfSigned = "self-signed"
	opInitCA     = "ca-init"
	opIssue      = "ca-issue"
	opImport     = "import"
	opRevocation = "revocation"
	opCRL        = "crl"
	opOCSP       = "ocsp"
)

// request is one key operation asked of a worker.
type request struct {
	V     int    `json:"v"`
	Op    string `json:"op"`
	Actor string `json:"actor"`
	Token string `json:"token,omitempty"`
	Label string `json:"label,omitempty"`
	// Subject is the certificate's distinguished name.
	Subject  string   `json:"subject,omitempty"`
	KeyType  string   `json:"key_type,omitempty"`
	Days     int      `json:"days,omitempty"`
	CA       string   `json:"ca,omitempty"`
	URI      string   `json:"uri,omitempty"`
	CertDER  []byte   `json:"cert,omitempty"`
	ChainDER [][]byte `json:"chain,omitempty"`
	Reason   int      `json:"reason,omitempty"`
	// CA is also the CA's key identifier for a CRL; DER an OCSP request.
	DER []byte `json:"der,omitempty"`
}

// credential is a keyring.Credential without its key.
type credential struct {
	URI      string   `json:"uri"`
	Token    string   `json:"token"`
	Label    string   `json:"label"`
	ID       []byte   `json:"id,omitempty"`
	CertDER  []byte   `json:"cert,omitempty"`
	ChainDER [][]byte `json:"chain,omitempty"`
}

// reply is a worker's answer.
type reply struct {
	Error string `json:"error,omitempty"`
	// Kind names the keyring error class of Error, so the intake answers with the same HTTP status
	// as a process holding the token would (web.writeKeyringErr).
	Kind        string                `json:"kind,omitempty"`
	Tokens      []keyring.TokenStatus `json:"tokens,omitempty"`
	Credentials []credential          `json:"credentials,omitempty"`
	Revocation  *contracts.Revocation `json:"revocation,omitempty"`
	// DER is a CRL or an OCSP response; Status says the OCSP response is a certificate's status
	// (not an error answer such as unauthorized).
	DER    []byte `json:"der,omitempty"`
	Status bool   `json:"status,omitempty"`
}

// tokenSubject is the subject of the workers holding token name.
func tokenSubject(name string) string {
	return contracts.SubjectKeysTokenPrefix + hex.EncodeToString([]byte(name))
}

func toWire(c *keyring.Credential) credential {
	w := credential{URI: c.URI, Token: c.Token, Label: c.Label, ID: c.ID}
	if c.Certificate != nil {
		w.CertDER = c.Certificate.Raw
	}
	for _, x := range c.Chain {
		w.ChainDER = append(w.ChainDER, x.Raw)
	}
	return w
}

func fromWire(w credential) (*keyring.Credential, error) {
	c := &keyring.Credential{URI: w.URI, Token: w.Token, Label: w.Label, ID: w.ID}
	var err error
	if len(w.CertDER) > 0 {
		if c.Certificate, err = x509.ParseCertificate(w.CertDER); err != nil {
			return nil, fmt.Errorf("a worker sent an unreadable certificate for %s: %w", w.URI, err)
		}
		c.Key = elsewhere{pub: c.Certificate.PublicKey, uri: w.URI}
	}
	for _, d := range w.ChainDER {
		x, err := x509.ParseCertificate(d)
		if err != nil {
			return nil, fmt.Errorf("a worker sent an unreadable chain certificate for %s: %w", w.URI, err)
		}
		c.Chain = append(c.Chain, x)
	}
	return c, nil
}

// kinds maps the keyring's error classes to their wire names and back.
var kinds = map[string]error{
	"invalid-uri":  keyring.ErrInvalidURI,
	"invalid":      keyring.ErrInvalidConfig,
	"mismatch":     keyring.ErrCertificateMismatch,
	"unknown":      keyring.ErrUnknownToken,
	"no-key":       keyring.ErrKeyNotFound,
	"no-cert":      keyring.ErrCertificateNotFound,
	"exists":       keyring.ErrExists,
	"offline":      keyring.ErrTokenOffline,
	"busy":         keyring.ErrTokenBusy,
	"token-absent": keyring.ErrTokenNotFound,
	"unknown-ca":   keyring.ErrUnknownCA,
	"no-crl":       keyring.ErrCRLUnavailable,
}

func errorReply(err error) reply {
	r := reply{Error: err.Error()}
	for k, e := range kinds {
		if errors.Is(err, e) {
			r.Kind = k
			break
		}
	}
	return r
}

// replyError is the error of a reply, wrapping the keyring class it names.
func replyError(r reply) error {
	if r.Error == "" {
		return nil
	}
	if e, ok := kinds[r.Kind]; ok {
		return fmt.Errorf("%w (on a worker: %s)", e, r.Error)
	}
	return fmt.Errorf("on a worker: %s", r.Error)
}

// elsewhere stands for a key that stays on a worker's token: it tells its public key (for display:
// keyring.KeyDescription) and refuses to sign.
type elsewhere struct {
	pub crypto.PublicKey
	uri string
}

func (e elsewhere) Public() crypto.PublicKey { return e.pub }

func (e elsewhere) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, fmt.Errorf("%w: the key %s is on a worker's token; sign through the queue", keyring.ErrTokenOffline, e.uri)
}
