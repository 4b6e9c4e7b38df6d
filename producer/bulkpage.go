package producer

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/internal/reasons"
	"github.com/signet-b24/signet/internal/routes"
	"github.com/signet-b24/signet/producer/batch"
	"github.com/signet-b24/signet/producer/bulk"
)

// The bulk-signing page inside the Signet app (issue 19, must 3): the accountant picks the night's
// documents by a CRM filter (producer/bulk, read with their own AUTH_ID so the portal shows only what
// they may read), sees how many and which and what the run costs the portal's REST budget in both
// modes, chooses replace or link only, one certificate, the stamp options and types one code; the
// selection becomes one producer/batch batch under one grant for exactly those documents, and the
// page polls its status until a summary. It is a Bitrix24 door like the inbox (openFramed).
//
// Who may use it: a Signet user linked to the Bitrix24 user who opens it (user.current) with at least
// one credential. The batch signs with that person's key under a grant their own code makes, so
// nobody else's key can be reached, and a person without a credential could sign nothing; the list
// is the portal's answer to their own token, so it holds only items they may read.

//go:embed templates/bulk.html
var bulkFS embed.FS

var bulkPage = template.Must(template.ParseFS(bulkFS, "templates/bulk.html"))

// BulkPath is the page; its calls live under it.
const BulkPath = "/bitrix24/bulk"

// BulkTokenHeader carries the page's session on each call (a header, never the URL).
const BulkTokenHeader = "X-Signet-Bulk-Token"

// bulkTTL bounds an open page, as the inbox's; the viewer's AUTH_ID it carries lives 1 h
// (bitrix24-rest.md §9).
const bulkTTL = 30 * time.Minute

// bulkShown is how many selected items the page lists by name; the count covers every one.
const bulkShown = 200

// BulkSigning is what the page needs besides the intake: the batch enqueuer (its JS, batches
// bucket, identity and job key) and the jobs bucket the workers record results in.
type BulkSigning struct {
	Enqueuer *batch.Enqueuer
	// Jobs opens the jobs bucket (contracts.BucketJobs); an error before any worker made it.
	Jobs func(ctx context.Context) (jetstream.KeyValue, error)
	// RatePerSec is the portal plan's REST drain rate the estimate uses (reference §8.1: 2/s on
	// most plans, 5/s on Enterprise); 0 is 2.
	RatePerSec float64
	// MaxDocuments bounds one selection (0: 10,000); a larger filter is asked to narrow.
	MaxDocuments int

	running sync.Map // batch id → true while this process enqueues it
}

// bulkSession is who the page was opened for; sealed (bulkSeal) because it carries the viewer's
// AUTH_ID, with which the page's later calls list the items as that person.
type bulkSession struct {
	MemberID string `json:"m"`
	UserID   int    `json:"u"`
	Login    string `json:"l"`
	AuthID   string `json:"a"`
	Lang     string `json:"g,omitempty"`
	Expires  int64  `json:"e"`
}

// bulkSelection is what "show" found, sealed and handed to the page, so that "sign" signs exactly
// what was shown, for the person and portal it was shown to.
type bulkSelection struct {
	MemberID     string   `json:"m"`
	Login        string   `json:"l"`
	EntityTypeID int      `json:"t"`
	FileField    string   `json:"f"`
	Items        [][2]int `json:"i"` // item id, file id
	Titles       []string `json:"n"`
	Expires      int64    `json:"e"`
}

// bulkSealKey derives the page's sealing key from the form key under its own purpose label.
func (in *Intake) bulkSealKey(purpose string) cipher.AEAD {
	m := hmac.New(sha256.New, in.FormKey)
	m.Write([]byte("signet-bulk-seal|" + purpose))
	block, _ := aes.NewCipher(m.Sum(nil))
	aead, _ := cipher.NewGCM(block)
	return aead
}

// bulkSeal encrypts and authenticates v (AES-GCM under a key of the form key): the browser carries
// it and can neither read the AUTH_ID in it nor change a byte.
func (in *Intake) bulkSeal(purpose string, v any) string {
	raw, _ := json.Marshal(v)
	aead := in.bulkSealKey(purpose)
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(aead.Seal(nonce, nonce, raw, []byte(purpose)))
}

