// Package smsru is an HTTP gateway that speaks SMS.ru's documented send method
// (https://sms.ru/api/send: a form POST of api_id, to, msg, json=1, a JSON answer with status,
// status_code 100 for accepted, and a per-number entry) for the SMS tests: it keeps what it accepted
// and can be told to refuse.
package smsru

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Message is one accepted SMS.
type Message struct{ To, Text, From string }

// Gateway is a running emulator.
type Gateway struct {
	URL   string // the send method's URL
	APIID string // the one api_id it accepts

	mu   sync.Mutex
	sent []Message
	down bool
}

// Start runs a gateway until the test ends.
func Start(t testing.TB, apiID string) *Gateway {
	g := &Gateway{APIID: apiID}
	srv := httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(srv.Close)
	g.URL = srv.URL + "/sms/send"
	return g
}

// Down makes the gateway answer HTTP 503 (an outage) until called with false.
func (g *Gateway) Down(down bool) {
	g.mu.Lock()
	g.down = down
	g.mu.Unlock()
}

// Sent returns the messages accepted so far.
func (g *Gateway) Sent() []Message {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Message(nil), g.sent...)
}

func (g *Gateway) serve(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	down := g.down
	g.mu.Unlock()
	if down {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/sms/send" || r.ParseForm() != nil || r.URL.Query().Get("api_id") != "" {
		http.Error(w, "POST the form to /sms/send", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	answer := func(v any) { _ = json.NewEncoder(w).Encode(v) }
	if r.PostForm.Get("json") != "1" {
		http.Error(w, "json=1 expected", http.StatusBadRequest)
		return
	}
	if r.PostForm.Get("api_id") != g.APIID {
		answer(map[string]any{"status": "ERROR", "status_code": 200, "status_text": "Неправильный api_id"})
		return
	}
	to, msg := r.PostForm.Get("to"), r.PostForm.Get("msg")
	if to == "" || msg == "" {
		answer(map[string]any{"status": "ERROR", "status_code": 202, "status_text": "Неправильно указан получатель"})
		return
	}
	g.mu.Lock()
	g.sent = append(g.sent, Message{To: to, Text: msg, From: r.PostForm.Get("from")})
	g.mu.Unlock()
	answer(map[string]any{"status": "OK", "status_code": 100, "balance": 100.5,
		"sms": map[string]any{to: map[string]any{"status": "OK", "status_code": 100, "sms_id": "000000-10000000"}}})
}
