package producer

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/portals"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/i18n"
)

// Bitrix is what the intake needs from the Bitrix24 REST client.
type Bitrix interface {
	Call(ctx context.Context, memberID, method string, params map[string]any, out any) error
	CallAs(ctx context.Context, memberID, accessToken, method string, params map[string]any, out any) error
	RegisterRobot(ctx context.Context, memberID, code string, fields map[string]any) (bool, error)
	BindPlacement(ctx context.Context, memberID, placement, handler, title string, lang map[string]any) (bool, error)
}

// PlacementToolbar is where the Sign button lives: the deal card's top-right menu (reference §10).
const PlacementToolbar = "CRM_DEAL_DETAIL_TOOLBAR"

// RobotFields are bizproc.robot.add's parameters (without CODE) for Signet's robot: the robot contract
// of the README, which must stay stable (DESIGN "Interfaces that must stay stable"). USE_SUBSCRIPTION=Y
// makes the workflow wait for bizproc.event.send; AUTH_USER_ID is set because a robot without it may
// arrive with no access token (reference §3.1, §11): it is the installing administrator as the portal
// named them (user.current), never a guess.
//
// NAME, DESCRIPTION and every property's Name and Description are {lang: text} maps in every language
// of the catalogue (reference §3.1; bitrix24-people-notes.md §4: the portal picks the reader's
// language, then EN). The options of a select property are plain text in the portal's language lang:
// nothing documents {lang: text} for them.
func RobotFields(handlerURL string, authUserID int, lang *i18n.Localizer) map[string]any {
	// Every property has a description (issue 19, must 4): the designer reads it under the field.
	prop := func(key, typ string, required bool, extra map[string]any) map[string]any {
		p := map[string]any{"Name": langMap(key), "Description": langMap(key + ".description"), "Type": typ, "Required": yn(required), "Multiple": "N"}
		for k, v := range extra {
			p[k] = v
		}
		return p
	}
	ret := func(key, typ string) map[string]any {
		return map[string]any{"Name": langMap(key), "Type": typ, "Required": "N", "Multiple": "N"}
	}
	positions := map[string]any{}
	for _, p := range Positions {
		positions[p] = lang.T("robot.prop.position." + p)
	}
	return map[string]any{
		"HANDLER":          handlerURL,
		"AUTH_USER_ID":     authUserID,
		"USE_SUBSCRIPTION": "Y",
		"NAME":             langMap("robot.name"),
		"DESCRIPTION":      langMap("robot.description"),
		"PROPERTIES": map[string]any{
			PropDocument:   prop("robot.prop.document", "string", true, nil),
			PropSigner:     prop("robot.prop.signer", "user", true, nil),
			PropCredential: prop("robot.prop.credential", "string", false, nil),
			PropMode: prop("robot.prop.mode", "select", false, map[string]any{
				"Options": map[string]any{ModeAsk: lang.T("robot.prop.mode.ask"), ModeCode: lang.T("robot.prop.mode.code")}, "Default": ModeAsk}),
			PropOTP:      prop("robot.prop.otp", "string", false, nil),
			PropDeadline: prop("robot.prop.deadline", "int", false, nil),
			PropVisible:  prop("robot.prop.visible", "bool", false, map[string]any{"Default": "N"}),
			PropPage: prop("robot.prop.page", "select", false, map[string]any{
				"Options": map[string]any{"first": lang.T("robot.prop.page.first"), "last": lang.T("robot.prop.page.last")}, "Default": "last"}),
			PropPosition: prop("robot.prop.position", "select", false, map[string]any{"Options": positions, "Default": "bottom-right"}),
			PropReason:   prop("robot.prop.reason", "string", false, nil),
			PropEvidence: prop("robot.prop.evidence", "bool", false, map[string]any{"Default": "N"}),
		},
		// The worker's return values (worker/callback.go Ret*); the codes are the robot contract.
		"RETURN_PROPERTIES": map[string]any{
			"outcome":            ret("robot.ret.outcome", "string"),
			"outcomeReason":      ret("robot.ret.outcomeReason", "text"),
			"signed":             ret("robot.ret.signed", "bool"),
			"signedFileId":       ret("robot.ret.signedFileId", "string"),
			"signedFileUrl":      ret("robot.ret.signedFileUrl", "string"),
			"signer":             ret("robot.ret.signer", "user"),
			"documentSource":     ret("robot.ret.documentSource", "string"),
			"documentSha256":     ret("robot.ret.documentSha256", "string"),
			"certificateSubject": ret("robot.ret.certificateSubject", "string"),
			"certificateSerial":  ret("robot.ret.certificateSerial", "string"),
			"signedAt":           ret("robot.ret.signedAt", "string"),
			"errorText":          ret("robot.ret.errorText", "text"),
		},
	}
}

