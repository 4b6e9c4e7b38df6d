package pades

// Verify checks the signatures of a PDF (ISO 32000-1 §12.8.1, RFC 5652 §5.4–5.6) for
// `signet verify` and the /verify page: which field, who, when, whether the ByteRange signs the
// whole revision, whether the digest and signature are right, what the revisions after each
// signature changed and whether that is allowed (diff.go), and whether the certificate chains to
// the given roots. verdict.go turns that into one verdict and one wording.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	_ "crypto/sha1" // SHA-1 digests of older signatures (adbe.pkcs7.sha1)
	"crypto/x509"
	encasn1 "encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// SignatureInfo is what Verify found about one signature.
type SignatureInfo struct {
	Field           string
	Signer          string // the signer certificate's subject common name (or full subject)
	Certificate     *x509.Certificate
	SigningTime     time.Time // /M of the signature dictionary (zero when absent)
	TimestampTime   time.Time // genTime of an RFC 3161 signature timestamp (B-T), zero when none
	SubFilter       string
	ByteRange       [4]int64
	CoversWholeFile bool // the ByteRange ends at the end of the file: nothing was appended after it
	// ByteRangeValid: the ByteRange is [0 a b c] and its gap holds exactly the /Contents hex string
	// (ISO 32000-1 §12.8.1), so every other byte of the signed revision is signed.
	ByteRangeValid bool
	DigestValid    bool // the ByteRange hashes to the signed message-digest and the signature verifies
	ChainTrusted   bool // the certificate chains to roots at the signing time
	// Revision is the size of the signed revision: the file up to the end of the ByteRange.
	Revision int64
	// Changes are what the revisions appended after this signature changed (diff.go); Modified
	// says one of them is not allowed, and the signature no longer vouches for what is shown.
	Changes  []Change
	Modified bool
	// Problems are what is wrong with the signature, in English; ProblemTexts the same sentences
	// with their codes (text.go), one for one, for the reader's language (ProblemsIn).
	Problems     []string
	ProblemTexts []Text
	// TSACertificate is the certificate of the TSA that made the signature timestamp or the
	// document timestamp, trusted or not (nil when none): when it expires, the timestamp needs
	// renewing (worker/archive).
	TSACertificate *x509.Certificate

	// Revocation is what the revocation check found for the signer's chain (ltv.go):
	// RevocationGood, RevocationRevoked, RevocationUnknown, RevocationUnavailable, or
	// RevocationNotChecked when the document carries no validation data and none was fetched.
	Revocation RevocationStatus
	// RevocationSource says where the data came from ("DSS", "OCSP http://…", "CRL http://…").
	RevocationSource string

	failure  string // the ETSI TS 119 102-2 sub-indication of the first failure (report.go)
	chainErr error  // why the chain is not trusted
	sigNr    int    // object number of the signature dictionary, -1 when direct

	// For revocation checking and B-LT (ltv.go, extend.go):
	contents []byte              // the whole decoded /Contents, zero padding included (the VRI key's input)
	pool     []*x509.Certificate // the certificates of the CMS and of its timestamp token
	tsa      *x509.Certificate   // the TSA certificate of an intact signature timestamp, trusted or not; nil when none
	tsaTime  time.Time           // its genTime
}

// Verify reads the PDF at path and checks every signature field that holds a signature. roots nil
// means the system roots. A signature that does not verify is reported in its SignatureInfo, not
// as an error; errors are for unreadable files and for files without signatures (ErrNoSignature).
func Verify(path string, roots *x509.CertPool) (infos []SignatureInfo, err error) {
	return VerifyContext(context.Background(), path, roots)
}

// maxSignatures bounds the signatures Verify checks in one document (each hashes up to the whole
// file), and maxFields the form fields it looks at to find them.
const (
	maxSignatures = 100
	maxFields     = 10000
)

// VerifyContext is Verify under ctx: a cancelled request stops reading, and waiting for the
// process's decoding budget (ErrBusy after a while). It checks revocation only with the data the
// document embeds (its DSS): the public /verify page calls it and must never fetch (SSRF).
func VerifyContext(ctx context.Context, path string, roots *x509.CertPool) (infos []SignatureInfo, err error) {
	return VerifyWith(ctx, path, VerifyOptions{Roots: roots})
}

