package producer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24"
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
// arrive with no access token (reference §3.1, §11).
func RobotFields(handlerURL string, authUserID int) map[string]any {
	prop := func(name, typ string, required bool, extra map[string]any) map[string]any {
		p := map[string]any{"Name": map[string]any{"en": name}, "Type": typ, "Required": yn(required), "Multiple": "N"}
		for k, v := range extra {
			p[k] = v
		}
		return p
	}
	positions := map[string]any{}
	for _, p := range Positions {
		positions[p] = strings.ReplaceAll(p, "-", " ")
	}
	if authUserID <= 0 {
		authUserID = 1
	}
	return map[string]any{
		"HANDLER":          handlerURL,
		"AUTH_USER_ID":     authUserID,
		"USE_SUBSCRIPTION": "Y",
		"NAME":             map[string]any{"en": "Sign PDF (Signet)", "ru": "Подписать PDF (Signet)"},
		"DESCRIPTION": map[string]any{"en": "Signs a PDF with a PAdES signature made on a PKCS#11 token; the signed PDF replaces the original.",
			"ru": "Подписывает PDF подписью PAdES ключом на токене PKCS#11; подписанный PDF заменяет исходный."},
		"PROPERTIES": map[string]any{
			PropDocument: prop("Document: a file, a deal file field code (UF_CRM_…) or a Disk file id", "string", true, map[string]any{
				"Description": "A file on this portal (URL or file id), UF_CRM_<code>[:<file id>] of a deal file field, or a Disk file id"}),
			PropSigner:     prop("Signer", "user", true, nil),
			PropCredential: prop("Certificate (PKCS#11 URI)", "string", true, map[string]any{"Description": "e.g. pkcs11:token=acme;object=mary-2026 — see `signet admin cert list`"}),
			PropOTP:        prop("One-time password of the signer", "string", false, nil),
			PropVisible:    prop("Visible signature", "bool", false, map[string]any{"Default": "N"}),
			PropPage:       prop("Page of the visible signature", "select", false, map[string]any{"Options": map[string]any{"first": "First page", "last": "Last page"}, "Default": "last"}),
			PropPosition:   prop("Position of the visible signature", "select", false, map[string]any{"Options": positions, "Default": "bottom-right"}),
			PropReason:     prop("Reason", "string", false, nil),
			PropEvidence: prop("Self-proving document (document id on every page, certificate of completion with a QR code)", "bool", false,
				map[string]any{"Default": "N"}),
		},
		"RETURN_PROPERTIES": map[string]any{
			"signed":             prop("Signed", "bool", false, nil),
			"signedFileUrl":      prop("Signed file URL", "string", false, nil),
			"documentSha256":     prop("SHA-256 of the signed PDF", "string", false, nil),
			"certificateSubject": prop("Certificate subject", "string", false, nil),
			"certificateSerial":  prop("Certificate serial number", "string", false, nil),
			"signedAt":           prop("Signed at (RFC 3339)", "string", false, nil),
			"errorText":          prop("Error", "text", false, nil),
		},
	}
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
	var err error
	if r.RobotAdded, err = in.Bitrix.RegisterRobot(ctx, memberID, in.RobotCode, RobotFields(base+"/bitrix24/robot", authUserID)); err != nil {
		return r, err
	}
	r.PlacementBound, err = in.Bitrix.BindPlacement(ctx, memberID, PlacementToolbar, base+"/bitrix24/placement", "Sign",
		map[string]any{"en": map[string]any{"TITLE": "Sign"}, "ru": map[string]any{"TITLE": "Подписать"}})
	return r, err
}

// handleInstall takes ONAPPINSTALL (and the local application's installation callback, which carries the
// same auth[...] fields) and ONAPPUNINSTALL. An install is accepted only from a portal domain listed in
// bitrix24.portals whose client_endpoint is on that same domain, because the event itself proves nothing
// about who sent it; an uninstall must carry the application_token stored at install (reference §4.1).
// After storing the portal (tokens sealed at rest) it registers the robot and the Sign button; a
// failed registration is logged and reported, and `signet admin bitrix24 register` repeats it.
func (in *Intake) handleInstall(w http.ResponseWriter, r *http.Request) {
	ev, err := bitrix24.ParseInstallEvent(r)
	if err != nil {
		in.Log.Warn("install event refused: malformed", zap.Error(err))
		reply(w, http.StatusBadRequest, answer{Status: "refused", Error: err.Error()})
		return
	}
	log := in.Log.With(zap.String("member_id", ev.Auth.MemberID), zap.String("domain", ev.Auth.Domain), zap.String("event", ev.Event))
	ctx := r.Context()
	if strings.EqualFold(ev.Event, bitrix24.EventAppUninstall) {
		p, _, err := in.Portals.Get(ctx, ev.Auth.MemberID)
		if err != nil || !bitrix24.VerifyApplicationToken(p.Auth.ApplicationToken, ev.Auth.ApplicationToken) {
			log.Warn("uninstall refused: unknown portal or wrong application_token")
			reply(w, http.StatusUnauthorized, answer{Status: "refused", Error: "unknown portal or wrong application_token"})
			return
		}
		if err := in.Portals.Delete(ctx, ev.Auth.MemberID); err != nil {
			reply(w, http.StatusServiceUnavailable, answer{Status: "error", Error: "portal registry unavailable"})
			return
		}
		log.Info("portal uninstalled; its tokens are deleted")
		reply(w, http.StatusOK, answer{Status: "uninstalled"})
		return
	}
	if !in.domainAllowed(ev.Auth.Domain) {
		log.Warn("install refused: domain not in bitrix24.portals")
		reply(w, http.StatusForbidden, answer{Status: "refused", Error: "portal " + ev.Auth.Domain + " is not allowed to install Signet; add it to bitrix24.portals"})
		return
	}
	if u, err := url.Parse(ev.Auth.ClientEndpoint); err != nil || !strings.EqualFold(u.Host, ev.Auth.Domain) {
		log.Warn("install refused: client_endpoint is not on the portal's domain")
		reply(w, http.StatusBadRequest, answer{Status: "refused", Error: "client_endpoint is not on the portal's domain"})
		return
	}
	if ev.Auth.ApplicationToken == "" {
		reply(w, http.StatusBadRequest, answer{Status: "refused", Error: "no application_token in the install event"})
		return
	}
	if err := in.Portals.Put(ctx, ev.Auth, in.now().UTC()); err != nil {
		log.Error("install: could not store the portal", zap.Error(err))
		reply(w, http.StatusServiceUnavailable, answer{Status: "error", Error: "portal registry unavailable"})
		return
	}
	log.Info("portal installed")
	if in.Bitrix == nil {
		reply(w, http.StatusOK, answer{Status: "installed"})
		return
	}
	reg, err := in.Register(ctx, ev.Auth.MemberID, ev.Auth.UserID)
	if err != nil {
		log.Error("install: registering the robot and the Sign button failed; run `signet admin bitrix24 register`", zap.Error(err))
		reply(w, http.StatusOK, answer{Status: "installed", Error: "robot or Sign button not registered: " + err.Error() + "; run `signet admin bitrix24 register`"})
		return
	}
	log.Info("robot and Sign button registered", zap.Bool("robot_added", reg.RobotAdded), zap.Bool("placement_bound", reg.PlacementBound))
	reply(w, http.StatusOK, answer{Status: "installed"})
}

func (in *Intake) domainAllowed(d string) bool {
	for _, a := range in.Domains {
		if strings.EqualFold(a, d) {
			return true
		}
	}
	return false
}
