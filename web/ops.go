package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/internal/ops"
	"github.com/signet-b24/signet/internal/queue"
	"github.com/signet-b24/signet/internal/routes"
)

// OpsPage is the operator dashboard (/ops): a snapshot of every stream and consumer (internal/ops),
// charts of the last hour from its Ring, the tokens, and the DEAD letters with a retry button.
//
// The page is Signet-wide: DEAD and the consumers hold every portal's jobs, so its guard must admit
// only a Signet-wide administrator (the admin API's bearer token), never a portal administrator's
// control-panel session.
type OpsPage struct {
	JS     jetstream.JetStream
	Ring   *ops.Ring
	Tokens func() []ops.Token // nil in a process without tokens (intake only)
	Signed ops.SignedLookup   // nil: retry without the check
	// Metrics is where this process serves /metrics (metrics.listen), "" when it serves none. It is
	// text, not a link: that listener is apart from the public one, usually on loopback, so the
	// administrator's browser cannot follow a link to it (issue 15, must 9).
	Metrics string
	Log     *zap.Logger

	csrf string
}

// Routes mounts GET /ops and POST /ops/dead/{seq}/retry behind guard (the administrator check).
func (p *OpsPage) Routes(mux routes.Mux, guard func(http.Handler) http.Handler) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	p.csrf = hex.EncodeToString(b)
	if p.Log == nil {
		p.Log = zap.NewNop()
	}
	mux.Handle("GET /ops", guard(http.HandlerFunc(p.show)))
	mux.Handle("POST /ops/dead/{seq}/retry", guard(http.HandlerFunc(p.retry)))
}

type opsConsumerRow struct {
	ops.Consumer
	DrainText string
}

type opsView struct {
	Now       time.Time
	Streams   []ops.Stream
	Consumers []opsConsumerRow
	Lag       template.HTML
	Rate      template.HTML
	Tokens    []ops.Token
	HasTokens bool
	Dead      []queue.Letter
	DeadTotal int
	Flash     string
	CSRF      string
	Err       string
	Metrics   string
}

func (p *OpsPage) show(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	v := opsView{Now: time.Now().UTC(), CSRF: p.csrf, Flash: r.URL.Query().Get("flash"), Metrics: p.Metrics}
	snap, err := ops.Take(ctx, p.JS)
	if err != nil {
		// What failed and what to do in the reader's language; NATS's own words (addresses, streams)
		// in the log (issue 18, must 3).
		p.Log.Error("/ops: reading JetStream", zap.Error(err))
		v.Err = localizer(r).T("api.error.queue_unavailable")
	} else {
		var prev *ops.Snapshot
		if snaps := p.Ring.Snapshots(); len(snaps) > 0 {
			prev = snaps[len(snaps)-1]
		}
		snap.WithRates(prev)
		v.Streams = snap.Streams
		for _, c := range snap.Consumers {
			row := opsConsumerRow{Consumer: c, DrainText: "—"}
			if c.Drain > 0 {
				row.DrainText = c.Drain.Round(time.Second).String()
			} else if c.NumPending == 0 && c.NumAckPending == 0 {
				row.DrainText = "empty"
			}
			v.Consumers = append(v.Consumers, row)
		}
	}
	if p.Tokens != nil {
		v.HasTokens, v.Tokens = true, p.Tokens()
	}
	letters, err := queue.ListDead(ctx, p.JS)
	if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		p.Log.Error("/ops: reading DEAD", zap.Error(err))
		v.Err = joinErr(v.Err, localizer(r).T("api.error.dead_unavailable"))
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
	l := localizer(r)
	v.Lag, v.Rate = p.charts(l, v.Now)
	t, err := inLanguage(opsTmpl, l, viewerZone(r))
	if err == nil {
		err = t.Execute(w, v)
	}
	if err != nil {
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
func (p *OpsPage) charts(l *i18n.Localizer, now time.Time) (lag, rate template.HTML) {
	colours := map[string]string{contracts.ConsumerSignInteractive: "#1f77b4", contracts.ConsumerSignBatch: "#ff7f0e", contracts.ConsumerCallback: "#2ca02c", contracts.ConsumerCallbackBatch: "#9467bd"}
	lagS, rateS := p.Ring.History()
	from := now.Add(-time.Hour)
	zone := l.Zone(now.UTC())
	return chartSVG(l.T("web.ops.chart.lag"), lagS, colours, from, now, zone),
		chartSVG(l.T("web.ops.chart.rate"), rateS, colours, from, now, zone)
}

func (p *OpsPage) retry(w http.ResponseWriter, r *http.Request) {
	if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(p.csrf)) != 1 {
		http.Error(w, localizer(r).T("web.ops.formExpired"), http.StatusForbidden)
		return
	}
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil || seq == 0 {
		http.Error(w, localizer(r).T("web.ops.badSeq"), http.StatusBadRequest)
		return
	}
	msg, err := ops.Retry(r.Context(), p.JS, p.Signed, seq)
	if err != nil {
		p.Log.Warn("DEAD retry from /ops failed", zap.Uint64("seq", seq), zap.Error(err))
		msg = err.Error()
	} else {
		p.Log.Info("DEAD letter retried from /ops", zap.Uint64("seq", seq))
	}
	http.Redirect(w, r, "/ops?flash="+template.URLQueryEscaper(msg), http.StatusSeeOther)
}

// opsTmpl stands alone, without the control panel's layout: the dashboard is the Signet-wide
// operator's (its own guard), and refreshes itself.
var opsTmpl = template.Must(template.New("ops.html").Funcs(baseLangFuncs).Funcs(funcs).Funcs(template.FuncMap{
	// minutes since t, for "… min ago" in the reader's language (web.ops.ago).
	"minutes": func(t time.Time) int { return int(time.Since(t) / time.Minute) },
	// mb is a size in megabytes, one decimal, for web.ops.mb ("%.1f MB").
	"mb": func(b uint64) float64 { return float64(b) / 1e6 },
	"rate": func(f float64) string {
		return strconv.FormatFloat(f, 'f', 1, 64)
	},
}).ParseFS(files, "templates/ops.html"))
