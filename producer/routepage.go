package producer

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"io"
	"net"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/internal/routes"
	sigroutes "github.com/signet-b24/signet/producer/routes"
)

// The route page (issue 20, must 3): inside the Signet application, the signing routes the viewer
// started or is a party of, each party's state (who, when, from where, outcome); the originator
// cancels a running route, an approver of the current step approves or declines. The portal POSTs
// it like the inbox (openFramed); its buttons are plain forms that carry the page's session token
// (the inbox token, a MAC over portal, user and login) in their body, and the answer is the page
// again with what was done.

//go:embed templates/routes.html
var routesFS embed.FS

var routesPage = template.Must(template.ParseFS(routesFS, "templates/routes.html"))

// RoutesPath is the route page; RoutesPath+"/act" takes its buttons.
const RoutesPath = "/bitrix24/routes"

func (in *Intake) routePageRoutes(mux routes.Mux) {
	mux.HandleFunc("POST "+RoutesPath, in.handleRoutePage)
	mux.HandleFunc("POST "+RoutesPath+"/act", in.handleRouteAct)
	mux.HandleFunc("GET "+sigroutes.FinalPath+"{route}/{token}", in.handleRouteFinal)
	mux.HandleFunc("GET "+sigroutes.FinalPath+"{route}/{token}/certificate", in.handleRouteFinalCertificate)
}

type routePartyView struct {
	Route, Party, Step, Who, State, When, From, Reason string
	CanApprove                                         bool
}

type routeView struct {
	ID, Title, State, Originator, Created, Deadline, Reason string
	CanCancel                                               bool
	MirrorFailed, MirrorRetrying                            []string // mirror steps given up, and failing but retried (issue 20, must 7)
	Parties                                                 []routePartyView
}

type routePageView struct {
	Nonce, Token, Lang, Login, Message string
	Failed                             bool
	Routes                             []routeView
	T                                  func(key string, args ...any) string
}

func (in *Intake) handleRoutePage(w http.ResponseWriter, r *http.Request) {
	// The inbox's door and its words (framed.go): the same proof of who is looking.
	v := in.openFramed(w, r, "inbox", in.Requests != nil)
	if v == nil {
		return
	}
	s := inboxSession{MemberID: v.MemberID, UserID: v.UserID, Login: v.User.Login, Lang: v.Lang, Expires: in.now().Add(inboxTTL).Unix()}
	in.renderRoutePage(w, r, v.L, s, "", false)
}

// handleRouteAct takes one button of the route page: approve, decline (with a reason) or cancel.
func (in *Intake) handleRouteAct(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, bitrix24.MaxInboundBody)
	l := i18n.For(i18n.FromRequest(r))
	if err := r.ParseForm(); err != nil {
		placementFail(w, http.StatusBadRequest, l.T("inbox.openInBitrix24"))
		return
	}
	s := in.inboxSessionOf(r.PostForm.Get("token"))
	if s == nil || in.RouteEngine == nil {
		placementFail(w, http.StatusUnauthorized, l.T("inbox.openInBitrix24"))
		return
	}
	l = in.inboxLocalizer(s, r)
	ctx := r.Context()
	id, party, reason := r.PostForm.Get("route"), r.PostForm.Get("party"), strings.TrimSpace(r.PostForm.Get("reason"))
	from, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		from = r.RemoteAddr
	}
	switch r.PostForm.Get("do") {
	case "refresh":
		in.renderRoutePage(w, r, l, *s, "", false)
		return
	case "approve":
		err = in.RouteEngine.Approve(ctx, s.MemberID, s.Login, id, party, true, reason, from)
	case "decline":
		if reason == "" {
			in.renderRoutePage(w, r, l, *s, l.T("inbox.err.reason"), true)
			return
		}
		err = in.RouteEngine.Approve(ctx, s.MemberID, s.Login, id, party, false, reason, from)
	case "cancel":
		_, err = in.RouteEngine.Cancel(ctx, s.MemberID, s.Login, id, reason)
	default:
		placementFail(w, http.StatusBadRequest, l.T("routes.err.action"))
		return
	}
	msg, failed := l.T("routes.done"), false
	switch {
	case err == nil:
	case errors.Is(err, sigroutes.ErrNotFound):
		msg, failed = l.T("inbox.err.notFound"), true
	case errors.Is(err, sigroutes.ErrNotYourTurn), errors.Is(err, sigroutes.ErrNotOriginator), errors.Is(err, sigroutes.ErrEnded):
		msg, failed = l.T("routes.err.notAllowed"), true
	default:
		in.Log.Warn("route page: the act failed", zap.String("route", id), zap.Error(err))
		msg, failed = l.T("inbox.unavailable"), true
	}
	in.renderRoutePage(w, r, l, *s, msg, failed)
}

// renderRoutePage draws the viewer's routes with a message of what was just done.
func (in *Intake) renderRoutePage(w http.ResponseWriter, r *http.Request, l *i18n.Localizer, s inboxSession, msg string, failed bool) {
	ctx := r.Context()
	if in.RouteEngine == nil {
		placementFail(w, http.StatusServiceUnavailable, l.T("route.robot.off"))
		return
	}
	list, err := in.RouteEngine.ListFor(ctx, s.MemberID, s.Login)
	if err != nil {
		in.Log.Error("route page: listing routes failed", zap.Error(err))
		placementFail(w, http.StatusServiceUnavailable, l.T("inbox.unavailable"))
		return
	}
	view := routePageView{Nonce: randomHex(16), Lang: l.Code(), Login: s.Login, Message: msg, Failed: failed, T: l.T, Token: in.inboxToken(s)}
	for _, rt := range list {
		rv := routeView{ID: rt.ID, Title: rt.Title, State: l.T("route.state." + string(rt.State)), Originator: rt.Originator,
			Created: l.DateTime(rt.Created), Deadline: l.DateTime(rt.Deadline), Reason: rt.Reason, MirrorFailed: rt.MirrorFailures(), MirrorRetrying: rt.MirrorRetrying(),
			CanCancel: !rt.State.Ended() && strings.EqualFold(rt.Originator, s.Login)}
		if rv.Title == "" {
			rv.Title = rt.Document.FileName
		}
		for i, st := range rt.Steps {
			for _, p := range st.Parties {
				pv := routePartyView{Route: rt.ID, Party: p.ID, Step: st.ID + " · " + l.T("routes.action."+string(st.Action)), Who: p.Who(),
					State: l.T("routes.party." + string(p.State)), From: p.From, Reason: p.Reason}
				if !p.At.IsZero() {
					pv.When = l.DateTime(p.At)
				}
				pv.CanApprove = !rt.State.Ended() && i == rt.Current && p.State == sigroutes.PartyWaiting && p.Kind != sigroutes.KindExternal &&
					strings.EqualFold(p.Login, s.Login) && st.Action == sigroutes.ActionApprove
				rv.Parties = append(rv.Parties, pv)
			}
		}
		view.Routes = append(view.Routes, rv)
	}
	var buf bytes.Buffer
	if err := routesPage.Execute(&buf, view); err != nil {
		in.Log.Error("route page: rendering", zap.Error(err))
		placementFail(w, http.StatusInternalServerError, l.T("inbox.unavailable"))
		return
	}
	portal, _, err := in.Portals.Get(ctx, s.MemberID)
	ancestors := "'none'"
	if err == nil {
		ancestors = frameOrigin(portal)
	}
	writeFramedPage(w, http.StatusOK, "default-src 'none'; style-src 'nonce-"+view.Nonce+"'; form-action 'self'; base-uri 'none'; frame-ancestors "+ancestors,
		l.Code(), buf.Bytes())
}

// serveRouteDocument sends the latest revision of a route party's document for the inbox's viewer.
func (in *Intake) serveRouteDocument(w http.ResponseWriter, r *http.Request, l *i18n.Localizer, jobID string) {
	rc, err := in.RouteEngine.Document(r.Context(), jobID)
	if err != nil {
		in.Log.Info("inbox: no preview of a route's document", zap.String("request", jobID), zap.Error(err))
		reply(w, http.StatusNotFound, answer{Status: "unknown", Error: l.T("inbox.noPreview")})
		return
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(rc, maxPreview)); err != nil {
		in.Log.Warn("inbox: reading a route's document", zap.String("request", jobID), zap.Error(err))
		reply(w, http.StatusBadGateway, answer{Status: "error", Error: l.T("inbox.noPreview")})
		return
	}
	writePreview(w, buf.Bytes())
}
