package pades

// An RFC 3161 timestamp client over HTTP (RFC 3161 §3.4), for PAdES B-T: the token is requested
// over the digest of the signature value and stored as the unsigned attribute
// id-aa-signatureTimeStampToken (ETSI EN 319 122-1 §5.3).

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509/pkix"
	encasn1 "encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"time"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// ErrTimestamp: the timestamp authority failed or answered with something unusable; retry later.
var ErrTimestamp = errors.New("timestamp authority failed")

// ErrTimestampRefused: the timestamp authority refused the request (PKIStatus rejection, RFC 3161
// §2.4.2, or an HTTP 4xx other than 408 and 429): asking again will not help, the setting
// (signing.tsa_url, --tsa) or the authority's account must change. It wraps ErrTimestamp.
var ErrTimestampRefused = fmt.Errorf("%w: the timestamp authority refused the request; check signing.tsa_url (or --tsa) and the authority's terms", ErrTimestamp)

// errRejected marks a TimeStampResp whose status is not granted.
var errRejected = errors.New("request rejected")

type messageImprint struct {
	HashAlgorithm pkix.AlgorithmIdentifier
	HashedMessage []byte
}

type timeStampReq struct {
	Version        int
	MessageImprint messageImprint
	Nonce          *big.Int `asn1:"optional"`
	CertReq        bool     `asn1:"optional"`
}

// HTTPTimestamper asks an RFC 3161 authority at URL. Client nil means a client with a 15 s timeout.
// The URL is shown in errors, so it must not carry credentials.
type HTTPTimestamper struct {
	URL    string
	Client *http.Client
}

// Timestamp implements Timestamper.
func (t HTTPTimestamper) Timestamp(ctx context.Context, digest []byte, h crypto.Hash) ([]byte, error) {
	hoid, err := hashOID(h)
	if err != nil {
		return nil, err
	}
	nonce, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	req, err := encasn1.Marshal(timeStampReq{Version: 1, MessageImprint: messageImprint{
		HashAlgorithm: pkix.AlgorithmIdentifier{Algorithm: hoid}, HashedMessage: digest}, Nonce: nonce, CertReq: true})
	if err != nil {
		return nil, err
	}
	client := t.Client
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(req))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTimestamp, err)
	}
	hr.Header.Set("Content-Type", "application/timestamp-query")
	resp, err := client.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTimestamp, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: reading the answer of %s: %v", ErrTimestamp, t.URL, err)
	}
	if resp.StatusCode != http.StatusOK {
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests {
			return nil, fmt.Errorf("%w: %s answered HTTP %d", ErrTimestampRefused, t.URL, resp.StatusCode)
		}
		return nil, fmt.Errorf("%w: %s answered HTTP %d", ErrTimestamp, t.URL, resp.StatusCode)
	}
	token, err := parseTimeStampResp(body, digest, nonce)
	if errors.Is(err, errRejected) {
		return nil, fmt.Errorf("%w: %s: %v", ErrTimestampRefused, t.URL, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrTimestamp, t.URL, err)
	}
	return token, nil
}

// parseTimeStampResp checks the status (RFC 3161 §2.4.2) and that the token's TSTInfo is over our
// digest with our nonce, and returns the token.
func parseTimeStampResp(der, digest []byte, nonce *big.Int) ([]byte, error) {
	in := cryptobyte.String(der)
	var resp, status cryptobyte.String
	var code int64
	if !in.ReadASN1(&resp, asn1.SEQUENCE) || !resp.ReadASN1(&status, asn1.SEQUENCE) || !status.ReadASN1Integer(&code) {
		return nil, errors.New("malformed TimeStampResp")
	}
	if code != 0 && code != 1 {
		return nil, fmt.Errorf("%w (PKIStatus %d)", errRejected, code)
	}
	var token cryptobyte.String
	if !resp.ReadASN1Element(&token, asn1.SEQUENCE) {
		return nil, errors.New("granted without a token")
	}
	sd, err := parseSignedData(token)
	if err != nil {
		return nil, err
	}
	if !sd.eContentType.Equal(oidTSTInfo) {
		return nil, errors.New("token does not hold a TSTInfo")
	}
	info, err := parseTSTInfo(sd.eContent)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(info.MessageImprint.HashedMessage, digest) {
		return nil, errors.New("token is over another digest")
	}
	if nonce != nil && (info.Nonce == nil || info.Nonce.Cmp(nonce) != 0) {
		return nil, errors.New("token nonce does not match the request")
	}
	return token, nil
}

// tstInfo is the part of RFC 3161 §2.4.2 TSTInfo that the client checks.
type tstInfo struct {
	MessageImprint messageImprint
	GenTime        time.Time
	Nonce          *big.Int
}

func parseTSTInfo(der []byte) (*tstInfo, error) {
	in := cryptobyte.String(der)
	var seq, mi, alg cryptobyte.String
	var version int64
	var policy encasn1.ObjectIdentifier
	var info tstInfo
	serial := new(big.Int)
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !seq.ReadASN1Integer(&version) || !seq.ReadASN1ObjectIdentifier(&policy) ||
		!seq.ReadASN1(&mi, asn1.SEQUENCE) || !mi.ReadASN1(&alg, asn1.SEQUENCE) ||
		!alg.ReadASN1ObjectIdentifier(&info.MessageImprint.HashAlgorithm.Algorithm) ||
		!mi.ReadASN1Bytes(&info.MessageImprint.HashedMessage, asn1.OCTET_STRING) ||
		!seq.ReadASN1Integer(serial) || !seq.ReadASN1GeneralizedTime(&info.GenTime) {
		return nil, errors.New("malformed TSTInfo")
	}
	if seq.PeekASN1Tag(asn1.SEQUENCE) && !seq.SkipASN1(asn1.SEQUENCE) { // accuracy
		return nil, errors.New("malformed TSTInfo accuracy")
	}
	if seq.PeekASN1Tag(asn1.BOOLEAN) && !seq.SkipASN1(asn1.BOOLEAN) { // ordering
		return nil, errors.New("malformed TSTInfo ordering")
	}
	if seq.PeekASN1Tag(asn1.INTEGER) {
		info.Nonce = new(big.Int)
		if !seq.ReadASN1Integer(info.Nonce) {
			return nil, errors.New("malformed TSTInfo nonce")
		}
	}
	return &info, nil
}
