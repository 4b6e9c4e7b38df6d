package keyring

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/signet-b24/signet/internal/routes"
)

// CredentialView is a credential as the admin API shows it.
type CredentialView struct {
	URI       string    `json:"uri"`
	Token     string    `json:"token"`
	Label     string    `json:"label"`
	ID        string    `json:"id"`
	KeyType   string    `json:"key_type"`
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	Serial    string    `json:"serial"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	IsCA      bool      `json:"is_ca,omitempty"`
	// Status is valid, expiring (within 30 days), expired or not-yet-valid.
	Status   string `json:"status"`
	DaysLeft int    `json:"days_left"`
}

// expiringWithin is when the admin API starts calling a certificate "expiring".
const expiringWithin = 30 * 24 * time.Hour

// View describes a credential for the admin API and pages.
func View(c *Credential, now time.Time) CredentialView {
	cert := c.Certificate
	v := CredentialView{URI: c.URI, Token: c.Token, Label: c.Label, ID: hex.EncodeToString(c.ID), KeyType: KeyDescription(c),
		Subject: cert.Subject.String(), Issuer: cert.Issuer.String(), Serial: cert.SerialNumber.Text(16),
		NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, IsCA: cert.IsCA, DaysLeft: int(cert.NotAfter.Sub(now).Hours() / 24)}
	switch err := c.CheckValid(now); {
	case errors.Is(err, ErrExpired):
		v.Status = "expired"
	case errors.Is(err, ErrNotYetValid):
		v.Status = "not-yet-valid"
	case cert.NotAfter.Sub(now) < expiringWithin:
		v.Status = "expiring"
	default:
		v.Status = "valid"
	}
	return v
}

// KeyDescription names the key's algorithm and size, e.g. RSA-2048 or ECDSA P-256.
func KeyDescription(c *Credential) string {
	switch p := c.Key.Public().(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA-%d", p.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA " + p.Curve.Params().Name
	}
	return fmt.Sprintf("%T", c.Key.Public())
}

// CertRequest is the body of the admin API's certificate-making calls.
type CertRequest struct {
	Token   string `json:"token"`
	Label   string `json:"label"`
	Subject string `json:"subject"`
	KeyType string `json:"key_type,omitempty"` // default: ProfileFor(purpose).KeyType
	Days    int    `json:"days,omitempty"`     // default: ProfileFor(purpose).Days
	CA      string `json:"ca,omitempty"`
	Key     string `json:"key,omitempty"`
	// CertPEM and ChainPEM carry a certificate to import.
	CertPEM  string `json:"cert_pem,omitempty"`
	ChainPEM string `json:"chain_pem,omitempty"`
}

// Routes mounts the credential administration API behind admin: the same operations as
// `signet admin cert` and `signet admin ca`.
func (k *Keyring) Routes(mux routes.Mux, admin func(http.Handler) http.Handler) {
	h := func(pattern string, f http.HandlerFunc) { mux.Handle(pattern, admin(f)) }
	h("GET /v1/admin/credentials", k.apiList)
	h("POST /v1/admin/credentials/self-signed", k.apiMake("self-signed"))
	h("POST /v1/admin/credentials/import", k.apiImport)
	h("POST /v1/admin/ca/init", k.apiMake("ca-init"))
	h("POST /v1/admin/ca/issue", k.apiMake("ca-issue"))
	h("GET /v1/admin/ca/root", k.apiRoot)
	h("GET /v1/admin/tokens", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, k.Status()) })
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrInvalidURI), errors.Is(err, ErrInvalidConfig), errors.Is(err, ErrCertificateMismatch):
		status = http.StatusBadRequest
	case errors.Is(err, ErrUnknownToken), errors.Is(err, ErrKeyNotFound), errors.Is(err, ErrCertificateNotFound):
		status = http.StatusNotFound
	case errors.Is(err, ErrExists):
		status = http.StatusConflict
	case errors.Is(err, ErrTokenOffline), errors.Is(err, ErrTokenBusy):
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

func (k *Keyring) apiList(w http.ResponseWriter, r *http.Request) {
	creds, err := k.List(r.Context(), r.URL.Query().Get("token"))
	if err != nil && len(creds) == 0 {
		writeErr(w, err)
		return
	}
	now := time.Now()
	out := make([]CredentialView, 0, len(creds))
	for _, c := range creds {
		out = append(out, View(c, now))
	}
	writeJSON(w, http.StatusOK, out)
}

func readCertRequest(w http.ResponseWriter, r *http.Request) (*CertRequest, bool) {
	var req CertRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "the body must be a JSON certificate request: " + err.Error()})
		return nil, false
	}
	return &req, true
}

func (k *Keyring) apiMake(what string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req, ok := readCertRequest(w, r)
		if !ok {
			return
		}
		if req.Token == "" || req.Label == "" || req.Subject == "" || (what == "ca-issue" && req.CA == "") {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "token, label and subject are required (and ca to issue)"})
			return
		}
		// An empty key_type and days take the purpose's defaults (defaults.go), as on the command line.
		kt, days := KeyType(req.KeyType), req.Days
		var (
			c   *Credential
			err error
		)
		switch what {
		case "self-signed":
			c, err = k.GenerateSelfSigned(r.Context(), req.Token, req.Label, req.Subject, kt, days)
		case "ca-init":
			c, err = k.InitCA(r.Context(), req.Token, req.Label, req.Subject, kt, days)
		case "ca-issue":
			c, err = k.Issue(r.Context(), req.CA, req.Token, req.Label, req.Subject, kt, days)
		}
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusCreated, View(c, time.Now()))
	}
}

func (k *Keyring) apiImport(w http.ResponseWriter, r *http.Request) {
	req, ok := readCertRequest(w, r)
	if !ok {
		return
	}
	certs, err := ParsePEMCertificates([]byte(req.CertPEM))
	if err != nil || len(certs) == 0 || req.Key == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "key and cert_pem (a PEM certificate) are required"})
		return
	}
	chain, err := ParsePEMCertificates([]byte(req.ChainPEM))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "chain_pem: " + err.Error()})
		return
	}
	if err := k.ImportCertificate(r.Context(), req.Key, certs[0], append(certs[1:], chain...)); err != nil {
		writeErr(w, err)
		return
	}
	c, err := k.Credential(r.Context(), req.Key)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, View(c, time.Now()))
}

// apiRoot answers the root certificate (PEM) of a CA credential: what employees install once.
func (k *Keyring) apiRoot(w http.ResponseWriter, r *http.Request) {
	c, err := k.Credential(r.Context(), r.URL.Query().Get("ca"))
	if err != nil {
		writeErr(w, err)
		return
	}
	root := c.Root()
	if root == nil {
		writeErr(w, fmt.Errorf("%w: the chain of %s does not end in a self-signed root stored on the token; import the root with the chain (signet admin cert import --chain)", ErrCertificateNotFound, c.URI))
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("Content-Disposition", `attachment; filename="root.pem"`)
	_ = pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: root.Raw})
}

// ParsePEMCertificates returns the certificates of every CERTIFICATE block in data, in order; other
// blocks (keys, parameters) are skipped. A block that does not parse is an error.
func ParsePEMCertificates(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return out, nil
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
}