// langMap is a catalogue message as Bitrix24's {lang: text} map, keyed by Bitrix24 language ids.
func langMap(key string) map[string]any {
	out := map[string]any{}
	for _, tag := range i18n.Languages() {
		out[i18n.Bitrix24ID(tag)] = i18n.For(tag).T(key)
	}
	return out
}

// placementTitles is placement.bind's LANG_ALL: {lang: {TITLE: …}} in every catalogue language
// (reference §10).
func placementTitles(key string) map[string]any {
	out := map[string]any{}
	for id, title := range langMap(key) {
		out[id] = map[string]any{"TITLE": title}
	}
	return out
}

func yn(b bool) string {
	if b {
		return "Y"
	}
	return "N"
}

// Registration says what Register did on one portal.
type Registration struct {
	RobotAdded     bool // false: the existing robot was updated
	PlacementBound bool // false: it was already bound
}

// Register adds or updates Signet's robot and binds the Sign button on the portal, idempotently. It
// runs at install and from `signet admin bitrix24 register` (also needed after an app version update,
// which may drop robots, reference §3.2).
func (in *Intake) Register(ctx context.Context, memberID string, authUserID int) (Registration, error) {
	var r Registration
	if in.Bitrix == nil {
		return r, errors.New("no Bitrix24 client configured")
	}
	base := strings.TrimRight(in.PublicURL, "/")
	if u, err := url.Parse(base); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return r, fmt.Errorf("public_url %q is not an absolute http(s) URL; Bitrix24 must reach Signet there", in.PublicURL)
	}
	if authUserID <= 0 {
		return r, fmt.Errorf("portal %s: the installing user is not known; run `signet admin bitrix24 register --member-id %s --auth-user-id N` "+
			"with the Bitrix24 id of an administrator, or open Signet in the portal again", memberID, memberID)
	}
	lang := in.portalLanguage(ctx, memberID)
	var err error
	if r.RobotAdded, err = in.Bitrix.RegisterRobot(ctx, memberID, in.RobotCode, RobotFields(base+"/bitrix24/robot", authUserID, lang)); err != nil {
		return r, err
	}
	// The route robot (robot_route.go, issue 20) beside the sign robot.
	if _, err = in.Bitrix.RegisterRobot(ctx, memberID, RouteRobotCode, RouteRobotFields(base+RouteRobotPath, authUserID, lang)); err != nil {
		return r, fmt.Errorf("registering the route robot: %w", err)
	}
	r.PlacementBound, err = in.Bitrix.BindPlacement(ctx, memberID, PlacementToolbar, base+"/bitrix24/placement", lang.T("placement.sign.title"),
		placementTitles("placement.sign.title"))
	if err != nil {
		return r, err
	}
	// The signer's inbox (inbox.go): an item of the portal's main menu and a tab of the deal card.
	for _, code := range []string{PlacementLeftMenu, PlacementDealTab} {
		if _, err := in.Bitrix.BindPlacement(ctx, memberID, code, base+InboxPath, lang.T("inbox.menu.title"), placementTitles("inbox.menu.title")); err != nil {
			return r, fmt.Errorf("binding the inbox to %s: %w", code, err)
		}
	}
	// The route page (routepage.go, issue 20) beside it.
	for _, code := range []string{PlacementLeftMenu, PlacementDealTab} {
		if _, err := in.Bitrix.BindPlacement(ctx, memberID, code, base+RoutesPath, lang.T("routes.menu.title"), placementTitles("routes.menu.title")); err != nil {
			return r, fmt.Errorf("binding the route page to %s: %w", code, err)
		}
	}
	return r, nil
}