func (in *Intake) bulkOpen(purpose, s string, v any) bool {
	if len(in.FormKey) < 16 || s == "" {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	aead := in.bulkSealKey(purpose)
	if err != nil || len(b) < aead.NonceSize() {
		return false
	}
	raw, err := aead.Open(nil, b[:aead.NonceSize()], b[aead.NonceSize():], []byte(purpose))
	return err == nil && json.Unmarshal(raw, v) == nil
}

// bulkStatusGrace is how long after its session expired an open page may still read its batch's
// status: a night of documents outlasts the session (10,000 replaced at 2/s: 83 min), and reading
// the progress uses neither the AUTH_ID nor a code; listing and signing need a fresh session.
const bulkStatusGrace = 12 * time.Hour

// bulkCaller is the page's session of a call; nil when missing, forged or expired more than grace ago.
func (in *Intake) bulkCaller(r *http.Request, grace time.Duration) *bulkSession {
	var s bulkSession
	if !in.bulkOpen("session", r.Header.Get(BulkTokenHeader), &s) || s.Login == "" || in.now().Add(-grace).Unix() > s.Expires {
		return nil
	}
	return &s
}

func (in *Intake) bulkLocalizer(s *bulkSession, r *http.Request) *i18n.Localizer {
	if s != nil && s.Lang != "" {
		return i18n.For(i18n.FromBitrix24(s.Lang))
	}
	return i18n.For(i18n.FromRequest(r))
}

func (in *Intake) bulkRoutes(mux routes.Mux) {
	mux.HandleFunc("POST "+BulkPath, in.handleBulk)
	mux.HandleFunc("POST "+BulkPath+"/show", in.handleBulkShow)
	mux.HandleFunc("POST "+BulkPath+"/sign", in.handleBulkSign)
	mux.HandleFunc("GET "+BulkPath+"/status/{id}", in.handleBulkStatus)
	in.bulkListRoutes(mux)
}

type bulkView struct {
	Nonce, Token, Lang, Login string
	Credentials               []credOption
	Positions                 []bulkPosition
	T                         func(key string, args ...any) string
}

type bulkPosition struct{ Code, Words string }

// handleBulk serves the page Bitrix24 POSTs (the application's page's button, or a placement), for a
// Signet user with a credential.
func (in *Intake) handleBulk(w http.ResponseWriter, r *http.Request) {
	v := in.openFramed(w, r, "bulk", in.Bulk != nil && in.Bulk.Enqueuer != nil)
	if v == nil {
		return
	}
	l, user := v.L, v.User
	if user.Disabled || len(user.Credentials) == 0 {
		placementFail(w, http.StatusForbidden, l.T("bulk.noCredential", user.Login))
		return
	}
	view := bulkView{Nonce: randomHex(16), Lang: l.Code(), Login: user.Login, T: l.T,
		Token: in.bulkSeal("session", bulkSession{MemberID: v.MemberID, UserID: v.UserID, Login: user.Login, AuthID: v.AuthID,
			Lang: v.Lang, Expires: in.now().Add(bulkTTL).Unix()})}
	for _, p := range Positions {
		view.Positions = append(view.Positions, bulkPosition{Code: p, Words: l.T("inbox.position." + p)})
	}
	for _, c := range user.Credentials {
		view.Credentials = append(view.Credentials, credOption{URI: c, Label: in.certificateLabel(r.Context(), l, c), Default: c == user.DefaultCredential})
	}
	var buf bytes.Buffer
	if err := bulkPage.Execute(&buf, view); err != nil {
		v.Log.Error("bulk: rendering", zap.Error(err))
		placementFail(w, http.StatusInternalServerError, l.T("bulk.unavailable"))
		return
	}
	// As the inbox: scripts from Signet's origin with this page's nonce, nothing inline.
	writeFramedPage(w, http.StatusOK, "default-src 'none'; script-src 'self' 'nonce-"+view.Nonce+"'; style-src 'self' 'nonce-"+view.Nonce+
		"'; img-src 'self' data:; connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors "+frameOrigin(v.Portal),
		l.Code(), buf.Bytes())
}

// bulkFilter is the page's filter form.
type bulkFilter struct {
	EntityTypeID int    `json:"entity_type_id"`
	Category     string `json:"category"`
	Stages       string `json:"stages"`
	From         string `json:"from"` // YYYY-MM-DD, inclusive
	To           string `json:"to"`   // YYYY-MM-DD, inclusive (the day is sent as its next midnight)
	Responsible  int    `json:"responsible"`
	FileField    string `json:"file_field"`
}

// filter turns the form into a bulk.Filter; the error is the catalogue key to show.
func (f bulkFilter) filter() (bulk.Filter, string) {
	out := bulk.Filter{EntityTypeID: f.EntityTypeID, AssignedByID: f.Responsible}
	if !bulk.ValidEntityType(f.EntityTypeID) {
		return out, "bulk.err.entity"
	}
	if c := strings.TrimSpace(f.Category); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 0 {
			return out, "bulk.err.category"
		}
		out.CategoryID = &n
	}
	for _, s := range strings.Split(f.Stages, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out.StageIDs = append(out.StageIDs, s)
		}
	}
	var err error
	if f.From != "" {
		if out.CreatedFrom, err = time.Parse("2006-01-02", f.From); err != nil {
			return out, "bulk.err.date"
		}
	}
	if f.To != "" {
		if out.CreatedTo, err = time.Parse("2006-01-02", f.To); err != nil {
			return out, "bulk.err.date"
		}
		out.CreatedTo = out.CreatedTo.AddDate(0, 0, 1)
	}
	if !out.CreatedFrom.IsZero() && !out.CreatedTo.IsZero() && !out.CreatedTo.After(out.CreatedFrom) {
		return out, "bulk.err.dates"
	}
	if !isFileFieldCode(f.FileField) {
		return out, "bulk.err.field"
	}
	return out, ""
}

