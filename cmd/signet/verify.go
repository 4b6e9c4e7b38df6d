package main

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/signet-b24/signet/pades"
	"github.com/signet-b24/signet/worker/evidence"
)

// verifyReport is what `signet verify --json` prints: one JSON document.
type verifyReport struct {
	File       string              `json:"file"`
	Verdict    pades.Verdict       `json:"verdict"`
	Valid      bool                `json:"valid"`
	Signatures []verifiedSignature `json:"signatures"`
	Evidence   *evidenceReport     `json:"evidence,omitempty"`
	Error      string              `json:"error,omitempty"` // the file could not be verified at all
}

// verifiedSignature is one line of `signet verify` (and one object of --json). Times that are
// absent are left out, never printed as year 1.
type verifiedSignature struct {
	Field           string        `json:"field"`
	Signer          string        `json:"signer"`
	Time            time.Time     `json:"time,omitzero"`
	Timestamp       time.Time     `json:"timestamp,omitzero"`
	SubFilter       string        `json:"sub_filter"`
	ByteRange       [4]int64      `json:"byte_range"`
	CoversWholeFile bool          `json:"covers_whole_file"`
	ByteRangeValid  bool          `json:"byte_range_valid"`
	DigestValid     bool          `json:"digest_valid"`
	Modified        bool          `json:"modified"`
	ChainTrusted    bool          `json:"chain_trusted"`
	Verdict         pades.Verdict `json:"verdict"`
	Reason          string        `json:"reason"`
	// Revocation: good, revoked, unknown, unavailable or "not checked" (no DSS and no --online).
	Revocation       string         `json:"revocation"`
	RevocationSource string         `json:"revocation_source,omitempty"`
	Changes          []pades.Change `json:"changes,omitempty"`
	Problems         []string       `json:"problems,omitempty"`

	// The reason, the problems and what each change did in the CLI's language, for the lines people
	// read; --json keeps the English above (pades/text.go).
	reasonText   string
	problemTexts []string
	changeTexts  []string
}

// evidenceReport is the self-proving document's facts, as read from the last signed revision.
type evidenceReport struct {
	DocumentID     string    `json:"document_id"`
	OriginalSHA256 string    `json:"original_sha256"`
	Signer         string    `json:"signer"`
	Certificate    string    `json:"certificate"`
	CertSerial     string    `json:"certificate_serial"`
	Time           time.Time `json:"time,omitzero"`
	VerifyURL      string    `json:"verify_url,omitempty"`
	// Signed: the facts come from a revision a signature covers and no later revision changed
	// them; Problem says otherwise.
	Signed  bool   `json:"signed"`
	Problem string `json:"problem,omitempty"`
	// problemText is Problem in the CLI's language.
	problemText string
}

// runVerify is `signet verify FILE.pdf [--trust CA.pem] [--online] [--json] [--report FILE]`: one line per
// signature and the document's verdict; exit 0 when every signature is valid (intact, not modified
// after signing by anything its rules forbid, chaining to a trust anchor, not revoked by the data
// checked) and the evidence, if any, is signed; 1 otherwise.
func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("verify", `Usage: signet verify FILE.pdf [--trust CA.pem] [--online] [--json] [--report FILE]

Checks every signature of the PDF and what was changed after it: one line each and the document's
verdict; exit 0 when every signature is valid, 1 otherwise. Revocation is checked with the OCSP
responses and CRLs the document carries (PAdES B-LT); --online also asks the certificates' OCSP
responders and CRL servers for the rest.
`, stderr)
	trust := fs.String("trust", "", "PEM file of the trust anchors (root certificates); default: the system's roots")
	asJSON := fs.Bool("json", false, "print one JSON document instead of lines")
	report := fs.String("report", "", "also write a validation report (JSON, ETSI TS 119 102-2 indications) to this file")
	online := fs.Bool("online", false, "fetch OCSP responses or CRLs from the certificates' addresses for the certificates the document carries no revocation data for (default: only the data in the document)")
	file, err := parseWithPositional(fs, args)
	if err != nil {
		return usageError{err}
	}
	if file == "" {
		return usageError{errorf("cli.verify.noFile", "give the PDF to verify: signet verify FILE.pdf")}
	}
	var roots *x509.CertPool
	if *trust != "" {
		if roots, err = readTrust(*trust); err != nil {
			return usageError{fmt.Errorf("--trust: %w", err)}
		}
	}
	vo := pades.VerifyOptions{Roots: roots}
	if *online {
		vo.Fetch = &pades.RevocationFetcher{}
	}
	infos, err := pades.VerifyWith(ctx, file, vo)
	if err != nil {
		if *asJSON {
			// --json always prints one JSON document; the reason goes to stderr as well.
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			enc.Encode(verifyReport{File: file, Verdict: pades.VerdictInvalid, Signatures: []verifiedSignature{}, Error: err.Error()})
		}
		return verifyFailure(file, err)
	}
	rep := verifyReport{File: file, Verdict: pades.Summary(infos)}
	for _, i := range infos {
		v := verifiedSignature{Field: i.Field, Signer: i.Signer, Time: i.SigningTime,
			Timestamp: i.TimestampTime, SubFilter: i.SubFilter, ByteRange: i.ByteRange, CoversWholeFile: i.CoversWholeFile,
			ByteRangeValid: i.ByteRangeValid, DigestValid: i.DigestValid, Modified: i.Modified, ChainTrusted: i.ChainTrusted,
			Verdict: i.Verdict(), Reason: i.Reason(), Changes: i.Changes, Problems: i.Problems,
			Revocation: i.Revocation.String(), RevocationSource: i.RevocationSource,
			reasonText: i.ReasonIn(lang()), problemTexts: i.ProblemsIn(lang())}
		for _, c := range i.Changes {
			v.changeTexts = append(v.changeTexts, c.WhatIn(lang()))
		}
		rep.Signatures = append(rep.Signatures, v)
	}
	rep.Evidence = signedEvidence(file, infos)
	if rep.Evidence != nil && !rep.Evidence.Signed {
		rep.Verdict = pades.VerdictInvalid
	}
	rep.Valid = rep.Verdict == pades.VerdictValid
	if *report != "" {
		if err := writeReport(*report, file, infos); err != nil {
			return err
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printVerifyText(stdout, rep)
	}
	if !rep.Valid {
		return exitError{1}
	}
	return nil
}