// portalLanguage is the Localizer of the portal's recorded language (portals.Portal.Language); English
// when the portal or its language is not known.
func (in *Intake) portalLanguage(ctx context.Context, memberID string) *i18n.Localizer {
	if in.Portals != nil {
		if p, _, err := in.Portals.Get(ctx, memberID); err == nil {
			return i18n.For(i18n.FromBitrix24(p.Language))
		}
	}
	return i18n.For(i18n.Fallback)
}

// InstallProver asks a portal, at its registered address, whose access token an install carries
// (bitrix24.Client.ProveInstaller).
type InstallProver interface {
	ProveInstaller(ctx context.Context, base *url.URL, accessToken string) (bitrix24.Installer, error)
}

// DefaultInstallWindow is how long after the installation page proved a portal a token-less
// ONAPPINSTALL may bring its application_token (docs/security/portal.md).
const DefaultInstallWindow = 10 * time.Minute

var defaultProver = sync.OnceValue(func() *bitrix24.Client { return bitrix24.NewClient(bitrix24.ClientConfig{}, nil) })

func (in *Intake) prover() InstallProver {
	if in.Prover != nil {
		return in.Prover
	}
	if p, ok := in.Bitrix.(InstallProver); ok {
		return p
	}
	return defaultProver()
}

func (in *Intake) installWindow() time.Duration {
	if in.InstallWindow > 0 {
		return in.InstallWindow
	}
	return DefaultInstallWindow
}

//go:embed templates/install.html
var installFS embed.FS

// installPageTmpl's T and lang are placeholders: writeInstallPage gives a clone the reader's.
var installPageTmpl = template.Must(template.New("install.html").Funcs(template.FuncMap{
	"T": func(key string, args ...any) string { return key }, "lang": func() string { return "en" },
}).ParseFS(installFS, "templates/install.html"))

