package keyring

// Revocation for Signet's internal CA (issue 17 must 3): the CA publishes a CRL (RFC 5280 §5) and
// answers OCSP (RFC 6960) for the certificates it issued, at the URLs makeCertificate writes into
// them. Both are signed by the CA's own key on its token (RFC 6960 §4.2.2.2 allows the CA itself as
// responder), so no delegated responder certificate has to be issued, stored or renewed. The list of
// revoked certificates lives in NATS KV (producer/identity/revocations.go); this file only reads it.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/crypto/ocsp"
	"golang.org/x/time/rate"

	"github.com/signet-b24/signet/contracts"
)

// Lifetimes of what the CA publishes. A CRL is good for a day (nextUpdate), and made again at least
// every hour and at once after a revocation; an OCSP response is good for an hour and kept for ten
// minutes (RFC 5019 §6 lets a responder answer from such a cache). Verifiers learn of a revocation
// within that: the cache is dropped when the list changes.
const (
	crlValidity   = 24 * time.Hour
	crlRefresh    = time.Hour
	ocspValidity  = time.Hour
	ocspKeep      = 10 * time.Minute
	ocspCacheMax  = 4096
	caListRefresh = 10 * time.Second // an unknown CA id lists the tokens again at most this often
	caListMaxAge  = 5 * time.Minute
)

var (
	// signsPerSecond bounds the signatures the public endpoints ask of the CA's token: every new
	// serial in an OCSP request costs one, and anyone may send requests. Beyond it (and a burst of
	// signBurst) the responder answers tryLater (RFC 6960 §2.3) and the CRL route 503; cached
	// answers are still served.
	signsPerSecond rate.Limit = 20
	signBurst                 = 40
)

// ErrInvalidSerial: what was given as a serial number is not hexadecimal.
var ErrInvalidSerial = errors.New("a serial number is hexadecimal (as `signet admin cert list` shows it, colons allowed)")

// SetRevocationURL sets the base URL written into the certificates the CA issues from now on
// (ca.revocation_url, default public_url); empty writes none.
func (k *Keyring) SetRevocationURL(base string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.revocationURL = strings.TrimRight(base, "/")
}

func (k *Keyring) revocationBase() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.revocationURL
}

// CRLURL is where the CA ca publishes its CRL: one per CA, named by its subject key identifier.
func CRLURL(base string, ca *x509.Certificate) string {
	return base + "/ca/crl/" + hex.EncodeToString(ca.SubjectKeyId)
}

// OCSPURL is the OCSP responder of every Signet CA (a request names its CA by key hash).
func OCSPURL(base string) string { return base + "/ca/ocsp" }

// reasons are the CRLReason codes (RFC 5280 §5.3.1) an administrator may give; certificateHold is
// left out (a revocation is final) and so are the CA-only ones.
var reasons = map[string]int{
	"unspecified": ocsp.Unspecified, "keyCompromise": ocsp.KeyCompromise, "affiliationChanged": ocsp.AffiliationChanged,
	"superseded": ocsp.Superseded, "cessationOfOperation": ocsp.CessationOfOperation, "privilegeWithdrawn": ocsp.PrivilegeWithdrawn,
}

// ReasonNames lists the reasons ParseReason knows, for help texts.
const ReasonNames = "unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn"

// ParseReason reads a CRLReason by its RFC 5280 name (case does not matter); empty is unspecified.
func ParseReason(name string) (int, error) {
	if name == "" {
		return ocsp.Unspecified, nil
	}
	for n, code := range reasons {
		if strings.EqualFold(n, name) {
			return code, nil
		}
	}
	return 0, fmt.Errorf("revocation reason %q: use one of %s", name, ReasonNames)
}

// Revocation describes the revocation of what the administrator named: a key URI (the certificate
// is read from its token, so the CRL of its own CA lists it) or a serial number in hex.
func (k *Keyring) Revocation(ctx context.Context, serialOrURI string, reason int) (contracts.Revocation, error) {
	r := contracts.Revocation{Reason: reason}
	if strings.HasPrefix(serialOrURI, "pkcs11:") {
		c, err := k.Credential(ctx, serialOrURI)
		if err != nil {
			return r, err
		}
		if len(c.Certificate.AuthorityKeyId) == 0 || bytes.Equal(c.Certificate.RawIssuer, c.Certificate.RawSubject) {
			return r, fmt.Errorf("%w: %s is self-signed: no CA publishes its status; disable it instead (signet admin cert disable)", ErrInvalidConfig, serialOrURI)
		}
		r.Serial = contracts.NormalSerial(c.Certificate.SerialNumber.Text(16))
		r.Issuer = hex.EncodeToString(c.Certificate.AuthorityKeyId)
		r.Subject = c.Certificate.Subject.String()
		return r, nil
	}
	return SerialRevocation(serialOrURI, reason)
}

