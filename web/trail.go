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
			trailTmpl.Execute(w, trailData{ID: id, Status: "unknown"})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		events, err := audit.Story(ctx, js, stream, id)
		if err != nil {
			log.Error("verification page: reading the audit trail", zap.String("document_id", id), zap.Error(err))
			http.Error(w, "the audit trail is unavailable; try again in a minute", http.StatusServiceUnavailable)
			return
		}
		d := summariseTrail(id, events)
		if sum := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("sha256"))); sum != "" {
			d.Checked = sum
			switch {
			case d.Signed != nil && sum == d.Signed.SHA256After:
				d.Match = "This is the signed document as Signet stored it."
			case d.Signed != nil && sum == d.Signed.SHA256Before:
				d.Match = "This is the original, before Signet prepared and signed it."
			default:
				d.Match = "This file is neither the signed document nor its original."
				d.Mismatch = true
			}
		}
		if len(events) == 0 {
			w.WriteHeader(http.StatusNotFound)
		}
		if err := trailTmpl.Execute(w, d); err != nil {
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
	Time    string
	What    string
	EventID string
}

type trailData struct {
	ID       string
	Status   string // signed, failed, pending, unknown
	Signed   *contracts.AuditEvent
	Steps    []trailStep
	Checked  string
	Match    string
	Mismatch bool
}

// trailStepNames are the public words for each action.
var trailStepNames = map[string]string{
	contracts.AuditRequestAccepted: "Request accepted",
	contracts.AuditRequestRefused:  "Request refused",
	contracts.AuditOTPVerified:     "One-time password verified",
	contracts.AuditOTPNotRequired:  "Signed without a one-time password (not required for this signer)",
	contracts.AuditOTPFailed:       "One-time password rejected",
	contracts.AuditOTPLockout:      "Signer locked out after wrong one-time passwords",
	contracts.AuditGrantUsed:       "Authorised by the signer's batch grant",
	contracts.AuditJobSigned:       "Signed",
	contracts.AuditJobStored:       "Signed document stored",
	contracts.AuditJobFailed:       "Signing failed",
	contracts.AuditJobDead:         "Given up",
	contracts.AuditCalledBack:      "Result delivered to Bitrix24",
	contracts.AuditCallbackFailed:  "Delivery to Bitrix24 failed",
}

func summariseTrail(id string, events []*contracts.AuditEvent) trailData {
	d := trailData{ID: id, Status: "unknown"}
	for _, e := range events {
		name, ok := trailStepNames[e.Action]
		if !ok {
			name = e.Action
		}
		d.Steps = append(d.Steps, trailStep{Time: e.Time.UTC().Format("2006-01-02 15:04:05 UTC"), What: name, EventID: e.ID})
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
var trailTmpl = template.Must(template.New("trail.html").ParseFS(files, "templates/trail.html"))
