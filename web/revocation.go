package web

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/url"

	"github.com/signet-b24/signet/internal/routes"
	"github.com/signet-b24/signet/keyring"
)

// Revocation publishes the internal CA's CRL and answers OCSP (issue 17 must 3) at the URLs the CA
// writes into the certificates it issues (keyring.CRLURL, keyring.OCSPURL). keyring.Responder makes
// and signs the answers; this is only their HTTP form. Every process that holds a CA key serves it,
// the worker too, so cmd/signet mounts it outside the intake's routes.
//
//	GET  /ca/crl/{ca}          the CRL of the CA whose subject key identifier is {ca} (hex)
//	GET  /ca/ocsp/{request...} an OCSP request, base64 of its DER in the path (RFC 6960 §A.1.1)
//	POST /ca/ocsp              an OCSP request, DER in the body (application/ocsp-request)
type Revocation struct {
	Responder RevocationResponder
}

// Routes mounts the public revocation endpoints. They need no credentials: what they say is public
// by nature (RFC 5280 §5, RFC 6960 §A.1), and every answer is signed by the CA.
func (v *Revocation) Routes(mux routes.Mux) {
	mux.HandleFunc("GET /ca/crl/{ca}", v.crl)
	mux.HandleFunc("GET /ca/ocsp/{request...}", v.ocsp)
	mux.HandleFunc("POST /ca/ocsp", v.ocsp)
}

func (v *Revocation) crl(w http.ResponseWriter, r *http.Request) {
	der, err := v.Responder.CRL(r.Context(), r.PathValue("ca"))
	if err != nil {
		status := http.StatusServiceUnavailable
		if errors.Is(err, keyring.ErrUnknownCA) {
			status = http.StatusNotFound
		}
		http.Error(w, err.Error(), status)
		return
	}
	w.Header().Set("Content-Type", "application/pkix-crl")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(der)
}

// ocsp answers by GET (base64 in the path) or POST (DER body), RFC 6960 §A.1. Errors of the request
// are OCSP answers too (§2.3), with HTTP 200: a request that cannot be read is passed on as nil,
// which the responder answers malformedRequest.
func (v *Revocation) ocsp(w http.ResponseWriter, r *http.Request) {
	var der []byte
	var err error
	if r.Method == http.MethodPost {
		der, err = io.ReadAll(http.MaxBytesReader(w, r.Body, 8<<10))
	} else {
		raw := r.PathValue("request")
		if u, uerr := url.PathUnescape(raw); uerr == nil {
			raw = u
		}
		der, err = base64.StdEncoding.DecodeString(raw)
	}
	if err != nil {
		der = nil
	}
	answer, status := v.Responder.OCSP(r.Context(), der)
	if status && r.Method == http.MethodGet {
		// Only a status answer is worth caching (RFC 5019 §6); GET is the form HTTP caches see.
		w.Header().Set("Cache-Control", "public, max-age=300")
	}
	w.Header().Set("Content-Type", "application/ocsp-response")
	w.Write(answer)
}

// RevocationResponder makes CRLs and OCSP answers: keyring.Responder where the CA's key is, or in an
// intake without tokens keyring/keyadmin.Client, which asks the workers (issue 21 must 4).
type RevocationResponder interface {
	CRL(ctx context.Context, ski string) ([]byte, error)
	OCSP(ctx context.Context, der []byte) (answer []byte, status bool)
}
