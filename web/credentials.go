package web

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/keyring"
	"github.com/signet-b24/signet/producer/identity"
)

type credentialsData struct {
	NoKeys   bool
	Wide     bool           // a Signet-wide administrator: may import and assign
	Portals  []portalOption // for the assign form
	Tokens   []tokenGroup
	CAs      []credOption
	Names    []string // token names for the forms
	Form     certForm
	Expiring int
}

type tokenGroup struct {
	keyring.TokenStatus
	Credentials []credRow
	Problem     string
}

type credRow struct {
	keyring.CredentialView
	Disabled bool
	// Revocable: issued by a CA (not self-signed, not a CA), so its CA can revoke it; Revoked: it is
	// on the CA's list (issue 17 must 3).
	Revocable, Revoked bool
	Users              []string
	Portal             string // the portal it is assigned to (domain), "" when Signet-wide
}

type certForm struct {
	Token, Label, Subject, KeyType, Days, CA, Key string
}

// Signer and CAProfile are the key and validity an empty field stands for, for the form's hint
// (keyring.DefaultsText in words).
func (certForm) Signer() keyring.Profile    { return keyring.ProfileFor(keyring.ForSigner) }
func (certForm) CAProfile() keyring.Profile { return keyring.ProfileFor(keyring.ForCA) }

// credentialViews lists every credential on the online tokens as the admin API shows them.
func (p *Pages) credentialViews(r *http.Request) []keyring.CredentialView {
	if p.cfg.Keys == nil {
		return nil
	}
	creds, err := p.cfg.Keys.List(r.Context(), "")
	if err != nil {
		p.log.Warn("control panel: listing credentials", zap.Error(err))
	}
	now := p.cfg.Now()
	out := make([]keyring.CredentialView, 0, len(creds))
	for _, c := range creds {
		out = append(out, keyring.View(c, now))
	}
	return out
}

func (p *Pages) credentialsPage(w http.ResponseWriter, r *http.Request, s *session) {
	// Key and validity are left empty: the keyring fills in the defaults of what is made (a signer's
	// or a CA's, keyring/defaults.go), the same as `signet admin cert|ca` and the admin API do.
	p.renderCredentials(w, r, s, http.StatusOK, certForm{}, "")
}

func (p *Pages) renderCredentials(w http.ResponseWriter, r *http.Request, s *session, status int, form certForm, errText string) {
	d := credentialsData{NoKeys: p.cfg.Keys == nil, Form: form, Wide: s.wide(), Portals: p.portalOptions(r, s)}
	if p.cfg.Keys != nil {
		ctx := r.Context()
		users, err := p.scopedUsers(ctx, s)
		if err != nil {
			p.log.Warn("control panel: listing users", zap.Error(err))
		}
		disabled, _ := p.cfg.Identity.DisabledCredentials(ctx)
		revoked, _ := p.cfg.Identity.Revocations(ctx)
		assigned, err := p.cfg.Identity.CredentialAssignments(ctx)
		if err != nil && errText == "" {
			errText = localizer(r).T("web.credentials.portalsError", storageFailure(localizer(r), p.log, "credential assignments", err))
		}
		domains := map[string]string{}
		for _, pt := range d.Portals {
			domains[pt.MemberID] = pt.Domain
		}
		now := p.cfg.Now()
		for _, t := range p.cfg.Keys.Status() {
			g := tokenGroup{TokenStatus: t}
			d.Names = append(d.Names, t.Name)
			if t.Online {
				creds, err := p.cfg.Keys.List(ctx, t.Name)
				if err != nil {
					g.Problem = failureMessage(localizer(r), p.log, err, keyringFailures)
				}
				for _, c := range creds {
					owner := ""
					for _, a := range assigned {
						if identity.SameCredential(a.Credential, c.URI) {
							owner = a.MemberID
						}
					}
					if !s.wide() && (owner != s.MemberID || assigned == nil) {
						continue // Signet-wide or another portal's: not this portal administrator's
					}
					row := credRow{CredentialView: keyring.View(c, now), Portal: owner}
					if dom := domains[owner]; dom != "" {
						row.Portal = dom
					}
					for _, u := range disabled {
						row.Disabled = row.Disabled || identity.SameCredential(u, c.URI)
					}
					row.Revocable, row.Revoked = revocationState(c, revoked)
					for _, u := range users {
						for _, m := range u.Credentials {
							if identity.SameCredential(m, c.URI) {
								row.Users = append(row.Users, u.Login)
							}
						}
					}
					if row.Status == "expiring" || row.Status == "expired" {
						d.Expiring++
					}
					if row.IsCA {
						d.CAs = append(d.CAs, credOption{URI: c.URI, Label: credentialLabel(c.URI) + " — " + c.Certificate.Subject.CommonName})
					}
					g.Credentials = append(g.Credentials, row)
				}
				sort.Slice(g.Credentials, func(i, j int) bool { return g.Credentials[i].Label < g.Credentials[j].Label })
			}
			d.Tokens = append(d.Tokens, g)
		}
	}
	p.render(w, r, status, "credentials", view{Title: "web.credentials.title", Section: "credentials", Admin: s.Login, CSRF: s.CSRF, Notice: noticeOf(r), Error: errText, Data: d})
}

