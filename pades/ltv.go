package pades

// Revocation checking with validation data (ETSI EN 319 102-1 §5.2.6; PAdES B-LT, EN 319 142-1
// §5.4.2): the document security store (DSS, ISO 32000-2 §12.8.4.3) holds DER certificates, OCSP
// responses and CRLs; each certificate of a signature's chain but the trust anchor is judged with
// them, or, when `signet verify --online` asks for it, with data fetched from the certificate's
// OCSP responder or CRL distribution point.
//
// A document without a DSS, verified offline, is "revocation not checked": its verdict is what it
// was before B-LT existed. A document with a DSS claims it can be validated offline, so a
// certificate it carries no data for is INDETERMINATE/TRY_LATER. A certificate that names no
// revocation service at all (no AIA OCSP, no CDP) cannot be checked and is not held against the
// signature.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
	"golang.org/x/crypto/ocsp"
)

// RevocationStatus is what the revocation check found for a signature's chain.
type RevocationStatus string

const (
	RevocationNotChecked  RevocationStatus = ""            // no data in the document and none fetched
	RevocationGood        RevocationStatus = "good"        // every certificate good at the signature's time
	RevocationRevoked     RevocationStatus = "revoked"     // a certificate was revoked before the signature's proof of existence
	RevocationUnknown     RevocationStatus = "unknown"     // a responder does not know a certificate
	RevocationUnavailable RevocationStatus = "unavailable" // no usable data for a certificate (retry later, or --online)
)

// String is the status as people read it.
func (s RevocationStatus) String() string {
	if s == RevocationNotChecked {
		return "not checked"
	}
	return string(s)
}

// oidOCSPNoCheck is id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1): an OCSP responder's certificate
// that need not (cannot) be checked for revocation.
var oidOCSPNoCheck = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}

// maxDSSItems bounds the streams read from a DSS: a real one holds a few dozen.
const maxDSSItems = 1000

// dssItem is one stream of a DSS array.
type dssItem struct {
	ref types.Object // as it appears in the array
	der []byte
}

// dssData is the document security store of a document, as read.
type dssData struct {
	present            bool
	ref                types.Object // the catalog's /DSS entry
	certs, ocsps, crls []dssItem
	vri                types.Dict
}

func (s *dssData) ders(items []dssItem) [][]byte {
	out := make([][]byte, len(items))
	for i, it := range items {
		out[i] = it.der
	}
	return out
}

// readDSS reads the catalog's /DSS (ISO 32000-2 §12.8.4.3). An unreadable stream in it is
// skipped: validation data the verifier cannot read is validation data it does not have.
func (d *document) readDSS(ctx context.Context) (*dssData, error) {
	out := &dssData{}
	ref := d.catalog["DSS"]
	dss := d.dict(ref)
	if dss == nil {
		return out, d.limitError()
	}
	out.present, out.ref = true, ref
	out.vri = d.dict(dss["VRI"])
	for _, k := range []struct {
		key string
		to  *[]dssItem
	}{{"Certs", &out.certs}, {"OCSPs", &out.ocsps}, {"CRLs", &out.crls}} {
		for i, o := range d.array(dss[k.key]) {
			if i >= maxDSSItems {
				break
			}
			sd, ok := d.deref(o).(types.StreamDict)
			if !ok {
				continue
			}
			data, err := d.streamData(ctx, sd)
			if err != nil {
				if errors.Is(err, ErrTooLarge) || errors.Is(err, ErrBusy) || ctx.Err() != nil {
					return nil, err
				}
				continue
			}
			*k.to = append(*k.to, dssItem{ref: o, der: bytes.Clone(data)})
		}
	}
	return out, d.limitError()
}

// revInfo is one OCSP response or CRL judged for one certificate.
type revInfo struct {
	status     RevocationStatus // good, revoked or unknown
	revokedAt  time.Time
	thisUpdate time.Time
	der        []byte
	isOCSP     bool
	nextUpdate time.Time         // zero when the responder or CA gave none
	responder  *x509.Certificate // a delegated OCSP responder's certificate, nil when the CA signed
	url        string            // where it was fetched from, empty for DSS data
	source     string
}

// revIndex holds OCSP responses and CRLs parsed once: a document's DSS is judged for every
// certificate of every signature, and a hostile one must not make that parse its megabytes again
// for each (CPU on the public /verify page). Signatures are checked only for entries about the
// certificate at hand, and a CRL's once per issuer.
type revIndex struct {
	ocsps []*ocsp.Response
	oder  [][]byte
	crls  []*x509.RevocationList
	cder  [][]byte
	crlOK map[int][]byte // CRL index → the issuer certificate (Raw) that signed it
}

