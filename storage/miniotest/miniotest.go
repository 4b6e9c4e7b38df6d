// Package miniotest runs a real MinIO server for tests: it finds the binary built by the test task,
// starts it on a free 127.0.0.1 port with a temporary directory and random root credentials, waits until
// it is live, and can stop and start it again on the same port and directory for outage tests.
//
// It must never reach beyond loopback: the server listens on 127.0.0.1 only, with the update check,
// call-home and the web console turned off. It does not import Signet's storage package, so that
// package's own tests can use it.
package miniotest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"go/build"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
)

// Server is one MinIO process under test control.
type Server struct {
	Endpoint  string // host:port on 127.0.0.1, stable across Stop/Start
	AccessKey string // root user (random per server)
	SecretKey string // root password (random per server)
	Dir       string // data, certs and log live here

	t       testing.TB
	bin     string
	console string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Binary returns the MinIO server binary: $SIGNET_MINIO_BIN, else $GOPATH/bin/minio (where
// `go install github.com/minio/minio@…` puts it), else minio on PATH. Missing → the test is skipped,
// or fails under SIGNET_TEST_STRICT=1 / CI, like testenv.RequireTool.
func Binary(t testing.TB) string {
	t.Helper()
	var tried []string
	if p := os.Getenv("SIGNET_MINIO_BIN"); p != "" {
		if isExecutable(p) {
			return p
		}
		tried = append(tried, p+" (SIGNET_MINIO_BIN)")
	}
	for _, gp := range filepath.SplitList(build.Default.GOPATH) {
		p := filepath.Join(gp, "bin", "minio")
		if isExecutable(p) {
			return p
		}
		tried = append(tried, p)
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p
	}
	tried = append(tried, "minio on PATH")
	msg := fmt.Sprintf("minio server binary not found (tried %s); build it with `go install github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c` or set SIGNET_MINIO_BIN", strings.Join(tried, ", "))
	if testenv.Strict() {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// Start finds the binary (see Binary), starts a fresh server and stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, bin: Binary(t), Dir: t.TempDir(), AccessKey: "signet-" + randHex(4), SecretKey: randHex(20)}
	s.Endpoint, s.console = freePort(t), freePort(t)
	t.Cleanup(s.Stop)
	s.Start()
	return s
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("miniotest: no free port on 127.0.0.1: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Start (re)starts the server on the same port and directory and waits until it is live. A no-op if it
// is running.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	logPath := filepath.Join(s.Dir, "minio.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.t.Fatalf("miniotest: %v", err)
	}
	cmd := exec.Command(s.bin, "server", filepath.Join(s.Dir, "data"),
		"--address", s.Endpoint, "--console-address", s.console,
		"--certs-dir", filepath.Join(s.Dir, "certs"), "--quiet")
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + s.Dir,
		"MINIO_ROOT_USER=" + s.AccessKey,
		"MINIO_ROOT_PASSWORD=" + s.SecretKey,
		"MINIO_UPDATE=off",          // no update check against dl.min.io
		"MINIO_CALLHOME_ENABLE=off", // no diagnostics to SUBNET (off by default; made explicit)
		"MINIO_BROWSER=off",         // no web console
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		s.t.Fatalf("miniotest: starting %s: %v", s.bin, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	s.cmd, s.done = cmd, done

	deadline := time.Now().Add(30 * time.Second)
	for {
		if s.ready(context.Background()) {
			return
		}
		select {
		case <-done:
			s.cmd = nil
			s.t.Fatalf("miniotest: minio exited during start-up; log:\n%s", tail(logPath))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stopLocked()
			s.t.Fatalf("miniotest: minio not live on %s after 30 s; log:\n%s", s.Endpoint, tail(logPath))
		}
	}
}

// Stop terminates the server (SIGTERM, then SIGKILL after 10 s) and waits for it; data stays in Dir.
// A no-op if it is not running.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *Server) stopLocked() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd, s.done = nil, nil
}

// URL is a Signet storage URL for this server.
func (s *Server) URL(bucket, prefix string) string {
	u := "s3://" + bucket
	if prefix != "" {
		u += "/" + strings.Trim(prefix, "/")
	}
	return u + "?endpoint=" + s.Endpoint + "&secure=false"
}

// Client is a raw minio-go client with the root credentials, for tests that go behind Signet's back.
// It retries twice only, so calls against a stopped server fail fast.
func (s *Server) Client(t testing.TB) *minio.Client {
	t.Helper()
	c, err := minio.New(s.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""), Secure: false, MaxRetries: 2})
	if err != nil {
		t.Fatalf("miniotest: client: %v", err)
	}
	return c
}

// ready: GET /minio/health/live answers 200 as soon as the HTTP server runs, but marks a server
// whose object layer is still initialising with "x-minio-server-status: offline" (S3 calls then fail
// with XMinioServerNotInitialized); /minio/health/cluster answers 200 only once it can serve.
func (s *Server) ready(ctx context.Context) bool {
	hc := &http.Client{Timeout: time.Second}
	get := func(path string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.Endpoint+path, nil)
		if err != nil {
			return nil, err
		}
		return hc.Do(req)
	}
	resp, err := get("/minio/health/live")
	if err != nil {
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Minio-Server-Status") == "offline" {
		return false
	}
	resp, err = get("/minio/health/cluster")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Ready reports whether the server is up and serving S3 requests.
func (s *Server) Ready(ctx context.Context) bool { return s.ready(ctx) }

func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return "(empty)"
	}
	return string(b)
}
