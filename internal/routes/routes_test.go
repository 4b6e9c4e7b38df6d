package routes

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

// A Table lists every pattern mounted through either method, sorted, and serves them as a ServeMux.
func TestTableListsWhatItServes(t *testing.T) {
	tab := New()
	var m Mux = tab // what packages mount on
	m.HandleFunc("POST /b/{id}", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(r.PathValue("id"))) })
	m.Handle("GET /a", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	m.Handle("/files/", http.NotFoundHandler())
	if got, want := tab.Patterns(), []string{"/files/", "GET /a", "POST /b/{id}"}; !slices.Equal(got, want) {
		t.Errorf("patterns %v, want %v", got, want)
	}
	rec := httptest.NewRecorder()
	tab.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/b/42", nil))
	if rec.Body.String() != "42" {
		t.Errorf("POST /b/42 answered %d %q", rec.Code, rec.Body.String())
	}
	rec = httptest.NewRecorder()
	tab.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/a", nil))
	if rec.Code != http.StatusTeapot {
		t.Errorf("GET /a answered %d", rec.Code)
	}
}
