package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/signet-b24/signet/worker/evidence"
	"github.com/signet-b24/signet/worker/pades"
)

// verifiedSignature is one line of `signet verify` (and one object of --json).
type verifiedSignature struct {
	Field           string    `json:"field"`
	Signer          string    `json:"signer"`
	Time            time.Time `json:"time,omitempty"`
	Timestamp       time.Time `json:"timestamp,omitempty"`
	SubFilter       string    `json:"sub_filter"`
	ByteRange       [4]int64  `json:"byte_range"`
	CoversWholeFile bool      `json:"covers_whole_file"`
	DigestValid     bool      `json:"digest_valid"`
	ChainTrusted    bool      `json:"chain_trusted"`
	Problems        []string  `json:"problems,omitempty"`
}

// runVerify is `signet verify FILE.pdf [--trust CA.pem] [--json]`: one line per signature; exit 0 when
// every signature is valid (digest and, with --trust, the chain), 1 otherwise.
func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("verify", `Usage: signet verify FILE.pdf [--trust CA.pem] [--json]

Checks every signature of the PDF: one line each; exit 0 when all are valid.
`, stderr)
	trust := fs.String("trust", "", "PEM file of trusted root certificates (default: the system's)")
	asJSON := fs.Bool("json", false, "print JSON instead of lines")
	file, err := parseWithPositional(fs, args)
	if err != nil {
		return usageError{err}
	}
	if file == "" {
		return usageError{errors.New("give the PDF to verify: signet verify FILE.pdf")}
	}
	var roots *x509.CertPool
	if *trust != "" {
		certs, err := certReadPEM(*trust)
		if err != nil {
			return usageError{fmt.Errorf("--trust: %w", err)}
		}
		roots = x509.NewCertPool()
		for _, c := range certs {
			roots.AddCert(c)
		}
	}
	infos, err := pades.Verify(file, roots)
	if err != nil {
		return err
	}
	allValid := true
	var out []verifiedSignature
	for _, i := range infos {
		v := verifiedSignature{Field: i.Field, Signer: i.Signer, Time: i.SigningTime, Timestamp: i.TimestampTime, SubFilter: i.SubFilter,
			ByteRange: i.ByteRange, CoversWholeFile: i.CoversWholeFile, DigestValid: i.DigestValid, ChainTrusted: i.ChainTrusted, Problems: i.Problems}
		allValid = allValid && i.DigestValid && i.ChainTrusted
		out = append(out, v)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		for _, v := range out {
			fmt.Fprintf(stdout, "%s signer=%q time=%s subfilter=%s byterange=[%d %d %d %d] whole_file=%s digest=%s chain=%s\n",
				v.Field, v.Signer, v.Time.UTC().Format(time.RFC3339), v.SubFilter, v.ByteRange[0], v.ByteRange[1], v.ByteRange[2], v.ByteRange[3],
				yesNo(v.CoversWholeFile, "yes", "no"), yesNo(v.DigestValid, "valid", "INVALID"), yesNo(v.ChainTrusted, "trusted", "UNTRUSTED"))
			for _, p := range v.Problems {
				fmt.Fprintf(stdout, "  problem: %s\n", p)
			}
		}
	}
	if f, err := evidence.Read(file); err == nil {
		// Facts a self-proving document carries under its signature (trustworthy when the last
		// signature covers the whole file).
		fmt.Fprintf(stdout, "evidence: document %s, original SHA-256 %s, signer %q, certificate %q serial %s, %s, verify at %s\n",
			f.DocumentID, f.OriginalSHA256, f.Signer, f.Certificate, f.CertSerial, f.Time.Format(time.RFC3339), f.VerifyURL())
	}
	if !allValid {
		return exitError{1}
	}
	return nil
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