// VerifyOptions say how to verify.
type VerifyOptions struct {
	Roots *x509.CertPool // nil: the system roots
	// Fetch, when set, fetches OCSP responses and CRLs over the network for certificates the
	// document carries no revocation data for (`signet verify --online`). Never set it for a
	// request from the public: the URLs come from the document.
	Fetch *RevocationFetcher
}

// VerifyWith is VerifyContext with options.
func VerifyWith(ctx context.Context, path string, o VerifyOptions) (infos []SignatureInfo, err error) {
	name := filepath.Base(path)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: open: %w", name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: stat: %w", name, err)
	}
	return verifySource(ctx, name, f, st.Size(), o)
}

// verifySource verifies the document src of size bytes.
func verifySource(ctx context.Context, name string, f source, size int64, o VerifyOptions) (infos []SignatureInfo, err error) {
	defer func() {
		if r := recover(); r != nil {
			infos, err = nil, docError(name, ErrCorrupt, "unreadable structure (%v)", r)
		}
	}()
	roots := o.Roots
	d, err := readDocument(ctx, f, size, name)
	if err != nil {
		return nil, err
	}
	defer d.release()
	// Every signature field holding a signature: those of AcroForm /Fields and those only on a
	// page's /Annots (roles.go).
	found := d.walk(false)
	if err := d.limitError(); err != nil {
		return nil, err
	}
	var out []SignatureInfo
	for _, fd := range found.sigFields {
		if len(out) >= maxSignatures || ctx.Err() != nil {
			break
		}
		if sig := d.dict(fd.dict["V"]); sig != nil {
			info := d.verifySignature(f, fd.name, sig, roots)
			info.sigNr = refNumber(fd.dict["V"])
			out = append(out, info)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := d.limitError(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, docError(name, ErrNoSignature, "no signed signature field")
	}
	if err := d.analyseAll(ctx, out); err != nil {
		return nil, err
	}
	dss, err := d.readDSS(ctx)
	if err != nil {
		return nil, err
	}
	checkRevocations(ctx, out, dss, o)
	return out, nil
}

// analyseAll runs the modification analysis for every signature followed by other revisions;
// signatures of the same revision share one analysis.
//
// Metadata (document information, XMP) changed after a signature is allowed only when a later
// signature — intact, over its whole signed range — covers the change: a second signer's tool may
// retitle or restamp the document and sign what it wrote, but nobody may relabel a signed document
// without signing (issue 17: "Info/metadata" is not an allowed change). So: the newest intact
// signature's revision is analysed first; metadata changed after it is disallowed for every
// signature, and metadata changed before it is allowed for the signatures it follows.
func (d *document) analyseAll(ctx context.Context, infos []SignatureInfo) error {
	var final *structure
	done := make(map[int64]revisionAnalysis)
	analysed := func(rev int64) (revisionAnalysis, error) {
		if ra, ok := done[rev]; ok {
			return ra, nil
		}
		if final == nil {
			final = d.walk(true)
			if err := d.limitError(); err != nil {
				return revisionAnalysis{}, err
			}
		}
		ra, err := d.analyse(ctx, rev, final)
		if err == nil {
			done[rev] = ra
		}
		return ra, err
	}
	var newest int64 // the end of the newest intact signature's revision
	for _, in := range infos {
		if in.DigestValid && in.ByteRangeValid && in.Revision > newest {
			newest = in.Revision
		}
	}
	metadataAfterNewest := false
	if newest > 0 && newest < d.size {
		ra, err := analysed(newest)
		if err != nil {
			return err
		}
		metadataAfterNewest = slices.ContainsFunc(ra.changes, func(c Change) bool { return c.Metadata })
	}
	for i := range infos {
		in := &infos[i]
		if in.Revision == 0 || in.CoversWholeFile {
			continue
		}
		ra, err := analysed(in.Revision)
		if err != nil {
			return err
		}
		in.Changes = ra.changes
		if covered := in.Revision < newest && !metadataAfterNewest; !covered && slices.ContainsFunc(in.Changes, func(c Change) bool { return c.Metadata && c.Allowed }) {
			in.Changes = slices.Clone(in.Changes)
			for j := range in.Changes {
				if c := &in.Changes[j]; c.Metadata && c.Allowed {
					c.Allowed, c.Text = false, say("change.unsigned", "%[1]s without a later signature over it", c.text())
					c.What = c.Text.String()
				}
			}
		}
		if ra.sigs != nil && in.sigNr >= 0 && !ra.sigs[in.sigNr] {
			// EU DSS's PdfSignatureDictionary check: the dictionary must be part of the revision it
			// signs. A copy put into a later revision re-uses someone's signature for a field it never had.
			copied := say("change.copied", "the signature of field %[1]q was copied in after signing (its dictionary is not in the revision it signs)", in.Field)
			in.Changes = append(slices.Clone(in.Changes), Change{What: copied.String(), Text: copied})
		}
		for _, c := range in.Changes {
			if !c.Allowed {
				in.Modified = true
				in.addProblem(say("problem.modified", "modified after signing: %[1]s", c.text()))
			}
		}
	}
	return ctx.Err()
}

func (d *document) verifySignature(f io.ReaderAt, field string, sig types.Dict, roots *x509.CertPool) SignatureInfo {
	info := SignatureInfo{Field: field}
	problem := func(sub string, t Text) SignatureInfo {
		info.addProblem(t)
		if info.failure == "" {
			info.failure = sub
		}
		return info
	}
	if sf := sig.NameEntry("SubFilter"); sf != nil {
		info.SubFilter = *sf
	}
	if m := d.text(sig["M"]); m != "" {
		if t, ok := types.DateTime(m, true); ok {
			info.SigningTime = t
		}
	}
	br := d.array(sig["ByteRange"])
	if len(br) != 4 {
		return problem("FORMAT_FAILURE", say("problem.byteRangeShape", "ByteRange is not 4 numbers"))
	}
	for i, o := range br {
		n, ok := d.deref(o).(types.Integer)
		if !ok || n < 0 {
			return problem("FORMAT_FAILURE", say("problem.byteRangeEntry", "ByteRange entry %[1]s is not a non-negative integer", i))
		}
		info.ByteRange[i] = int64(n)
	}
	r := info.ByteRange
	if r[0] != 0 || r[1] > r[2] || r[2]+r[3] > d.size {
		return problem("FORMAT_FAILURE", say("problem.byteRangeFit", "ByteRange %[1]s does not fit the %[2]s-byte file", fmt.Sprint(r), d.size))
	}
	info.CoversWholeFile = r[2]+r[3] == d.size
	info.Revision = r[2] + r[3]
	var der []byte
	switch v := d.deref(sig["Contents"]).(type) {
	case types.HexLiteral:
		der, _ = hex.DecodeString(string(v))
	case types.StringLiteral:
		der, _ = types.Unescape(string(v))
	}
	if len(der) == 0 {
		return problem("FORMAT_FAILURE", say("problem.contentsEmpty", "/Contents is empty or unreadable"))
	}
	info.contents = der
	if why, bad := gapProblem(f, r, der); bad {
		info.addProblem(why)
		info.failure = "FORMAT_FAILURE"
	} else {
		info.ByteRangeValid = true
	}
	if d, err := berToDER(der); err == nil {
		der = d
	}
	if info.SubFilter == "ETSI.RFC3161" {
		info.pool = tokenCertificates(der)
		return verifyDocTimestamp(info, f, der, roots)
	}
	sd, err := parseSignedData(der)
	if err != nil || len(sd.signers) != 1 {
		return problem("FORMAT_FAILURE", say("problem.notCMS", "/Contents is not a CMS SignedData with one signer"))
	}
	si := sd.signers[0]
	var certs []*x509.Certificate
	for _, c := range sd.certs {
		if cert, err := x509.ParseCertificate(c); err == nil {
			certs = append(certs, cert)
		}
	}
	for _, c := range certs {
		if bytes.Equal(issuerAndSerial(c), si.issuerSerial) {
			info.Certificate = c
		}
	}
	if info.Certificate == nil {
		return problem("NO_SIGNING_CERTIFICATE_FOUND", say("problem.noSignerCertificate", "the signer's certificate is not in the CMS"))
	}
	info.Signer = info.Certificate.Subject.CommonName
	if info.Signer == "" {
		info.Signer = info.Certificate.Subject.String()
	}
	h, ok := hashByOID(si.digestAlg)
	if !ok {
		return problem("CRYPTO_CONSTRAINTS_FAILURE", say("problem.digestAlgorithm", "digest algorithm %[1]s not supported", si.digestAlg.String()))
	}
	hh := h.New()
	for _, part := range [][2]int64{{r[0], r[1]}, {r[2], r[3]}} {
		if _, err := io.Copy(hh, io.NewSectionReader(f, part[0], part[1])); err != nil {
			return problem("FORMAT_FAILURE", say("problem.readSigned", "reading the signed bytes: %[1]s", err))
		}
	}
	digest := hh.Sum(nil)
	if si.signedAttrs == nil {
		return problem("FORMAT_FAILURE", say("problem.noSignedAttributes", "no signed attributes (not a CAdES signature)"))
	}
	var md []byte
	mdv := cryptobyte.String(si.attrs[oidAttrMessageDigest.String()])
	if !mdv.ReadASN1Bytes(&md, asn1.OCTET_STRING) || !bytes.Equal(md, digest) {
		return problem("HASH_FAILURE", say("problem.digest", "the document bytes do not match the signed message-digest (modified after signing)"))
	}
	if _, ok := si.attrs[oidAttrSigningTime.String()]; ok && info.SubFilter == "ETSI.CAdES.detached" {
		info.addProblem(say("problem.signingTime", "signing-time attribute present (PAdES puts the time in /M)"))
	}
	signed := append([]byte{0x31}, si.signedAttrs[1:]...) // RFC 5652 §5.4: verified as SET OF
	if err := verifyWith(info.Certificate, si.sigAlg, h, signed, si.signature); err != nil {
		return problem("SIG_CRYPTO_FAILURE", say("problem.signatureValue", "the signature value does not verify: %[1]s", err))
	}
	info.DigestValid = true
	info.pool = certs
	if tok := si.unsigned[oidAttrTimeStampToken.String()]; tok != nil {
		t, tsa, err := verifyTimestampToken(tok, si.signature, roots)
		if err == nil || errors.Is(err, errUntrustedTSA) {
			// Intact: Extend embeds its TSA chain even when the verifier does not trust it.
			info.tsa, info.tsaTime, info.TSACertificate = tsa, t, tsa
			info.pool = append(slices.Clone(certs), tokenCertificates(tok)...)
		}
		if err != nil {
			info.addProblem(say("problem.timestamp", "signature timestamp: %[1]s", err))
		} else {
			info.TimestampTime = t
		}
	}
	inter := x509.NewCertPool()
	for _, c := range certs {
		inter.AddCert(c)
	}
	at := info.SigningTime
	if !info.TimestampTime.IsZero() {
		at = info.TimestampTime
	}
	if at.IsZero() {
		at = time.Now()
	}
	if _, err := info.Certificate.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		info.addProblem(untrusted(err))
		info.chainErr = err
	} else {
		info.ChainTrusted = true
	}
	return info
}

func issuerAndSerial(c *x509.Certificate) []byte {
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(c.RawIssuer)
		b.AddASN1BigInt(c.SerialNumber)
	})
	return b.BytesOrPanic()
}

