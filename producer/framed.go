package producer

import (
	"net/http"

	"github.com/signet-b24/signet/bitrix24/portals"
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