type bulkShowItem struct {
	ID    int    `json:"id"`
	Title string `json:"title"`
	Stage string `json:"stage"`
	File  int    `json:"file"`
}

type bulkEstimate struct {
	Mode string `json:"mode"`
	Text string `json:"text"`
}

// handleBulkShow lists what the filter picks, as the viewer, with the estimate of both modes.
func (in *Intake) handleBulkShow(w http.ResponseWriter, r *http.Request) {
	s := in.bulkCaller(r, 0)
	if s == nil || in.Bulk == nil {
		reply(w, http.StatusNotFound, answer{Status: "unknown", Error: "open the page from Bitrix24 again"})
		return
	}
	l := in.bulkLocalizer(s, r)
	var body bulkFilter
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10)).Decode(&body); err != nil {
		reply(w, http.StatusBadRequest, answer{Status: "refused", Error: l.T("bulk.err.form")})
		return
	}
	body.FileField = strings.TrimSpace(body.FileField)
	f, bad := body.filter()
	if bad != "" {
		reply(w, http.StatusUnprocessableEntity, answer{Status: "refused", Error: l.T(bad)})
		return
	}
	max := in.Bulk.MaxDocuments
	if max <= 0 {
		max = 10_000
	}
	sel, err := bulk.Select(r.Context(), in.Bitrix, s.MemberID, s.AuthID, f, fileFieldCamel(body.FileField), max,
		jobsSignedFiles{in.Bulk.Jobs})
	if err != nil {
		in.Log.Info("bulk: the filter was refused", zap.String("member_id", s.MemberID), zap.Error(err))
		reply(w, http.StatusUnprocessableEntity, answer{Status: "refused", Error: l.T("bulk.err.select", err.Error())})
		return
	}
	sealed := bulkSelection{MemberID: s.MemberID, Login: s.Login, EntityTypeID: sel.EntityTypeID, FileField: sel.FileField,
		Expires: s.Expires}
	shown := make([]bulkShowItem, 0, min(len(sel.Items), bulkShown))
	for i, it := range sel.Items {
		sealed.Items = append(sealed.Items, [2]int{it.ID, it.FileID})
		sealed.Titles = append(sealed.Titles, clip(it.Title, 120))
		if i < bulkShown {
			shown = append(shown, bulkShowItem{ID: it.ID, Title: it.Title, Stage: it.Stage, File: it.FileID})
		}
	}
	out := map[string]any{"count": len(sel.Items), "without_file": sel.WithoutFile, "items": shown,
		"summary":        l.T("bulk.found", len(sel.Items), groupDigits(l, len(sel.Items))),
		"without_text":   l.T("bulk.withoutFile", sel.WithoutFile, groupDigits(l, sel.WithoutFile)),
		"already_signed": sel.AlreadySigned,
		"signed_text":    l.T("bulk.alreadySigned", sel.AlreadySigned, groupDigits(l, sel.AlreadySigned))}
	if len(sel.Items) > bulkShown {
		out["more"] = l.T("bulk.more", bulkShown)
	}
	if len(sel.Items) > 0 {
		out["selection"] = in.bulkSeal("selection", sealed)
		var est []bulkEstimate
		for _, m := range []bulk.Mode{bulk.ModeReplace, bulk.ModeLink} {
			b := bulk.Estimate(len(sel.Items), m, in.Bulk.RatePerSec)
			est = append(est, bulkEstimate{Mode: string(m), Text: l.T("bulk.estimate."+string(m), b.Documents, groupDigits(l, b.Documents),
				durationWords(l, b.Duration), groupDigits(l, b.Requests))})
		}
		out["estimates"] = est
	}
	w.Header().Set("Cache-Control", "no-store")
	reply(w, http.StatusOK, out)
}