// SerialRevocation describes the revocation of a serial number (hex, colons allowed) whose CA is
// not known: it counts for every CA of this Signet.
func SerialRevocation(serial string, reason int) (contracts.Revocation, error) {
	r := contracts.Revocation{Serial: contracts.NormalSerial(serial), Reason: reason}
	if _, ok := new(big.Int).SetString(r.Serial, 16); !ok {
		return r, fmt.Errorf("%q: %w", serial, ErrInvalidSerial)
	}
	return r, nil
}

// RevocationSource lists the revoked certificates (identity.CredentialPolicy, from NATS KV).
type RevocationSource interface {
	Revocations(ctx context.Context) ([]contracts.Revocation, error)
}

// caEntry is one CA on the tokens, with the key hashes an OCSP request may name it by (RFC 6960
// §4.1.1: the hash of the subjectPublicKey bit string).
type caEntry struct {
	cred    *Credential
	ski     string
	keyHash map[crypto.Hash][]byte
}

// Responder serves the CRLs and OCSP answers of the CAs on the keyring's tokens.
type Responder struct {
	k   *Keyring
	src RevocationSource
	reg IssuedLookup // the register of issued certificates; nil: only the tokens' certificates count
	log *zap.Logger
	now func() time.Time

	signs *rate.Limiter // signatures asked of the CA's token by the public endpoints

	mu       sync.Mutex
	cas      map[string]*caEntry        // by subject key identifier (hex)
	leaves   map[string]map[string]bool // serials on the tokens, by issuer key identifier (register.go)
	listedAt time.Time
	crls     map[string]cachedCRL
	answers  map[string]cachedAnswer
}

type cachedCRL struct {
	der     []byte
	list    string // fingerprint of the revocations it was made from
	madeAt  time.Time
	expires time.Time
}

type cachedAnswer struct {
	der    []byte
	list   string
	madeAt time.Time
}

// NewResponder answers for the CAs of k from the revocations src lists.
func NewResponder(k *Keyring, src RevocationSource, log *zap.Logger) *Responder {
	if log == nil {
		log = zap.NewNop()
	}
	return &Responder{k: k, src: src, log: log, now: time.Now, crls: map[string]cachedCRL{}, answers: map[string]cachedAnswer{},
		signs: rate.NewLimiter(signsPerSecond, signBurst)}
}

// WithRegister makes the responder answer "unknown" (RFC 6960 §2.2) for a serial that is neither in
// the register r nor on the tokens (register.go).
func (p *Responder) WithRegister(r IssuedLookup) *Responder {
	p.reg = r
	return p
}

// ca finds the CA with this subject key identifier, listing the tokens again when it is unknown
// (not more often than caListRefresh, so random ids cannot make a token busy).
func (p *Responder) ca(ctx context.Context, match func(*caEntry) bool) (*caEntry, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	find := func() *caEntry {
		for _, e := range p.cas {
			if match(e) {
				return e
			}
		}
		return nil
	}
	now := p.now()
	if e := find(); e != nil && now.Sub(p.listedAt) < caListMaxAge {
		return e, nil
	}
	if now.Sub(p.listedAt) < caListRefresh {
		return find(), nil
	}
	err := p.list(ctx)
	return find(), err
}

// list reads the CAs and the issued certificates on the tokens; p.mu is held.
func (p *Responder) list(ctx context.Context) error {
	creds, err := p.k.List(ctx, "")
	if err != nil {
		return err
	}
	p.cas, p.leaves, p.listedAt = map[string]*caEntry{}, map[string]map[string]bool{}, p.now()
	for _, c := range creds {
		cert := c.Certificate
		if cert != nil && !cert.IsCA && len(cert.AuthorityKeyId) > 0 {
			aki := hex.EncodeToString(cert.AuthorityKeyId)
			if p.leaves[aki] == nil {
				p.leaves[aki] = map[string]bool{}
			}
			p.leaves[aki][contracts.NormalSerial(cert.SerialNumber.Text(16))] = true
		}
		if cert == nil || !cert.IsCA || cert.KeyUsage&x509.KeyUsageCRLSign == 0 || len(cert.SubjectKeyId) == 0 {
			continue
		}
		var spki struct {
			Algorithm pkix.AlgorithmIdentifier
			PublicKey asn1.BitString
		}
		if _, err := asn1.Unmarshal(cert.RawSubjectPublicKeyInfo, &spki); err != nil {
			continue
		}
		h1, h256 := sha1.Sum(spki.PublicKey.Bytes), sha256.Sum256(spki.PublicKey.Bytes)
		ski := hex.EncodeToString(cert.SubjectKeyId)
		p.cas[ski] = &caEntry{cred: c, ski: ski, keyHash: map[crypto.Hash][]byte{crypto.SHA1: h1[:], crypto.SHA256: h256[:]}}
	}
	return nil
}