func printVerifyText(w io.Writer, rep verifyReport) {
	for _, v := range rep.Signatures {
		when := "-"
		if !v.Time.IsZero() {
			when = v.Time.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%s signer=%q time=%s subfilter=%s byterange=[%d %d %d %d] whole_file=%s gap=%s modified=%s digest=%s chain=%s verdict=%s\n",
			v.Field, v.Signer, when, v.SubFilter, v.ByteRange[0], v.ByteRange[1], v.ByteRange[2], v.ByteRange[3],
			yesNo(v.CoversWholeFile, "yes", "no"), yesNo(v.ByteRangeValid, "exact", "EXTRA"), yesNo(v.Modified, "YES", "no"),
			yesNo(v.DigestValid, "valid", "INVALID"), yesNo(v.ChainTrusted, "trusted", "UNTRUSTED"), v.Verdict)
		if !v.Timestamp.IsZero() {
			fmt.Fprintln(w, tr("cli.verify.timestamp", "  timestamp: %[1]s", v.Timestamp.UTC().Format(time.RFC3339)))
		}
		if v.Revocation != pades.RevocationNotChecked.String() {
			src := ""
			if v.RevocationSource != "" {
				src = " (" + v.RevocationSource + ")"
			}
			fmt.Fprintf(w, "  revocation: %s%s\n", v.Revocation, src)
		}
		for k, c := range v.Changes {
			fmt.Fprintln(w, tr("cli.verify.changed", "  changed after signing: %[1]s (%[2]s)", localOr(v.changeTexts, k, c.What), yesNo(c.Allowed, tr("cli.verify.allowed", "allowed"), tr("cli.verify.notAllowed", "NOT ALLOWED"))))
		}
		for k, p := range v.Problems {
			fmt.Fprintln(w, tr("cli.verify.problem", "  problem: %[1]s", localOr(v.problemTexts, k, p)))
		}
	}
	if e := rep.Evidence; e != nil {
		if e.DocumentID != "" {
			when := "-"
			if !e.Time.IsZero() {
				when = e.Time.UTC().Format(time.RFC3339)
			}
			fmt.Fprintln(w, tr("cli.verify.evidence", "evidence: document %[1]s, original SHA-256 %[2]s, signer %[3]q, certificate %[4]q serial %[5]s, %[6]s, verify at %[7]s",
				e.DocumentID, e.OriginalSHA256, e.Signer, e.Certificate, e.CertSerial, when, e.VerifyURL))
		}
		if e.Problem != "" {
			fmt.Fprintln(w, tr("cli.verify.evidenceProblem", "evidence problem: %[1]s", e.problemText))
		}
	}
	line := rep.Verdict.Headline().In(lang())
	if rep.Verdict == pades.VerdictInvalid {
		var why []string
		for _, v := range rep.Signatures {
			if v.Verdict == pades.VerdictInvalid {
				why = append(why, v.Field+": "+cmp.Or(v.reasonText, v.Reason))
			}
		}
		if e := rep.Evidence; e != nil && e.Problem != "" {
			why = append(why, tr("cli.verify.evidenceWhy", "evidence: %[1]s", e.problemText))
		}
		line += ": " + strings.Join(why, "; ")
	}
	fmt.Fprintln(w, tr("cli.verify.verdict", "verdict: %[1]s", line))
}