// fileFieldCamel names a file field as crm.item.* does (REST docs, crm/universal "Features of working
// with field names": underscores between digits stay, the others go): UF_CRM_SIGNET_FILES →
// ufCrmSignetFiles, a smart process's UF_CRM_5_1639669411830 → ufCrm5_1639669411830.
func fileFieldCamel(code string) string {
	if !strings.HasPrefix(code, "UF_") {
		return code
	}
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	var b strings.Builder
	for i, part := range strings.Split(strings.ToLower(code), "_") {
		if part == "" {
			continue
		}
		if i > 0 && isDigit(part[0]) && b.Len() > 0 && isDigit(b.String()[b.Len()-1]) {
			b.WriteByte('_')
		}
		if i > 0 && !isDigit(part[0]) {
			part = strings.ToUpper(part[:1]) + part[1:]
		}
		b.WriteString(part)
	}
	return b.String()
}

// groupDigits writes n with the reader's thousands separator ("10,000"; "10 000" in Russian).
func groupDigits(l *i18n.Localizer, n int) string {
	s := strconv.Itoa(n)
	sep := l.T("bulk.thousands")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString(sep)
		}
		b.WriteRune(c)
	}
	return b.String()
}

// durationWords is an estimate as people read it: seconds under two minutes, then minutes, then hours.
func durationWords(l *i18n.Localizer, d time.Duration) string {
	switch {
	case d < 2*time.Minute:
		return l.T("bulk.seconds", int(d.Seconds()))
	case d < 3*time.Hour:
		return l.T("bulk.minutes", int(d.Round(time.Minute).Minutes()))
	}
	return l.T("bulk.hours", int(d.Round(time.Hour).Hours()))
}

type bulkSignBody struct {
	Selection  string `json:"selection"`
	Mode       string `json:"mode"`
	Credential string `json:"credential"`
	Visible    bool   `json:"visible"`
	Position   string `json:"position"`
	Page       string `json:"page"`
	Reason     string `json:"reason"`
	Code       string `json:"code"`
}

