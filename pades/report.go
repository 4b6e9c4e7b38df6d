package pades

// The validation report (`signet verify --report FILE`, and the download on /verify): per signature
// an indication and a sub-indication in the vocabulary of ETSI TS 119 102-2 (§4.3, the
// urn:etsi:019102 identifiers), as JSON. It follows the spirit of that standard — the Basic
// validation process of EN 319 102-1, with revocation checked from the document's DSS (or fetched,
// online) and the signature timestamp as the only proof of existence — not its XML schema.

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"time"

	"github.com/signet-b24/signet/internal/i18n"
)

// ETSI TS 119 102-2 main indications of a signature.
const (
	IndicationPassed        = "urn:etsi:019102:mainindication:total-passed"
	IndicationFailed        = "urn:etsi:019102:mainindication:total-failed"
	IndicationIndeterminate = "urn:etsi:019102:mainindication:indeterminate"
	subIndicationPrefix     = "urn:etsi:019102:subindication:"
	processBasic            = "urn:etsi:019102:validationprocess:Basic"
)

// Indication is the signature's main indication and, unless it passed, its sub-indication (EN
// 319 102-1 §5.1.3): TOTAL-FAILED for what cannot be valid at any time (FORMAT_FAILURE for a
// ByteRange that does not sign the whole revision or a disallowed change after signing,
// HASH_FAILURE, SIG_CRYPTO_FAILURE); INDETERMINATE for what more information could settle (no
// chain to a trust anchor, a certificate outside its validity without proof of existence).
func (i SignatureInfo) Indication() (indication, sub string) {
	switch {
	case i.failure != "" && i.failure != "NO_SIGNING_CERTIFICATE_FOUND" && i.failure != "CRYPTO_CONSTRAINTS_FAILURE":
		return IndicationFailed, subIndicationPrefix + i.failure
	case i.failure != "":
		return IndicationIndeterminate, subIndicationPrefix + i.failure
	case i.Modified || !i.ByteRangeValid:
		return IndicationFailed, subIndicationPrefix + "FORMAT_FAILURE"
	case !i.DigestValid:
		return IndicationFailed, subIndicationPrefix + "SIG_CRYPTO_FAILURE"
	case !i.ChainTrusted:
		var inv x509.CertificateInvalidError
		var unknown x509.UnknownAuthorityError
		switch {
		case errors.As(i.chainErr, &inv) && inv.Reason == x509.Expired:
			return IndicationIndeterminate, subIndicationPrefix + "OUT_OF_BOUNDS_NO_POE"
		case errors.As(i.chainErr, &unknown):
			return IndicationIndeterminate, subIndicationPrefix + "NO_CERTIFICATE_CHAIN_FOUND"
		}
		return IndicationIndeterminate, subIndicationPrefix + "CHAIN_CONSTRAINTS_FAILURE"
	case i.Revocation == RevocationUnavailable:
		return IndicationIndeterminate, subIndicationPrefix + "TRY_LATER"
	case i.Revocation == RevocationUnknown:
		return IndicationIndeterminate, subIndicationPrefix + "CERTIFICATE_CHAIN_GENERAL_FAILURE"
	}
	return IndicationPassed, ""
}

// Report is the validation report of one document.
type Report struct {
	ValidationTime time.Time         `json:"validation_time"`
	Policy         string            `json:"policy"`
	Document       ReportDocument    `json:"document"`
	Verdict        Verdict           `json:"verdict"`
	Signatures     []SignatureReport `json:"signatures"`
	// Language is the language of the signatures' reason_text and problem_texts (NewReportIn), absent
	// in English: reason and problems are then the words.
	Language string `json:"language,omitempty"`
}

