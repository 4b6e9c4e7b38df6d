package ops

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/queue"
	"github.com/signet-b24/signet/internal/routes"
)

// Token is one PKCS#11 token's state as the page shows it.
type Token struct {
	Name          string
	Online        bool
	Err           string
	SessionsInUse int
	MaxSessions   int
}

// SignedLookup says whether a job already has a stored result (worker.Results.Signed): such a job is
// not put back on SIGN by a retry, as `signet dlq retry` does.
type SignedLookup func(ctx context.Context, jobID string) (bool, error)

// Page is the operator dashboard.
type Page struct {
	JS     jetstream.JetStream
	Ring   *Ring
	Tokens func() []Token // nil in a process without tokens (intake only)
	Signed SignedLookup   // nil: retry without the check
	// Metrics is where this process serves /metrics (metrics.listen), "" when it serves none. It is
	// text, not a link: that listener is apart from the public one, usually on loopback, so the
	// administrator's browser cannot follow a link to it (issue 15, must 9).
	Metrics string
	Log     *zap.Logger

	csrf string
}

// Routes mounts GET /ops and POST /ops/dead/{seq}/retry behind guard (the administrator check).
func (p *Page) Routes(mux routes.Mux, guard func(http.Handler) http.Handler) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	p.csrf = hex.EncodeToString(b)
	if p.Log == nil {
		p.Log = zap.NewNop()
	}
	mux.Handle("GET /ops", guard(http.HandlerFunc(p.show)))
	mux.Handle("POST /ops/dead/{seq}/retry", guard(http.HandlerFunc(p.retry)))
}

type consumerRow struct {
	Consumer
	DrainText string
}

type view struct {
	Now       time.Time
	Streams   []Stream
	Consumers []consumerRow
	Lag       template.HTML
	Rate      template.HTML
	Tokens    []Token
	HasTokens bool
	Dead      []queue.Letter
	DeadTotal int
	Flash     string
	CSRF      string
	Err       string
	Metrics   string
}

func (p *Page) show(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	v := view{Now: time.Now().UTC(), CSRF: p.csrf, Flash: r.URL.Query().Get("flash"), Metrics: p.Metrics}
	snap, err := Take(ctx, p.JS)
	if err != nil {
		v.Err = "JetStream: " + err.Error()
	} else {
		var prev *Snapshot
		if snaps := p.Ring.Snapshots(); len(snaps) > 0 {
			prev = snaps[len(snaps)-1]
		}
		snap.WithRates(prev)
		v.Streams = snap.Streams
		for _, c := range snap.Consumers {
			row := consumerRow{Consumer: c, DrainText: "—"}
			if c.Drain > 0 {
				row.DrainText = c.Drain.Round(time.Second).String()
			} else if c.NumPending == 0 && c.NumAckPending == 0 {
				row.DrainText = "empty"
			}
			v.Consumers = append(v.Consumers, row)
		}
	}
	v.Lag, v.Rate = p.charts(v.Now)
	if p.Tokens != nil {
		v.HasTokens, v.Tokens = true, p.Tokens()
	}
	letters, err := queue.ListDead(ctx, p.JS)
	if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		v.Err = joinErr(v.Err, "DEAD: "+err.Error())
	}
	v.DeadTotal = len(letters)
	slices.Reverse(letters) // newest first
	if len(letters) > 50 {
		letters = letters[:50]
	}
	v.Dead = letters
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
	w.Header().Set("Cache-Control", "no-store")
	if err := pageTmpl.Execute(w, v); err != nil {
		p.Log.Warn("rendering /ops", zap.Error(err))
	}
}

func joinErr(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// charts draws lag (pending + ack pending per consumer) and throughput (acks per second) of the last hour.
func (p *Page) charts(now time.Time) (lag, rate template.HTML) {
	snaps := p.Ring.Snapshots()
	colours := map[string]string{contracts.ConsumerSignInteractive: "#1f77b4", contracts.ConsumerSignBatch: "#ff7f0e", contracts.ConsumerCallback: "#2ca02c", contracts.ConsumerCallbackBatch: "#9467bd"}
	var lagS, rateS []Series
	for _, sc := range consumerNames {
		ls := Series{Name: sc[1], Colour: colours[sc[1]]}
		rs := Series{Name: sc[1], Colour: colours[sc[1]]}
		for i, s := range snaps {
			c := s.Consumer(sc[0], sc[1])
			if c == nil {
				continue
			}
			ls.Points = append(ls.Points, Point{s.Time, float64(c.NumPending) + float64(c.NumAckPending)})
			if i > 0 {
				rs.Points = append(rs.Points, Point{s.Time, c.Rate})
			}
		}
		lagS, rateS = append(lagS, ls), append(rateS, rs)
	}
	from := now.Add(-time.Hour)
	return chartSVG("Lag: pending + ack pending, last hour", lagS, from, now),
		chartSVG("Throughput: acknowledged per second, last hour", rateS, from, now)
}

func (p *Page) retry(w http.ResponseWriter, r *http.Request) {
	if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(p.csrf)) != 1 {
		http.Error(w, "the form expired; reload /ops and try again", http.StatusForbidden)
		return
	}
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil || seq == 0 {
		http.Error(w, "not a DEAD sequence number", http.StatusBadRequest)
		return
	}
	msg, err := Retry(r.Context(), p.JS, p.Signed, seq)
	if err != nil {
		p.Log.Warn("DEAD retry from /ops failed", zap.Uint64("seq", seq), zap.Error(err))
		msg = err.Error()
	} else {
		p.Log.Info("DEAD letter retried from /ops", zap.Uint64("seq", seq))
	}
	http.Redirect(w, r, "/ops?flash="+template.URLQueryEscaper(msg), http.StatusSeeOther)
}

