package testenv

import (
	"sync"
	"time"
)

// Clock is a clock a test moves by hand (Advance), for code that takes a `func() time.Time`. It starts
// at 2026-11-22 12:00:10 UTC, 10 s into an RFC 6238 time step, so a TOTP code made at Now is valid
// for 20 s more of the test's time.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock at its start.
func NewClock() *Clock { return &Clock{t: time.Date(2026, 11, 22, 12, 0, 10, 0, time.UTC)} }

// Now is the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Advance moves the clock d on.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