var oidSHA1 = encasn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}

func hashByOID(oid encasn1.ObjectIdentifier) (crypto.Hash, bool) {
	switch {
	case oid.Equal(oidSHA256):
		return crypto.SHA256, true
	case oid.Equal(oidSHA384):
		return crypto.SHA384, true
	case oid.Equal(oidSHA512):
		return crypto.SHA512, true
	case oid.Equal(oidSHA1):
		return crypto.SHA1, true
	}
	return 0, false
}

// verifyWith checks a SignerInfo signature with the certificate's key; the algorithm is taken from
// the key, RSA-PSS from the signatureAlgorithm OID (salt length: any, as RFC 4055 allows).
func verifyWith(cert *x509.Certificate, sigAlg []byte, h crypto.Hash, msg, sig []byte) error {
	var oid encasn1.ObjectIdentifier
	s := cryptobyte.String(sigAlg)
	var seq cryptobyte.String
	if !s.ReadASN1(&seq, asn1.SEQUENCE) || !seq.ReadASN1ObjectIdentifier(&oid) {
		return errBadCMS
	}
	x := h.New()
	x.Write(msg)
	sum := x.Sum(nil)
	switch k := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		if oid.Equal(oidRSASSAPSS) {
			return rsa.VerifyPSS(k, h, sum, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
		}
		return rsa.VerifyPKCS1v15(k, h, sum, sig)
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, sum, sig) {
			return errors.New("ECDSA verification failed")
		}
		return nil
	}
	return fmt.Errorf("public key type %T not supported", cert.PublicKey)
}

