package bitrix24

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Budget is a portal's REST budget and its OVERLOAD_LIMIT pause, shared by every Signet process that
// calls the portal (issue 21, must 2; bitrix24/budget keeps both in JetStream). The portal's leaky
// bucket (reference §8.1: 2 requests/s, 50 in a burst on standard plans) counts every request from
// every process alike, so a limiter per process lets N processes send N times the plan. Without a
// Budget a Client limits each portal on its own, which is right for one process only.
type Budget interface {
	// Reserve takes one request slot of the portal and returns when the request may be sent: now, or
	// later when the portal's budget is spent (the caller sleeps until then). It never fails for
	// NATS: a budget that cannot be reached answers from a conservative local limiter instead.
	Reserve(ctx context.Context, memberID string) (time.Time, error)
	// Drain says the portal answered QUERY_LIMIT_EXCEEDED: its bucket is full (other applications on
	// our address share it), so every process slows down, not just the one that was told.
	Drain(ctx context.Context, memberID string)
	// Pause stops every process from calling the portal until then (503 OVERLOAD_LIMIT, reference §8.2).
	Pause(ctx context.Context, memberID string, until time.Time)
	// PausedUntil is the end of the portal's pause as this process last heard it (zero: none).
	PausedUntil(memberID string) time.Time
}

// OverloadError is the ErrPortalOverloaded a call returns while the portal is paused; Until says when
// the pause ends, so that a queued callback can wait exactly that long (worker/handle_callback.go).
type OverloadError struct {
	MemberID string
	Until    time.Time
	Detail   string // the portal's own words, when this call was the one that got OVERLOAD_LIMIT
}

func (e *OverloadError) Error() string {
	msg := fmt.Sprintf("%v: portal %s, not calling it before %s", ErrPortalOverloaded, e.MemberID, e.Until.UTC().Format(time.RFC3339))
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	return msg
}

// Is makes errors.Is(err, ErrPortalOverloaded) true.
func (e *OverloadError) Is(target error) bool { return target == ErrPortalOverloaded }

// PausedUntil returns the end of the pause an error reports (an *OverloadError anywhere in its chain).
func PausedUntil(err error) (time.Time, bool) {
	var oe *OverloadError
	if errors.As(err, &oe) {
		return oe.Until, true
	}
	return time.Time{}, false
}