func newRevIndex(ocsps, crls [][]byte) *revIndex {
	x := &revIndex{crlOK: map[int][]byte{}}
	for _, der := range ocsps {
		if r, err := ocsp.ParseResponse(der, nil); err == nil && r.SerialNumber != nil {
			x.ocsps, x.oder = append(x.ocsps, r), append(x.oder, der)
		}
	}
	for _, der := range crls {
		if l, err := x509.ParseRevocationList(der); err == nil {
			x.crls, x.cder = append(x.crls, l), append(x.cder, der)
		}
	}
	return x
}

// ocspInfo judges a fetched OCSP response about cert.
func ocspInfo(der []byte, cert, issuer *x509.Certificate) (*revInfo, error) {
	resp, err := ocsp.ParseResponseForCert(der, cert, issuer)
	if err != nil {
		return nil, err
	}
	return ocspJudged(resp, der, cert, issuer)
}

// ocspJudged judges a parsed OCSP response about cert: it must be about cert's serial and signed by
// issuer or by a responder issuer delegated with id-kp-OCSPSigning (RFC 6960 §4.2.2.2). The
// responder certificate's own signature over the response was checked when it was parsed.
func ocspJudged(resp *ocsp.Response, der []byte, cert, issuer *x509.Certificate) (*revInfo, error) {
	if resp.SerialNumber == nil || resp.SerialNumber.Cmp(cert.SerialNumber) != 0 {
		return nil, errors.New("the OCSP response is about another certificate")
	}
	ri := &revInfo{thisUpdate: resp.ThisUpdate, nextUpdate: resp.NextUpdate, der: der, isOCSP: true}
	switch rc := resp.Certificate; {
	case rc == nil:
		if err := resp.CheckSignatureFrom(issuer); err != nil {
			return nil, err
		}
	case bytes.Equal(rc.Raw, issuer.Raw):
	default:
		if err := rc.CheckSignatureFrom(issuer); err != nil {
			return nil, fmt.Errorf("the OCSP responder's certificate is not the issuer's: %w", err)
		}
		if !slices.Contains(rc.ExtKeyUsage, x509.ExtKeyUsageOCSPSigning) {
			return nil, errors.New("the OCSP responder's certificate lacks id-kp-OCSPSigning")
		}
		ri.responder = rc
	}
	switch resp.Status {
	case ocsp.Good:
		ri.status = RevocationGood
	case ocsp.Revoked:
		ri.status, ri.revokedAt = RevocationRevoked, resp.RevokedAt
	default:
		ri.status = RevocationUnknown
	}
	return ri, nil
}

// crlInfo judges a fetched CRL about cert.
func crlInfo(der []byte, cert, issuer *x509.Certificate) (*revInfo, error) {
	list, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(list.RawIssuer, cert.RawIssuer) {
		return nil, errors.New("the CRL is of another issuer")
	}
	if err := list.CheckSignatureFrom(issuer); err != nil {
		return nil, err
	}
	return crlJudged(list, der, cert), nil
}

// crlJudged looks cert up in a CRL of its issuer (RFC 5280 §6.3.3) whose signature was checked.
func crlJudged(list *x509.RevocationList, der []byte, cert *x509.Certificate) *revInfo {
	ri := &revInfo{status: RevocationGood, thisUpdate: list.ThisUpdate, nextUpdate: list.NextUpdate, der: der}
	for _, e := range list.RevokedCertificateEntries {
		if e.SerialNumber != nil && e.SerialNumber.Cmp(cert.SerialNumber) == 0 {
			ri.status, ri.revokedAt = RevocationRevoked, e.RevocationTime
		}
	}
	return ri
}

// find picks the best data about cert: valid for it, fresh (thisUpdate not before poe, when poe is
// set) if any is, OCSP before CRL, newest first.
func (x *revIndex) find(cert, issuer *x509.Certificate, poe time.Time) *revInfo {
	var best *revInfo
	better := func(ri *revInfo) bool {
		if best == nil {
			return true
		}
		if f, bf := fresh(ri, poe), fresh(best, poe); f != bf {
			return f
		}
		if ri.isOCSP != best.isOCSP {
			return ri.isOCSP
		}
		return ri.thisUpdate.After(best.thisUpdate)
	}
	for i, r := range x.ocsps {
		if r.SerialNumber.Cmp(cert.SerialNumber) != 0 {
			continue
		}
		if ri, err := ocspJudged(r, x.oder[i], cert, issuer); err == nil && better(ri) {
			best = ri
		}
	}
	for i, l := range x.crls {
		if !bytes.Equal(l.RawIssuer, cert.RawIssuer) {
			continue
		}
		if signer, ok := x.crlOK[i]; !ok || !bytes.Equal(signer, issuer.Raw) {
			if l.CheckSignatureFrom(issuer) != nil {
				continue
			}
			x.crlOK[i] = issuer.Raw
		}
		if ri := crlJudged(l, x.cder[i], cert); better(ri) {
			best = ri
		}
	}
	return best
}

