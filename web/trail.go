package web

import (
	"context"
	"html/template"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/audit"
)

// TrailPage serves GET /verify/{id}: what the audit trail recorded for one document (its job id), the
// page the QR code of a self-proving document links to. It is public: it shows what the document
// itself already shows (signer, certificate, hashes, time) and nothing of the portal, the token or
// the reasons a request was refused. With ?sha256=<hex> it also says whether a file with that hash
// is the signed document or its original.
//
// Holding one document's id must not show another's: every id is unguessable from the others (robot:
// a hash of the portal's signed event_token; Sign dialog: of a 128-bit random nonce; batch: a tag
// under the batch's secret key), so the page needs no further check (docs/security/ids.md).
func TrailPage(js jetstream.JetStream, stream string, log *zap.Logger) http.Handler {
	if stream == "" {
		stream = contracts.StreamAudit
	}
	if log == nil {
		log = zap.NewNop()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		w.Header().Set("Cache-Control", "no-store")
		if !validDocumentID.MatchString(id) {
			w.WriteHeader(http.StatusNotFound)
			_ = execTrail(w, r, trailData{ID: id, Status: "unknown"})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		events, err := audit.Story(ctx, js, stream, id)
		if err != nil {
			log.Error("verification page: reading the audit trail", zap.String("document_id", id), zap.Error(err))
			http.Error(w, localizer(r).T("web.trail.unavailable"), http.StatusServiceUnavailable)
			return
		}
		d := summariseTrail(id, events)
		if sum := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("sha256"))); sum != "" {
			d.Checked = sum
			switch {
			case d.Signed != nil && sum == d.Signed.SHA256After:
				d.Match = "web.trail.match.signed"
			case d.Signed != nil && sum == d.Signed.SHA256Before:
				d.Match = "web.trail.match.original"
			default:
				d.Match = "web.trail.match.neither"
				d.Mismatch = true
			}
		}
		if len(events) == 0 {
			w.WriteHeader(http.StatusNotFound)
		}
		if err := execTrail(w, r, d); err != nil {
			log.Warn("verification page", zap.Error(err))
		}
	})
}

// validDocumentID: a job id of letters, digits, '-' and '_' (robot, Sign dialog), or a batch document's
// "<batch>.<n>-<tag>" (producer/batch JobID). A batch id without its 128-bit tag — "<batch>.<n>", the
// ids of batches recorded before the tag existed — is not looked up: those would name every document of
// their batch.
var validDocumentID = regexp.MustCompile(`^(?:[A-Za-z0-9_-]{1,128}|[A-Za-z0-9_-]{1,64}\.[0-9]{1,9}-[0-9a-f]{32})$`)

type trailStep struct {
	Time    time.Time
	What    string // a catalogue key (web.trail.step.…) when Known, else the action as recorded
	Known   bool
	EventID string
}

type trailData struct {
	ID       string
	Status   string // signed, failed, pending, unknown
	Signed   *contracts.AuditEvent
	Steps    []trailStep
	Checked  string
	Match    string // a catalogue key: web.trail.match.…
	Mismatch bool
	Switch   []langLink
}

// trailStepNames are the catalogue keys of the public words for each action.
var trailStepNames = map[string]string{
	contracts.AuditRequestAccepted: "web.trail.step.accepted",
	contracts.AuditRequestRefused:  "web.trail.step.refused",
	contracts.AuditOTPVerified:     "web.trail.step.otpVerified",
	contracts.AuditOTPNotRequired:  "web.trail.step.otpNotRequired",
	contracts.AuditOTPFailed:       "web.trail.step.otpFailed",
	contracts.AuditOTPLockout:      "web.trail.step.lockout",
	contracts.AuditGrantUsed:       "web.trail.step.grant",
	contracts.AuditJobSigned:       "web.trail.step.signed",
	contracts.AuditJobStored:       "web.trail.step.stored",
	contracts.AuditJobFailed:       "web.trail.step.failed",
	contracts.AuditJobDead:         "web.trail.step.dead",
	contracts.AuditCalledBack:      "web.trail.step.calledBack",
	contracts.AuditCallbackFailed:  "web.trail.step.callbackFailed",
}

func summariseTrail(id string, events []*contracts.AuditEvent) trailData {
	d := trailData{ID: id, Status: "unknown"}
	for _, e := range events {
		name, ok := trailStepNames[e.Action]
		if !ok {
			name = e.Action
		}
		d.Steps = append(d.Steps, trailStep{Time: e.Time, What: name, Known: ok, EventID: e.ID})
		switch e.Action {
		case contracts.AuditJobSigned:
			d.Signed, d.Status = e, "signed"
		case contracts.AuditJobFailed, contracts.AuditJobDead, contracts.AuditRequestRefused:
			if d.Signed == nil {
				d.Status = "failed"
			}
		default:
			if d.Status == "unknown" {
				d.Status = "pending"
			}
		}
	}
	return d
}

// trailTmpl stands alone: whoever scans a document's QR code has no session and needs no menu.
var trailTmpl = template.Must(template.New("trail.html").Funcs(baseLangFuncs).Funcs(funcs).ParseFS(files, "templates/trail.html", "templates/langswitch.html"))

// execTrail writes the page in the reader's language (the lang cookie, else Accept-Language), with
// the language switch back to this page.
func execTrail(w http.ResponseWriter, r *http.Request, d trailData) error {
	l := localizer(r)
	d.Switch = langSwitch(l, r.URL.RequestURI())
	t, err := inLanguage(trailTmpl, l, viewerZone(r))
	if err != nil {
		return err
	}
	return t.Execute(w, d)
}