// handleInstall is the install URL of the application (issue 15, found 1). It takes the three things
// Bitrix24 sends there: the installation page opened by an administrator inside the portal (a form
// with AUTH_ID), ONAPPINSTALL (with or without tokens) and ONAPPUNINSTALL. None of them is believed
// because of what it says: member_id and domain are not secret. An install is accepted only
//   - with the application_token already stored for that member_id, or
//   - with an access token that the portal itself, asked at its registered address (bitrix24.portals,
//     or the stored record; never a URL from the request), confirms as an administrator's token of this
//     application (app.info, user.admin, user.current), or
//   - token-less, to complete a first install: when the installation page proved the portal less than
//     InstallWindow ago and no application_token is stored yet.
//
// An uninstall needs the stored application_token. What remains possible is written down in
// docs/security/portal.md.
func (in *Intake) handleInstall(w http.ResponseWriter, r *http.Request) {
	ev, page, err := bitrix24.ParseInstallRequest(r)
	if err != nil {
		in.Log.Warn("install request refused: malformed", zap.Error(err))
		reply(w, http.StatusBadRequest, answer{Status: "refused", Error: err.Error()})
		return
	}
	memberID := ""
	if page != nil {
		memberID = page.Auth.MemberID
	} else {
		memberID = ev.Auth.MemberID
	}
	if auditMemberID(memberID) != memberID {
		in.Log.Warn("install request refused: member_id is not a Bitrix24 member_id", zap.Int("length", len(memberID)))
		reply(w, http.StatusBadRequest, answer{Status: "refused", Error: "member_id is not a Bitrix24 member_id"})
		return
	}
	if page != nil {
		in.handleInstallPage(w, r, page)
		return
	}
	log := in.Log.With(zap.String("member_id", ev.Auth.MemberID), zap.String("domain", ev.Auth.Domain), zap.String("event", ev.Event),
		zap.Bool("tokens", ev.HasTokens()))
	if ev.Event == bitrix24.EventAppUninstall {
		in.handleUninstall(w, r, ev, log)
		return
	}
	ctx := r.Context()
	refuse := func(status int, reason string) {
		log.Warn("install refused: " + reason)
		in.record(ctx, contracts.AuditEvent{Action: contracts.AuditRequestRefused, Portal: auditMemberID(ev.Auth.MemberID), Outcome: contracts.AuditRefused,
			Reason: "ONAPPINSTALL: " + reason})
		reply(w, status, answer{Status: "refused", Error: reason})
	}
	existing, rev, origin, status, reason := in.installTarget(ctx, ev.Auth.MemberID, ev.Auth.Domain)
	if status != 0 {
		if status == http.StatusServiceUnavailable {
			log.Error("install: " + reason)
			reply(w, status, answer{Status: "error", Error: reason})
			return
		}
		refuse(status, reason)
		return
	}
	now := in.now().UTC()
	p := portals.Portal{Installed: now}
	if existing != nil {
		p = *existing
	}
	p.Updated = now
	p.Auth.MemberID, p.Auth.Domain, p.Auth.ClientEndpoint = ev.Auth.MemberID, origin.Host, origin.String()+"/rest/"
	switch {
	case ev.HasTokens():
		inst, err := in.prover().ProveInstaller(ctx, origin, ev.Auth.AccessToken)
		if err != nil {
			if errors.Is(err, bitrix24.ErrNotProven) {
				refuse(http.StatusUnauthorized, "the portal did not confirm the install's access token: "+err.Error())
				return
			}
			log.Warn("install: the portal could not be asked; Bitrix24 or the administrator may retry", zap.Error(err))
			reply(w, http.StatusServiceUnavailable, answer{Status: "error", Error: "the portal could not be asked to confirm the install; try again"})
			return
		}
		a := ev.Auth
		p.Auth.AccessToken, p.Auth.RefreshToken, p.Auth.Expires, p.Auth.Scope, p.Auth.Status = a.AccessToken, a.RefreshToken, a.Expires, a.Scope, a.Status
		p.Auth.ServerEndpoint, p.Auth.UserID = a.ServerEndpoint, inst.UserID
		p.Install.Proven = now
		p.Install.TokenSource, p.Install.TokenSet = portals.TokenProven, now
	case existing != nil && bitrix24.VerifyApplicationToken(existing.Auth.ApplicationToken, ev.Auth.ApplicationToken):
		// The stored shared secret: a repeated event or an application update. Nothing changes.
	case existing != nil && existing.Auth.ApplicationToken == "" && !existing.Install.Proven.IsZero() && now.Sub(existing.Install.Proven) <= in.installWindow():
		p.Install.TokenSource, p.Install.TokenSet = portals.TokenWindow, now
	case existing != nil && existing.Install.TokenSource == portals.TokenWindow && now.Sub(existing.Install.TokenSet) <= in.installWindow():
		// Two different application_tokens, neither proven, for one install: one of them is forged and
		// nothing tells which. Keep neither; an administrator reopens the application in the portal.
		p.Auth.ApplicationToken, p.Install.TokenSource, p.Install.TokenSet = "", "", time.Time{}
		p.Install.Proven = time.Time{}
		if err := in.Portals.Store(ctx, p, rev); err != nil {
			reply(w, http.StatusServiceUnavailable, answer{Status: "error", Error: "portal registry unavailable; try again"})
			return
		}
		log.Error("ALERT: two different application_tokens arrived for one install of the portal; both discarded, robot calls are refused " +
			"until an administrator opens Signet in the portal again (installation page)")
		refuse(http.StatusConflict, "conflicting install events for this portal; an administrator must open the Signet application in the portal again")
		return
	case existing == nil:
		refuse(http.StatusUnauthorized, "unknown portal and no proof: an administrator opens the Signet application in the portal (installation page) to install it")
		return
	default:
		refuse(http.StatusUnauthorized, "the portal is already installed and this event carries neither its stored application_token nor tokens the portal confirms")
		return
	}
	p.Auth.ApplicationToken = ev.Auth.ApplicationToken
	if ev.Language != "" { // the portal's language (reference §9.2 data[LANGUAGE_ID]); stored as sent, read by i18n.FromBitrix24
		p.Language = ev.Language
	}
	if err := in.Portals.Store(ctx, p, rev); err != nil {
		log.Error("install: could not store the portal", zap.Error(err))
		reply(w, http.StatusServiceUnavailable, answer{Status: "error", Error: "portal registry unavailable; try again"})
		return
	}
	log.Info("portal installed", zap.String("token_source", p.Install.TokenSource), zap.Int("installer", p.Auth.UserID))
	in.record(ctx, contracts.AuditEvent{Action: contracts.AuditAdminChange, Portal: p.Auth.MemberID, Outcome: contracts.AuditOK,
		Detail: "ONAPPINSTALL for " + p.Auth.Domain + ", application_token " + p.Install.TokenSource})
	if msg := in.registerAfterInstall(ctx, log, p); msg != "" {
		reply(w, http.StatusOK, answer{Status: "installed", Error: msg})
		return
	}
	reply(w, http.StatusOK, answer{Status: "installed"})
}

