package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// MaxPortalLabels bounds the portal label (issue 21, must 2: per-portal labels with bounded
// cardinality). The first MaxPortalLabels portals a process meets are labelled with their member_id,
// every later one "other". First come rather than top-N by volume: a Prometheus series, once created,
// keeps its label, so a label that moved from portal to portal with its traffic would make counters
// jump; and a deployment has a handful of portals, rarely more than a few dozen. member_id is the
// portal's stable identifier (it survives a domain change, reference §4) and already names the
// portal in signet_bitrix24_overload; it is no secret. Each labelled portal costs one series per
// outcome of each metric below.
const MaxPortalLabels = 50

// PortalOther is the label of every portal beyond MaxPortalLabels; PortalNone that of a job or
// callback without a portal (a local batch).
const (
	PortalOther = "other"
	PortalNone  = "none"
)

var portalLabels = struct {
	sync.Mutex
	seen map[string]bool
}{seen: map[string]bool{}}

// PortalLabel is the value of the portal label for memberID.
func PortalLabel(memberID string) string {
	if memberID == "" {
		return PortalNone
	}
	portalLabels.Lock()
	defer portalLabels.Unlock()
	if portalLabels.seen[memberID] {
		return memberID
	}
	if len(portalLabels.seen) >= MaxPortalLabels {
		return PortalOther
	}
	portalLabels.seen[memberID] = true
	return memberID
}

// Per-portal metrics of the Bitrix24 budget, the REST calls and the callbacks.
var (
	Bitrix24Calls = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "signet_bitrix24_calls_total", Help: "REST requests sent to Bitrix24, by portal (member_id, or \"other\" beyond the first 50) and outcome (ok, error).",
	}, []string{"portal", "outcome"})
	Bitrix24BudgetWait = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "signet_bitrix24_budget_wait_seconds_total", Help: "Seconds REST calls waited for the portal's shared budget, by portal.",
	}, []string{"portal"})
	Bitrix24BudgetFallback = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "signet_bitrix24_budget_fallback_total", Help: "REST calls let through by the conservative local limiter because the shared budget in NATS did not answer, by portal.",
	}, []string{"portal"})
	Callbacks = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "signet_callbacks_total", Help: "Callback deliveries to Bitrix24, by portal and outcome (delivered, retried, paused, failed).",
	}, []string{"portal", "outcome"})
)
