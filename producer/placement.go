package producer

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/portals"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/internal/metrics"
	"github.com/signet-b24/signet/internal/reasons"
	"github.com/signet-b24/signet/internal/routes"
)

//go:embed templates/placement.html
var placementFS embed.FS

// placementPage's T and lang are placeholders: renderPlacement gives a clone the reader's.
var placementPage = template.Must(template.New("placement.html").Funcs(template.FuncMap{
	"T": func(key string, args ...any) string { return key }, "lang": func() string { return "en" },
}).ParseFS(placementFS, "templates/placement.html"))

// renderPlacement writes the dialog in the language of l. html/template clones only a template that
// was never executed, so placementPage itself never is.
func renderPlacement(w io.Writer, l *i18n.Localizer, v placementView) error {
	t, err := placementPage.Clone()
	if err != nil {
		return err
	}
	return t.Funcs(template.FuncMap{"T": l.T, "lang": l.Code}).Execute(w, v)
}

// formTTL bounds how long a Sign dialog may be left open before its form token expires.
const formTTL = 30 * time.Minute

// The dialog's words are catalogue messages (internal/i18n, keys "placement.…"), in the language of
// the person who opened it: LANG of the placement request (issue 18, must 1 and 3). A position is
// named three ways: a short label on its button (placement.short.<position>), its name for screen
// readers (placement.position.<position>) and a sentence beside the grid that says where on which
// page the stamp goes (placement.where.<position>.<first|last>), written whole in each language so
// that its grammar is right: "в правом нижнем углу последней страницы".

// positionDescriptions are the sentences beside the grid, by position and page, and "none" for a
// signature without a stamp: the script picks one when the choice changes.
func positionDescriptions(l *i18n.Localizer) map[string]any {
	out := map[string]any{"none": l.T("placement.where.none")}
	for _, p := range Positions {
		out[p] = map[string]string{"first": l.T("placement.where." + p + ".first"), "last": l.T("placement.where." + p + ".last")}
	}
	return out
}

// dialogMessages are the words the dialog's script shows while it sends the form and waits.
func dialogMessages(l *i18n.Localizer) map[string]string {
	out := map[string]string{}
	for _, k := range []string{"sending", "queued", "refused", "unreachable", "download"} {
		out[k] = l.T("placement.js." + k)
	}
	return out
}

func (in *Intake) placementRoutes(mux routes.Mux) {
	mux.HandleFunc("POST /bitrix24/placement", in.handlePlacement)
	mux.HandleFunc("POST /bitrix24/placement/sign", in.handlePlacementSign)
	mux.HandleFunc("GET /bitrix24/placement/job/{id}", in.handlePlacementJob)
}

// formContext is what the dialog's form carries back, signed (formToken): who opened it, where, and a
// nonce that ties the submission to this one placement request.
type formContext struct {
	MemberID string `json:"m"`
	DealID   int    `json:"d"`
	UserID   int    `json:"u"`
	Login    string `json:"l"`
	Nonce    string `json:"n"`
	Expires  int64  `json:"e"`
	// Lang is LANG of the placement request: the language of the job's stamp (locale.go).
	Lang string `json:"g,omitempty"`
	// Admin: the portal confirmed (user.admin, with the viewer's own token) that the viewer
	// administers it; only an administrator sets the company stamp (signetimage.go).
	Admin bool `json:"a,omitempty"`
}