// fresh: the data was issued at or after the proof of existence of the signature (EN 319 102-1
// §5.2.5; the EU DSS cookbook adds B-LT only with such data).
func fresh(ri *revInfo, poe time.Time) bool {
	return poe.IsZero() || !ri.thisUpdate.Before(poe)
}

// fetchRevocation asks the certificate's OCSP responder, then its CRL distribution point, for data
// issued at or after poe (fresh).
func fetchRevocation(ctx context.Context, f *RevocationFetcher, cert, issuer *x509.Certificate, poe time.Time) (*revInfo, error) {
	return fetchRevocationIf(ctx, f, cert, issuer, func(ri *revInfo) error {
		switch {
		case fresh(ri, poe):
			return nil
		case ri.isOCSP:
			return fmt.Errorf("%w: the OCSP response of %s was produced at %s, before the signature's timestamp %s", ErrRevocationUnavailable,
				ri.url, ri.thisUpdate.UTC().Format(time.RFC3339), poe.UTC().Format(time.RFC3339))
		}
		return fmt.Errorf("%w: the CRL of %s was issued at %s, before the signature's timestamp %s; extend again after the CA's next CRL (due %s)",
			ErrRevocationUnavailable, ri.url, ri.thisUpdate.UTC().Format(time.RFC3339), poe.UTC().Format(time.RFC3339), ri.nextUpdate.UTC().Format(time.RFC3339))
	})
}

// fetchRevocationIf asks the certificate's OCSP responders, then its CRL distribution points; the
// first answer signed by the issuer (or a responder it delegated) that accept takes decides.
func fetchRevocationIf(ctx context.Context, f *RevocationFetcher, cert, issuer *x509.Certificate, accept func(*revInfo) error) (*revInfo, error) {
	var errs []error
	if len(cert.OCSPServer) > 0 {
		r, err := f.OCSP(ctx, cert, issuer)
		var ri *revInfo
		if err == nil {
			ri, err = ocspInfo(r.Raw, cert, issuer)
		}
		if err == nil {
			ri.url, ri.source = r.URL, "OCSP "+r.URL
			if err = accept(ri); err == nil {
				return ri, nil
			}
		}
		errs = append(errs, err)
	}
	if len(cert.CRLDistributionPoints) > 0 {
		r, err := f.CRL(ctx, cert, issuer)
		var ri *revInfo
		if err == nil {
			ri, err = crlInfo(r.Raw, cert, issuer)
		}
		if err == nil {
			ri.url, ri.source = r.URL, "CRL "+r.URL
			if err = accept(ri); err == nil {
				return ri, nil
			}
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		errs = append(errs, fmt.Errorf("%w: it names no OCSP responder and no CRL distribution point", ErrRevocationUnavailable))
	}
	return nil, fmt.Errorf("certificate %q: %w", cert.Subject.String(), errors.Join(errs...))
}

// needsRevocation: the certificate names a revocation service and is not an OCSP responder's
// certificate marked ocsp-nocheck.
func needsRevocation(c *x509.Certificate) bool {
	for _, e := range c.Extensions {
		if e.Id.Equal(oidOCSPNoCheck) {
			return false
		}
	}
	return len(c.OCSPServer) > 0 || len(c.CRLDistributionPoints) > 0
}

// chainOf builds the chain of leaf to roots at time at, with pool and extra as intermediates.
func chainOf(leaf *x509.Certificate, pool []*x509.Certificate, extra [][]byte, roots *x509.CertPool, at time.Time, eku x509.ExtKeyUsage) ([]*x509.Certificate, error) {
	inter := x509.NewCertPool()
	for _, c := range pool {
		inter.AddCert(c)
	}
	for _, der := range extra {
		if c, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(c)
		}
	}
	if at.IsZero() {
		at = time.Now()
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{eku}})
	if err != nil {
		return nil, err
	}
	return chains[0], nil
}

// issuerChain follows issuers from leaf through pool and extra, each link's signature checked,
// up to a self-signed certificate or as far as the certificates go. It is the chain the document
// carries, trusted or not: Extend uses it when no trust anchors were given.
func issuerChain(leaf *x509.Certificate, pool []*x509.Certificate, extra [][]byte) []*x509.Certificate {
	cands := slices.Clone(pool)
	for _, der := range extra {
		if c, err := x509.ParseCertificate(der); err == nil {
			cands = append(cands, c)
		}
	}
	chain := []*x509.Certificate{leaf}
	for cur := leaf; len(chain) < 10; {
		if bytes.Equal(cur.RawIssuer, cur.RawSubject) && cur.CheckSignatureFrom(cur) == nil {
			break
		}
		var next *x509.Certificate
		for _, c := range cands {
			if bytes.Equal(c.RawSubject, cur.RawIssuer) && !c.Equal(cur) && cur.CheckSignatureFrom(c) == nil {
				next = c
				break
			}
		}
		if next == nil {
			break
		}
		chain = append(chain, next)
		cur = next
	}
	return chain
}

