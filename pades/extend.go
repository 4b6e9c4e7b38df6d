package pades

// Extending signed documents to PAdES B-LT and B-LTA (ETSI EN 319 142-1 §5.4; the EU DSS
// cookbook's signature augmentation): B-LT adds, in one incremental update, the certificates and
// fresh OCSP responses or CRLs of every signature's chain, of its signature timestamp's TSA chain
// and of every earlier document timestamp's TSA chain (dss.go); B-LTA then adds a document
// timestamp over the whole file (doctimestamp.go). Extending a B-LTA document again is how an
// archive is kept valid: the previous timestamp's validation data goes in, a new timestamp on top.
// Nothing before the update changes, so every signature stays valid and the modification analysis
// allows the update.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Level is a PAdES baseline level (ETSI EN 319 142-1 §6).
type Level string

// The levels Signet makes.
const (
	LevelB   Level = "b"   // B-B: the signature alone
	LevelT   Level = "t"   // B-T: with a signature timestamp
	LevelLT  Level = "lt"  // B-LT: with the chains' validation data in a DSS
	LevelLTA Level = "lta" // B-LTA: B-LT and a document timestamp over it
)

// ParseLevel reads a level as the settings and flags write it: b, t, lt, lta (any case, "b-lt" too).
func ParseLevel(s string) (Level, error) {
	l := Level(strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "b-"))
	switch l {
	case LevelB, LevelT, LevelLT, LevelLTA:
		return l, nil
	case "":
		return LevelB, nil
	}
	return "", fmt.Errorf("%w: level %q: use b, t, lt or lta", ErrBadOptions, s)
}

// ErrNotExtendable: a signature of the document is not valid (modified, broken, untrusted or
// revoked); extending it would only preserve a signature that proves nothing. Verify the document.
var ErrNotExtendable = errors.New("the document cannot be extended")

// ExtendOptions say how to extend.
type ExtendOptions struct {
	Level       Level       // LevelLT or LevelLTA
	Timestamper Timestamper // the TSA of the document timestamp; required for LevelLTA
	// Fetch gets the OCSP responses and CRLs; nil: a RevocationFetcher with its defaults.
	Fetch *RevocationFetcher
	// Roots are the trust anchors the chains are built to: every signature must chain to them. Nil:
	// the system roots, and a signature that does not chain to them is extended with the chain the
	// document carries (the verifier decides whom it trusts; the data is the same).
	Roots *x509.CertPool
	Now   func() time.Time // nil: time.Now; the VRI /TU time
}

// ExtendResult says what an extension added.
type ExtendResult struct {
	Level      Level    `json:"level"`
	Signatures int      `json:"signatures"` // signatures and document timestamps covered
	Certs      int      `json:"certs_added"`
	OCSPs      int      `json:"ocsps_added"`
	CRLs       int      `json:"crls_added"`
	Sources    []string `json:"sources,omitempty"` // where revocation data was fetched from
	// Timestamp is the document timestamp added (LTA): its field and ByteRange.
	Timestamp *Result  `json:"-"`
	Warnings  []string `json:"warnings,omitempty"`
	// SHA256 is of the output document.
	SHA256 [32]byte `json:"-"`
}