// installTarget finds what an install request may touch: the stored portal of memberID (nil if none)
// with its revision, and the registered origin to ask. A known member_id keeps its stored domain (a
// different one in the request is refused: a renamed portal is moved by an administrator); a new one
// must be on a domain of bitrix24.portals that no other member_id holds. status is 0 when allowed.
func (in *Intake) installTarget(ctx context.Context, memberID, domain string) (existing *portals.Portal, rev uint64, origin *url.URL, status int, reason string) {
	existing, rev, err := in.Portals.Get(ctx, memberID)
	switch {
	case errors.Is(err, portals.ErrUnknownPortal):
		existing = nil
	case err != nil:
		return nil, 0, nil, http.StatusServiceUnavailable, "portal registry unavailable; try again"
	}
	if existing != nil {
		if !strings.EqualFold(existing.Auth.Domain, domain) {
			return nil, 0, nil, http.StatusConflict, fmt.Sprintf("portal %s is registered at %s, not %s; if it was renamed, an operator runs `signet admin bitrix24 move`",
				memberID, existing.Auth.Domain, domain)
		}
		domain = existing.Auth.Domain
	}
	origin, ok := in.portalOrigin(ctx, domain)
	if !ok {
		return nil, 0, nil, http.StatusForbidden, "portal " + domain + " is not allowed to install Signet; add it: `signet admin bitrix24 add " + domain + "` (or bitrix24.portals)"
	}
	if existing == nil {
		other, err := in.Portals.ByDomain(ctx, origin.Host)
		switch {
		case err == nil:
			return nil, 0, nil, http.StatusConflict, fmt.Sprintf("domain %s is installed as another portal (member_id %s); uninstall that first", origin.Host, other.Auth.MemberID)
		case !errors.Is(err, portals.ErrUnknownPortal):
			return nil, 0, nil, http.StatusServiceUnavailable, "portal registry unavailable; try again"
		}
	}
	return existing, rev, origin, 0, ""
}

