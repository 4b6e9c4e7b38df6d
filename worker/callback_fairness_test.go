package worker

import (
	"testing"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/contracts"
)

// Issue 21 must 2, fairness: portal A's night batch (30 callbacks, each waiting for A's budget of a
// few requests a second) does not hold up portal B's robot. B's callback is queued after all of A's
// and completes while most of A's still wait; in one queue it would stand behind them all.
func TestBatchOfOnePortalDoesNotStarveAnothersRobot(t *testing.T) {
	r := newCallbackRig(t, 5)
	a := startPortal(t, emulator.Config{RatePerSec: 4, Burst: 3, MemberID: "portal-a"})
	b := startPortal(t, emulator.Config{RatePerSec: 4, Burst: 3, MemberID: "portal-b"})
	client := r.client("worker", bitrix24.ClientConfig{RatePerSec: 4, Burst: 3}, a, b)

	const night = 30
	for i := range night {
		r.failed(a, contracts.KindBatch, 700+i)
	}
	robot, _ := r.failed(b, contracts.KindRobot, 700)
	r.run(client, 5, contracts.ConsumerCallback, contracts.ConsumerCallbackBatch)

	r.waitFor("portal B's robot completed", func() bool { return len(b.EventsSent()[robot]) == 1 })
	if doneA := len(a.EventsSent()); doneA > night/2 {
		t.Fatalf("portal B's robot completed after %d of portal A's %d batch callbacks: it waited behind the batch", doneA, night)
	}
	r.waitFor("portal A's batch completed", func() bool { return len(a.EventsSent()) == night })
	for _, c := range append(a.Calls(), b.Calls()...) {
		if c.ErrorCode == bitrix24.ErrCodeQueryLimitExceeded {
			t.Fatalf("a portal answered QUERY_LIMIT_EXCEEDED: the budget let more through than its plan")
		}
	}
}