// handleBulkSign turns the shown selection into one batch under one grant for exactly its documents.
// The batch id derives from the signer, the credential and the documents with their mode and stamp
// (batch.ID), so sending the same selection again resumes that batch and never signs twice.
func (in *Intake) handleBulkSign(w http.ResponseWriter, r *http.Request) {
	s := in.bulkCaller(r, 0)
	if s == nil || in.Bulk == nil {
		reply(w, http.StatusNotFound, answer{Status: "unknown", Error: "open the page from Bitrix24 again"})
		return
	}
	ctx, l := r.Context(), in.bulkLocalizer(s, r)
	var body bulkSignBody
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<20)).Decode(&body); err != nil {
		reply(w, http.StatusBadRequest, answer{Status: "refused", Error: l.T("bulk.err.form")})
		return
	}
	var sel bulkSelection
	if !in.bulkOpen("selection", body.Selection, &sel) || sel.MemberID != s.MemberID || !strings.EqualFold(sel.Login, s.Login) || in.now().Unix() > sel.Expires {
		// Another person's, another portal's, a changed or an old selection: show again.
		reply(w, http.StatusNotFound, answer{Status: "unknown", Error: l.T("bulk.err.selection")})
		return
	}
	user, err := in.Identity.UserByBitrixID(ctx, s.MemberID, s.UserID)
	if err != nil || !strings.EqualFold(user.Login, s.Login) {
		in.bulkError(w, l, s.Login, err)
		return
	}
	known := false
	for _, c := range user.Credentials {
		known = known || c == body.Credential
	}
	if !known {
		reply(w, http.StatusUnprocessableEntity, answer{Status: "refused", Error: l.T("bulk.err.credential")})
		return
	}
	if owner, err := in.Identity.CredentialPortal(ctx, body.Credential); err != nil || owner != "" && owner != s.MemberID {
		reply(w, http.StatusUnprocessableEntity, answer{Status: "refused", Error: l.T("bulk.err.credential")})
		return
	}
	known = false
	for _, p := range Positions {
		known = known || p == body.Position
	}
	if !known {
		body.Position = "bottom-right"
	}
	if body.Page != "first" {
		body.Page = "last"
	}
	m, err := in.bulkManifest(&sel, body)
	if err != nil {
		reply(w, http.StatusUnprocessableEntity, answer{Status: "refused", Error: l.T("bulk.err.select", err.Error())})
		return
	}
	id := batch.ID(user.Login, body.Credential, m)
	if _, busy := in.Bulk.running.LoadOrStore(id, true); busy {
		reply(w, http.StatusAccepted, map[string]any{"batch": id, "total": len(m.Documents), "resumed": true})
		return
	}
	code := strings.TrimSpace(body.Code)
	started := make(chan batch.Progress, 1)
	failed := make(chan error, 1)
	finished := make(chan struct{})
	// The enqueue outlives the call (10,000 publishes take a while); the page polls the status.
	run, cancel := context.WithTimeout(context.WithoutCancel(ctx), 6*time.Hour)
	go func() {
		defer close(finished)
		defer cancel()
		defer in.Bulk.running.Delete(id)
		once := sync.Once{}
		_, err := in.Bulk.Enqueuer.Enqueue(run, batch.Request{Login: user.Login, Credential: body.Credential, Manifest: m,
			OTP: func() (string, error) { return code, nil }, Language: l.Code(), TimeZone: in.TimeZone,
			Progress: func(p batch.Progress) { once.Do(func() { started <- p }) }})
		if err != nil {
			failed <- err
			in.Log.Warn("bulk: enqueue stopped", zap.String("batch_id", id), zap.String("login", user.Login), zap.Error(err))
		}
	}()
	select {
	case p := <-started:
		in.Log.Info("bulk: batch started", zap.String("batch_id", id), zap.String("login", user.Login), zap.Int("documents", p.Total), zap.Int("resumed_at", p.Resumed))
		reply(w, http.StatusAccepted, map[string]any{"batch": id, "total": p.Total, "resumed": p.Resumed > 0})
	case err := <-failed:
		in.bulkError(w, l, user.Login, err)
	case <-finished: // ended without a word of progress (Enqueue always reports one): say so, do not hang
		select {
		case p := <-started:
			reply(w, http.StatusAccepted, map[string]any{"batch": id, "total": p.Total, "resumed": p.Resumed > 0})
		case err := <-failed:
			in.bulkError(w, l, user.Login, err)
		default:
			in.bulkError(w, l, user.Login, errors.New("the batch ended before it started"))
		}
	}
}

// bulkManifest is the sealed selection as a batch manifest (bulk.Selection.Manifest) with the
// page's stamp on every document, so that the batch id covers the stamp as well.
func (in *Intake) bulkManifest(sel *bulkSelection, body bulkSignBody) (*batch.Manifest, error) {
	bs := bulk.Selection{MemberID: sel.MemberID, EntityTypeID: sel.EntityTypeID, FileField: sel.FileField, Mode: bulk.ModeReplace}
	if body.Mode == string(bulk.ModeLink) {
		bs.Mode = bulk.ModeLink
	}
	for i, it := range sel.Items {
		title := ""
		if i < len(sel.Titles) {
			title = sel.Titles[i]
		}
		bs.Items = append(bs.Items, bulk.Item{ID: it[0], FileID: it[1], Title: title})
	}
	base, err := bs.Manifest("bitrix24:" + sel.MemberID + ":bulk")
	if err != nil {
		return nil, err
	}
	docs := base.Documents
	visible := body.Visible
	reason := clip(strings.TrimSpace(body.Reason), 200)
	for i := range docs {
		docs[i].Visible, docs[i].Page, docs[i].Position, docs[i].Reason = &visible, body.Page, body.Position, reason
	}
	return batch.FromDocuments(base.Source, docs)
}

