// Package routes lets a process list the HTTP routes it serves, so that a test can walk every door
// without credentials and check the README's table of endpoints against the code. It holds no
// handler and decides nothing about who may call a route.
package routes

import (
	"net/http"
	"sort"
	"sync"
)

// Mux is what a package needs to mount its routes: the two methods of *http.ServeMux.
type Mux interface {
	Handle(pattern string, handler http.Handler)
	HandleFunc(pattern string, handler func(http.ResponseWriter, *http.Request))
}

// Table is an http.ServeMux that remembers every pattern registered on it.
type Table struct {
	*http.ServeMux
	mu       sync.Mutex
	patterns []string
}

// New returns an empty table.
func New() *Table { return &Table{ServeMux: http.NewServeMux()} }

// Handle registers handler for pattern (Go 1.22 form: "METHOD /path/{name}") and records it.
func (t *Table) Handle(pattern string, handler http.Handler) {
	t.record(pattern)
	t.ServeMux.Handle(pattern, handler)
}

// HandleFunc registers handler for pattern and records it.
func (t *Table) HandleFunc(pattern string, handler func(http.ResponseWriter, *http.Request)) {
	t.record(pattern)
	t.ServeMux.HandleFunc(pattern, handler)
}

func (t *Table) record(p string) {
	t.mu.Lock()
	t.patterns = append(t.patterns, p)
	t.mu.Unlock()
}

// Patterns lists the registered patterns, sorted.
func (t *Table) Patterns() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := append([]string(nil), t.patterns...)
	sort.Strings(out)
	return out
}