// poeOf is the signature's proof of existence: its timestamp, zero when it has none.
func poeOf(in *SignatureInfo) time.Time { return in.TimestampTime }

// usageOf is the extended key usage the chain is built for: timeStamping for a document timestamp.
func usageOf(in *SignatureInfo) x509.ExtKeyUsage {
	if in.SubFilter == "ETSI.RFC3161" {
		return x509.ExtKeyUsageTimeStamping
	}
	return x509.ExtKeyUsageAny
}

// checkRevocations judges the revocation status of the chain of every intact, trusted signature
// and document timestamp (see the file comment for when it is required).
func checkRevocations(ctx context.Context, infos []SignatureInfo, dss *dssData, o VerifyOptions) {
	if !dss.present && o.Fetch == nil {
		return
	}
	index, certs := newRevIndex(dss.ders(dss.ocsps), dss.ders(dss.crls)), dss.ders(dss.certs)
	for i := range infos {
		in := &infos[i]
		if !in.Intact() || !in.ChainTrusted || in.Certificate == nil || ctx.Err() != nil {
			continue
		}
		at := in.TimestampTime
		if at.IsZero() {
			at = in.SigningTime
		}
		chain, err := chainOf(in.Certificate, in.pool, certs, o.Roots, at, usageOf(in))
		if err != nil {
			continue
		}
		in.Revocation, in.RevocationSource = judgeChain(ctx, in, chain, poeOf(in), index, o.Fetch)
		if in.tsa == nil || in.TimestampTime.IsZero() || (in.Revocation != RevocationGood && in.Revocation != RevocationNotChecked) {
			continue
		}
		// The signature timestamp's TSA chain: its time stands only if its certificate was not
		// revoked before it.
		tchain, err := chainOf(in.tsa, in.pool, certs, o.Roots, in.TimestampTime, x509.ExtKeyUsageTimeStamping)
		if err != nil {
			continue
		}
		switch st, src := judgeChain(ctx, in, tchain, in.TimestampTime, index, o.Fetch); st {
		case RevocationNotChecked:
		case RevocationGood:
			if in.Revocation == RevocationNotChecked {
				in.Revocation, in.RevocationSource = st, src
			} else if src != "" && !strings.Contains(in.RevocationSource, src) {
				in.RevocationSource += ", " + src
			}
		default:
			in.Revocation, in.RevocationSource = st, src
		}
	}
}

// judgeChain checks every certificate of chain but the anchor against revocation data issued
// before or after poe (a revocation after poe does not count); the first that is not good decides.
func judgeChain(ctx context.Context, in *SignatureInfo, chain []*x509.Certificate, poe time.Time, index *revIndex, fetch *RevocationFetcher) (RevocationStatus, string) {
	var sources []string
	for k := 0; k+1 < len(chain); k++ {
		cert, issuer := chain[k], chain[k+1]
		ri := index.find(cert, issuer, poe)
		src := "DSS"
		if ri == nil && !needsRevocation(cert) {
			continue
		}
		if ri == nil && fetch != nil {
			var err error
			if ri, err = fetchRevocation(ctx, fetch, cert, issuer, poe); err != nil {
				in.addProblem(say("problem.revocationFetch", "revocation status unavailable: %[1]s", err))
				return RevocationUnavailable, ""
			}
			src = ri.source
		}
		if ri == nil {
			in.addProblem(say("problem.noRevocationData", "revocation status unavailable: the document carries no OCSP response or CRL for certificate %[1]q; verify with --online", cert.Subject.String()))
			return RevocationUnavailable, ""
		}
		sources = appendUnique(sources, src)
		switch ri.status {
		case RevocationRevoked:
			if poe.IsZero() || !ri.revokedAt.After(poe) {
				in.addProblem(say("problem.revoked", "certificate %[1]q was revoked on %[2]s", cert.Subject.String(), ri.revokedAt.UTC().Format(time.RFC3339)))
				in.failure = "REVOKED"
				return RevocationRevoked, src
			}
			// Revoked after the timestamp proved the signature existed: still good (EN 319 102-1 §5.6.2.4).
		case RevocationUnknown:
			in.addProblem(say("problem.ocspUnknown", "the OCSP responder does not know certificate %[1]q", cert.Subject.String()))
			return RevocationUnknown, src
		}
	}
	if len(sources) == 0 {
		return RevocationNotChecked, ""
	}
	return RevocationGood, joinSources(sources)
}

func appendUnique(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

func joinSources(s []string) string { return strings.Join(s, ", ") }

// derKey identifies a DER blob for de-duplication.
func derKey(der []byte) [32]byte { return sha256.Sum256(der) }
