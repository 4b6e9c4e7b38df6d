package main

// Adversarial tests of the HTTP server's limits (serve.go httpServer): a client that sends its
// headers or body slowly, or keeps an idle connection, is cut off; an oversized header block is
// refused. The handler must never see such a request.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/internal/config"
)

// limitedServer serves a handler that counts the requests it completes, with the server built as
// `signet serve` builds it from the given flags.
func limitedServer(t *testing.T, args ...string) (addr string, handled *atomic.Int64) {
	t.Helper()
	cfg, _, err := config.Load("serve", args, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	a := &app{cfg: cfg, log: zap.NewNop()}
	handled = new(atomic.Int64)
	srv := a.httpServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return
		}
		handled.Add(1)
		fmt.Fprintln(w, "ok")
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String(), handled
}

// closedWithin reports whether the server closes c (or answers and closes) before the liveness
// bound; it is not a timing assertion on how fast.
func closedWithin(t *testing.T, c net.Conn, bound time.Duration) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(bound))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

func TestHTTPServerHasEveryTimeout(t *testing.T) {
	cfg := config.Defaults()
	srv := (&app{cfg: cfg, log: zap.NewNop()}).httpServer(http.NotFoundHandler())
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 || srv.MaxHeaderBytes <= 0 || srv.MaxHeaderBytes > 1<<20 {
		t.Errorf("server limits: header %s, read %s, write %s, idle %s, header bytes %d", srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout, srv.MaxHeaderBytes)
	}
}

// TestAttackSlowHeaders: a client that sends a header line and then nothing is cut off after
// http.read_header_timeout; the handler never runs.
func TestAttackSlowHeaders(t *testing.T) {
	addr, handled := limitedServer(t, "--http-read-header-timeout", "1s")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /bitrix24/robot HTTP/1.1\r\nHost: %s\r\n", addr)
	if !closedWithin(t, c, 30*time.Second) {
		t.Error("a client that never finished its headers still holds the connection")
	}
	if handled.Load() != 0 {
		t.Error("the handler ran for an unfinished request")
	}
}

// TestAttackSlowBody: a body trickling a byte a second on an ordinary endpoint is cut off after
// http.read_timeout; the handler never completes it.
func TestAttackSlowBody(t *testing.T) {
	addr, handled := limitedServer(t, "--http-read-timeout", "2s")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /bitrix24/robot HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 4096\r\n\r\n", addr)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
				if _, err := c.Write([]byte("a")); err != nil {
					return
				}
			}
		}
	}()
	if !closedWithin(t, c, 30*time.Second) {
		t.Error("a body arriving a byte a second still holds the connection")
	}
	if handled.Load() != 0 {
		t.Error("the handler completed a request whose body never arrived")
	}
}

// TestAttackIdleConnections: a keep-alive connection left idle is closed after http.idle_timeout.
func TestAttackIdleConnections(t *testing.T) {
	addr, handled := limitedServer(t, "--http-idle-timeout", "1s")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("first request: %v %v", resp, err)
	}
	resp.Body.Close()
	if !closedWithin(t, c, 30*time.Second) {
		t.Error("an idle keep-alive connection stays open")
	}
	if handled.Load() != 1 {
		t.Errorf("%d requests handled, want 1", handled.Load())
	}
}

// TestAttackHugeHeaders: a header block over http.max_header_bytes is refused (431) unread.
func TestAttackHugeHeaders(t *testing.T) {
	addr, handled := limitedServer(t)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nX-Junk: %s\r\n\r\n", addr, strings.Repeat("a", 512<<10))
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a 512 KB header block: %d, want 431", resp.StatusCode)
	}
	if handled.Load() != 0 {
		t.Error("the handler ran for an oversized header block")
	}
}

// TestSlowDownloadOutlivesWriteTimeout: a download that keeps moving (/files/) is not cut off by
// http.write_timeout, which bounds each write instead of the whole answer; without the rolling
// deadline the same answer is cut.
func TestSlowDownloadOutlivesWriteTimeout(t *testing.T) {
	cfg, _, err := config.Load("serve", []string{"--http-write-timeout", "1s"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	a := &app{cfg: cfg, log: zap.NewNop()}
	chunk := strings.Repeat("x", 64<<10)
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for range 8 { // 8 writes 400 ms apart: 3 s in all
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
			http.NewResponseController(w).Flush()
			time.Sleep(400 * time.Millisecond)
		}
	})
	for _, c := range []struct {
		name    string
		h       http.Handler
		reached bool
	}{{"rolling", rollingWrites(slow, cfg.HTTP.WriteTimeout), true}, {"whole answer", slow, false}} {
		srv := a.httpServer(c.h)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(l)
		resp, err := http.Get("http://" + l.Addr().String() + "/files/x")
		n := int64(0)
		if err == nil {
			n, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		srv.Close()
		if got := n == int64(8*len(chunk)); got != c.reached {
			t.Errorf("%s: %d of %d bytes arrived", c.name, n, 8*len(chunk))
		}
	}
}