// handleInstallPage is the installation page: the administrator's AUTH_ID is confirmed by the portal
// at its registered address; the portal is stored with those tokens (and APPLICATION_TOKEN when the
// portal sends one), the robot is registered with the administrator as AUTH_USER_ID, and the page ends
// with BX24.installFinish(), after which Bitrix24 sends ONAPPINSTALL.
func (in *Intake) handleInstallPage(w http.ResponseWriter, r *http.Request, page *bitrix24.InstallPage) {
	ctx := r.Context()
	log := in.Log.With(zap.String("member_id", page.Auth.MemberID), zap.String("domain", page.Auth.Domain), zap.String("event", "installation page"))
	fail := func(status int, reason string) {
		if status == http.StatusServiceUnavailable {
			log.Warn("installation page: " + reason)
		} else {
			log.Warn("installation page refused: " + reason)
			in.record(ctx, contracts.AuditEvent{Action: contracts.AuditRequestRefused, Portal: auditMemberID(page.Auth.MemberID), Outcome: contracts.AuditRefused,
				Reason: "installation page: " + reason})
		}
		in.writeInstallPage(w, status, installView{Error: reason, Lang: page.Lang}, "")
	}
	existing, rev, origin, status, reason := in.installTarget(ctx, page.Auth.MemberID, page.Auth.Domain)
	if status != 0 {
		fail(status, reason)
		return
	}
	// The same URL is the application's page in the portal's menu: a user opening an installed Signet
	// (the form carries the stored APPLICATION_TOKEN) sees that it is installed; nothing changes.
	if existing != nil && bitrix24.VerifyApplicationToken(existing.Auth.ApplicationToken, page.Auth.ApplicationToken) {
		in.writeInstallPage(w, http.StatusOK, installView{Finish: true, Domain: existing.Auth.Domain, Lang: page.Lang}, origin.String())
		return
	}
	inst, err := in.prover().ProveInstaller(ctx, origin, page.Auth.AccessToken)
	if err != nil {
		if errors.Is(err, bitrix24.ErrNotProven) {
			msg := "The portal did not confirm you as its administrator: " + err.Error()
			if existing != nil && existing.Auth.ApplicationToken != "" {
				msg = "Signet is installed on this portal; only a portal administrator can install it again. (" + err.Error() + ")"
			}
			fail(http.StatusForbidden, msg)
			return
		}
		log.Warn("installation page: the portal could not be asked", zap.Error(err))
		fail(http.StatusServiceUnavailable, "The portal could not be asked to confirm the installation. Reload this page to try again.")
		return
	}
	now := in.now().UTC()
	p := portals.Portal{Installed: now}
	if existing != nil {
		p = *existing
	}
	a := page.Auth
	p.Updated = now
	p.Auth.MemberID, p.Auth.Domain, p.Auth.ClientEndpoint = a.MemberID, origin.Host, origin.String()+"/rest/"
	p.Auth.AccessToken, p.Auth.RefreshToken, p.Auth.Expires, p.Auth.UserID = a.AccessToken, a.RefreshToken, a.Expires, inst.UserID
	if a.Scope != "" {
		p.Auth.Scope = a.Scope
	}
	if a.Status != "" {
		p.Auth.Status = a.Status
	}
	p.Install.Proven = now
	if p.Language == "" { // until ONAPPINSTALL brings LANGUAGE_ID: the installing administrator's LANG
		p.Language = page.Lang
	}
	if a.ApplicationToken != "" { // sent in the same proven request
		p.Auth.ApplicationToken = a.ApplicationToken
		p.Install.TokenSource, p.Install.TokenSet = portals.TokenProven, now
	}
	if err := in.Portals.Store(ctx, p, rev); err != nil {
		log.Error("installation page: could not store the portal", zap.Error(err))
		fail(http.StatusServiceUnavailable, "Signet could not store the installation. Reload this page to try again.")
		return
	}
	log.Info("portal proven by the installation page", zap.Int("installer", inst.UserID), zap.Bool("application_token", a.ApplicationToken != ""))
	in.record(ctx, contracts.AuditEvent{Action: contracts.AuditAdminChange, Portal: p.Auth.MemberID, Outcome: contracts.AuditOK,
		Detail: fmt.Sprintf("installation page on %s by administrator %d", p.Auth.Domain, inst.UserID)})
	warning := in.registerAfterInstall(ctx, log, p)
	in.writeInstallPage(w, http.StatusOK, installView{Finish: true, Domain: p.Auth.Domain, Warning: warning, Lang: page.Lang}, origin.String())
}

type installView struct {
	Finish          bool
	Domain, Warning string
	Error           string
	Nonce           string
	// Lang is LANG of the installation request: the page is in the installing administrator's
	// language (i18n.FromBitrix24).
	Lang string
}

