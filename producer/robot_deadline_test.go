package producer

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestRobotCallAnsweredInTimeWhenJetStreamIsGone: while NATS elects a leader (or is down), JetStream
// answers nothing; an intake must still answer Bitrix24 in time (503, so it may retry) instead of
// holding the call until nginx or the queue server gives up (the multi-host run saw calls held past
// 60 s). The NATS server is stopped under a running intake; calls in flight, several at once, each
// get their answer within the intake's budget for a call.
func TestRobotCallAnsweredInTimeWhenJetStreamIsGone(t *testing.T) {
	f := newFixture(t)
	f.install(t)
	f.addSigner(t, true)
	f.in.callBudget = 2 * time.Second
	f.ns.Srv.Shutdown()
	f.ns.Srv.WaitForShutdown()

	// Generous: the budget plus the time to answer; far below the 5 s a JetStream call takes by
	// default and the 30 s claimHold.
	const bound = 4 * time.Second
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			_, status, err := f.portal.RobotCall(context.Background(), f.srv.URL+"/bitrix24/robot", "signet_sign_pdf", 1188+i, f.props("42"))
			took := time.Since(start)
			if err != nil {
				t.Errorf("robot call: %v", err)
				return
			}
			if status != http.StatusServiceUnavailable {
				t.Errorf("robot call with JetStream gone: status %d, want 503 so that Bitrix24 may retry", status)
			}
			if took > bound {
				t.Errorf("robot call answered after %s, want within %s", took.Round(time.Millisecond), bound)
			}
		}()
	}
	wg.Wait()
}