// Extend appends B-LT validation data to in and, for LevelLTA, a document timestamp.
func Extend(ctx context.Context, in []byte, o ExtendOptions) ([]byte, *ExtendResult, error) {
	if o.Level != LevelLT && o.Level != LevelLTA {
		return nil, nil, fmt.Errorf("%w: extend to lt or lta, not %q", ErrBadOptions, o.Level)
	}
	if o.Level == LevelLTA && o.Timestamper == nil {
		return nil, nil, fmt.Errorf("%w: B-LTA needs a timestamp authority; pass --tsa URL or set signing.tsa_url", ErrBadOptions)
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	fetch := o.Fetch
	if fetch == nil {
		fetch = &RevocationFetcher{}
	}
	res := &ExtendResult{Level: o.Level}
	out, err := o.addValidationData(ctx, in, fetch, now(), res, "")
	if err != nil {
		return nil, nil, err
	}
	if o.Level == LevelLTA {
		stamped, r, err := AddDocTimestamp(ctx, out, o.Timestamper)
		if err != nil {
			return nil, nil, err
		}
		res.Timestamp = r
		// The new timestamp's own TSA chain and revocation data, in one more update after it, so the
		// document validates offline now and not only after its next renewal (the modification
		// analysis allows a DSS after a document timestamp).
		if out, err = o.addValidationData(ctx, stamped, fetch, now(), res, r.FieldName); err != nil {
			return nil, nil, fmt.Errorf("the new document timestamp: %w", err)
		}
	}
	res.SHA256 = sha256.Sum256(out)
	return out, res, nil
}

// addValidationData appends the DSS update for every signature and document timestamp of in, or
// only for the field only when it is set; it adds what it did to res.
func (o ExtendOptions) addValidationData(ctx context.Context, in []byte, fetch *RevocationFetcher, now time.Time, res *ExtendResult, only string) ([]byte, error) {
	name := "document"
	infos, err := verifySource(ctx, name, bytes.NewReader(in), int64(len(in)), VerifyOptions{Roots: o.Roots})
	if err != nil {
		return nil, err
	}
	d, err := readDocument(ctx, bytes.NewReader(in), int64(len(in)), name)
	if err != nil {
		return nil, err
	}
	dss, err := d.readDSS(ctx)
	d.release()
	if err != nil {
		return nil, err
	}
	index := newRevIndex(dss.ders(dss.ocsps), dss.ders(dss.crls))
	set := &validationSet{}
	for i := range infos {
		in := &infos[i]
		if only != "" && in.Field != only {
			continue
		}
		if only == "" {
			res.Signatures++
		}
		if v := in.Verdict(); v == VerdictInvalid || v == VerdictUntrusted && o.Roots != nil {
			return nil, fmt.Errorf("%w: signature %q is %s (%s); run signet verify", ErrNotExtendable, in.Field, v, in.Reason())
		}
		if in.tsaTime.IsZero() && in.SubFilter != "ETSI.RFC3161" {
			res.Warnings = append(res.Warnings, fmt.Sprintf("signature %q has no signature timestamp: its revocation data proves less than B-LT asks (sign with --tsa)", in.Field))
		}
		e := set.entry(in.contents)
		at := in.TimestampTime
		if at.IsZero() {
			at = in.SigningTime
		}
		chain, err := o.chain(in.Certificate, in.pool, dss, at, usageOf(in), res)
		if err != nil {
			return nil, fmt.Errorf("%w: signature %q: %v", ErrNotExtendable, in.Field, err)
		}
		poe := in.tsaTime // the signature timestamp's time, trusted or not: the data must be fresher
		if in.SubFilter == "ETSI.RFC3161" {
			poe = in.TimestampTime // a document timestamp's own
		}
		if err := collectChain(ctx, e, chain, index, fetch, poe, res); err != nil {
			return nil, fmt.Errorf("signature %q: %w", in.Field, err)
		}
		if in.tsa != nil { // the signature timestamp's TSA chain (EN 319 142-1 §5.4.2)
			tchain, err := o.chain(in.tsa, in.pool, dss, in.tsaTime, x509.ExtKeyUsageTimeStamping, res)
			if err != nil {
				return nil, fmt.Errorf("%w: the timestamp of signature %q: %v", ErrNotExtendable, in.Field, err)
			}
			if err := collectChain(ctx, e, tchain, index, fetch, in.tsaTime, res); err != nil {
				return nil, fmt.Errorf("the timestamp of signature %q: %w", in.Field, err)
			}
		}
	}
	out, counts, err := writeDSS(ctx, in, set, now)
	if err != nil {
		return nil, err
	}
	res.Certs, res.OCSPs, res.CRLs = res.Certs+counts.certs, res.OCSPs+counts.ocsps, res.CRLs+counts.crls
	return out, nil
}

// chain builds leaf's chain to the trust anchors; without anchors given, one that does not reach
// the system roots is the chain the document carries.
func (o ExtendOptions) chain(leaf *x509.Certificate, pool []*x509.Certificate, dss *dssData, at time.Time, eku x509.ExtKeyUsage, res *ExtendResult) ([]*x509.Certificate, error) {
	chain, err := chainOf(leaf, pool, dss.ders(dss.certs), o.Roots, at, eku)
	if err != nil && o.Roots == nil {
		chain, err = issuerChain(leaf, pool, dss.ders(dss.certs)), nil
		res.Warnings = appendUnique(res.Warnings, fmt.Sprintf("certificate %q does not chain to the system roots: extended with the chain the document carries", leaf.Subject.String()))
		if top := chain[len(chain)-1]; !bytes.Equal(top.RawIssuer, top.RawSubject) {
			// The top of the chain is taken for the anchor: its own status is not fetched.
			res.Warnings = appendUnique(res.Warnings, fmt.Sprintf("the document does not carry the issuer of %q: no revocation data for it; give the root with --trust", top.Subject.String()))
		}
	}
	return chain, err
}

// collectChain adds chain's certificates and, for each but the anchor, the best revocation data:
// fresh data the DSS already has, else fetched. A certificate revoked before poe stops the
// extension; one that names no revocation service is embedded without data, with a warning.
func collectChain(ctx context.Context, e *vriEntry, chain []*x509.Certificate, index *revIndex, fetch *RevocationFetcher, poe time.Time, res *ExtendResult) error {
	for _, c := range chain {
		addDER(&e.certs, c.Raw)
	}
	for k := 0; k+1 < len(chain); k++ {
		cert, issuer := chain[k], chain[k+1]
		if !needsRevocation(cert) {
			res.Warnings = appendUnique(res.Warnings, fmt.Sprintf("certificate %q names no OCSP responder or CRL: embedded without revocation data", cert.Subject.String()))
			continue
		}
		ri := index.find(cert, issuer, poe)
		if ri == nil || !fresh(ri, poe) {
			var err error
			if ri, err = fetchRevocation(ctx, fetch, cert, issuer, poe); err != nil {
				return err
			}
			res.Sources = appendUnique(res.Sources, ri.source)
		}
		if ri.status == RevocationRevoked && (poe.IsZero() || !ri.revokedAt.After(poe)) {
			return fmt.Errorf("%w: certificate %q was revoked on %s", ErrNotExtendable, cert.Subject.String(), ri.revokedAt.UTC().Format(time.RFC3339))
		}
		if ri.status == RevocationUnknown {
			return fmt.Errorf("%w: the OCSP responder does not know certificate %q", ErrRevocationUnavailable, cert.Subject.String())
		}
		if ri.isOCSP {
			addDER(&e.ocsps, ri.der)
		} else {
			addDER(&e.crls, ri.der)
		}
		if ri.responder != nil {
			addDER(&e.certs, ri.responder.Raw)
		}
	}
	return nil
}