// writeInstallPage serves the installation page: HTML of Signet's own, framed by the portal only; the
// one outside script is Bitrix24's BX24 library (//api.bitrix24.com/api/v1/), which installFinish needs.
func (in *Intake) writeInstallPage(w http.ResponseWriter, status int, v installView, ancestor string) {
	v.Nonce = randomHex(16)
	var buf bytes.Buffer
	l := i18n.For(i18n.FromBitrix24(v.Lang))
	t, err := installPageTmpl.Clone()
	if err == nil {
		err = t.Funcs(template.FuncMap{"T": l.T, "lang": l.Code}).Execute(&buf, v)
	}
	if err != nil {
		in.Log.Error("installation page: rendering", zap.Error(err))
		http.Error(w, "the installation page could not be rendered", http.StatusInternalServerError)
		return
	}
	if ancestor == "" {
		ancestor = "'none'"
	}
	writeFramedPage(w, status, "default-src 'none'; script-src 'nonce-"+v.Nonce+"' https://api.bitrix24.com; style-src 'nonce-"+v.Nonce+
		"'; form-action 'none'; base-uri 'none'; frame-ancestors "+ancestor, "", buf.Bytes())
}

// registerAfterInstall registers the robot and the Sign button with the proven installer as the robot's
// AUTH_USER_ID; a failure is logged and returned as words for the answer (`signet admin bitrix24
// register` repeats it).
func (in *Intake) registerAfterInstall(ctx context.Context, log *zap.Logger, p portals.Portal) string {
	if in.Bitrix == nil || (p.Auth.AccessToken == "" && p.Auth.RefreshToken == "") {
		return ""
	}
	reg, err := in.Register(ctx, p.Auth.MemberID, p.Auth.UserID)
	if err != nil {
		log.Error("install: registering the robot and the Sign button failed; run `signet admin bitrix24 register`", zap.Error(err))
		return "robot or Sign button not registered: " + err.Error() + "; run `signet admin bitrix24 register`"
	}
	log.Info("robot and Sign button registered", zap.Bool("robot_added", reg.RobotAdded), zap.Bool("placement_bound", reg.PlacementBound),
		zap.Int("auth_user_id", p.Auth.UserID))
	return ""
}

// ConfirmApplicationToken closes the gap a token-less ONAPPINSTALL leaves (docs/security/portal.md):
// while a portal's application_token is only TokenWindow (accepted because it came soon after the
// installation page, not because anything proved it), a robot or placement call is accepted only if
// it also carries an access token that the portal, asked at its registered address, answers as an
// administrator's of this application (robot calls carry the installing administrator's, the robot's
// AUTH_USER_ID). The first such call confirms the token (TokenProven). It returns nil for a portal already proven,
// ErrNotProven-wrapped errors for a call to refuse (401), others for a transient fault (503).
// The caller has already compared a.ApplicationToken with the stored one.
func (in *Intake) ConfirmApplicationToken(ctx context.Context, p *portals.Portal, a bitrix24.Auth) error {
	if p.Install.TokenSource != portals.TokenWindow {
		return nil
	}
	origin, ok := in.portalOrigin(ctx, p.Auth.Domain)
	if !ok {
		return fmt.Errorf("%w: portal %s is no longer among the allowed portals", bitrix24.ErrNotProven, p.Auth.Domain)
	}
	if _, err := in.prover().ProveInstaller(ctx, origin, a.AccessToken); err != nil {
		return err
	}
	cur, rev, err := in.Portals.Get(ctx, p.Auth.MemberID)
	if err != nil {
		return err
	}
	if !bitrix24.VerifyApplicationToken(cur.Auth.ApplicationToken, a.ApplicationToken) {
		return fmt.Errorf("%w: the portal's application_token changed meanwhile", bitrix24.ErrNotProven)
	}
	if cur.Install.TokenSource == portals.TokenWindow {
		cur.Install.TokenSource, cur.Install.TokenSet = portals.TokenProven, in.now().UTC()
		if err := in.Portals.Store(ctx, *cur, rev); err != nil {
			return err
		}
		in.Log.Info("application_token of a token-less install confirmed by a call of the installing administrator",
			zap.String("member_id", cur.Auth.MemberID))
	}
	p.Install = cur.Install
	return nil
}