// keyedMAC is the intake's HMAC-SHA256 under the form key (signet_secrets, the same on every intake)
// of v for one purpose: the purpose is part of the MAC, so a value proved for one door (a form, a job
// status, an inbox session, an inbox pass) proves nothing at another.
func (in *Intake) keyedMAC(purpose, v string) string {
	m := hmac.New(sha256.New, in.FormKey)
	m.Write([]byte(purpose + "|" + v))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (in *Intake) formMAC(ctxValue string) string {
	return in.keyedMAC("signet-placement-form", ctxValue)
}

// statusMAC is the Sign dialog's proof that it queued job id: handed out with the job id, sent back in
// the StatusTokenHeader of every status poll. The job id alone is not enough — it is printed on
// self-proving documents and shown in the timeline, and the status carries a fresh download link.
func (in *Intake) statusMAC(id string) string {
	return in.keyedMAC("signet-placement-status", id)
}

// StatusTokenHeader carries the status token of a Sign-dialog job (a header, never the URL: URLs end
// up in proxy and browser logs).
const StatusTokenHeader = "X-Signet-Status-Token"

type fileOption struct{ Value, Label string }
type credOption struct {
	URI, Label string
	Default    bool
}
type positionOption struct {
	Code, Short, Words string
	Selected           bool
}

type placementView struct {
	Nonce, Action, Ctx, CSRF, Login string
	DealID                          int
	Files                           []fileOption
	Credentials                     []credOption
	OTPDisabled, CanSign            bool
	Positions                       []positionOption
	Position, PositionText          string
	Descriptions                    map[string]any
	Messages                        map[string]string
	ReasonMax                       int
	Admin                           bool
	// SavedSignature and SavedStamp are the pictures saved last time, as data: URLs (signetimage.go).
	SavedSignature, SavedStamp string
}

// MaxReason bounds the reason a signer types in the Sign dialog: it is drawn in the signet (a line
// shrunk and cut to fit, pades/appearance.go) and written to the signature's /Reason.
const MaxReason = 200

// placementFail answers the iframe with a short page a person can act on, in the language of LANG.
func placementFail(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}

// handlePlacement serves the Sign dialog that Bitrix24 opens from the deal card's toolbar (reference
// §10): it checks APPLICATION_TOKEN against the installed portal, learns the viewing user from their
// own AUTH_ID (user.current, so the page acts as that user), reads the deal id from
// PLACEMENT_OPTIONS, lists the deal's files (crm.item.get, with the user's rights) and the certificates
// mapped to the user, and renders the form. The page may be framed only by the portal.
func (in *Intake) handlePlacement(w http.ResponseWriter, r *http.Request) {
	// The page's lookups (portal, user, deal, certificates) share one deadline from the arrival, as the
	// submission's and a robot call's do (callDeadline).
	ctx, cancel := context.WithTimeout(r.Context(), in.callDeadline())
	defer cancel()
	// LANG is in the query string of the application's address (reference bitrix24-rest.md §10).
	l := i18n.For(i18n.FromBitrix24(r.URL.Query().Get("LANG")))
	r.Body = http.MaxBytesReader(w, r.Body, bitrix24.MaxInboundBody)
	if err := r.ParseForm(); err != nil {
		placementFail(w, http.StatusBadRequest, l.T("placement.err.notFromDeal"))
		return
	}
	memberID := r.PostForm.Get("member_id")
	if !bitrix24.ValidMemberID(memberID) {
		in.Log.Warn("placement refused: member_id is not a Bitrix24 member_id", zap.Int("bytes", len(memberID)))
		placementFail(w, http.StatusBadRequest, l.T("placement.err.notFromDeal"))
		return
	}
	log := in.Log.With(zap.String("member_id", memberID), zap.String("placement", clip(r.PostForm.Get("PLACEMENT"), 64)))
	portal, _, err := in.Portals.Get(ctx, memberID)
	if err != nil {
		if errors.Is(err, portals.ErrUnknownPortal) {
			log.Warn("placement refused: portal not registered")
			placementFail(w, http.StatusUnauthorized, l.T("placement.err.notInstalled"))
			return
		}
		log.Error("placement: portal registry unavailable", zap.Error(err))
		placementFail(w, http.StatusServiceUnavailable, l.T("placement.err.unavailable"))
		return
	}
	if !bitrix24.VerifyApplicationToken(portal.Auth.ApplicationToken, r.PostForm.Get("APPLICATION_TOKEN")) {
		log.Warn("placement refused: APPLICATION_TOKEN does not match the installed application")
		placementFail(w, http.StatusUnauthorized, l.T("placement.err.notApp"))
		return
	}
	if err := in.ConfirmApplicationToken(ctx, portal, bitrix24.Auth{MemberID: memberID, ApplicationToken: r.PostForm.Get("APPLICATION_TOKEN"), AccessToken: r.PostForm.Get("AUTH_ID")}); err != nil {
		if errors.Is(err, bitrix24.ErrNotProven) {
			log.Warn("placement refused: the application_token of a token-less install is not confirmed yet", zap.Error(err))
			placementFail(w, http.StatusUnauthorized, l.T("placement.err.notConfirmed"))
			return
		}
		log.Error("placement: confirming the application_token with the portal failed", zap.Error(err))
		placementFail(w, http.StatusServiceUnavailable, l.T("placement.err.unavailable"))
		return
	}
	var opts map[string]any
	if err := json.Unmarshal([]byte(r.PostForm.Get("PLACEMENT_OPTIONS")), &opts); err != nil {
		placementFail(w, http.StatusBadRequest, "PLACEMENT_OPTIONS is not JSON; open the dialog from a deal card.")
		return
	}
	dealID := optionID(opts, "ID")
	if dealID == 0 {
		dealID = optionID(opts, "ENTITY_ID")
	}
	if dealID <= 0 {
		placementFail(w, http.StatusBadRequest, l.T("placement.err.noDeal"))
		return
	}
	if in.Bitrix == nil || len(in.FormKey) < 16 {
		placementFail(w, http.StatusServiceUnavailable, l.T("placement.err.notConfigured"))
		return
	}
	var me struct {
		ID bitrix24.ID `json:"ID"`
	}
	if err := in.Bitrix.CallAs(ctx, memberID, r.PostForm.Get("AUTH_ID"), "user.current", nil, &me); err != nil || me.ID <= 0 {
		log.Warn("placement refused: AUTH_ID not accepted by the portal", zap.Error(err))
		placementFail(w, http.StatusUnauthorized, l.T("placement.err.whoAreYou"))
		return
	}
	uid := int(me.ID)
	user, err := in.Identity.UserByBitrixID(ctx, memberID, uid)
	if err != nil && !isRefusal(err) {
		log.Error("placement: looking up the Bitrix24 user failed", zap.Int("user_id", uid), zap.Error(err))
		placementFail(w, http.StatusServiceUnavailable, l.T("placement.err.unavailable"))
		return
	}
	if err != nil {
		log.Info("placement: the Bitrix24 user is not a Signet user", zap.Int("user_id", uid), zap.Error(err))
		placementFail(w, http.StatusForbidden, l.T("placement.err.notUser", strconv.Itoa(uid)))
		return
	}
	files, err := in.dealFiles(ctx, l, memberID, r.PostForm.Get("AUTH_ID"), dealID)
	if err != nil {
		log.Warn("placement: listing the deal's files failed", zap.Int("deal", dealID), zap.Error(err))
		placementFail(w, http.StatusBadGateway, l.T("placement.err.files", strconv.Itoa(dealID), err.Error()))
		return
	}
	var admin bool
	if err := in.Bitrix.CallAs(ctx, memberID, r.PostForm.Get("AUTH_ID"), "user.admin", nil, &admin); err != nil {
		log.Info("placement: user.admin not answered; the viewer may not set the company stamp", zap.Error(err))
		admin = false
	}
	nonce := randomHex(16)
	fc := formContext{MemberID: memberID, DealID: dealID, UserID: uid, Login: user.Login, Nonce: nonce, Expires: in.now().Add(formTTL).Unix(),
		Lang: clip(r.URL.Query().Get("LANG"), 8), Admin: admin}
	raw, _ := json.Marshal(fc)
	ctxValue := base64.RawURLEncoding.EncodeToString(raw)
	view := placementView{
		Nonce: randomHex(16), Action: "/bitrix24/placement/sign", Ctx: ctxValue, CSRF: in.formMAC(ctxValue),
		Login: user.Login, DealID: dealID, Files: files, OTPDisabled: user.OTPDisabled,
		Position: "bottom-right", Descriptions: positionDescriptions(l), Messages: dialogMessages(l), ReasonMax: MaxReason, Admin: admin,
	}
	view.SavedSignature, view.SavedStamp = in.savedImages(ctx, memberID, user.Login)
	for _, c := range user.Credentials {
		view.Credentials = append(view.Credentials, credOption{URI: c, Label: in.certificateLabel(ctx, l, c), Default: c == user.DefaultCredential})
	}
	for _, p := range Positions {
		view.Positions = append(view.Positions, positionOption{Code: p, Short: l.T("placement.short." + p), Words: l.T("placement.position." + p), Selected: p == view.Position})
	}
	view.PositionText = l.T("placement.where." + view.Position + ".last")
	view.CanSign = len(view.Files) > 0 && len(view.Credentials) > 0
	var buf bytes.Buffer
	if err := renderPlacement(&buf, l, view); err != nil {
		log.Error("placement: rendering the dialog", zap.Error(err))
		placementFail(w, http.StatusInternalServerError, l.T("placement.err.render"))
		return
	}
	// Framed by the portal only (no X-Frame-Options: DENY, reference §10); no outside assets at all.
	writeFramedPage(w, http.StatusOK, "default-src 'none'; script-src 'nonce-"+view.Nonce+"'; style-src 'nonce-"+view.Nonce+
		"'; img-src data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors "+frameOrigin(portal), l.Code(), buf.Bytes())
}

// optionID reads an id from PLACEMENT_OPTIONS, sent as a string or a number.
func optionID(opts map[string]any, key string) int {
	switch v := opts[key].(type) {
	case string:
		n, _ := strconv.Atoi(v)
		return n
	case float64:
		return int(v)
	}
	return 0
}

// certificateLabel names a credential as people know it: "Name — issuer — valid until 01.11.2027"
// (issue 19, must 6), from its certificate when the tokens can be asked within a second; else by
// its token and label.
func (in *Intake) certificateLabel(ctx context.Context, l *i18n.Localizer, uri string) string {
	if in.Certificate == nil {
		return credentialLabel(uri)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	cert, err := in.Certificate(ctx, uri)
	if err != nil || cert == nil {
		return credentialLabel(uri)
	}
	name, issuer := cert.Subject.CommonName, cert.Issuer.CommonName
	if name == "" {
		name = cert.Subject.String()
	}
	if issuer == "" {
		issuer = cert.Issuer.String()
	}
	return l.T("placement.credential.label", name, issuer, l.Date(cert.NotAfter))
}

func credentialLabel(uri string) string {
	attrs := map[string]string{}
	for _, part := range strings.Split(strings.TrimPrefix(uri, "pkcs11:"), ";") {
		k, v, _ := strings.Cut(part, "=")
		if u, err := url.PathUnescape(v); err == nil {
			v = u
		}
		attrs[k] = v
	}
	if attrs["object"] != "" && attrs["token"] != "" {
		return attrs["object"] + " (" + attrs["token"] + ")" // no words: read in every language
	}
	return uri
}

// dealFiles lists the files in the deal's file fields (crm.item.get with the viewing user's token, so
// the user sees only what they may read). crm.item.get gives {id, url, urlMachine} per file; a name is
// shown when the URL carries one, and files whose name is known not to be a PDF are left out.
func (in *Intake) dealFiles(ctx context.Context, l *i18n.Localizer, memberID, userToken string, dealID int) ([]fileOption, error) {
	var res struct {
		Item map[string]json.RawMessage `json:"item"`
	}
	if err := in.Bitrix.CallAs(ctx, memberID, userToken, "crm.item.get", map[string]any{"entityTypeId": 2, "id": dealID}, &res); err != nil {
		return nil, err
	}
	type file struct {
		ID  bitrix24.ID `json:"id"`
		URL string      `json:"url"`
	}
	var out []fileOption
	keys := make([]string, 0, len(res.Item))
	for k := range res.Item {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !isFileFieldCode(k) {
			continue
		}
		raw := bytes.TrimSpace(res.Item[k])
		var files []file
		if len(raw) > 0 && raw[0] == '[' {
			if json.Unmarshal(raw, &files) != nil {
				continue
			}
		} else if len(raw) > 0 && raw[0] == '{' {
			var f file
			if json.Unmarshal(raw, &f) != nil {
				continue
			}
			files = []file{f}
		}
		for _, f := range files {
			if f.ID <= 0 {
				continue
			}
			name := ""
			if u, err := url.Parse(f.URL); err == nil {
				if b, err := url.PathUnescape(path.Base(u.Path)); err == nil && strings.Contains(b, ".") && !strings.HasSuffix(b, ".php") {
					name = b
				}
			}
			if name != "" && !strings.HasSuffix(strings.ToLower(name), ".pdf") {
				continue
			}
			// Named by the file's name (issue 19, must 6); the field code only when the URL gives none.
			label := l.T("placement.file.unnamed", fmt.Sprint(f.ID), k)
			if name != "" {
				label = name
			}
			out = append(out, fileOption{Value: fmt.Sprintf("%s:%d", k, f.ID), Label: label})
		}
	}
	return out, nil
}

// handlePlacementSign takes the dialog's submission: the form token must be this server's, unexpired,
// and is tied to the one placement request (its nonce is part of the job id, so a double click queues
// one job). The signer is authorised exactly like a robot call (identity.Authorize).
func (in *Intake) handlePlacementSign(w http.ResponseWriter, r *http.Request) {
	// One deadline for the whole submission, from its arrival, as for a robot call (callDeadline): the
	// portal lookup, the saved company stamp and the claim come before the code is checked, and each
	// would otherwise wait its own default while NATS elects a leader, holding the signer's dialog.
	ctx, cancel := context.WithTimeout(r.Context(), in.callDeadline())
	defer cancel()
	// The browser's language until the form's own (LANG of the placement request) is read.
	l := i18n.For(i18n.FromRequest(r))
	r.Body = http.MaxBytesReader(w, r.Body, maxImageForm)
	if err := r.ParseForm(); err != nil {
		reply(w, http.StatusBadRequest, answer{Status: "refused", Error: l.T("placement.err.form")})
		return
	}
	ctxValue := r.PostForm.Get("ctx")
	if len(in.FormKey) < 16 || !hmac.Equal([]byte(in.formMAC(ctxValue)), []byte(r.PostForm.Get("csrf"))) {
		metrics.IntakeTotal.WithLabelValues("placement", "unauthorized").Inc()
		reply(w, http.StatusForbidden, answer{Status: "refused", Error: l.T("placement.err.token")})
		return
	}
	var fc formContext
	raw, err := base64.RawURLEncoding.DecodeString(ctxValue)
	if err != nil || json.Unmarshal(raw, &fc) != nil {
		metrics.IntakeTotal.WithLabelValues("placement", "unauthorized").Inc()
		reply(w, http.StatusForbidden, answer{Status: "refused", Error: l.T("placement.err.token")})
		return
	}
	l = i18n.For(i18n.FromBitrix24(fc.Lang))
	if in.now().Unix() > fc.Expires {
		reply(w, http.StatusForbidden, answer{Status: "refused", Error: l.T("placement.err.expired")})
		return
	}
	portal, _, err := in.Portals.Get(ctx, fc.MemberID)
	if err != nil {
		if !errors.Is(err, portals.ErrUnknownPortal) {
			in.Log.Error("Sign dialog: portal registry unavailable", zap.Error(err))
			metrics.IntakeTotal.WithLabelValues("placement", "error").Inc()
			reply(w, http.StatusServiceUnavailable, answer{Status: "error", Error: l.T("placement.err.unavailable")})
			return
		}
		reply(w, http.StatusUnauthorized, answer{Status: "refused", Error: l.T("placement.err.uninstalled")})
		return
	}
	field, fileID, ok := parseFileField(r.PostForm.Get("document"))
	if !ok || fileID == 0 || !isFileFieldCode(field) {
		reply(w, http.StatusUnprocessableEntity, answer{Status: "refused", Error: l.T("placement.err.document")})
		return
	}
	job := &contracts.SignJob{
		ID:      PlacementJobID(fc.MemberID, fc.Nonce, field, fileID),
		Kind:    contracts.KindPlacement,
		Created: in.now().UTC(),
		Portal:  contracts.Portal{MemberID: fc.MemberID, Domain: portal.Auth.Domain},
		Document: contracts.Document{FileField: field, FileID: fileID, EntityTypeID: 2, EntityID: fc.DealID,
			DocumentID: []string{"crm", "CCrmDocumentDeal", "DEAL_" + strconv.Itoa(fc.DealID)}},
		Signer:     contracts.Signer{Login: fc.Login, BitrixUserID: fc.UserID},
		Credential: r.PostForm.Get("credential"),
		Stamp: contracts.Stamp{Visible: r.PostForm.Get("visible") == "Y", Page: r.PostForm.Get("page"), Position: r.PostForm.Get("position"),
			Reason: strings.TrimSpace(r.PostForm.Get("reason")), Evidence: r.PostForm.Get("evidence") == "Y"},
		Reply: contracts.Reply{NotifyUserID: fc.UserID},
	}
	log := in.Log.With(zap.String("member_id", fc.MemberID), zap.String("job_id", job.ID), zap.String("login", fc.Login))
	switch {
	case !strings.HasPrefix(job.Credential, "pkcs11:"):
		reply(w, http.StatusUnprocessableEntity, answer{Status: "refused", Error: l.T("placement.err.credential")})
		return
	case job.Stamp.Page != "first" && job.Stamp.Page != "last":
		reply(w, http.StatusUnprocessableEntity, answer{Status: "refused", Error: l.T("placement.err.page")})
		return
	case !contains(Positions, job.Stamp.Position):
		reply(w, http.StatusUnprocessableEntity, answer{Status: "refused", Error: l.T("placement.err.position")})
		return
	case utf8.RuneCountInString(job.Stamp.Reason) > MaxReason || !utf8.ValidString(job.Stamp.Reason) || strings.ContainsFunc(job.Stamp.Reason, unicode.IsControl):
		reply(w, http.StatusUnprocessableEntity, answer{Status: "refused", Error: l.T("placement.err.reason", strconv.Itoa(MaxReason))})
		return
	}
	// The signet's pictures: refused unless a bounded PNG or JPEG, re-encoded (signetimage.go).
	var signature, stamp []byte
	if job.Stamp.Visible {
		var err error
		if signature, err = imageFromDataURL(r.PostForm.Get("signature_image")); err == nil {
			stamp, err = in.stampFromForm(ctx, fc, r.PostForm.Get("company_stamp"))
		}
		if err == nil {
			job.Stamp.Image, err = signetImage(signature, stamp)
		}
		if err != nil {
			log.Info("Sign dialog: picture refused", zap.Error(err))
			metrics.IntakeTotal.WithLabelValues("placement", "refused").Inc()
			reply(w, http.StatusUnprocessableEntity, answer{Status: "refused", Error: l.T("placement.err.image", err.Error())})
			return
		}
	}
	// A double click (or a re-sent form) is the same job id: known before the code is checked, and
	// answered like the first, as for robot calls (calls.go). Only an authorised submission is
	// remembered: after a wrong code the person corrects it in the same dialog, so a refusal releases
	// the claim.
	claim, prev, err := in.claimCall(ctx, job.ID)
	if err != nil {
		log.Error("Sign dialog: could not claim the submission; answered 503", zap.Error(err))
		metrics.IntakeTotal.WithLabelValues("placement", "error").Inc()
		reply(w, http.StatusServiceUnavailable, answer{Status: "error", Error: l.T("placement.err.unavailable")})
		return
	}
	if prev != nil {
		if prev.State != callAuthorized {
			reply(w, http.StatusUnprocessableEntity, answer{JobID: job.ID, Status: "refused", Error: prev.Reason, Duplicate: true})
			return
		}
		if !prev.Sent && prev.Job != nil {
			in.placementSend(ctx, w, log, prev.Job, claim, true)
			return
		}
		in.placementQueued(w, log, job.ID, fc.Lang, true)
		return
	}
	d, err := in.authorize(ctx, job, fc.Login, strings.TrimSpace(r.PostForm.Get("otp")), "")
	if err != nil && !isRefusal(err) {
		claim.release(ctx)
		log.Error("Sign dialog: could not authorise; answered 503", zap.Error(err))
		metrics.IntakeTotal.WithLabelValues("placement", "error").Inc()
		reply(w, http.StatusServiceUnavailable, answer{Status: "error", Error: l.T("placement.err.unavailable")})
		return
	}
	if err != nil {
		claim.release(ctx)
		log.Info("Sign dialog: refused", zap.Error(err))
		metrics.IntakeTotal.WithLabelValues("placement", "refused").Inc()
		// In the language of the person at the dialog (LANG of the placement request), as a robot's
		// refusal is in the portal's (refusal.go).
		reply(w, http.StatusUnprocessableEntity, answer{Status: "refused", Error: refusalIn(i18n.For(i18n.FromBitrix24(fc.Lang)), err, fc.Login)})
		return
	}
	job.Signer.Authorization, job.Signer.GrantID = d.Method, d.GrantID
	if r.PostForm.Get("save_images") == "Y" {
		// Only after the signer proved who they are: a refused submission saves nothing.
		if err := in.saveImages(ctx, fc.MemberID, fc.Login, fc.Admin, signature, stamp); err != nil {
			log.Warn("Sign dialog: the pictures were not saved for next time; the job goes on", zap.Error(err))
		}
	}
	in.setLocale(ctx, job, fc.Lang)
	if err := claim.set(ctx, callRecord{State: callAuthorized, Since: in.now().UTC(), Job: job}); err != nil {
		if !errors.Is(err, errClaimLost) {
			claim.release(ctx)
		}
		log.Error("Sign dialog: could not record the authorised submission; answered 503", zap.Error(err))
		metrics.IntakeTotal.WithLabelValues("placement", "error").Inc()
		reply(w, http.StatusServiceUnavailable, answer{Status: "error", Error: l.T("placement.err.unavailable")})
		return
	}
	in.placementSend(ctx, w, log, job, claim, false)
}

// placementSend publishes an authorised Sign-dialog job and marks its submission sent.
func (in *Intake) placementSend(ctx context.Context, w http.ResponseWriter, log *zap.Logger, job *contracts.SignJob, claim *callClaim, repeat bool) {
	dup, err := in.publishJob(ctx, job)
	if err != nil {
		log.Error("Sign dialog: could not queue the job", zap.Error(err))
		metrics.IntakeTotal.WithLabelValues("placement", "error").Inc()
		reply(w, http.StatusServiceUnavailable, answer{Status: "error", Error: i18n.For(i18n.FromBitrix24(job.Language)).T("placement.err.queue")})
		return
	}
	if err := claim.set(ctx, callRecord{State: callAuthorized, Since: in.now().UTC(), Sent: true}); err != nil {
		log.Warn("Sign dialog: job queued, but not marked sent; a repeat re-publishes it (dropped as a duplicate)", zap.Error(err))
	}
	in.placementQueued(w, log, job.ID, job.Language, dup || repeat)
}

func (in *Intake) placementQueued(w http.ResponseWriter, log *zap.Logger, jobID, lang string, dup bool) {
	log.Info("sign job queued from the Sign dialog", zap.Bool("duplicate", dup))
	metrics.IntakeTotal.WithLabelValues("placement", intakeResult(dup)).Inc()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(map[string]any{"job_id": jobID, "status": "queued", "duplicate": dup,
		"status_url": "/bitrix24/placement/job/" + jobID + langQuery(lang), "status_token": in.statusMAC(jobID)})
}

// PlacementJobID derives the job id from the dialog's nonce and the chosen file: unguessable (the
// status endpoint treats it as a capability), and the same for a repeated submission.
func PlacementJobID(memberID, nonce, field string, fileID int) string {
	sum := sha256.Sum256([]byte(memberID + "|" + nonce + "|" + field + "|" + strconv.Itoa(fileID)))
	return "p" + hex.EncodeToString(sum[:16])
}

// JobStatus is the answer of GET /bitrix24/placement/job/{id}.
type JobStatus struct {
	JobID   string `json:"job_id"`
	State   string `json:"state"` // queued, signed (being saved to the deal), done, failed
	Message string `json:"message"`
	SHA256  string `json:"sha256,omitempty"`
	Serial  string `json:"certificate_serial,omitempty"`
	// Link downloads the signed PDF (a storage link valid Intake.LinkTTL).
	Link string `json:"link,omitempty"`
}

// handlePlacementJob reports a Sign-dialog job from the jobs bucket: "res.<id>" (the signature result,
// written by the worker) and "out.<id>" (the delivered outcome, written by the callback worker). Only
// to the dialog that queued it: without its status token the answer is the one for no such job.
func (in *Intake) handlePlacementJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if len(id) != 33 || id[0] != 'p' || len(in.FormKey) < 16 ||
		!hmac.Equal([]byte(in.statusMAC(id)), []byte(r.Header.Get(StatusTokenHeader))) {
		reply(w, http.StatusNotFound, answer{Status: "unknown", Error: "no such job"})
		return
	}
	st, err := in.jobStatus(r.Context(), i18n.For(i18n.FromBitrix24(r.URL.Query().Get("LANG"))), id)
	if err != nil {
		in.Log.Warn("placement status: jobs bucket unavailable", zap.Error(err))
		reply(w, http.StatusServiceUnavailable, answer{Status: "error", Error: "status unavailable; retrying"})
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	reply(w, http.StatusOK, st)
}

// langQuery carries the dialog's LANG to its status polls, whose messages are in that language.
func langQuery(lang string) string {
	if lang == "" {
		return ""
	}
	return "?" + url.Values{"LANG": {lang}}.Encode()
}

// jobStatus reads a Sign-dialog job's state; its message is in the language of l.
func (in *Intake) jobStatus(ctx context.Context, l *i18n.Localizer, id string) (*JobStatus, error) {
	st := &JobStatus{JobID: id, State: "queued", Message: l.T("placement.status.queued")}
	kv, err := in.JS.KeyValue(ctx, contracts.BucketJobs)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	if e, err := kv.Get(ctx, contracts.DeliveredKey(id)); err == nil {
		var o contracts.Delivered
		if json.Unmarshal(e.Value(), &o) == nil {
			if o.Outcome == contracts.OutcomeFailed {
				// Why, in the viewer's words (internal/reasons), not the worker's English error.
				st.State, st.Message = "failed", l.T("placement.status.failed", reasons.Text(l, o.Failure, o.Error, id, ""))
				return st, nil
			}
			st.State, st.Message = "done", l.T("placement.status.done")
			if o.Error != "" {
				st.Message = l.T("placement.status.doneBut", o.Error)
			}
		}
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, err
	}
	if e, err := kv.Get(ctx, "res."+id); err == nil {
		var s contracts.Signed
		if json.Unmarshal(e.Value(), &s) == nil {
			st.SHA256, st.Serial = s.SHA256After, s.CertificateSerial
			if in.Links != nil {
				if link, err := in.Links(ctx, s.PDFKey); err == nil {
					st.Link = link
				} else {
					in.Log.Warn("placement status: no download link", zap.String("job_id", id), zap.Error(err))
				}
			}
			if st.State == "queued" {
				st.State, st.Message = "signed", l.T("placement.status.signed")
			}
		}
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, err
	}
	return st, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return hex.EncodeToString(b)
}
