package producer

import (
	"bytes"
	"context"
	"crypto/hmac"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/internal/routes"
	"github.com/signet-b24/signet/producer/batch"
	"github.com/signet-b24/signet/producer/requests"
	sigroutes "github.com/signet-b24/signet/producer/routes"
)

// The signer's inbox (issue 19, must 2): the requests to sign waiting for the person who opens it,
// inside Bitrix24 (the left menu and the deal card's tab), each document drawn by pdf.js, one code for
// a selected set, decline with a reason. It is a Bitrix24 door like the Sign dialog (placement.go):
// the portal POSTs the page with the viewer's AUTH_ID, and what it queues are SignJobs. The page's
// later calls carry the inbox token (InboxTokenHeader): this server's MAC over the portal, the
// Bitrix24 user and the Signet login that user.current proved, so nothing the browser sends names
// the signer.

//go:embed templates/inbox.html
var inboxFS embed.FS

//go:embed assets/inbox.js assets/inbox.css assets/bulk.js assets/bulk.css assets/pdfjs/pdf.min.mjs assets/pdfjs/pdf.worker.min.mjs
var inboxAssets embed.FS

var inboxPage = template.Must(template.ParseFS(inboxFS, "templates/inbox.html"))

// InboxTokenHeader carries the inbox token on every call the page makes (a header, never the URL).
const InboxTokenHeader = "X-Signet-Inbox-Token"

// Placements that open the inbox (reference bitrix24-people-notes.md §3): the portal's main menu,
// and a tab of the deal card that lists the signer's requests for that deal.
const (
	PlacementLeftMenu = "LEFT_MENU"
	PlacementDealTab  = "CRM_DEAL_DETAIL_TAB"
)

// inboxTTL bounds how long an open inbox may act before it must be reopened (its token expires).
const inboxTTL = 30 * time.Minute

// inboxShowsQueued is how long after signing a request whose job has not ended is still shown, with
// its estimated completion; a person's job overtakes every batch at the token, so one still queued
// after this is stuck, and `signet status` is where an administrator sees why.
const inboxShowsQueued = time.Hour

// maxPreview bounds a document the inbox shows (the worker's own limit applies when it signs).
const maxPreview = 64 << 20

// inboxSession is who the page was opened for, proved by user.current; the token signs it.
type inboxSession struct {
	MemberID string `json:"m"`
	UserID   int    `json:"u"`
	Login    string `json:"l"`
	Lang     string `json:"g,omitempty"`
	Expires  int64  `json:"e"`
}

func (in *Intake) inboxMAC(v string) string {
	return in.keyedMAC("signet-inbox", v)
}

func (in *Intake) inboxToken(s inboxSession) string {
	raw, _ := json.Marshal(s)
	v := base64.RawURLEncoding.EncodeToString(raw)
	return v + "." + in.inboxMAC(v)
}

// inboxCaller checks the inbox token of a call; nil when it is missing, forged or expired.
func (in *Intake) inboxCaller(r *http.Request) *inboxSession {
	return in.inboxSessionOf(r.Header.Get(InboxTokenHeader))
}

// inboxCall is the door of every inbox call: the caller's session and their language, or nil after
// answering 404 in the language of the request (a missing, forged or expired token names nothing the
// caller may see, so it is answered like a request that is not theirs).
func (in *Intake) inboxCall(w http.ResponseWriter, r *http.Request) (*inboxSession, *i18n.Localizer) {
	s := in.inboxCaller(r)
	l := in.inboxLocalizer(s, r)
	if s == nil {
		reply(w, http.StatusNotFound, answer{Status: "unknown", Error: l.T("inbox.err.notFound")})
	}
	return s, l
}