// credentialAction makes, imports, disables or enables a credential; the same operations as
// `signet admin cert` and `signet admin ca` and the /v1/admin/credentials API.
func (p *Pages) credentialAction(w http.ResponseWriter, r *http.Request, s *session) {
	ctx, action := r.Context(), r.PathValue("action")
	f := certForm{Token: r.PostFormValue("token"), Label: strings.TrimSpace(r.PostFormValue("label")),
		Subject: strings.TrimSpace(r.PostFormValue("subject")), KeyType: r.PostFormValue("key_type"),
		Days: strings.TrimSpace(r.PostFormValue("days")), CA: r.PostFormValue("ca"), Key: strings.TrimSpace(r.PostFormValue("key"))}
	fail := func(status int, err error) {
		p.renderCredentials(w, r, s, status, f, err.Error())
	}
	if err := pinInURI(f.Token, f.CA, f.Key, r.PostFormValue("credential")); err != nil {
		// The one answer to a PIN in a URI (keyring/pin.go), before anything could echo the URI back.
		f.Token, f.CA, f.Key = "", "", ""
		fail(http.StatusUnprocessableEntity, err)
		return
	}
	switch action {
	case "disable", "enable":
		uri := r.PostFormValue("credential")
		if ok, err := p.mayCredential(ctx, s, uri); !ok || err != nil {
			fail(http.StatusNotFound, errNoCredential(uri))
			return
		}
		if err := p.cfg.Identity.SetCredentialDisabled(ctx, uri, action == "disable"); err != nil {
			fail(http.StatusBadRequest, err)
			return
		}
		p.record(ctx, s, contracts.AuditAdminChange, "", uri, action+"d credential")
		http.Redirect(w, r, "/admin/credentials?ok=cred-"+action+"d", http.StatusSeeOther)
		return
	case "assign":
		uri, member := r.PostFormValue("credential"), r.PostFormValue("member_id")
		if !s.wide() {
			fail(http.StatusForbidden, fmt.Errorf("assigning a certificate to a portal: %w", errForbidden))
			return
		}
		if err := p.cfg.Identity.AssignCredential(ctx, uri, member); err != nil {
			fail(http.StatusBadRequest, err)
			return
		}
		p.record(ctx, s, contracts.AuditAdminChange, "", uri, "assigned credential to portal "+map[bool]string{true: "(none: Signet-wide)", false: member}[member == ""])
		http.Redirect(w, r, "/admin/credentials?ok=assigned", http.StatusSeeOther)
		return
	case "import":
		if !s.wide() {
			fail(http.StatusForbidden, fmt.Errorf("importing a certificate: %w", errForbidden))
			return
		}
	case "ca-issue", "self-signed":
		if f.CA != "" {
			if ok, err := p.mayCredential(ctx, s, f.CA); !ok || err != nil {
				fail(http.StatusNotFound, errNoCredential(f.CA))
				return
			}
		}
	}
	if p.cfg.Keys == nil {
		fail(http.StatusServiceUnavailable, errors.New(localizer(r).T("web.credentials.err.noTokens")))
		return
	}
	if action == "revoke" {
		p.revokeCredential(w, r, s, fail)
		return
	}
	if action == "self-signed" && f.CA != "" {
		action = "ca-issue" // the form's "Issued by" chose an internal CA
	}
	var (
		c   *keyring.Credential
		err error
	)
	switch action {
	case "self-signed", "ca-init", "ca-issue":
		days := 0 // the default of what is made
		if f.Days != "" {
			if days, err = strconv.Atoi(f.Days); err != nil || days <= 0 || days > keyring.MaxDays {
				fail(http.StatusUnprocessableEntity, errors.New(localizer(r).T("web.credentials.err.days", f.Days, strconv.Itoa(keyring.MaxDays), keyring.DefaultsText())))
				return
			}
		}
		if f.Token == "" || f.Label == "" || f.Subject == "" || (action == "ca-issue" && f.CA == "") {
			fail(http.StatusUnprocessableEntity, errors.New(localizer(r).T("web.credentials.err.required")))
			return
		}
		kt := keyring.KeyType(f.KeyType)
		switch action {
		case "self-signed":
			c, err = p.cfg.Keys.GenerateSelfSigned(ctx, f.Token, f.Label, f.Subject, kt, days)
		case "ca-init":
			c, err = p.cfg.Keys.InitCA(ctx, f.Token, f.Label, f.Subject, kt, days)
		case "ca-issue":
			c, err = p.cfg.Keys.Issue(ctx, f.CA, f.Token, f.Label, f.Subject, kt, days)
		}
	case "import":
		var certs []*x509.Certificate
		certs, err = uploadedCerts(r)
		if err == nil && (len(certs) == 0 || f.Key == "") {
			err = errors.New(localizer(r).T("web.credentials.err.import"))
		}
		if err == nil {
			if err = p.cfg.Keys.ImportCertificate(ctx, f.Key, certs[0], certs[1:]); err == nil {
				c, err = p.cfg.Keys.Credential(ctx, f.Key)
			}
		}
	default:
		http.Error(w, localizer(r).T("web.action.unknown"), http.StatusNotFound)
		return
	}
	if err != nil {
		status := http.StatusUnprocessableEntity
		if errors.Is(err, keyring.ErrTokenOffline) || errors.Is(err, keyring.ErrTokenBusy) {
			status = http.StatusServiceUnavailable
		}
		if _, code := classify(err, keyringFailures); code != "internal" {
			// A failure of the keyring in the reader's language (a token's state in the log only).
			err = errors.New(failureMessage(localizer(r), p.log, err, keyringFailures))
		}
		fail(status, err)
		return
	}
	if !s.wide() {
		// What a portal administrator creates is their portal's.
		if err := p.cfg.Identity.AssignCredential(ctx, c.URI, s.MemberID); err != nil {
			fail(http.StatusServiceUnavailable, errors.New(localizer(r).T("web.credentials.err.notAssigned", c.URI, panelMessage(localizer(r), p.log, err))))
			return
		}
	}
	p.record(ctx, s, contracts.AuditAdminChange, "", c.URI, fmt.Sprintf("%s certificate %q serial %s", action, c.Certificate.Subject.String(), c.Certificate.SerialNumber.Text(16)))
	ok := "created"
	if action == "import" {
		ok = "imported"
	}
	http.Redirect(w, r, "/admin/credentials?ok="+ok, http.StatusSeeOther)
}

