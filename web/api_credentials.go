package web

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"time"

	"github.com/signet-b24/signet/internal/routes"
	"github.com/signet-b24/signet/keyring"
)

// CredentialsAPI is the admin API of tokens and certificates (keyring), the same operations as
// `signet admin cert` and `signet admin ca`:
//
//	GET  /v1/admin/credentials              list (?token= one token)
//	POST /v1/admin/credentials/self-signed  make a key and a self-signed certificate
//	POST /v1/admin/credentials/import       import a certificate (and chain) for a key
//	POST /v1/admin/ca/init                  make a CA
//	POST /v1/admin/ca/issue                 issue a certificate from a CA
//	GET  /v1/admin/ca/root                  the root certificate of a CA (?ca=URI), PEM
//	GET  /v1/admin/tokens                   the tokens' state
type CredentialsAPI struct {
	Keys keyring.Admin
}

// CertRequest is the body of the admin API's certificate-making calls.
type CertRequest struct {
	Token   string `json:"token"`
	Label   string `json:"label"`
	Subject string `json:"subject"`
	KeyType string `json:"key_type,omitempty"` // default: keyring.ProfileFor(purpose).KeyType
	Days    int    `json:"days,omitempty"`     // default: keyring.ProfileFor(purpose).Days
	CA      string `json:"ca,omitempty"`
	Key     string `json:"key,omitempty"`
	// CertPEM and ChainPEM carry a certificate to import.
	CertPEM  string `json:"cert_pem,omitempty"`
	ChainPEM string `json:"chain_pem,omitempty"`
}

// Routes mounts the credential administration API behind admin: the same operations as
// `signet admin cert` and `signet admin ca`.
func (a *CredentialsAPI) Routes(mux routes.Mux, admin adminGuard) {
	h := func(pattern string, f http.HandlerFunc) { mux.Handle(pattern, admin(f)) }
	h("GET /v1/admin/credentials", a.apiList)
	h("POST /v1/admin/credentials/self-signed", a.apiMake("self-signed"))
	h("POST /v1/admin/credentials/import", a.apiImport)
	h("POST /v1/admin/ca/init", a.apiMake("ca-init"))
	h("POST /v1/admin/ca/issue", a.apiMake("ca-issue"))
	h("GET /v1/admin/ca/root", a.apiRoot)
	h("GET /v1/admin/tokens", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, a.Keys.Status()) })
}

// writeKeyringErr answers an error of the keyring with the status and code that fit it.
func writeKeyringErr(w http.ResponseWriter, r *http.Request, err error) {
	status, code := classify(err, keyringFailures)
	apiError(w, r, nil, status, code, err.Error())
}

func (a *CredentialsAPI) apiList(w http.ResponseWriter, r *http.Request) {
	creds, err := a.Keys.List(r.Context(), r.URL.Query().Get("token"))
	if err != nil && len(creds) == 0 {
		writeKeyringErr(w, r, err)
		return
	}
	now := time.Now()
	out := make([]keyring.CredentialView, 0, len(creds))
	for _, c := range creds {
		out = append(out, keyring.View(c, now))
	}
	writeJSON(w, http.StatusOK, out)
}

func readCertRequest(w http.ResponseWriter, r *http.Request) (*CertRequest, bool) {
	var req CertRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		apiError(w, r, nil, http.StatusBadRequest, "bad_body", "the body must be a JSON certificate request: "+err.Error())
		return nil, false
	}
	return &req, true
}

func (a *CredentialsAPI) apiMake(what string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req, ok := readCertRequest(w, r)
		if !ok {
			return
		}
		if req.Token == "" || req.Label == "" || req.Subject == "" || (what == "ca-issue" && req.CA == "") {
			apiError(w, r, nil, http.StatusBadRequest, "missing_fields", "token, label and subject are required (and ca to issue)")
			return
		}
		// An empty key_type and days take the purpose's defaults (keyring/defaults.go), as on the command line.
		kt, days := keyring.KeyType(req.KeyType), req.Days
		var (
			c   *keyring.Credential
			err error
		)
		switch what {
		case "self-signed":
			c, err = a.Keys.GenerateSelfSigned(r.Context(), req.Token, req.Label, req.Subject, kt, days)
		case "ca-init":
			c, err = a.Keys.InitCA(r.Context(), req.Token, req.Label, req.Subject, kt, days)
		case "ca-issue":
			c, err = a.Keys.Issue(r.Context(), req.CA, req.Token, req.Label, req.Subject, kt, days)
		}
		if err != nil {
			writeKeyringErr(w, r, err)
			return
		}
		writeJSON(w, http.StatusCreated, keyring.View(c, time.Now()))
	}
}

func (a *CredentialsAPI) apiImport(w http.ResponseWriter, r *http.Request) {
	req, ok := readCertRequest(w, r)
	if !ok {
		return
	}
	certs, err := keyring.ParsePEMCertificates([]byte(req.CertPEM))
	if err != nil || len(certs) == 0 || req.Key == "" {
		apiError(w, r, nil, http.StatusBadRequest, "missing_fields", "key and cert_pem (a PEM certificate) are required")
		return
	}
	chain, err := keyring.ParsePEMCertificates([]byte(req.ChainPEM))
	if err != nil {
		apiError(w, r, nil, http.StatusBadRequest, "bad_chain", "chain_pem: "+err.Error())
		return
	}
	if err := a.Keys.ImportCertificate(r.Context(), req.Key, certs[0], append(certs[1:], chain...)); err != nil {
		writeKeyringErr(w, r, err)
		return
	}
	c, err := a.Keys.Credential(r.Context(), req.Key)
	if err != nil {
		writeKeyringErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, keyring.View(c, time.Now()))
}

// apiRoot answers the root certificate (PEM) of a CA credential: what employees install once.
func (a *CredentialsAPI) apiRoot(w http.ResponseWriter, r *http.Request) {
	c, err := a.Keys.Credential(r.Context(), r.URL.Query().Get("ca"))
	if err != nil {
		writeKeyringErr(w, r, err)
		return
	}
	root := c.Root()
	if root == nil {
		writeKeyringErr(w, r, fmt.Errorf("%w: the chain of %s does not end in a self-signed root stored on the token; import the root with the chain (signet admin cert import --chain)", keyring.ErrCertificateNotFound, c.URI))
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("Content-Disposition", `attachment; filename="root.pem"`)
	_ = pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: root.Raw})
}