// inboxSessionOf checks an inbox token (the inbox's header, the route page's form field); nil when
// it is missing, forged or expired.
func (in *Intake) inboxSessionOf(token string) *inboxSession {
	v, mac, ok := strings.Cut(token, ".")
	if !ok || len(in.FormKey) < 16 || !hmac.Equal([]byte(in.inboxMAC(v)), []byte(mac)) {
		return nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(v)
	var s inboxSession
	if err != nil || json.Unmarshal(raw, &s) != nil || s.Login == "" || in.now().Unix() > s.Expires {
		return nil
	}
	return &s
}

func (in *Intake) inboxRoutes(mux routes.Mux) {
	mux.HandleFunc("GET "+InboxPath, in.handleInboxLink)
	mux.HandleFunc("POST "+InboxPath, in.handleInbox)
	mux.HandleFunc("GET "+InboxPath+"/document/{id}", in.handleInboxDocument)
	mux.HandleFunc("GET "+InboxPath+"/status/{id}", in.handleInboxStatus)
	mux.HandleFunc("POST "+InboxPath+"/sign", in.handleInboxSign)
	mux.HandleFunc("POST "+InboxPath+"/decline", in.handleInboxDecline)
	mux.HandleFunc("GET "+InboxPath+"/assets/{name}", in.handleInboxAsset)
}

// handleInboxLink answers a notification's link opened outside the portal: without the portal's
// auth nobody is known, so the page says where the inbox is.
func (in *Intake) handleInboxLink(w http.ResponseWriter, r *http.Request) {
	l := i18n.For(i18n.FromRequest(r))
	placementFail(w, http.StatusOK, l.T("inbox.openInBitrix24"))
}

type inboxItem struct {
	ID, Title, Credential, Created, Deadline string
	Visible, Evidence                        bool
	Page, Position, PositionWords, Reason    string
	Focus                                    bool
	// State and Status are the request's progress and its words: pending, or queued with its
	// estimated completion (a request signed earlier whose job has not ended; the page polls it).
	State, Status string
}

type inboxView struct {
	Nonce, Token, Lang, Login string
	Items                     []inboxItem
	// Pending: some item waits for the signer (the Sign form is shown); the others are in progress.
	Pending bool
	T       func(key string, args ...any) string
}

// handleInbox serves the inbox page that Bitrix24 POSTs (LEFT_MENU, CRM_DEAL_DETAIL_TAB, or the
// application's page): the portal and APPLICATION_TOKEN as for the Sign dialog, then who is looking
// from their own AUTH_ID (user.current), never from the form.
func (in *Intake) handleInbox(w http.ResponseWriter, r *http.Request) {
	v := in.openFramed(w, r, "inbox", in.Requests != nil)
	if v == nil {
		return
	}
	ctx, l, log, memberID, uid, user, lang, portal := r.Context(), v.L, v.Log, v.MemberID, v.UserID, v.User, v.Lang, v.Portal
	list, err := in.Requests.List(ctx, memberID, user.Login)
	if err != nil {
		log.Error("inbox: listing requests failed", zap.Error(err))
		placementFail(w, http.StatusServiceUnavailable, l.T("inbox.unavailable"))
		return
	}
	// In a deal's tab, the deal's requests only.
	deal := 0
	if r.PostForm.Get("PLACEMENT") == PlacementDealTab {
		var opts map[string]any
		if json.Unmarshal([]byte(r.PostForm.Get("PLACEMENT_OPTIONS")), &opts) == nil {
			deal = optionID(opts, "ID")
		}
	}
	focus := r.URL.Query().Get("request")
	view := inboxView{Nonce: randomHex(16), Lang: l.Code(), Login: user.Login, T: l.T,
		Token: in.inboxToken(inboxSession{MemberID: memberID, UserID: uid, Login: user.Login, Lang: lang, Expires: in.now().Add(inboxTTL).Unix()})}
	for _, q := range list {
		if deal > 0 && (q.Job.Document.EntityTypeID != 2 || q.Job.Document.EntityID != deal) {
			continue
		}
		view.Items = append(view.Items, in.inboxItem(l, q, q.ID == focus))
		view.Pending = true
	}
	// Then what the signer signed and still waits for, each with its estimated completion. These
	// only inform: when they cannot be read the page still serves what waits for a signature.
	busy, err := in.Requests.InProgress(ctx, memberID, user.Login, inboxShowsQueued)
	if err != nil {
		log.Warn("inbox: requests in progress not listed", zap.Error(err))
	}
	loads := map[string]batch.TokenLoad{}
	for _, q := range busy {
		if deal > 0 && (q.Job.Document.EntityTypeID != 2 || q.Job.Document.EntityID != deal) {
			continue
		}
		st, err := in.requestProgress(ctx, l, q, loads)
		if err != nil {
			log.Warn("inbox: a request in progress not shown: its progress could not be read", zap.String("request", q.ID), zap.Error(err))
			continue
		}
		if st.State != "queued" && st.State != "signing" {
			continue // its job ended: the workflow has its result
		}
		item := in.inboxItem(l, q, q.ID == focus)
		item.State, item.Status = st.State, st.Message
		view.Items = append(view.Items, item)
	}
	var buf bytes.Buffer
	if err := inboxPage.Execute(&buf, view); err != nil {
		log.Error("inbox: rendering", zap.Error(err))
		placementFail(w, http.StatusInternalServerError, l.T("inbox.unavailable"))
		return
	}
	// Scripts from Signet's own origin with this page's nonce; pdf.js runs its worker from self.
	writeFramedPage(w, http.StatusOK, "default-src 'none'; script-src 'self' 'nonce-"+view.Nonce+"'; style-src 'self' 'nonce-"+view.Nonce+
		"'; img-src 'self' data: blob:; worker-src 'self'; connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors "+frameOrigin(portal),
		l.Code(), buf.Bytes())
}

func (in *Intake) inboxItem(l *i18n.Localizer, q *requests.Request, focus bool) inboxItem {
	title := q.Title
	if title == "" {
		title = q.ID
	}
	pos := q.Job.Stamp.Position
	if pos == "" {
		pos = "bottom-right"
	}
	zone := requestZone(q)
	return inboxItem{ID: q.ID, Title: title, Credential: credentialLabel(q.Job.Credential),
		Created: l.DateTime(q.Created.In(zone)), Deadline: l.DateTime(q.Deadline.In(zone)),
		Visible: q.Job.Stamp.Visible, Evidence: q.Job.Stamp.Evidence, Page: q.Job.Stamp.Page, Position: pos,
		PositionWords: l.T("inbox.position." + pos), Reason: q.Job.Stamp.Reason, Focus: focus,
		State: string(requests.Pending), Status: l.T("inbox.state.pending")}
}

// inboxRequest is the caller's pending-or-ended request id on the caller's portal; any other id
// (another signer's, another portal's, none) is ErrNotFound, so ids are not probed.
func (in *Intake) inboxRequest(ctx context.Context, s *inboxSession, id string) (*requests.Request, error) {
	q, err := in.Requests.Get(ctx, s.Login, id)
	if errors.Is(err, requests.ErrNotYours) || err == nil && q.Job.Portal.MemberID != s.MemberID {
		return nil, requests.ErrNotFound
	}
	return q, err
}

func (in *Intake) inboxLocalizer(s *inboxSession, r *http.Request) *i18n.Localizer {
	if s != nil && s.Lang != "" {
		return i18n.For(i18n.FromBitrix24(s.Lang))
	}
	return i18n.For(i18n.FromRequest(r))
}

// inboxError answers a call that failed: 404 for what is not the caller's, 503 when Signet cannot.
func (in *Intake) inboxError(w http.ResponseWriter, l *i18n.Localizer, login string, err error) {
	switch {
	case errors.Is(err, requests.ErrNotFound), errors.Is(err, requests.ErrNotYours):
		reply(w, http.StatusNotFound, answer{Status: "unknown", Error: l.T("inbox.err.notFound")})
	case errors.Is(err, requests.ErrNotPending):
		reply(w, http.StatusConflict, answer{Status: "refused", Error: l.T("inbox.err.notPending")})
	case errors.Is(err, requests.ErrMixed):
		reply(w, http.StatusUnprocessableEntity, answer{Status: "refused", Error: l.T("inbox.err.mixed")})
	default:
		in.framedError(w, l, "inbox", login, err)
	}
}

// handleInboxDocument sends the PDF of one of the caller's requests, for pdf.js to draw. It is read
// with the portal's stored token: the request itself is the signer's right to see it.
func (in *Intake) handleInboxDocument(w http.ResponseWriter, r *http.Request) {
	s, l := in.inboxCall(w, r)
	if s == nil {
		return
	}
	q, err := in.inboxRequest(r.Context(), s, r.PathValue("id"))
	if err != nil {
		in.inboxError(w, l, s.Login, err)
		return
	}
	if in.RouteEngine != nil && sigroutes.RouteOfJob(q.ID) != "" {
		// A route party's request: its document is the route's latest revision in Signet's storage.
		in.serveRouteDocument(w, r, l, q.ID)
		return
	}
	fileURL, err := in.documentURL(r.Context(), q)
	dl, ok := in.Bitrix.(interface {
		Download(ctx context.Context, memberID, fileURL string, maxBytes int64, w io.Writer) (int64, error)
	})
	if err != nil || fileURL == "" || !ok {
		in.Log.Info("inbox: no preview", zap.String("request", q.ID), zap.Error(err))
		reply(w, http.StatusNotFound, answer{Status: "unknown", Error: l.T("inbox.noPreview")})
		return
	}
	var buf bytes.Buffer
	if _, err := dl.Download(r.Context(), q.Job.Portal.MemberID, fileURL, maxPreview, &buf); err != nil {
		in.Log.Warn("inbox: downloading the document for its preview", zap.String("request", q.ID), zap.Error(err))
		reply(w, http.StatusBadGateway, answer{Status: "error", Error: l.T("inbox.noPreview")})
		return
	}
	writePreview(w, buf.Bytes())
}

// writePreview sends a PDF for the inbox's viewer: shown inline, never cached or sniffed.
func writePreview(w http.ResponseWriter, pdf []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/pdf")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Disposition", "inline")
	_, _ = w.Write(pdf)
}

