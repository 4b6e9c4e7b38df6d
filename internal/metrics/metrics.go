// Package metrics defines every Prometheus metric Signet exports, in one place, so that the Grafana
// dashboard and the alert rules in deploy/ can be checked against this list. Names follow Prometheus
// conventions: signet_<thing>_<unit>, counters end in _total.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Jobs.
var (
	JobsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "signet_jobs_total", Help: "Sign jobs finished, by portal (PortalLabel), kind (robot, placement, batch) and outcome (signed, failed, retried, refused).",
	}, []string{"portal", "kind", "outcome"})
	StageSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name: "signet_stage_seconds", Help: "Time spent per stage: queue_wait, download, sign, store, callback.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
	}, []string{"stage"})
	DocumentsBytesTotal = promauto.NewCounter(prometheus.CounterOpts{
		Name: "signet_documents_bytes_total", Help: "Bytes of signed PDFs produced.",
	})
	IntakeTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "signet_intake_requests_total", Help: "Sign requests at intake, by source (robot, placement, batch, request) and result (queued, requested, duplicate, refused, unauthorized, error).",
	}, []string{"source", "result"})
)

// JetStream, as seen from the consumer leader (ConsumerInfo is answered by the leader).
var (
	ConsumerPending = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "signet_consumer_num_pending", Help: "Messages not yet delivered to the consumer (JetStream num_pending).",
	}, []string{"stream", "consumer"})
	ConsumerAckPending = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "signet_consumer_num_ack_pending", Help: "Messages delivered and not yet acknowledged (num_ack_pending).",
	}, []string{"stream", "consumer"})
	ConsumerRedelivered = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "signet_consumer_num_redelivered", Help: "Messages delivered more than once and not yet acknowledged (num_redelivered).",
	}, []string{"stream", "consumer"})
	DeadMessages = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "signet_dead_messages", Help: "Messages in the DEAD stream.",
	})
)

// Tokens and credentials.
var (
	TokenOnline = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "signet_token_online", Help: "1 when the PKCS#11 token is usable, 0 when offline.",
	}, []string{"token"})
	TokenSessionsInUse = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "signet_token_sessions_in_use", Help: "PKCS#11 sessions of the token in use right now.",
	}, []string{"token"})
	TokenSessionsMax = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "signet_token_sessions_max", Help: "PKCS#11 sessions the token may open (max_sessions).",
	}, []string{"token"})
	// TokenSignRate and TokenWaiting are the worker's token scheduling (worker/tokens.go, issue 21
	// must 5); their labels are configured token names and two priorities.
	TokenSignRate = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "signet_token_sign_rate", Help: "Signatures a second the token sustains, measured by this worker (mean C_Sign duration, times its concurrency, capped by rate_per_sec).",
	}, []string{"token"})
	TokenWaiting = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "signet_token_waiting", Help: "Signatures waiting for a slot of the token, by priority (interactive, batch).",
	}, []string{"token", "priority"})
	CredentialExpirySeconds = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "signet_credential_expiry_seconds", Help: "Seconds until the credential's certificate expires (negative when expired).",
	}, []string{"token", "credential"})
)

// Bitrix24.
var (
	Bitrix24Errors = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "signet_bitrix24_errors_total", Help: "Errors answered by Bitrix24 portals, by portal (PortalLabel) and error code.",
	}, []string{"portal", "code"})
	Bitrix24RateLimitWaits = promauto.NewCounter(prometheus.CounterOpts{
		Name: "signet_bitrix24_rate_limit_waits_total", Help: "Times a REST call waited for the per-portal rate limiter or backed off after QUERY_LIMIT_EXCEEDED.",
	})
	Bitrix24Overload = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "signet_bitrix24_overload", Help: "1 while a portal answered OVERLOAD_LIMIT and Signet stopped calling it.",
	}, []string{"portal"})
)

// Grants.
var (
	GrantDocumentsTotal = promauto.NewCounter(prometheus.CounterOpts{
		Name: "signet_grant_documents_total", Help: "Documents authorised by batch grants.",
	})
)

// Names lists every metric Signet exports (for the check of deploy/ dashboards and alerts).
func Names() []string {
	return []string{
		"signet_jobs_total", "signet_stage_seconds", "signet_documents_bytes_total", "signet_intake_requests_total",
		"signet_consumer_num_pending", "signet_consumer_num_ack_pending", "signet_consumer_num_redelivered", "signet_dead_messages",
		"signet_token_online", "signet_token_sessions_in_use", "signet_token_sessions_max", "signet_token_sign_rate", "signet_token_waiting", "signet_credential_expiry_seconds",
		"signet_bitrix24_errors_total", "signet_bitrix24_rate_limit_waits_total", "signet_bitrix24_overload",
		"signet_bitrix24_calls_total", "signet_bitrix24_budget_wait_seconds_total", "signet_bitrix24_budget_fallback_total", "signet_callbacks_total",
		"signet_grant_documents_total",
	}
}
