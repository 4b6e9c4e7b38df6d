package pades

// Fetching revocation data for PAdES B-LT (ETSI EN 319 142-1 §5.4.2): an OCSP response (RFC 6960,
// HTTP transport of appendix A) from the responders a certificate names in its Authority
// Information Access extension, and a CRL (RFC 5280 §5.) from its CRL distribution points.
//
// The URLs come from certificates, that is from whoever made the document or its CA: every answer
// is bounded in time and size, only http and https are fetched (a redirect to file:, ldap: or
// anything else is refused), and an outage is a transient error (ErrRevocationUnavailable) the
// caller retries. The public /verify page never fetches (it would let anyone make the server
// connect to any address: SSRF); only `signet extend`, `signet sign --level lt|lta`, the worker and
// `signet verify --online` do.

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/crypto/ocsp"
)

// ErrRevocationUnavailable: no usable OCSP response or CRL could be had for a certificate (the
// responder is down, slow, answered tryLater, or its data predates the signature's timestamp).
// It is transient: retry later.
var ErrRevocationUnavailable = errors.New("revocation data unavailable")

// ErrRevocationRefused: a responder or CRL server answered in a way Signet refuses (an answer over
// the size cap, a redirect to a non-HTTP address, a response not signed by the certificate's
// issuer). It wraps ErrRevocationUnavailable: another source may still serve the certificate.
var ErrRevocationRefused = fmt.Errorf("%w: refused", ErrRevocationUnavailable)

// RevocationFetcher fetches OCSP responses and CRLs over HTTP. The zero value is ready: 10 s per
// request, answers up to 10 MiB, at most 3 redirects, each to http or https only.
type RevocationFetcher struct {
	Client   *http.Client  // nil: a client with Timeout; either way the redirect rule above
	Timeout  time.Duration // per request; 0 = 10 s
	MaxBytes int64         // per answer; 0 = 10 MiB (a large CA's CRL is a few MiB)
}

const (
	defaultRevocationTimeout = 10 * time.Second
	defaultRevocationMax     = 10 << 20
	maxRevocationRedirects   = 3
)

// OCSPResult is an OCSP response fetched for a certificate.
type OCSPResult struct {
	Raw      []byte // the DER OCSPResponse, as it goes into the DSS
	Response *ocsp.Response
	URL      string
}

// CRLResult is a CRL fetched for a certificate.
type CRLResult struct {
	Raw  []byte // DER
	List *x509.RevocationList
	URL  string
}

func (f *RevocationFetcher) client() *http.Client {
	if f != nil && f.Client != nil {
		if f.Client.CheckRedirect != nil {
			return f.Client
		}
		c := *f.Client // the redirect rule holds for a caller's client too
		c.CheckRedirect = checkRevocationRedirect
		return &c
	}
	timeout := defaultRevocationTimeout
	if f != nil && f.Timeout > 0 {
		timeout = f.Timeout
	}
	return &http.Client{Timeout: timeout, CheckRedirect: checkRevocationRedirect}
}

// checkRevocationRedirect follows at most 3 redirects, to http or https addresses only: a
// responder must not be able to make Signet read a local file or talk another protocol.
func checkRevocationRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRevocationRedirects {
		return fmt.Errorf("%w: more than %d redirects", ErrRevocationRefused, maxRevocationRedirects)
	}
	if s := req.URL.Scheme; s != "http" && s != "https" {
		return fmt.Errorf("%w: redirect to a %s: address (only http and https are fetched)", ErrRevocationRefused, s)
	}
	return nil
}

func (f *RevocationFetcher) maxBytes() int64 {
	if f != nil && f.MaxBytes > 0 {
		return f.MaxBytes
	}
	return defaultRevocationMax
}

// httpURL accepts the http and https URLs of a certificate extension; others (ldap:, file:) are
// skipped by the caller with this error.
func httpURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: %q is not an http or https address", ErrRevocationRefused, raw)
	}
	return u, nil
}

// do performs req and reads at most maxBytes of a 200 answer.
func (f *RevocationFetcher) do(req *http.Request) ([]byte, error) {
	resp, err := f.client().Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) && errors.Is(ue.Err, ErrRevocationRefused) {
			return nil, ue.Err
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrRevocationUnavailable, req.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: %s answered HTTP %d", ErrRevocationUnavailable, req.URL.Redacted(), resp.StatusCode)
	}
	max := f.maxBytes()
	body, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading the answer of %s: %v", ErrRevocationUnavailable, req.URL.Redacted(), err)
	}
	if int64(len(body)) > max {
		return nil, fmt.Errorf("%w: the answer of %s is larger than %d bytes", ErrRevocationRefused, req.URL.Redacted(), max)
	}
	return body, nil
}

// OCSP asks the certificate's OCSP responders (AIA, RFC 5280 §4.2.2.1) in turn and returns the
// first successful response signed by issuer or by a responder issuer delegated (RFC 6960
// §4.2.2.2). A revoked certificate is a result, not an error.
func (f *RevocationFetcher) OCSP(ctx context.Context, cert, issuer *x509.Certificate) (*OCSPResult, error) {
	if len(cert.OCSPServer) == 0 {
		return nil, fmt.Errorf("%w: certificate %q names no OCSP responder", ErrRevocationUnavailable, cert.Subject.String())
	}
	req, err := ocsp.CreateRequest(cert, issuer, nil)
	if err != nil {
		return nil, fmt.Errorf("OCSP request for %q: %w", cert.Subject.String(), err)
	}
	var errs []error
	for _, raw := range cert.OCSPServer {
		u, err := httpURL(raw)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		hr, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(req))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		hr.Header.Set("Content-Type", "application/ocsp-request")
		hr.Header.Set("Accept", "application/ocsp-response")
		body, err := f.do(hr)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		resp, err := ocsp.ParseResponseForCert(body, cert, issuer)
		if err != nil {
			var re ocsp.ResponseError
			if errors.As(err, &re) {
				// tryLater, internalError …: RFC 6960 §2.3; transient.
				errs = append(errs, fmt.Errorf("%w: %s answered %v", ErrRevocationUnavailable, u.Redacted(), re))
			} else {
				errs = append(errs, fmt.Errorf("%w: %s: unusable OCSP response: %v", ErrRevocationRefused, u.Redacted(), err))
			}
			continue
		}
		return &OCSPResult{Raw: body, Response: resp, URL: u.Redacted()}, nil
	}
	return nil, errors.Join(errs...)
}

// CRL downloads the certificate's CRLs (CDP, RFC 5280 §4.2.1.13) in turn and returns the first
// one issuer signed. PEM is accepted and stored as DER.
func (f *RevocationFetcher) CRL(ctx context.Context, cert, issuer *x509.Certificate) (*CRLResult, error) {
	if len(cert.CRLDistributionPoints) == 0 {
		return nil, fmt.Errorf("%w: certificate %q names no CRL distribution point", ErrRevocationUnavailable, cert.Subject.String())
	}
	var errs []error
	for _, raw := range cert.CRLDistributionPoints {
		u, err := httpURL(raw)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		hr, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		body, err := f.do(hr)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if b, _ := pem.Decode(body); b != nil && b.Type == "X509 CRL" {
			body = b.Bytes
		}
		list, err := x509.ParseRevocationList(body)
		if err == nil {
			err = list.CheckSignatureFrom(issuer)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %s: unusable CRL: %v", ErrRevocationRefused, u.Redacted(), err))
			continue
		}
		return &CRLResult{Raw: body, List: list, URL: u.Redacted()}, nil
	}
	return nil, errors.Join(errs...)
}
