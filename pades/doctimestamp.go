package pades

// Document timestamps (ISO 32000-2 §12.8.5; ETSI EN 319 142-1 §5.4, PAdES B-LTA): a signature
// dictionary of /Type /DocTimeStamp with /SubFilter /ETSI.RFC3161 whose /Contents is an RFC 3161
// TimeStampToken, the imprint of which is the hash of the ByteRange bytes. It proves the document
// existed at genTime; its "signer" is the TSA.

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"io"
)

// verifyDocTimestamp judges a document timestamp whose token is der.
func verifyDocTimestamp(info SignatureInfo, f io.ReaderAt, der []byte, roots *x509.CertPool) SignatureInfo {
	r := info.ByteRange
	genTime, tsa, err := verifyToken(der, func(h crypto.Hash) ([]byte, error) {
		x := h.New()
		for _, part := range [][2]int64{{r[0], r[1]}, {r[2], r[3]}} {
			if _, err := io.Copy(x, io.NewSectionReader(f, part[0], part[1])); err != nil {
				return nil, err
			}
		}
		return x.Sum(nil), nil
	}, roots)
	if tsa != nil {
		info.Certificate, info.TSACertificate = tsa, tsa
		info.Signer = tsa.Subject.CommonName
		if info.Signer == "" {
			info.Signer = tsa.Subject.String()
		}
	}
	switch {
	case err == nil:
		info.DigestValid, info.ChainTrusted, info.TimestampTime = true, true, genTime
	case errors.Is(err, errUntrustedTSA):
		info.DigestValid, info.TimestampTime = true, genTime
		info.addProblem(untrusted(err))
		info.chainErr = err
	case errors.Is(err, errImprint):
		info.addProblem(say("problem.imprint", "the document bytes do not match the timestamp's imprint (modified after timestamping)"))
		info.failure = "HASH_FAILURE"
	default:
		info.addProblem(say("problem.docTimestamp", "document timestamp: %[1]s", err))
		info.failure = "SIG_CRYPTO_FAILURE"
	}
	if info.SigningTime.IsZero() {
		info.SigningTime = info.TimestampTime
	}
	return info
}

// docTimestampReserve is the /Contents reserved for a document timestamp token: a token with an
// RSA-2048 TSA certificate is about 2.2 KB, one with a chain of three a few KB more
// (verification-and-ltv-notes.md §4); 16 KiB leaves room for any TSA Signet will meet.
const docTimestampReserve = 16 << 10

// AddDocTimestamp appends a document timestamp (PAdES B-LTA's update, ETSI EN 319 142-1 §5.4.3)
// over the whole of in: an invisible signature field whose value is a /DocTimeStamp dictionary,
// its /Contents the token tsa returns over the ByteRange digest.
func AddDocTimestamp(ctx context.Context, in []byte, tsa Timestamper) ([]byte, *Result, error) {
	return signBytes(ctx, in, "document", Signer{}, Options{TSA: tsa, docTimestamp: true})
}
