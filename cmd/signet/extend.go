package main

// `signet extend`: PAdES B-LT and B-LTA for a signed PDF (issue 17 must 4 and 5). The engine is
// pades.Extend; this file reads the flags, the file and the trust anchors, and writes the result
// next to the input (never over it: an archive keeps every revision).

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/signet-b24/signet/internal/config"
	"github.com/signet-b24/signet/pades"
)

// extendReport is what `signet extend --json` prints.
type extendReport struct {
	In     string `json:"in"`
	Out    string `json:"out"`
	SHA256 string `json:"sha256"`
	*pades.ExtendResult
	Timestamp string `json:"timestamp_field,omitempty"`
}

// maxExtendBytes bounds the document `signet extend` reads into memory.
const maxExtendBytes = 512 << 20

func runExtend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("extend", `Usage: signet extend --level lt|lta [--tsa URL] [--trust CA.pem] [--json] IN.pdf [-o OUT.pdf]

Adds long-term validation data to a signed PDF in an incremental update (earlier signatures stay
valid): the certificates and OCSP responses or CRLs of every signature's chain, its timestamp's and
every document timestamp's, fetched from the addresses in the certificates (PAdES B-LT); with
--level lta also a document timestamp over the whole file (B-LTA). Run --level lta again before the
last timestamp's certificate expires. The output defaults to IN-lt.pdf or IN-lta.pdf beside the input.
`, stderr)
	level := fs.String("level", "", "lt (validation data) or lta (validation data and a document timestamp)")
	tsa := fs.String("tsa", "", "RFC 3161 timestamp authority URL for the document timestamp (required for lta)")
	trust := fs.String("trust", "", "PEM file of the trust anchors every signature must chain to; default: the system's roots, and a signature that does not chain to them is extended with the chain the document carries")
	out := fs.String("o", "", "output PDF (default IN-lt.pdf or IN-lta.pdf)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	in, err := parseWithPositional(fs, args)
	if err != nil {
		return usageError{err}
	}
	if in == "" {
		return usageError{errorf("cli.extend.noFile", "give the signed PDF: signet extend --level lt|lta IN.pdf")}
	}
	lvl, err := pades.ParseLevel(*level)
	if err != nil || (lvl != pades.LevelLT && lvl != pades.LevelLTA) {
		return usageError{errorf("cli.extend.level", "--level %[1]q: use lt or lta", *level)}
	}
	if err := config.CheckServiceURL(*tsa); err != nil {
		return usageError{fmt.Errorf("--tsa: %w", err)}
	}
	if lvl == pades.LevelLTA && *tsa == "" {
		return usageError{errorf("cli.extend.needsTSA", "--level lta adds a document timestamp: give --tsa URL")}
	}
	o := pades.ExtendOptions{Level: lvl}
	if *tsa != "" {
		o.Timestamper = pades.HTTPTimestamper{URL: *tsa}
	}
	if *trust != "" {
		if o.Roots, err = readTrust(*trust); err != nil {
			return usageError{fmt.Errorf("--trust: %w", err)}
		}
	}
	if *out == "" {
		*out = strings.TrimSuffix(in, filepath.Ext(in)) + "-" + string(lvl) + ".pdf"
	}
	if filepath.Clean(*out) == filepath.Clean(in) {
		return usageError{errorf("cli.extend.sameOut", "-o must differ from the input: the signed original is kept")}
	}
	doc, err := readBounded(in, maxExtendBytes)
	if err != nil {
		return err
	}
	extended, res, err := pades.Extend(ctx, doc, o)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	if err := writeFileAtomic(*out, extended); err != nil {
		return err
	}
	rep := extendReport{In: in, Out: *out, SHA256: hex.EncodeToString(res.SHA256[:]), ExtendResult: res}
	if res.Timestamp != nil {
		rep.Timestamp = res.Timestamp.FieldName
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printExtend(stdout, rep)
	return nil
}

func printExtend(w io.Writer, rep extendReport) {
	fmt.Fprint(w, tr("cli.extend.done", "extended %[1]s → %[2]s: level %[3]s, %[4]v signatures, added %[5]v certificates, %[6]v OCSP responses, %[7]v CRLs",
		rep.In, rep.Out, rep.Level, rep.Signatures, rep.Certs, rep.OCSPs, rep.CRLs))
	if rep.Timestamp != "" {
		fmt.Fprint(w, tr("cli.extend.timestamp", ", document timestamp %[1]s", rep.Timestamp))
	}
	fmt.Fprintf(w, ", SHA-256 %s\n", rep.SHA256)
	for _, s := range rep.Sources {
		fmt.Fprintln(w, tr("cli.extend.fetched", "  fetched: %[1]s", s))
	}
	for _, s := range rep.Warnings {
		fmt.Fprintln(w, tr("cli.extend.warning", "  warning: %[1]s", s))
	}
}

// readTrust reads a PEM file of trust anchors.
func readTrust(path string) (*x509.CertPool, error) {
	certs, err := certReadPEM(path)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	for _, c := range certs {
		roots.AddCert(c)
	}
	return roots, nil
}

// readBounded reads a file of at most max bytes.
func readBounded(path string, max int64) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > max {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d MiB signet extend reads into memory", path, st.Size(), max>>20)
	}
	return os.ReadFile(path)
}

// writeFileAtomic writes b to path through a temporary file in the same folder.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".signet-*.pdf.tmp")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
