package worker

import (
	"testing"
	"time"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/contracts"
)

// Issue 21 must 2: callbacks wait out an OVERLOAD_LIMIT block without being dead-lettered, however
// many deliveries the block takes, and complete after it ends, once each.
//
// Two processes share the portal's budget. Another process (other) is told OVERLOAD_LIMIT: this
// worker's callbacks do not call the portal until the pause ends. Then the portal keeps answering
// OVERLOAD_LIMIT to this worker itself, three pauses in a row, with worker.max_deliver 2: JetStream
// delivers each callback more than twice, and every callback still completes, with one attempt.
func TestCallbacksWaitOutAnOverloadBlock(t *testing.T) {
	const maxDeliver = 2
	r := newCallbackRig(t, maxDeliver)
	portal := startPortal(t, emulator.Config{})
	cfg := bitrix24.ClientConfig{OverloadPause: 1500 * time.Millisecond}
	mine, other := r.client("worker", cfg, portal), r.client("other", cfg, portal)
	r.run(mine, maxDeliver, contracts.ConsumerCallback)
	overload := func(n int) {
		portal.SetFailure(emulator.Failure{Calls: n, Status: 503, Code: bitrix24.ErrCodeOverloadLimit, Description: "Portal overloaded"})
	}
	completed := func(what string, tokens []string) {
		t.Helper()
		r.waitFor(what, func() bool {
			sent := portal.EventsSent()
			for _, tok := range tokens {
				if len(sent[tok]) != 1 {
					return false
				}
			}
			return true
		})
	}

	// 1. The other process is told OVERLOAD_LIMIT; this worker does not call the portal until the end.
	overload(1)
	err := other.Call(r.ctx, portal.MemberID(), "app.info", nil, nil)
	until, ok := bitrix24.PausedUntil(err)
	if !ok {
		t.Fatalf("OVERLOAD_LIMIT: %v", err)
	}
	r.waitFor("the worker to learn of the other process's pause", func() bool { return !mine.PausedUntil(portal.MemberID()).IsZero() })
	var first []string
	for i := range 3 {
		tok, _ := r.failed(portal, contracts.KindRobot, 600+i)
		first = append(first, tok)
	}
	completed("the callbacks queued during the other process's pause", first)
	for _, c := range portal.Calls() {
		if c.Method == "bizproc.event.send" && c.Time.Before(until) {
			t.Fatalf("bizproc.event.send at %v, during the pause that ended %v", c.Time, until)
		}
	}

	// 2. Three OVERLOAD_LIMIT answers in a row to this worker: three pauses, more deliveries than
	// max_deliver, no DEAD, one attempt counted each.
	overload(3)
	var second, jobs []string
	for i := range 2 {
		tok, id := r.failed(portal, contracts.KindRobot, 610+i)
		second, jobs = append(second, tok), append(jobs, id)
	}
	completed("the callbacks queued before three pauses", second)
	if dead := r.dead(); len(dead) != 0 {
		t.Fatalf("%d callbacks dead-lettered during the pauses: %+v", len(dead), dead)
	}
	sends, overloads := 0, 0
	for _, c := range portal.Calls() {
		switch {
		case c.ErrorCode == bitrix24.ErrCodeOverloadLimit:
			overloads++
		case c.Method == "bizproc.event.send" && c.ErrorCode == "":
			sends++
		}
	}
	if sends != len(first)+len(second) {
		t.Fatalf("%d bizproc.event.send executed for %d robot calls", sends, len(first)+len(second))
	}
	if overloads != 4 {
		t.Fatalf("%d OVERLOAD_LIMIT answers, want 4 (one to the other process, three to the worker)", overloads)
	}
	for _, id := range jobs {
		if n, err := r.results.CallbackAttempt(r.ctx, id, 0); err != nil || n != 1 {
			t.Errorf("callback %s: %d attempts counted (%v), want 1: the waits must not count", id, n, err)
		}
	}
	r.waitFor("every callback acked", func() bool { return r.msgs(contracts.StreamCallback) == 0 })
}