// issued reports whether the CA ski issued serial: by the register, else by the tokens (listed
// again when the last listing is older than caListRefresh). An unreadable register with a serial
// not on the tokens is an error (the answer is tryLater, never a wrong "unknown").
func (p *Responder) issued(ctx context.Context, ski, serial string) (bool, error) {
	var regErr error
	if p.reg != nil {
		ok, err := p.reg.Issued(ctx, ski, serial)
		if ok {
			return true, nil
		}
		regErr = err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.leaves[ski][serial] {
		return true, nil
	}
	if p.now().Sub(p.listedAt) >= caListRefresh {
		if err := p.list(ctx); err != nil {
			p.log.Warn("listing the tokens' certificates for OCSP", zap.Error(err))
		}
	}
	if p.leaves[ski][serial] {
		return true, nil
	}
	return false, regErr
}

// revoked returns the revocations of the CA ski and a fingerprint of them.
func (p *Responder) revoked(ctx context.Context, ski string) ([]contracts.Revocation, string, error) {
	all, err := p.src.Revocations(ctx)
	if err != nil {
		return nil, "", err
	}
	var mine []contracts.Revocation
	var fp strings.Builder
	for _, r := range all {
		if r.Issuer == "" || r.Issuer == ski {
			mine = append(mine, r)
			fmt.Fprintf(&fp, "%s/%d/%d;", r.Serial, r.Reason, r.RevokedAt.Unix())
		}
	}
	return mine, fp.String(), nil
}

// errTooManySignatures: the public endpoints asked more of the CA's token than signsPerSecond.
var errTooManySignatures = errors.New("too many revocation answers to sign right now; try again in a second")

// signer is the CA's key, looked up again so that a reconnected token is used, if the token may be
// asked for one more signature now.
func (p *Responder) signer(ctx context.Context, e *caEntry) (*Credential, error) {
	if !p.signs.Allow() {
		return nil, errTooManySignatures
	}
	return p.k.Credential(ctx, e.cred.URI)
}

// ErrUnknownCA: a CRL was asked of a CA that is not on this Signet's tokens.
var ErrUnknownCA = errors.New("no such CA on this Signet; the URL is the one in the certificate's CRL distribution point")

// ErrCRLUnavailable: the CRL cannot be made now (the CA's token or NATS is unavailable, or the
// public endpoints asked more signatures of the token than signsPerSecond).
var ErrCRLUnavailable = errors.New("the CRL cannot be made right now (the CA's token or NATS is unavailable); try again later")

// CRL is the current CRL (DER) of the CA whose subject key identifier is ski (hex, as in the
// certificates' CRL distribution point, CRLURL): ErrUnknownCA or ErrCRLUnavailable when there is none
// to give. Whoever asks needs no credentials: a CRL is public by nature (RFC 5280 §5) and signed by
// the CA.
func (p *Responder) CRL(ctx context.Context, ski string) ([]byte, error) {
	ski = strings.ToLower(ski)
	e, err := p.ca(ctx, func(e *caEntry) bool { return e.ski == ski })
	if e == nil {
		if err != nil {
			p.log.Warn("listing the CAs for a CRL", zap.Error(err))
		}
		return nil, ErrUnknownCA
	}
	der, err := p.crl(ctx, e)
	if err != nil {
		if !errors.Is(err, errTooManySignatures) {
			p.log.Error("making the CRL", zap.String("ca", e.cred.URI), zap.Error(err))
		}
		return nil, ErrCRLUnavailable
	}
	return der, nil
}

// crl returns the CA's current CRL, made again when the revocations changed or it is an hour old.
func (p *Responder) crl(ctx context.Context, e *caEntry) ([]byte, error) {
	list, fp, err := p.revoked(ctx, e.ski)
	if err != nil {
		return nil, err
	}
	now := p.now()
	p.mu.Lock()
	c, ok := p.crls[e.ski]
	p.mu.Unlock()
	if ok && c.list == fp && now.Sub(c.madeAt) < crlRefresh {
		return c.der, nil
	}
	cred, err := p.signer(ctx, e)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.RevocationList{
		// RFC 5280 §5.2.3: a monotonically increasing number; the clock in microseconds is one.
		Number:     big.NewInt(now.UnixMicro()),
		ThisUpdate: now.UTC().Truncate(time.Second),
		NextUpdate: now.UTC().Truncate(time.Second).Add(crlValidity),
	}
	for _, r := range list {
		serial, ok := new(big.Int).SetString(r.Serial, 16)
		if !ok {
			continue
		}
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{
			SerialNumber: serial, RevocationTime: r.RevokedAt.UTC(), ReasonCode: r.Reason})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, cred.Certificate, cred.Key)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.crls[e.ski] = cachedCRL{der: der, list: fp, madeAt: now, expires: tmpl.NextUpdate}
	p.mu.Unlock()
	return der, nil
}