// documentURL finds a fresh download URL of the request's document (its auth= is short-lived, so
// it is looked up now and never reaches the browser). A generated document has no preview.
func (in *Intake) documentURL(ctx context.Context, q *requests.Request) (string, error) {
	d, member := q.Job.Document, q.Job.Portal.MemberID
	switch {
	case d.DiskFileID != 0:
		var f struct {
			DownloadURL string `json:"DOWNLOAD_URL"`
		}
		err := in.Bitrix.Call(ctx, member, "disk.file.get", map[string]any{"id": d.DiskFileID}, &f)
		return f.DownloadURL, err
	case d.FileField != "" && d.EntityTypeID > 0 && d.EntityID > 0:
		var res struct {
			Item map[string]json.RawMessage `json:"item"`
		}
		if err := in.Bitrix.Call(ctx, member, "crm.item.get", map[string]any{"entityTypeId": d.EntityTypeID, "id": d.EntityID}, &res); err != nil {
			return "", err
		}
		type file struct {
			ID         bitrix24.ID `json:"id"`
			URLMachine string      `json:"urlMachine"`
		}
		var files []file
		raw := bytes.TrimSpace(res.Item[d.FileField])
		if len(raw) > 0 && raw[0] == '{' {
			var f file
			_ = json.Unmarshal(raw, &f)
			files = []file{f}
		} else {
			_ = json.Unmarshal(raw, &files)
		}
		for i := len(files) - 1; i >= 0; i-- {
			if d.FileID == 0 || int(files[i].ID) == d.FileID {
				return files[i].URLMachine, nil
			}
		}
		return "", fmt.Errorf("file %d is no longer in field %s", d.FileID, d.FileField)
	case d.URL != "":
		return d.URL, nil
	}
	return "", nil
}

