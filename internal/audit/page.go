package audit

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
)

// Page serves GET /verify/{id}: what the audit trail recorded for one document (its job id), the
// page the QR code of a self-proving document links to. It is public: it shows what the document
// itself already shows (signer, certificate, hashes, time) and nothing of the portal, the token or
// the reasons a request was refused. With ?sha256=<hex> it also says whether a file with that hash
// is the signed document or its original.
//
// Holding one document's id must not show another's: every id is unguessable from the others (robot:
// a hash of the portal's signed event_token; Sign dialog: of a 128-bit random nonce; batch: a tag
// under the batch's secret key), so the page needs no further check (docs/security/ids.md).
func Page(js jetstream.JetStream, stream string, log *zap.Logger) http.Handler {
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
		if !validID.MatchString(id) {
			w.WriteHeader(http.StatusNotFound)
			pageTmpl.Execute(w, pageData{ID: id, Status: "unknown"})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		events, err := Story(ctx, js, stream, id)
		if err != nil {
			log.Error("verification page: reading the audit trail", zap.String("document_id", id), zap.Error(err))
			http.Error(w, "the audit trail is unavailable; try again in a minute", http.StatusServiceUnavailable)
			return
		}
		d := summarise(id, events)
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
		if err := pageTmpl.Execute(w, d); err != nil {
			log.Warn("verification page", zap.Error(err))
		}
	})
}

// validID: a job id of letters, digits, '-' and '_' (robot, Sign dialog), or a batch document's
// "<batch>.<n>-<tag>" (producer/batch JobID). A batch id without its 128-bit tag — "<batch>.<n>", the
// ids of batches recorded before the tag existed — is not looked up: those would name every document of
// their batch.
var validID = regexp.MustCompile(`^(?:[A-Za-z0-9_-]{1,128}|[A-Za-z0-9_-]{1,64}\.[0-9]{1,9}-[0-9a-f]{32})$`)

type pageStep struct {
	Time    string
	What    string
	EventID string
}

type pageData struct {
	ID       string
	Status   string // signed, failed, pending, unknown
	Signed   *contracts.AuditEvent
	Steps    []pageStep
	Checked  string
	Match    string
	Mismatch bool
}

// stepNames are the public words for each action.
var stepNames = map[string]string{
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

func summarise(id string, events []*contracts.AuditEvent) pageData {
	d := pageData{ID: id, Status: "unknown"}
	for _, e := range events {
		name, ok := stepNames[e.Action]
		if !ok {
			name = e.Action
		}
		d.Steps = append(d.Steps, pageStep{Time: e.Time.UTC().Format("2006-01-02 15:04:05 UTC"), What: name, EventID: e.ID})
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

var pageTmpl = template.Must(template.New("verify").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Signet · document {{.ID}}</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem}.status{padding:.8rem 1rem;border-radius:.4rem;font-weight:600}
.signed{background:#e3f4e1;color:#1d5c19}.failed{background:#fbe4e4;color:#8a1f1f}
.pending,.unknown{background:#eee;color:#444}dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}
dt{color:#666}dd{margin:0;word-break:break-all}code{font-size:.9em}table{border-collapse:collapse;width:100%}
td,th{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #ddd;font-size:.9rem}.mismatch{color:#8a1f1f;font-weight:600}
</style></head><body>
<h1>Document <code>{{.ID}}</code></h1>
{{if eq .Status "signed"}}<p class="status signed">Signed by Signet{{with .Signed}} on {{.Time.UTC.Format "2006-01-02 15:04:05"}} UTC{{end}}.</p>
{{else if eq .Status "failed"}}<p class="status failed">Signet did not sign this document.</p>
{{else if eq .Status "pending"}}<p class="status pending">Signet accepted this document; it is not signed yet.</p>
{{else}}<p class="status unknown">Signet has no record of a document with this id. Check the id printed in the grey stripe of the document.</p>{{end}}
{{with .Signed}}<dl>
<dt>Signer</dt><dd>{{.Login}}</dd>
<dt>Certificate</dt><dd>{{.CertSubject}}</dd>
<dt>Certificate serial</dt><dd><code>{{.CertSerial}}</code></dd>
<dt>SHA-256 of the original</dt><dd><code>{{.SHA256Before}}</code></dd>
<dt>SHA-256 of the signed document</dt><dd><code>{{.SHA256After}}</code></dd>
<dt>Audit event</dt><dd><code>{{.ID}}</code></dd>
</dl>{{end}}
{{if .Match}}<p{{if .Mismatch}} class="mismatch"{{end}}>SHA-256 <code>{{.Checked}}</code>: {{.Match}}</p>{{end}}
{{if .Signed}}<form method="get"><p><label>Check a file: paste its SHA-256 (<code>sha256sum file.pdf</code>)<br>
<input name="sha256" size="70" pattern="[0-9a-fA-F]{64}" required></label> <button>Check</button></p></form>{{end}}
{{if .Steps}}<h2>What Signet recorded</h2><table><tr><th>Time</th><th>Step</th><th>Audit event</th></tr>
{{range .Steps}}<tr><td>{{.Time}}</td><td>{{.What}}</td><td><code>{{.EventID}}</code></td></tr>{{end}}</table>
<p>Each step is an event in Signet's hash-chained audit trail; the operator checks the whole trail with <code>signet audit verify</code>.</p>{{end}}
</body></html>
`))
