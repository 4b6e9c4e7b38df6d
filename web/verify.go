package web

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/pades"
)

// The verification page: anyone uploads a PDF and sees each signature — who signed, when, with which
// certificate, whether the signed bytes are intact and whether the certificate is one this Signet
// knows or the system trusts. The upload is streamed to a temporary file (never held in memory),
// bounded by MaxPDFBytes, and removed when the answer is written. Uploads are limited per client
// address and must keep arriving; only the verification takes one of the few verification slots,
// and it reads within the PDF engine's decoding budget (verifylimit.go, pades/budget.go).

type verifyData struct {
	File       string
	Size       int64
	SHA256     string
	Signatures []signatureRow
	Verdict    pades.Verdict
	// Headline is the verdict's wording in the reader's language (pades.Verdict.Wording), the same as
	// `signet verify` prints.
	Headline string
	Valid    bool
	Checked  bool
	// Report is the validation report (pades.Report) as a data: URL, for the download link.
	Report template.URL
}

type signatureRow struct {
	Field, Signer, Subject, Issuer, Serial, SubFilter string
	Time, Timestamp                                   time.Time
	NotBefore, NotAfter                               time.Time
	Intact, WholeFile, Trusted, Modified              bool
	Verdict                                           pades.Verdict
	Reason                                            string
	Revocation                                        string // pades.RevocationStatus, from the document's DSS only
	Changes                                           []pades.Change
	Problems                                          []string
}

// verifyWait is how long an uploaded file waits for a verification slot before the page says "busy".
const verifyWait = 30 * time.Second

