package main

import (
	"runtime/debug"
	"strconv"
)

// The garbage collector's settings for the long-running roles (serve, intake, worker). Every signed
// document allocates a few hundred KB (the PDF, its CMS, JSON messages, HTTP bodies) and keeps almost
// nothing, so at Go's default (GOGC=100) the collector ran several times a second and cost about a
// tenth of the end-to-end throughput (bench/RESULTS.md). At 400 the heap may grow to five times the
// live one, about 230 MB in the benchmark instead of 115; the soft memory limit makes the collector
// work harder before the process ever gets near the 1 GiB of the Kubernetes manifests.
const (
	serverGCPercent   = 400
	serverMemoryLimit = 768 << 20
)

// gcSettings is what tuneGC chose, for the start-up log line.
type gcSettings struct {
	GCPercent   string // "400", or "GOGC=…" when the environment decided
	MemoryLimit string
}

// tuneGC sets the collector's target and soft memory limit unless GOGC or GOMEMLIMIT is in the
// environment: Go's own variables always win, so an operator can go back to the defaults with GOGC=100
// and GOMEMLIMIT=off. restore puts back what was set before (for tests and `signet sign --in-dir`).
func tuneGC(getenv func(string) string, percent int, limit int64) (gcSettings, func()) {
	var s gcSettings
	var undo []func()
	if v := getenv("GOGC"); v != "" {
		s.GCPercent = "GOGC=" + v
	} else {
		old := debug.SetGCPercent(percent)
		undo = append(undo, func() { debug.SetGCPercent(old) })
		s.GCPercent = strconv.Itoa(percent)
	}
	switch v := getenv("GOMEMLIMIT"); {
	case v != "":
		s.MemoryLimit = "GOMEMLIMIT=" + v
	case limit <= 0:
		s.MemoryLimit = "unchanged"
	default:
		old := debug.SetMemoryLimit(limit)
		undo = append(undo, func() { debug.SetMemoryLimit(old) })
		s.MemoryLimit = strconv.FormatInt(limit>>20, 10) + " MiB"
	}
	return s, func() {
		for _, f := range undo {
			f()
		}
	}
}
