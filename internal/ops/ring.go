package ops

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Ring keeps the snapshots of the last Window, taken every Every, for the dashboard's charts. It is
// per process: a restarted Signet starts with an empty chart (Prometheus keeps the long history).
type Ring struct {
	JS     jetstream.JetStream
	Every  time.Duration // default 15 s
	Window time.Duration // default 1 h
	Log    *zap.Logger

	mu    sync.Mutex
	snaps []*Snapshot
	next  int
	full  bool
}

func (r *Ring) size() int {
	every, window := r.Every, r.Window
	if every <= 0 {
		every = 15 * time.Second
	}
	if window <= 0 {
		window = time.Hour
	}
	return max(int(window/every), 2)
}

// Run samples until ctx ends.
func (r *Ring) Run(ctx context.Context) {
	every := r.Every
	if every <= 0 {
		every = 15 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		r.Sample(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sample takes one snapshot now and adds it.
func (r *Ring) Sample(ctx context.Context) {
	s, err := Take(ctx, r.JS)
	if err != nil {
		if r.Log != nil {
			r.Log.Debug("ops sample", zap.Error(err))
		}
		return
	}
	r.Add(s)
}

// Add appends a snapshot (its rates computed from the one before), dropping the oldest when full.
func (r *Ring) Add(s *Snapshot) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.size()
	if r.snaps == nil {
		r.snaps = make([]*Snapshot, n)
	}
	var prev *Snapshot
	if r.full || r.next > 0 {
		prev = r.snaps[(r.next-1+n)%n]
	}
	r.snaps[r.next] = s.WithRates(prev)
	r.next = (r.next + 1) % n
	if r.next == 0 {
		r.full = true
	}
}

// Snapshots returns the kept snapshots, oldest first.
func (r *Ring) Snapshots() []*Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.snaps == nil {
		return nil
	}
	if !r.full {
		return append([]*Snapshot(nil), r.snaps[:r.next]...)
	}
	out := append([]*Snapshot(nil), r.snaps[r.next:]...)
	return append(out, r.snaps[:r.next]...)
}

// Series is one consumer's line over the ring's window.
type Series struct {
	Name   string
	Points []Point
}

// Point is one sample.
type Point struct {
	T time.Time
	V float64
}

// History is the ring's window as one line per consumer, in the order of the dashboard: its lag
// (pending + ack pending) and its throughput (acknowledged per second, from the second snapshot on,
// as a rate needs two).
func (r *Ring) History() (lag, rate []Series) {
	snaps := r.Snapshots()
	for _, sc := range consumerNames {
		ls, rs := Series{Name: sc[1]}, Series{Name: sc[1]}
		for i, s := range snaps {
			c := s.Consumer(sc[0], sc[1])
			if c == nil {
				continue
			}
			ls.Points = append(ls.Points, Point{s.Time, float64(c.NumPending) + float64(c.NumAckPending)})
			if i > 0 {
				rs.Points = append(rs.Points, Point{s.Time, c.Rate})
			}
		}
		lag, rate = append(lag, ls), append(rate, rs)
	}
	return lag, rate
}