// pinInURI returns the keyring's error for the first form value that is a PKCS#11 URI carrying a
// pin-value (keyring/pin.go, rule 1), so that no page, error or log line repeats such a URI.
func pinInURI(values ...string) error {
	for _, v := range values {
		if _, err := keyring.ParseURI(v); errors.Is(err, keyring.ErrPINInURI) {
			return err
		}
	}
	return nil
}

// uploadedCerts reads the certificate and chain from the pasted PEM or the uploaded file.
func uploadedCerts(r *http.Request) ([]*x509.Certificate, error) {
	text := r.PostFormValue("cert_pem")
	if fh, _, err := r.FormFile("cert_file"); err == nil {
		b, err := io.ReadAll(io.LimitReader(fh, 1<<20))
		fh.Close()
		if err != nil {
			return nil, err
		}
		text += "\n" + string(b)
	}
	out, err := keyring.ParsePEMCertificates([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("a certificate could not be read: %w", err)
	}
	if len(out) == 0 {
		if c, err := x509.ParseCertificate([]byte(text)); err == nil {
			out = append(out, c)
		}
	}
	return out, nil
}

// caRoot downloads a CA credential's root certificate, for employees to install once.
func (p *Pages) caRoot(w http.ResponseWriter, r *http.Request, s *session) {
	if p.cfg.Keys == nil {
		http.Error(w, localizer(r).T("web.credentials.noTokensShort"), http.StatusServiceUnavailable)
		return
	}
	uri := r.URL.Query().Get("ca")
	if err := pinInURI(uri); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if ok, err := p.mayCredential(r.Context(), s, uri); !ok || err != nil {
		http.Error(w, errNoCredential(uri).Error(), http.StatusNotFound)
		return
	}
	c, err := p.cfg.Keys.Credential(r.Context(), uri)
	if err != nil {
		http.Error(w, errNoCredential(uri).Error(), http.StatusNotFound)
		return
	}
	root := c.Root()
	if root == nil {
		http.Error(w, localizer(r).T("web.credentials.noRoot", c.URI), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("Content-Disposition", `attachment; filename="root.pem"`)
	_ = pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: root.Raw})
}
