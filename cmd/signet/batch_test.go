package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/signet-b24/signet/producer/batch"
)

// What `signet batch status` says in each state: running (a rate and a time left), stalled (neither:
// the past rate promises nothing), never started, finished; and --json agrees.
func TestBatchStatusStatesGolden(t *testing.T) {
	created := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	base := func() *batch.Status {
		return &batch.Status{ID: "b0123456789abcdef01234567", Login: "mary", Source: "/srv/in", Created: created, Total: 100, Published: 100}
	}
	running := base()
	running.Signed, running.Pending, running.First, running.Last, running.Rate = 40, 60, created.Add(time.Second), created.Add(20*time.Second), 2
	stalled := base()
	stalled.Signed, stalled.Failed, stalled.Pending, stalled.Published = 40, 1, 49, 90
	stalled.First, stalled.Last, stalled.Rate = created.Add(time.Second), created.Add(20*time.Second), 2
	stalled.Failures = []batch.Failure{{N: 7, JobID: "b0123456789abcdef01234567.6", Name: "inv-7.pdf", Reason: "PIN locked", Dead: 3}}
	never := base()
	never.Pending = 100
	done := base()
	done.Signed, done.Done, done.First, done.Last, done.Rate = 100, true, created.Add(time.Second), created.Add(50*time.Second), 2
	// On a slow token (issue 21, must 5): its workers measured 1.5 signatures/s, slower than the
	// batch's 2 docs/s so far, so the time left is at 1.5; before the first result, at the token's
	// rate; stalled, none whatever the token says.
	slowToken := base()
	slowToken.Signed, slowToken.Pending, slowToken.First, slowToken.Last, slowToken.Rate = 40, 60, created.Add(time.Second), created.Add(20*time.Second), 2
	slowToken.Token, slowToken.TokenRate = "usb", 1.5
	fresh := base()
	fresh.Pending, fresh.Token, fresh.TokenRate = 100, "usb", 10
	stalledToken := base()
	stalledToken.Signed, stalledToken.Pending, stalledToken.First, stalledToken.Last, stalledToken.Rate = 40, 60, created.Add(time.Second), created.Add(20*time.Second), 2
	stalledToken.Token, stalledToken.TokenRate = "usb", 10

	states := func() string {
		var b strings.Builder
		for _, c := range []struct {
			name    string
			st      *batch.Status
			now     time.Time
			rate    float64
			watched bool
		}{
			{"running, 10 s after the last result", running, created.Add(30 * time.Second), running.Rate, false},
			{"running, watched, nothing in the last refresh", running, created.Add(30 * time.Second), 0, true},
			{"stalled: 10 minutes without a result, 10 never queued", stalled, created.Add(20*time.Second + 10*time.Minute), stalled.Rate, false},
			{"never started, 30 s old", never, created.Add(30 * time.Second), 0, false},
			{"never started, 2 minutes old", never, created.Add(2 * time.Minute), 0, false},
			{"finished", done, created.Add(time.Hour), done.Rate, false},
			{"running on a token measured slower than the batch so far", slowToken, created.Add(30 * time.Second), slowToken.Rate, false},
			{"never started, 30 s old, the token measured", fresh, created.Add(30 * time.Second), 0, false},
			{"stalled although the token was measured", stalledToken, created.Add(20*time.Second + 10*time.Minute), stalledToken.Rate, false},
		} {
			fmt.Fprintf(&b, "== %s\n", c.name)
			printBatchStatus(&b, c.st, c.rate, c.watched, c.now)
			writeJSON(&b, newBatchStatusJSON(c.st, c.now))
			b.WriteString("\n")
		}
		return b.String()
	}
	golden(t, "batch_status_states", states())
	golden(t, "batch_status_states.ru", inRussian(states))
	if _, stalled := stalledSince(stalled, created.Add(20*time.Second+10*time.Minute)); !stalled {
		t.Error("a batch without a result for 10 minutes at 2 docs/s must be stalled")
	}
	// A slow batch is not stalled: one document every 30 s, the last 2 minutes ago.
	slow := base()
	slow.Signed, slow.Last, slow.Rate = 10, created.Add(5*time.Minute), 1.0/30
	if _, stalled := stalledSince(slow, created.Add(7*time.Minute)); stalled {
		t.Error("a batch finishing one document per 30 s, quiet for 2 minutes, is slow, not stalled")
	}
}