// inboxStatus is one request's progress as the page shows it.
type inboxStatus struct {
	ID      string `json:"id"`
	State   string `json:"state"` // pending, queued, signed, done, failed, declined, expired
	Message string `json:"message"`
	Link    string `json:"link,omitempty"`
	// ETA is the estimated completion of a queued request in the reader's words (also at the end
	// of Message), and Expected the same time for machines; Expected is absent when the token's rate
	// is unknown, and then ETA says so.
	ETA      string    `json:"eta,omitempty"`
	Expected time.Time `json:"expected,omitzero"`
}

// handleInboxStatus reports one of the caller's requests: its own state, then its job's.
func (in *Intake) handleInboxStatus(w http.ResponseWriter, r *http.Request) {
	s, l := in.inboxCall(w, r)
	if s == nil {
		return
	}
	q, err := in.inboxRequest(r.Context(), s, r.PathValue("id"))
	if err != nil {
		in.inboxError(w, l, s.Login, err)
		return
	}
	st, err := in.requestProgress(r.Context(), l, q, map[string]batch.TokenLoad{})
	if err != nil {
		in.inboxError(w, l, s.Login, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	reply(w, http.StatusOK, st)
}

// requestProgress is a request's own state, then its job's; a queued job gets its estimated
// completion (requestETA). loads caches the token loads read for this answer, by credential.
func (in *Intake) requestProgress(ctx context.Context, l *i18n.Localizer, q *requests.Request, loads map[string]batch.TokenLoad) (inboxStatus, error) {
	st := inboxStatus{ID: q.ID, State: string(q.State)}
	switch q.State {
	case requests.Queued, requests.Signing:
		js, err := in.jobStatus(ctx, l, q.ID)
		if err != nil {
			return st, err
		}
		st.State, st.Link = js.State, js.Link
		if js.State == "failed" {
			st.Message = js.Message // the worker's reason, worded by the Sign dialog's catalogue entry
		}
		if js.State == "queued" {
			if st.ETA, st.Expected, err = in.requestETA(ctx, l, q, loads); err != nil {
				return st, err
			}
			st.Message = l.T("inbox.state.queued") + " " + st.ETA
		}
	case requests.Declined:
		st.Message = l.T("inbox.state.declined", q.Reason)
	}
	if st.Message == "" {
		st.Message = l.T("inbox.state." + st.State)
	}
	return st, nil
}

type inboxSignBody struct {
	IDs  []string `json:"ids"`
	Code string   `json:"code"`
}

// handleInboxSign signs the selected requests with one code (requests.Service.Sign): every id must
// be the caller's on the caller's portal before the code is even tried.
func (in *Intake) handleInboxSign(w http.ResponseWriter, r *http.Request) {
	s, l := in.inboxCall(w, r)
	if s == nil {
		return
	}
	var body inboxSignBody
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&body); err != nil || len(body.IDs) == 0 || len(body.IDs) > 500 {
		reply(w, http.StatusBadRequest, answer{Status: "refused", Error: l.T("inbox.err.select")})
		return
	}
	for _, id := range body.IDs {
		if _, err := in.inboxRequest(r.Context(), s, id); err != nil {
			in.inboxError(w, l, s.Login, err)
			return
		}
	}
	res, err := in.Requests.Sign(r.Context(), s.Login, body.IDs, strings.TrimSpace(body.Code))
	if err != nil {
		in.Log.Info("inbox: signing refused", zap.String("login", s.Login), zap.Int("requests", len(body.IDs)), zap.Error(err))
		in.inboxError(w, l, s.Login, err)
		return
	}
	out := make([]inboxStatus, 0, len(res))
	for _, x := range res {
		st := inboxStatus{ID: x.ID, State: "queued", Message: l.T("inbox.state.queued")}
		if x.Err != nil {
			st.State, st.Message = "failed", l.T("inbox.state.notQueued")
			in.Log.Warn("inbox: a selected request was not queued", zap.String("request", x.ID), zap.Error(x.Err))
		}
		out = append(out, st)
	}
	reply(w, http.StatusAccepted, map[string]any{"results": out})
}

type inboxDeclineBody struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// handleInboxDecline declines one of the caller's requests with their reason, which the workflow receives.
func (in *Intake) handleInboxDecline(w http.ResponseWriter, r *http.Request) {
	s, l := in.inboxCall(w, r)
	if s == nil {
		return
	}
	var body inboxDeclineBody
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10)).Decode(&body); err != nil || strings.TrimSpace(body.Reason) == "" {
		reply(w, http.StatusBadRequest, answer{Status: "refused", Error: l.T("inbox.err.reason")})
		return
	}
	if _, err := in.inboxRequest(r.Context(), s, body.ID); err != nil {
		in.inboxError(w, l, s.Login, err)
		return
	}
	if err := in.Requests.Decline(r.Context(), s.Login, body.ID, body.Reason); err != nil {
		in.inboxError(w, l, s.Login, err)
		return
	}
	reply(w, http.StatusOK, inboxStatus{ID: body.ID, State: "declined", Message: l.T("inbox.state.declined", strings.TrimSpace(body.Reason))})
}

// inboxAssetTypes are the files the page loads from Signet's own origin: nothing comes from elsewhere.
var inboxAssetTypes = map[string]string{
	"inbox.js": "text/javascript", "inbox.css": "text/css",
	"bulk.js": "text/javascript", "bulk.css": "text/css", // the bulk-signing page's (bulkpage.go)
	"pdf.min.mjs": "text/javascript", "pdf.worker.min.mjs": "text/javascript",
}

func (in *Intake) handleInboxAsset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	ct, ok := inboxAssetTypes[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	p := "assets/" + name
	if strings.HasPrefix(name, "pdf.") {
		p = "assets/pdfjs/" + name
	}
	b, err := inboxAssets.ReadFile(p)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", ct+"; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "public, max-age=3600")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}