// Retry puts DEAD letter seq back on its original subject, as `signet dlq retry SEQ` does: a sign job
// whose result is already stored is not signed again (the letter stays for an operator to purge).
func Retry(ctx context.Context, js jetstream.JetStream, signed SignedLookup, seq uint64) (string, error) {
	l, err := queue.GetDead(ctx, js, seq)
	if err != nil {
		return "", err
	}
	if signed != nil && l.Stream == contracts.StreamSign && l.JobID != "" {
		done, err := signed(ctx, l.JobID)
		if err != nil {
			return "", fmt.Errorf("DEAD message %d: %w", seq, err)
		}
		if done {
			return fmt.Sprintf("job %s already has a stored result; not retried (purge it with `signet dlq`)", l.JobID), nil
		}
	}
	if err := queue.Republish(ctx, js, l); err != nil {
		return "", err
	}
	return fmt.Sprintf("DEAD message %d (job %s) republished to %s", seq, l.JobID, l.Subject), nil
}

var pageTmpl = template.Must(template.New("ops").Funcs(template.FuncMap{
	"ago": func(t time.Time) string { return time.Since(t).Round(time.Second).String() },
	"mb":  func(b uint64) string { return fmt.Sprintf("%.1f MB", float64(b)/1e6) },
	"rate": func(f float64) string {
		return strconv.FormatFloat(f, 'f', 1, 64)
	},
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="15">
<title>Signet — operations</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border-bottom:1px solid #ddd;padding:.3em .8em;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.bad{color:#b00020;font-weight:bold}.ok{color:#1b5e20}
.flash{background:#fff8e1;border:1px solid #f0c36d;padding:.5em}
.err{background:#fdecea;border:1px solid #b00020;padding:.5em}
form{margin:0}
</style></head><body>
<h1>Signet operations</h1>
<p>{{.Now.Format "2006-01-02 15:04:05"}} UTC · refreshes every 15 s · {{if .Metrics}}Prometheus metrics: <code>{{.Metrics}}/metrics</code> (metrics.listen, not on this listener){{else}}Prometheus metrics off (metrics.listen){{end}} · <a href="/readyz">/readyz</a></p>
{{if .Flash}}<p class="flash">{{.Flash}}</p>{{end}}
{{if .Err}}<p class="err">{{.Err}}</p>{{end}}

<h2>Consumers</h2>
<table><tr><th>stream / consumer</th><th>pending</th><th>ack pending</th><th>redelivered</th><th>waiting pulls</th><th>acks/s</th><th>time to drain</th></tr>
{{range .Consumers}}<tr><td>{{.Stream}}/{{.Name}}</td><td class="n">{{.NumPending}}</td><td class="n">{{.NumAckPending}}</td><td class="n">{{.NumRedelivered}}</td><td class="n">{{.NumWaiting}}</td><td class="n">{{rate .Rate}}</td><td>{{.DrainText}}</td></tr>
{{end}}</table>
<div>{{.Lag}}</div>
<div>{{.Rate}}</div>

<h2>Streams</h2>
<table><tr><th>stream</th><th>messages</th><th>size</th></tr>
{{range .Streams}}<tr><td>{{.Name}}</td><td class="n">{{.Msgs}}</td><td class="n">{{mb .Bytes}}</td></tr>
{{end}}</table>

<h2>Tokens</h2>
{{if .HasTokens}}<table><tr><th>token</th><th>state</th><th>sessions in use</th></tr>
{{range .Tokens}}<tr><td>{{.Name}}</td><td>{{if .Online}}<span class="ok">online</span>{{else}}<span class="bad">OFFLINE</span> {{.Err}}{{end}}</td><td class="n">{{.SessionsInUse}} / {{.MaxSessions}}</td></tr>
{{end}}</table>{{else}}<p>This process runs no workers; see a worker's /readyz on its metrics listener or signet_token_online in Prometheus.</p>{{end}}

<h2>Dead letters and recent failures ({{.DeadTotal}})</h2>
{{if .Dead}}<table><tr><th>seq</th><th>when</th><th>subject</th><th>job</th><th>deliveries</th><th>reason</th><th></th></tr>
{{range .Dead}}<tr><td class="n">{{.Seq}}</td><td>{{.Time.UTC.Format "2006-01-02 15:04:05"}} ({{ago .Time}} ago)</td><td>{{.Subject}}</td><td>{{.JobID}}</td><td class="n">{{.Deliveries}}</td><td>{{.Reason}}</td>
<td>{{if .Subject}}<form method="post" action="/ops/dead/{{.Seq}}/retry"><input type="hidden" name="csrf" value="{{$.CSRF}}"><button>Retry</button></form>{{end}}</td></tr>
{{end}}</table>{{else}}<p class="ok">DEAD is empty.</p>{{end}}
</body></html>
`))