// verifyTimestampToken checks an RFC 3161 token of id-aa-signatureTimeStampToken: its TSTInfo
// imprint is the hash of the signature value, its message-digest matches the TSTInfo, its
// signature verifies with the TSA certificate, which chains to roots for timeStamping
// (RFC 3161 §2.3). It returns genTime.
func verifyTimestampToken(tok, signature []byte, roots *x509.CertPool) (time.Time, *x509.Certificate, error) {
	t, tsa, err := verifyToken(tok, func(h crypto.Hash) ([]byte, error) {
		x := h.New()
		x.Write(signature)
		return x.Sum(nil), nil
	}, roots)
	if errors.Is(err, errImprint) {
		err = errors.New("the token is over another signature")
	}
	return t, tsa, err
}

// tokenCertificates are the certificates an RFC 3161 token (or any CMS SignedData) carries.
func tokenCertificates(tok []byte) []*x509.Certificate {
	if d, err := berToDER(tok); err == nil {
		tok = d
	}
	sd, err := parseSignedData(tok)
	if err != nil {
		return nil
	}
	var out []*x509.Certificate
	for _, c := range sd.certs {
		if cert, err := x509.ParseCertificate(c); err == nil {
			out = append(out, cert)
		}
	}
	return out
}

var errImprint = errors.New("the token's message imprint is over other data")