// OCSP answers the DER OCSP request der (RFC 6960 §4.1) with a DER OCSP response, and reports
// whether it is a status answer (good or revoked) rather than an error answer. Errors of the request
// are OCSP answers too (§2.3): malformedRequest for what does not parse (nil included),
// unauthorized for a CA that is not on this Signet, tryLater when the tokens cannot be listed or the
// CA's token may sign no more now. Like the CRL, it needs no credentials (RFC 6960 §A.1).
func (p *Responder) OCSP(ctx context.Context, der []byte) (answer []byte, status bool) {
	req, err := ocsp.ParseRequest(der)
	if err != nil {
		return ocsp.MalformedRequestErrorResponse, false
	}
	e, lerr := p.ca(ctx, func(e *caEntry) bool { return bytes.Equal(e.keyHash[req.HashAlgorithm], req.IssuerKeyHash) })
	if e == nil {
		if lerr != nil {
			p.log.Warn("listing the CAs for OCSP", zap.Error(lerr))
			return ocsp.TryLaterErrorResponse, false
		}
		return ocsp.UnauthorizedErrorResponse, false // not a CA of this Signet (§2.3)
	}
	resp, err := p.ocspAnswer(ctx, e, req)
	if err != nil {
		if !errors.Is(err, errTooManySignatures) {
			p.log.Error("answering OCSP", zap.String("ca", e.cred.URI), zap.Error(err))
		}
		return ocsp.TryLaterErrorResponse, false
	}
	return resp, true
}

// ocspAnswer is "revoked" (with time and reason) for a serial on the list, "good" for one the CA
// issued (issued: the register or the tokens) and "unknown" for any other (RFC 6960 §2.2). An
// "unknown" answer is not cached: the certificate may be issued the next second.
func (p *Responder) ocspAnswer(ctx context.Context, e *caEntry, req *ocsp.Request) ([]byte, error) {
	list, fp, err := p.revoked(ctx, e.ski)
	if err != nil {
		return nil, err
	}
	serial := contracts.NormalSerial(req.SerialNumber.Text(16))
	key := e.ski + "/" + req.HashAlgorithm.String() + "/" + serial
	now := p.now()
	p.mu.Lock()
	c, ok := p.answers[key]
	p.mu.Unlock()
	if ok && c.list == fp && now.Sub(c.madeAt) < ocspKeep {
		return c.der, nil
	}
	// thisUpdate is truncated to the minute as x/crypto/ocsp truncates producedAt: NSS (pdfsig)
	// refused responses whose thisUpdate was seconds later than their producedAt or than the
	// signing time it validates at (revocation_pdfsig_test.go).
	this := now.UTC().Truncate(time.Minute)
	tmpl := ocsp.Response{
		Status: ocsp.Good, SerialNumber: req.SerialNumber, IssuerHash: req.HashAlgorithm,
		ThisUpdate: this, NextUpdate: this.Add(ocspValidity),
	}
	if i := slices.IndexFunc(list, func(r contracts.Revocation) bool { return r.Serial == serial }); i >= 0 {
		tmpl.Status, tmpl.RevokedAt, tmpl.RevocationReason = ocsp.Revoked, list[i].RevokedAt.UTC(), list[i].Reason
	} else if ok, err := p.issued(ctx, e.ski, serial); err != nil {
		return nil, err
	} else if !ok {
		tmpl.Status = ocsp.Unknown
	}
	cred, err := p.signer(ctx, e)
	if err != nil {
		return nil, err
	}
	der, err := ocsp.CreateResponse(cred.Certificate, cred.Certificate, tmpl, cred.Key)
	if err != nil {
		return nil, err
	}
	if tmpl.Status != ocsp.Unknown {
		p.mu.Lock()
		if len(p.answers) >= ocspCacheMax {
			clear(p.answers)
		}
		p.answers[key] = cachedAnswer{der: der, list: fp, madeAt: now}
		p.mu.Unlock()
	}
	return der, nil
}
