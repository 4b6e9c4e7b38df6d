package producer

import (
	"errors"
	"io"
	"mime"
	"net/http"

	"go.uber.org/zap"

	sigroutes "github.com/signet-b24/signet/producer/routes"
)

// The final document's link (issue 20, must 5): GET /routes/final/{route}/{token} gives the
// completed route's final PDF, .../certificate its sealed certificate of completion, to whoever
// holds the link mailed or notified at completion (a capability: a random token of which the route
// keeps only the hash; routes.final_link_ttl). A wrong, expired or deleted link is the same 404,
// so a guess learns nothing; the token never reaches a log.

func (in *Intake) handleRouteFinal(w http.ResponseWriter, r *http.Request) {
	in.serveRouteFinal(w, r, false)
}

func (in *Intake) handleRouteFinalCertificate(w http.ResponseWriter, r *http.Request) {
	in.serveRouteFinal(w, r, true)
}

func (in *Intake) serveRouteFinal(w http.ResponseWriter, r *http.Request, certificate bool) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if in.RouteEngine == nil {
		http.NotFound(w, r)
		return
	}
	rc, name, err := in.RouteEngine.Final(r.Context(), r.PathValue("route"), r.PathValue("token"), certificate)
	if err != nil {
		if !errors.Is(err, sigroutes.ErrLinkInvalid) {
			in.Log.Warn("route final document", zap.String("route", r.PathValue("route")), zap.Error(err))
		}
		http.Error(w, sigroutes.ErrLinkInvalid.Error(), http.StatusNotFound)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.Method == http.MethodHead {
		return
	}
	_, _ = io.Copy(w, rc)
}