// verifyFailures are the errors of pades.Verify that say what is wrong with the file itself, and
// their sentences for a reader of another language.
var verifyFailures = []struct {
	err error
	key string
}{
	{pades.ErrNotPDF, "cli.verify.err.notPDF"},
	{pades.ErrEncrypted, "cli.verify.err.encrypted"},
	{pades.ErrCorrupt, "cli.verify.err.corrupt"},
	{pades.ErrNoSignature, "cli.verify.err.noSignature"},
	{pades.ErrTooLarge, "cli.verify.err.tooLarge"},
	{pades.ErrBusy, "cli.verify.err.busy"},
}

// verifyFailure is err, why file could not be verified at all, in the CLI's language: English is
// pades' own error, as always; another language says what is wrong and what to do from the
// catalogue, pades' words kept for --json.
func verifyFailure(file string, err error) error {
	if english() {
		return err
	}
	for _, f := range verifyFailures {
		if errors.Is(err, f.err) {
			return &cliError{en: err.Error(), local: lang().T(f.key, file), wrapped: err}
		}
	}
	return err
}

// signedEvidence reads the self-proving document's facts from the newest revision that an intact
// signature covers, and compares them with what the whole file says: facts added or changed by an
// unsigned update are not trusted (issue 17). nil when the file carries no evidence at all.
func signedEvidence(file string, infos []pades.SignatureInfo) *evidenceReport {
	final, ferr := evidence.Read(file)
	var rev int64
	for _, i := range infos {
		if i.DigestValid && i.ByteRangeValid && i.Revision > rev {
			rev = i.Revision
		}
	}
	var signed *evidence.Facts
	if st, err := os.Stat(file); err == nil && rev == st.Size() {
		signed = final // the whole file is signed
	} else if rev > 0 {
		signed, _ = readEvidenceRevision(file, rev)
	}
	if signed == nil && ferr != nil {
		return nil
	}
	if signed == nil {
		return &evidenceReport{Problem: "the evidence facts were added after signing: they are not trusted and not shown",
			problemText: tr("cli.verify.evidenceAdded", "the evidence facts were added after signing: they are not trusted and not shown")}
	}
	r := &evidenceReport{DocumentID: signed.DocumentID, OriginalSHA256: signed.OriginalSHA256, Signer: signed.Signer,
		Certificate: signed.Certificate, CertSerial: signed.CertSerial, Time: signed.Time, VerifyURL: signed.VerifyURL(), Signed: true}
	if final == nil || !sameFacts(*final, *signed) {
		r.Signed = false
		r.Problem = "the evidence facts were changed after signing; the signed ones are shown"
		r.problemText = tr("cli.verify.evidenceChanged", "the evidence facts were changed after signing; the signed ones are shown")
	}
	return r
}

// writeReport writes the validation report of file to path.
func writeReport(path, file string, infos []pades.SignatureInfo) error {
	in, err := os.Open(file)
	if err != nil {
		return err
	}
	defer in.Close()
	h := sha256.New()
	n, err := io.Copy(h, in)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(pades.NewReportIn(filepath.Base(file), n, h.Sum(nil), infos, time.Now(), lang()), "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("--report: %w", err)
	}
	return nil
}

func sameFacts(a, b evidence.Facts) bool {
	at, bt := a.Time, b.Time
	a.Time, b.Time = time.Time{}, time.Time{}
	return a == b && at.Equal(bt)
}

// readEvidenceRevision reads the evidence of the file's first size bytes (a signed revision).
func readEvidenceRevision(file string, size int64) (*evidence.Facts, error) {
	in, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	tmp, err := os.CreateTemp("", "signet-verify-revision-*.pdf")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if _, err := io.Copy(tmp, io.NewSectionReader(in, 0, size)); err != nil {
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	return evidence.Read(tmp.Name())
}

// localOr is texts[k], the CLI language's words for en, or en when there are none.
func localOr(texts []string, k int, en string) string {
	if k < len(texts) {
		return texts[k]
	}
	return en
}

func yesNo(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

// exitError ends the command with a code and no further message (the output already said why).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }
