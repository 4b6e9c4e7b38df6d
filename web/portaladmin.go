package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Portal administrators come through the application: Bitrix24 opens Signet's application page inside
// the portal (the local application's "handler path", <public_url>/admin/bitrix24) with a POST that
// carries the viewing user's own AUTH_ID. Signet asks the portal that installed it (its stored
// client_endpoint, never the request's DOMAIN) whether that token's user is an administrator
// (user.admin, reference §2). If so, the page shows a button that opens the control panel in a new
// tab, carrying a single-use ticket in the form body; the new tab gets an ordinary session cookie.
// The control panel itself is never framed, and no cookie is set inside the portal's iframe
// (browsers drop SameSite=Strict cookies there).

// ticketTTL is how long the "Open the control panel" button works.
const ticketTTL = 2 * time.Minute

type ticket struct {
	Login    string    `json:"login"`
	MemberID string    `json:"member_id"`
	Expires  time.Time `json:"expires"`
}

type portalAdminData struct {
	Ticket, Login, Domain string
}

func (p *Pages) portalAdminPage(w http.ResponseWriter, r *http.Request) {
	frame := "'none'" // until the portal is known; then the portal may frame the answer
	// Inside Bitrix24 the page speaks the language of the portal's user: LANG of the application's
	// request (reference bitrix24-rest.md §10), not the browser's; it shows no language switch.
	lang := r.URL.Query().Get("LANG")
	fail := func(status int, msg string) {
		p.renderFramed(w, r, status, frame, "portaladmin", view{Title: "Signet", Error: msg, Data: portalAdminData{}, Bitrix24Lang: lang})
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		fail(http.StatusBadRequest, "web.portaladmin.openFromList")
		return
	}
	memberID, authID := r.PostForm.Get("member_id"), r.PostForm.Get("AUTH_ID")
	if p.cfg.Portals == nil || p.cfg.Bitrix == nil || memberID == "" || authID == "" {
		fail(http.StatusBadRequest, "web.portaladmin.openFromList")
		return
	}
	portal, _, err := p.cfg.Portals.Get(r.Context(), memberID)
	if err != nil {
		p.log.Warn("portal administrator sign-in: portal unknown", zap.String("member_id", memberID), zap.Error(err))
		fail(http.StatusUnauthorized, "web.portaladmin.notInstalled")
		return
	}
	if base, err := portal.Auth.PortalBase(); err == nil {
		frame = base.String()
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	var me struct {
		ID any `json:"ID"`
	}
	var admin bool
	err = p.cfg.Bitrix.CallAs(ctx, memberID, authID, "user.current", nil, &me)
	if err == nil {
		err = p.cfg.Bitrix.CallAs(ctx, memberID, authID, "user.admin", nil, &admin)
	}
	if err != nil {
		p.log.Warn("portal administrator sign-in: the portal did not confirm the user", zap.String("member_id", memberID), zap.Error(err))
		fail(http.StatusUnauthorized, "web.portaladmin.notConfirmed")
		return
	}
	login := fmt.Sprintf("user %v of %s", me.ID, portal.Auth.Domain)
	if !admin {
		p.log.Info("portal administrator sign-in refused: not a portal administrator", zap.String("admin", login))
		fail(http.StatusForbidden, "web.portaladmin.notAdmin")
		return
	}
	kv, err := p.bucket(ctx)
	if err != nil {
		p.log.Error("portal administrator sign-in", zap.Error(err))
		fail(http.StatusServiceUnavailable, "web.login.storeDown")
		return
	}
	tok := randomToken()
	b, _ := json.Marshal(ticket{Login: login, MemberID: portal.Auth.MemberID, Expires: p.cfg.Now().Add(ticketTTL)})
	if _, err := kv.Create(ctx, "t"+sessionKey(tok)[1:], b); err != nil {
		fail(http.StatusServiceUnavailable, "web.login.storeDown")
		return
	}
	// Framed by the portal only, like the Sign dialog.
	p.renderFramed(w, r, http.StatusOK, frame, "portaladmin", view{Title: "Signet", Data: portalAdminData{Ticket: tok, Login: login, Domain: portal.Auth.Domain}, Bitrix24Lang: lang})
}

// portalSession turns a ticket into a control-panel session, in a tab of its own.
func (p *Pages) portalSession(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	tok := ""
	if r.ParseForm() == nil {
		tok = r.PostForm.Get("ticket")
	}
	gone := func() {
		p.render(w, r, http.StatusForbidden, "login", p.loginView(w, "", "web.login.buttonExpired"))
	}
	if tok == "" || len(tok) > 128 || !p.sameOrigin(r) {
		gone()
		return
	}
	kv, err := p.bucket(r.Context())
	if err != nil {
		gone()
		return
	}
	key := "t" + sessionKey(tok)[1:]
	e, err := kv.Get(r.Context(), key)
	if err != nil {
		gone()
		return
	}
	// Single use: the delete succeeds only on the revision just read.
	if err := kv.Delete(r.Context(), key, jetstream.LastRevision(e.Revision())); err != nil {
		gone()
		return
	}
	var t ticket
	if json.Unmarshal(e.Value(), &t) != nil || p.cfg.Now().After(t.Expires) || strings.TrimSpace(t.Login) == "" || t.MemberID == "" {
		gone()
		return
	}
	if err := p.newSession(r.Context(), w, t.Login, "portal", t.MemberID, ""); err != nil {
		p.log.Error("portal administrator sign-in", zap.Error(err))
		gone()
		return
	}
	p.log.Info("control panel: portal administrator signed in", zap.String("admin", t.Login), zap.String("member_id", t.MemberID))
	http.Redirect(w, r, "/admin/users", http.StatusSeeOther)
}