// bulkError answers a refused or failed sign call in the reader's words.
func (in *Intake) bulkError(w http.ResponseWriter, l *i18n.Localizer, login string, err error) {
	switch {
	case err == nil:
		reply(w, http.StatusNotFound, answer{Status: "unknown", Error: l.T("bulk.err.selection")})
	default:
		in.framedError(w, l, "bulk", login, err)
	}
}

type bulkFailure struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// handleBulkStatus reports one of the caller's batches: done, failed, pending, the time left, the
// failures; another person's or another portal's batch is 404.
func (in *Intake) handleBulkStatus(w http.ResponseWriter, r *http.Request) {
	s := in.bulkCaller(r, bulkStatusGrace)
	if s == nil || in.Bulk == nil {
		reply(w, http.StatusNotFound, answer{Status: "unknown", Error: "open the page from Bitrix24 again"})
		return
	}
	ctx, l := r.Context(), in.bulkLocalizer(s, r)
	e := in.Bulk.Enqueuer
	var jobs jetstream.KeyValue
	if in.Bulk.Jobs != nil {
		jobs, _ = in.Bulk.Jobs(ctx) // none before a worker made the bucket: nothing finished yet
	}
	st, err := batch.ReadStatus(ctx, e.JS, e.KV, jobs, r.PathValue("id"))
	if errors.Is(err, batch.ErrUnknownBatch) || err == nil && (!strings.EqualFold(st.Login, s.Login) || st.Source != "bitrix24:"+s.MemberID+":bulk") {
		reply(w, http.StatusNotFound, answer{Status: "unknown", Error: l.T("bulk.err.selection")})
		return
	}
	if err != nil {
		in.Log.Error("bulk: reading a batch's status", zap.Error(err))
		reply(w, http.StatusServiceUnavailable, answer{Status: "error", Error: l.T("bulk.unavailable")})
		return
	}
	out := map[string]any{"batch": st.ID, "total": st.Total, "published": st.Published, "signed": st.Signed,
		"failed": st.Failed, "pending": st.Pending, "done": st.Done,
		"progress": l.T("bulk.progress", st.Signed, groupDigits(l, st.Signed), groupDigits(l, st.Total), st.Failed)}
	if eta := st.ETA(st.Expected(st.Rate)); eta > 0 && !st.Done {
		out["eta"] = l.T("bulk.eta", durationWords(l, eta))
	}
	if st.Done {
		out["summary"] = l.T("bulk.summary", st.Signed, groupDigits(l, st.Signed), st.Failed, st.ID)
	}
	var fails []bulkFailure
	for _, f := range st.Failures {
		fails = append(fails, bulkFailure{Name: f.Name, Reason: reasons.Text(l, f.Kind, f.Reason, f.JobID, "")})
	}
	out["failures"] = fails
	w.Header().Set("Cache-Control", "no-store")
	reply(w, http.StatusOK, out)
}

// jobsSignedFiles answers bulk.SignedFiles from the records the workers keep in the jobs bucket
// (contracts.SignedFileKey), so that a filter shown again after a night's run leaves out the items
// whose file Signet signed or wrote a link for.
type jobsSignedFiles struct {
	open func(ctx context.Context) (jetstream.KeyValue, error)
}

func (j jobsSignedFiles) SignedFile(ctx context.Context, memberID string, entityTypeID, entityID, fileID int) (bool, error) {
	if j.open == nil {
		return false, nil
	}
	kv, err := j.open(ctx)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return false, nil // no worker has run yet: nothing was signed
	}
	if err != nil {
		return false, err
	}
	_, err = kv.Get(ctx, contracts.SignedFileKey(memberID, entityTypeID, entityID, fileID))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("reading whether file %d of item %d is signed: %w", fileID, entityID, err)
	}
	return true, nil
}