// documentID is a job id as /verify/{id} takes it (trail.go, validDocumentID): a batch document's has dots.
var documentID = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$`)

// verifyForm shows the upload form; with ?id= (the document id under a signed document's QR code)
// it sends the browser on to the audit trail's page for that document, /verify/{id}.
func (p *Pages) verifyForm(w http.ResponseWriter, r *http.Request) {
	if id := strings.TrimSpace(r.URL.Query().Get("id")); id != "" {
		if !documentID.MatchString(id) {
			p.render(w, r, http.StatusBadRequest, "verify", view{Title: "web.verify.title", Section: "verify", Error: "web.verify.badID", Data: verifyData{}})
			return
		}
		target := "/verify/" + url.PathEscape(id)
		if sum := strings.ToLower(r.URL.Query().Get("sha256")); len(sum) == 64 {
			if _, err := hex.DecodeString(sum); err == nil {
				target += "?sha256=" + sum
			}
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
		return
	}
	p.render(w, r, http.StatusOK, "verify", view{Title: "web.verify.title", Section: "verify", Data: verifyData{}})
}

func (p *Pages) verifyUpload(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, msg string) {
		if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "30")
		}
		p.render(w, r, status, "verify", view{Title: "web.verify.title", Section: "verify", Error: msg, Data: verifyData{}})
	}
	if !p.sameOrigin(r) {
		fail(http.StatusForbidden, "web.verify.fromPage")
		return
	}
	limit := p.cfg.MaxPDFBytes
	if r.ContentLength > limit+64<<10 {
		fail(http.StatusRequestEntityTooLarge, localizer(r).T("web.verify.tooLarge", limit>>20))
		return
	}
	// The upload: a few at a time per client address, and it must keep arriving (verifylimit.go).
	done, no := p.verify.admit(clientAddress(r, p.verify.lim.TrustedProxies))
	if no != nil {
		fail(no.status, no.msg)
		return
	}
	uploading := true
	defer func() {
		if uploading {
			done()
		}
	}()
	rc := http.NewResponseController(w)
	r.Body = http.MaxBytesReader(w, r.Body, limit+64<<10)
	r.Body = struct {
		io.Reader
		io.Closer
	}{&minRateReader{r: r.Body, rc: rc, start: time.Now(), grace: p.verify.lim.UploadGrace, rate: p.verify.lim.MinUploadRate}, r.Body}
	mr, err := r.MultipartReader()
	if err != nil {
		fail(http.StatusBadRequest, "web.verify.choose")
		return
	}
	var part *multipart.Part
	for {
		part, err = mr.NextPart()
		if err != nil {
			fail(http.StatusBadRequest, "web.verify.choose")
			return
		}
		if part.FormName() == "pdf" && part.FileName() != "" {
			break
		}
	}
	name := part.FileName()
	tmp, err := os.CreateTemp("", "signet-verify-*.pdf")
	if err != nil {
		p.log.Error("verification page: temporary file", zap.Error(err))
		fail(http.StatusInternalServerError, "web.verify.storeFailed")
		return
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(part, limit+1))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig) || n > limit:
		fail(http.StatusRequestEntityTooLarge, localizer(r).T("web.verify.tooLarge", limit>>20))
		return
	case errors.Is(err, os.ErrDeadlineExceeded):
		fail(http.StatusRequestTimeout, "web.verify.slow")
		return
	case err != nil:
		fail(http.StatusBadRequest, "web.verify.interrupted")
		return
	}
	if err := tmp.Close(); err != nil {
		fail(http.StatusInternalServerError, "web.verify.storeFailed")
		return
	}
	// The file is in: the upload's slot is free, and the verification waits for one of its own.
	uploading = false
	done()
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Now().Add(verifyWait + 2*time.Minute))
	wctx, cancel := context.WithTimeout(r.Context(), verifyWait)
	release, err := p.verify.check(wctx)
	cancel()
	if err != nil {
		fail(http.StatusServiceUnavailable, "web.verify.busy")
		return
	}
	defer release()
	sum := h.Sum(nil)
	d := verifyData{File: name, Size: n, SHA256: hex.EncodeToString(sum), Checked: true}
	infos, err := pades.VerifyContext(r.Context(), tmp.Name(), p.roots())
	if err != nil {
		status, msg := http.StatusOK, "web.verify.notPDF"
		switch {
		case errors.Is(err, pades.ErrNoSignature):
			msg = "web.verify.noSignature"
		case errors.Is(err, pades.ErrTooLarge):
			status, msg = http.StatusUnprocessableEntity, "web.verify.bomb"
		case errors.Is(err, pades.ErrBusy):
			w.Header().Set("Retry-After", "30")
			status, msg = http.StatusServiceUnavailable, "web.verify.busyLarge"
		}
		p.render(w, r, status, "verify", view{Title: "web.verify.title", Section: "verify", Error: msg, Data: d})
		return
	}
	l := localizer(r)
	for _, i := range infos {
		// The problems, the reason and the changes in the reader's language (pades/text.go); the
		// validation report below keeps pades' English and its codes, for programs.
		row := signatureRow{Field: i.Field, Signer: i.Signer, Time: i.SigningTime, Timestamp: i.TimestampTime, SubFilter: i.SubFilter,
			Intact: i.Intact(), WholeFile: i.CoversWholeFile, Trusted: i.ChainTrusted, Modified: i.Modified,
			Verdict: i.Verdict(), Reason: i.ReasonIn(l), Changes: changesIn(l, i.Changes), Problems: i.ProblemsIn(l), Revocation: i.Revocation.String()}
		if c := i.Certificate; c != nil {
			row.Subject, row.Issuer, row.Serial, row.NotBefore, row.NotAfter = c.Subject.String(), c.Issuer.String(), c.SerialNumber.Text(16), c.NotBefore, c.NotAfter
		}
		d.Signatures = append(d.Signatures, row)
	}
	d.Verdict = pades.Summary(infos)
	d.Valid = d.Verdict == pades.VerdictValid
	d.Headline = d.Verdict.Headline().In(l)
	if b, err := json.MarshalIndent(pades.NewReportIn(name, n, sum, infos, time.Now(), l), "", "  "); err == nil {
		// A data: URL: the report is the page's own output, so nothing is kept on the server for it.
		d.Report = template.URL("data:application/json;base64," + base64.StdEncoding.EncodeToString(b))
	}
	p.render(w, r, http.StatusOK, "verify", view{Title: "web.verify.title", Section: "verify", Data: d})
}

// roots are the trust anchors of verify.trust_anchors, or the system's roots when none are
// configured: the same trust store as `signet verify --trust`. Signet's own self-signed or
// internal-CA certificates are not trusted merely because they are on its tokens: pdfsig and
// Acrobat would not trust them either, and a page calling them trusted would vouch for anyone who
// got a certificate made there (issue 17).
func (p *Pages) roots() *x509.CertPool {
	if len(p.cfg.TrustAnchors) > 0 {
		pool := x509.NewCertPool()
		for _, c := range p.cfg.TrustAnchors {
			pool.AddCert(c)
		}
		return pool
	}
	return nil // pades.Verify: the system's roots
}

// changesIn are changes with What in l's language.
func changesIn(l *i18n.Localizer, changes []pades.Change) []pades.Change {
	if len(changes) == 0 {
		return nil
	}
	out := make([]pades.Change, len(changes))
	for k, c := range changes {
		out[k] = c
		out[k].What = c.WhatIn(l)
	}
	return out
}