// verifyToken checks an RFC 3161 TimeStampToken whose message imprint must be imprint(hash
// algorithm of the imprint); it returns genTime and the TSA certificate. A TSA certificate that
// does not chain to roots for timeStamping is an error wrapping errUntrustedTSA, after every other
// check passed.
func verifyToken(tok []byte, imprint func(crypto.Hash) ([]byte, error), roots *x509.CertPool) (time.Time, *x509.Certificate, error) {
	if d, err := berToDER(tok); err == nil {
		tok = d
	}
	ts, err := parseSignedData(tok)
	if err != nil || !ts.eContentType.Equal(oidTSTInfo) || len(ts.signers) != 1 {
		return time.Time{}, nil, errors.New("not an RFC 3161 token")
	}
	ti, err := parseTSTInfo(ts.eContent)
	if err != nil {
		return time.Time{}, nil, err
	}
	th, ok := hashByOID(ti.MessageImprint.HashAlgorithm.Algorithm)
	if !ok {
		return time.Time{}, nil, errors.New("imprint hash not supported")
	}
	want, err := imprint(th)
	if err != nil {
		return time.Time{}, nil, err
	}
	if !bytes.Equal(want, ti.MessageImprint.HashedMessage) {
		return time.Time{}, nil, errImprint
	}
	si := ts.signers[0]
	var tsaCert *x509.Certificate
	inter := x509.NewCertPool()
	for _, c := range ts.certs {
		if cert, err := x509.ParseCertificate(c); err == nil {
			inter.AddCert(cert)
			if bytes.Equal(issuerAndSerial(cert), si.issuerSerial) {
				tsaCert = cert
			}
		}
	}
	if tsaCert == nil {
		return time.Time{}, nil, errors.New("the TSA certificate is not in the token")
	}
	h, ok := hashByOID(si.digestAlg)
	if !ok || si.signedAttrs == nil {
		return time.Time{}, nil, errors.New("token without usable signed attributes")
	}
	ch := h.New()
	ch.Write(ts.eContent)
	var md []byte
	mdv := cryptobyte.String(si.attrs[oidAttrMessageDigest.String()])
	if !mdv.ReadASN1Bytes(&md, asn1.OCTET_STRING) || !bytes.Equal(md, ch.Sum(nil)) {
		return time.Time{}, nil, errors.New("the token's message-digest does not match its TSTInfo")
	}
	if err := verifyWith(tsaCert, si.sigAlg, h, append([]byte{0x31}, si.signedAttrs[1:]...), si.signature); err != nil {
		return time.Time{}, nil, fmt.Errorf("the token signature does not verify: %w", err)
	}
	if _, err := tsaCert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: ti.GenTime,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}}); err != nil {
		return ti.GenTime, tsaCert, fmt.Errorf("%w: %w", errUntrustedTSA, err)
	}
	return ti.GenTime, tsaCert, nil
}

var errUntrustedTSA = errors.New("TSA certificate not trusted")
