package main

import (
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	limitBefore := debug.SetMemoryLimit(-1)

	// Nothing in the environment: our target and limit, and restore puts Go's back.
	s, restore := tuneGC(env(nil), serverGCPercent, serverMemoryLimit)
	if got := debug.SetGCPercent(-1); got != serverGCPercent {
		t.Errorf("GC percent = %d, want %d", got, serverGCPercent)
	}
	debug.SetGCPercent(serverGCPercent)
	if got := debug.SetMemoryLimit(-1); got != serverMemoryLimit {
		t.Errorf("memory limit = %d, want %d", got, serverMemoryLimit)
	}
	if s.GCPercent != "400" || s.MemoryLimit != "768 MiB" {
		t.Errorf("settings reported as %+v", s)
	}
	restore()
	if got := debug.SetGCPercent(-1); got != 100 {
		t.Errorf("after restore GC percent = %d, want 100", got)
	}
	debug.SetGCPercent(100)
	if got := debug.SetMemoryLimit(-1); got != limitBefore {
		t.Errorf("after restore memory limit = %d, want %d", got, limitBefore)
	}

	// Go's own variables win: nothing is changed, and the log line says why.
	s, restore = tuneGC(env(map[string]string{"GOGC": "100", "GOMEMLIMIT": "off"}), serverGCPercent, serverMemoryLimit)
	defer restore()
	if got := debug.SetGCPercent(-1); got != 100 {
		t.Errorf("with GOGC set, GC percent = %d, want it left at 100", got)
	}
	debug.SetGCPercent(100)
	if got := debug.SetMemoryLimit(-1); got != limitBefore {
		t.Errorf("with GOMEMLIMIT set, memory limit = %d, want it left at %d", got, limitBefore)
	}
	if s.GCPercent != "GOGC=100" || s.MemoryLimit != "GOMEMLIMIT=off" {
		t.Errorf("settings reported as %+v", s)
	}
}
