// Package mailpit runs Mailpit (built by deploy/dev/mailpit.sh from the Go module proxy) as the real
// SMTP server of the e-mail tests, on loopback only, and reads what it received through its API
// (bitrix24-people-notes.md §8).
package mailpit

import (
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/signet-b24/signet/internal/testsupport/testenv"
)

// Server is a running Mailpit.
type Server struct {
	SMTP string // host:port
	API  string // http://host:port
}

func freePort(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Start runs Mailpit until the test ends; it skips the test when Mailpit is not built (strictly: fails).
func Start(t testing.TB) *Server {
	t.Helper()
	bin := testenv.RequireTool(t, "mailpit")
	s := &Server{SMTP: freePort(t)}
	web := freePort(t)
	s.API = "http://" + web
	cmd := exec.Command(bin, "--smtp", s.SMTP, "--listen", web, "--disable-version-check", "--smtp-disable-rdns",
		"--database", filepath.Join(t.TempDir(), "mailpit.db"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		if resp, err := http.Get(s.API + "/api/v1/messages"); err == nil {
			resp.Body.Close()
			if c, err := net.Dial("tcp", s.SMTP); err == nil {
				c.Close()
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("mailpit did not start")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Message is one received message as the API shows it.
type Message struct {
	ID, Subject, Text string
	To                []struct{ Address string }
}

// To returns the messages received for address, newest first, with their text.
func (s *Server) To(t testing.TB, address string) []Message {
	t.Helper()
	var list struct{ Messages []Message }
	get(t, s.API+"/api/v1/search?query="+url.QueryEscape("to:"+address), &list)
	for i := range list.Messages {
		var full Message
		get(t, s.API+"/api/v1/message/"+list.Messages[i].ID, &full)
		list.Messages[i].Text = full.Text
	}
	return list.Messages
}

func get(t testing.TB, u string, out any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("mailpit %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}