// ReportDocument names the document validated.
type ReportDocument struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// SignatureReport is one signature's validation.
type SignatureReport struct {
	ID                string             `json:"id"` // the signature field's name
	SignedBy          string             `json:"signed_by"`
	SigningTime       time.Time          `json:"signing_time,omitzero"`
	TimestampTime     time.Time          `json:"timestamp_time,omitzero"`
	SubFilter         string             `json:"sub_filter"`
	ValidationProcess string             `json:"validation_process"`
	Indication        string             `json:"indication"`
	SubIndication     string             `json:"sub_indication,omitempty"`
	Verdict           Verdict            `json:"verdict"`
	Reason            string             `json:"reason"`
	Certificate       *ReportCertificate `json:"certificate,omitempty"`
	ByteRange         [4]int64           `json:"byte_range"`
	SignedRevision    int64              `json:"signed_revision_bytes"`
	Changes           []Change           `json:"changes_after_signing,omitempty"`
	Problems          []string           `json:"problems,omitempty"`
	// ProblemCodes are the problems' stable codes, in Problems' order (text.go): what a program
	// compares, the English of problems being for people and for the older readers of this report.
	ProblemCodes     []string `json:"problem_codes,omitempty"`
	Revocation       string   `json:"revocation"`
	RevocationSource string   `json:"revocation_source,omitempty"`
	// ReasonText and ProblemTexts are reason and problems in Report.Language, for the person who
	// downloaded the report from a page in that language.
	ReasonText   string   `json:"reason_text,omitempty"`
	ProblemTexts []string `json:"problem_texts,omitempty"`
}

// ReportCertificate identifies the signer's certificate.
type ReportCertificate struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	Serial    string    `json:"serial"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	SHA256    string    `json:"sha256"`
}

// reportPolicy says what the Basic process here covers and what it does not.
const reportPolicy = "Signet basic validation: ByteRange, digest and signature value, modification analysis of later revisions, chain to the configured trust anchors at the signing time; revocation of the chain from the document's DSS (and, online, from the certificates' OCSP responders and CRLs), revocation after the signature timestamp allowed; no other proof of existence"

// NewReport makes the validation report of the document name (size bytes, SHA-256 sum) whose
// signatures Verify found as infos, validated at at.
func NewReport(name string, size int64, sum []byte, infos []SignatureInfo, at time.Time) Report {
	return NewReportIn(name, size, sum, infos, at, nil)
}

// NewReportIn is NewReport with the reasons and problems also in l's language (nil or English: only
// the English words).
func NewReportIn(name string, size int64, sum []byte, infos []SignatureInfo, at time.Time, l *i18n.Localizer) Report {
	r := Report{ValidationTime: at.UTC(), Policy: reportPolicy, Verdict: Summary(infos),
		Document: ReportDocument{Name: name, Size: size, SHA256: hex.EncodeToString(sum)}, Signatures: []SignatureReport{}}
	for _, i := range infos {
		ind, sub := i.Indication()
		s := SignatureReport{ID: i.Field, SignedBy: i.Signer, SigningTime: i.SigningTime, TimestampTime: i.TimestampTime,
			SubFilter: i.SubFilter, ValidationProcess: processBasic, Indication: ind, SubIndication: sub, Verdict: i.Verdict(),
			Reason: i.Reason(), ByteRange: i.ByteRange, SignedRevision: i.Revision, Changes: i.Changes, Problems: i.Problems,
			ProblemCodes: i.ProblemCodes(), Revocation: i.Revocation.String(), RevocationSource: i.RevocationSource}
		if l != nil && l.Tag() != i18n.Fallback {
			r.Language = l.Code()
			s.ReasonText, s.ProblemTexts = i.ReasonIn(l), i.ProblemsIn(l)
		}
		if c := i.Certificate; c != nil {
			fp := sha256.Sum256(c.Raw)
			s.Certificate = &ReportCertificate{Subject: c.Subject.String(), Issuer: c.Issuer.String(), Serial: c.SerialNumber.Text(16),
				NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(), SHA256: hex.EncodeToString(fp[:])}
		}
		r.Signatures = append(r.Signatures, s)
	}
	return r
}
