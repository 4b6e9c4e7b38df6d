package producer

import (
	"net/http"
	"net/url"
	"strings"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24"
)

// handleInstall takes ONAPPINSTALL (and the local application's installation callback, which carries the
// same auth[...] fields) and ONAPPUNINSTALL. An install is accepted only from a portal domain listed in
// bitrix24.portals whose client_endpoint is on that same domain, because the event itself proves nothing
// about who sent it; an uninstall must carry the application_token stored at install (reference §4.1).
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
