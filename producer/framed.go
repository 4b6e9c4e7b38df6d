package producer

import (
	"errors"
	"net/http"
	"strconv"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/portals"
	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/producer/identity"
)

// frameOrigin is the portal's origin for a page's frame-ancestors: only the portal may frame the
// pages it opens (reference §10, no X-Frame-Options: DENY); 'none' when its address is unusable.
func frameOrigin(p *portals.Portal) string {
	if base, err := p.Auth.PortalBase(); err == nil {
		return base.String()
	}
	return "'none'"
}

// writeFramedPage writes one of the HTML pages a portal frames (the Sign dialog, the inbox, the
// installation page). csp is the page's own Content-Security-Policy, whose frame-ancestors names
// the portal; the rest is the same for every such page: no referrer, no sniffing, never cached.
func writeFramedPage(w http.ResponseWriter, status int, csp, lang string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	if lang != "" {
		h.Set("Content-Language", lang)
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// framedViewer is who opened a page a portal frames, as the portal proved it: the installed
// portal, the viewer's own AUTH_ID (never logged) and Bitrix24 user id, and the Signet user linked
// to that Bitrix24 user.
type framedViewer struct {
	Portal   *portals.Portal
	MemberID string
	AuthID   string
	UserID   int
	User     *identity.User
	Lang     string // LANG as Bitrix24 sent it (clipped), for the page's later calls
	L        *i18n.Localizer
	Log      *zap.Logger
}

// openFramed is the door of the pages the portal POSTs with the viewer's AUTH_ID (the inbox, the
// bulk page): the portal and APPLICATION_TOKEN as for the Sign dialog, or from the application's
// own page, which gets no APPLICATION_TOKEN, an inbox pass (inbox_pass.go) for an install whose
// token is proven only; then who is looking from their own AUTH_ID (user.current), never from the
// form, and the Signet user linked to them. prefix names the page's catalogue entries
// (<prefix>.openInBitrix24, .notInstalled, .notConfirmed, .notConfigured, .unavailable, .notUser).
// On a refusal it has answered and returns nil.
func (in *Intake) openFramed(w http.ResponseWriter, r *http.Request, prefix string, ready bool) *framedViewer {
	ctx := r.Context()
	lang := r.URL.Query().Get("LANG")
	l := i18n.For(i18n.FromRequest(r))
	if lang != "" {
		l = i18n.For(i18n.FromBitrix24(lang))
	}
	r.Body = http.MaxBytesReader(w, r.Body, bitrix24.MaxInboundBody)
	if err := r.ParseForm(); err != nil || !bitrix24.ValidMemberID(r.PostForm.Get("member_id")) {
		// No portal named: nobody is proved, so it is a refusal, not a malformed request.
		placementFail(w, http.StatusUnauthorized, l.T(prefix+".openInBitrix24"))
		return nil
	}
	memberID := r.PostForm.Get("member_id")
	log := in.Log.With(zap.String("member_id", memberID), zap.String("page", prefix))
	portal, _, err := in.Portals.Get(ctx, memberID)
	if err != nil {
		if errors.Is(err, portals.ErrUnknownPortal) {
			placementFail(w, http.StatusUnauthorized, l.T(prefix+".notInstalled"))
			return nil
		}
		log.Error(prefix+": portal registry unavailable", zap.Error(err))
		placementFail(w, http.StatusServiceUnavailable, l.T(prefix+".unavailable"))
		return nil
	}
	if in.Bitrix == nil || len(in.FormKey) < 16 || !ready {
		placementFail(w, http.StatusServiceUnavailable, l.T(prefix+".notConfigured"))
		return nil
	}
	// From the application's own page, which gets no APPLICATION_TOKEN, a pass stands for it
	// (inbox_pass.go), for an install whose token is proven only. The left menu's page without any
	// APPLICATION_TOKEN: the portal confirms the AUTH_ID is Signet's (inbox_menu.go).
	authID := r.PostForm.Get("AUTH_ID")
	passUID, viaPass, viaMenu := 0, false, false
	if !bitrix24.VerifyApplicationToken(portal.Auth.ApplicationToken, r.PostForm.Get("APPLICATION_TOKEN")) {
		uid, ok := in.inboxPassUser(memberID, r.PostForm.Get(InboxPassField))
		if !ok && leftMenuWithoutToken(r) {
			if err := in.provenMenuToken(ctx, portal, authID); err != nil {
				if !errors.Is(err, bitrix24.ErrNotProven) {
					log.Error(prefix+": the portal cannot confirm the left menu's AUTH_ID now", zap.Error(err))
					placementFail(w, http.StatusServiceUnavailable, l.T(prefix+".unavailable"))
					return nil
				}
				log.Warn(prefix+" refused: a left-menu request without APPLICATION_TOKEN", zap.Error(err))
				placementFail(w, http.StatusUnauthorized, l.T(prefix+".notInstalled"))
				return nil
			}
			ok, viaMenu = true, true
		}
		if !ok || portal.Install.TokenSource == portals.TokenWindow {
			log.Warn(prefix + " refused: APPLICATION_TOKEN does not match the installed application")
			placementFail(w, http.StatusUnauthorized, l.T(prefix+".notInstalled"))
			return nil
		}
		passUID, viaPass = uid, !viaMenu
	}
	if !viaPass && !viaMenu {
		if err := in.ConfirmApplicationToken(ctx, portal, bitrix24.Auth{MemberID: memberID, ApplicationToken: r.PostForm.Get("APPLICATION_TOKEN"), AccessToken: authID}); err != nil {
			log.Warn(prefix+" refused: the application_token is not confirmed", zap.Error(err))
			placementFail(w, http.StatusUnauthorized, l.T(prefix+".notConfirmed"))
			return nil
		}
	}
	var me struct {
		ID bitrix24.ID `json:"ID"`
	}
	if err := in.Bitrix.CallAs(ctx, memberID, authID, "user.current", nil, &me); err != nil || me.ID <= 0 {
		log.Warn(prefix+" refused: AUTH_ID not accepted by the portal", zap.Error(err))
		placementFail(w, http.StatusUnauthorized, l.T(prefix+".notConfirmed"))
		return nil
	}
	uid := int(me.ID)
	if viaPass && uid != passUID {
		log.Warn(prefix+" refused: the pass is another user's", zap.Int("user_id", uid))
		placementFail(w, http.StatusUnauthorized, l.T(prefix+".notConfirmed"))
		return nil
	}
	user, err := in.Identity.UserByBitrixID(ctx, memberID, uid)
	if err != nil && !isRefusal(err) {
		log.Error(prefix+": looking up the Bitrix24 user failed", zap.Int("user_id", uid), zap.Error(err))
		placementFail(w, http.StatusServiceUnavailable, l.T(prefix+".unavailable"))
		return nil
	}
	if err != nil {
		placementFail(w, http.StatusForbidden, l.T(prefix+".notUser", strconv.Itoa(uid)))
		return nil
	}
	return &framedViewer{Portal: portal, MemberID: memberID, AuthID: authID, UserID: uid, User: user, Lang: clip(lang, 8), L: l, Log: log}
}

// framedError answers a framed page's call that failed: a refusal (a wrong code, a credential not
// the signer's…) in the reader's words, 422; anything else is Signet's trouble, logged, 503.
func (in *Intake) framedError(w http.ResponseWriter, l *i18n.Localizer, prefix, login string, err error) {
	if isRefusal(err) {
		reply(w, http.StatusUnprocessableEntity, answer{Status: "refused", Error: refusalIn(l, err, login)})
		return
	}
	in.Log.Error(prefix+" call failed", zap.Error(err))
	reply(w, http.StatusServiceUnavailable, answer{Status: "error", Error: l.T(prefix + ".unavailable")})
}