// handleUninstall removes the portal when ONAPPUNINSTALL carries the stored application_token, its
// only proof (reference §4.1).
func (in *Intake) handleUninstall(w http.ResponseWriter, r *http.Request, ev *bitrix24.InstallEvent, log *zap.Logger) {
	ctx := r.Context()
	p, _, err := in.Portals.Get(ctx, ev.Auth.MemberID)
	if err != nil && !errors.Is(err, portals.ErrUnknownPortal) {
		log.Error("uninstall: portal registry unavailable", zap.Error(err))
		reply(w, http.StatusServiceUnavailable, answer{Status: "error", Error: "portal registry unavailable; try again"})
		return
	}
	if err != nil || !bitrix24.VerifyApplicationToken(p.Auth.ApplicationToken, ev.Auth.ApplicationToken) {
		log.Warn("uninstall refused: unknown portal or wrong application_token")
		in.record(ctx, contracts.AuditEvent{Action: contracts.AuditRequestRefused, Portal: auditMemberID(ev.Auth.MemberID), Outcome: contracts.AuditRefused,
			Reason: "ONAPPUNINSTALL: unknown portal or wrong application_token"})
		reply(w, http.StatusUnauthorized, answer{Status: "refused", Error: "unknown portal or wrong application_token"})
		return
	}
	if err := in.Portals.Delete(ctx, ev.Auth.MemberID); err != nil {
		reply(w, http.StatusServiceUnavailable, answer{Status: "error", Error: "portal registry unavailable"})
		return
	}
	log.Info("portal uninstalled; its tokens are deleted")
	in.record(ctx, contracts.AuditEvent{Action: contracts.AuditAdminChange, Portal: ev.Auth.MemberID, Outcome: contracts.AuditOK,
		Detail: "ONAPPUNINSTALL: portal removed"})
	reply(w, http.StatusOK, answer{Status: "uninstalled"})
}

// portalOrigin is scheme://host of an allowed portal: in Domains, or among the allowed portals every
// intake shares (portals.Registry.AllowedDomains: added and removed at run time, issue 21 must 4). An
// entry is a host ("acme.bitrix24.ru": https) or, for an on-premise portal without TLS and the
// emulator, "http://host:port" written out: plain http is never assumed. A registry that cannot be
// read allows nothing more than Domains (fail closed).
func (in *Intake) portalOrigin(ctx context.Context, domain string) (*url.URL, bool) {
	if u, ok := PortalOrigin(in.Domains, domain); ok || in.Portals == nil {
		return u, ok
	}
	shared, err := in.Portals.AllowedDomains(ctx)
	if err != nil && in.Log != nil {
		in.Log.Warn("allowed portals unavailable; only bitrix24.portals is allowed", zap.Error(err))
	}
	return PortalOrigin(shared, domain)
}

// PortalOrigin finds domain among the entries of bitrix24.portals (see Intake.portalOrigin).
func PortalOrigin(entries []string, domain string) (*url.URL, bool) {
	if domain == "" {
		return nil, false
	}
	for _, e := range entries {
		e = strings.TrimSpace(e)
		scheme, host := "https", e
		if u, err := url.Parse(e); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
			scheme, host = u.Scheme, u.Host
		}
		if strings.EqualFold(host, domain) {
			return &url.URL{Scheme: scheme, Host: strings.ToLower(host)}, true
		}
	}
	return nil, false
}

// auditMemberID bounds a member_id taken from a refused request before it reaches the audit trail:
// Bitrix24's are 32 hex digits; anything else is recorded as "(invalid)".
func auditMemberID(id string) string {
	if len(id) == 0 || len(id) > 64 || strings.IndexFunc(id, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	}) >= 0 {
		return "(invalid)"
	}
	return id
}
