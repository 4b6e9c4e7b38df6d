package bitrix24

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	overloadGauge = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "signet_bitrix24_overload",
		Help: "1 while Signet has stopped calling a portal after 503 OVERLOAD_LIMIT (a manual block by Bitrix24 support); alert on it.",
	}, []string{"member_id"})
	overloadTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "signet_bitrix24_overload_total",
		Help: "OVERLOAD_LIMIT answers received, per portal.",
	}, []string{"member_id"})
	batchCommands = promauto.NewCounter(prometheus.CounterOpts{
		Name: "signet_bitrix24_batch_commands_total",
		Help: "REST commands sent inside batch requests by the callback batcher.",
	})
	batchRequests = promauto.NewCounter(prometheus.CounterOpts{
		Name: "signet_bitrix24_batch_requests_total",
		Help: "batch requests sent by the callback batcher.",
	})
)
