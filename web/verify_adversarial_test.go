package web

// Adversarial tests of the public verification page's limits (verifylimit.go): a slow upload, an
// oversized one and a decompression bomb are refused without taking the page from anyone else, and
// no upload is left on disk.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-b24/signet/internal/testsupport/pdfgen"
)

// verifyServer serves the verification page behind a "proxy" at 127.0.0.1, so that each test
// client can be a different address (X-Forwarded-For); uploads go to a temporary directory the
// test checks is empty afterwards.
func verifyServer(t *testing.T, maxPDF int64, lim VerifyLimits) (*httptest.Server, string) {
	t.Helper()
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	lim.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}
	p := New(Config{MaxPDFBytes: maxPDF, Verify: lim})
	mux := http.NewServeMux()
	p.Routes(mux)
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ReadHeaderTimeout = 5 * time.Second
	srv.Start()
	t.Cleanup(srv.Close)
	p.origin = srv.URL
	servers.Store(srv, p)
	return srv, tmp
}

// servers maps a test server to its pages, for uploading waits on the limiter's state.
var servers sync.Map

// uploading waits until client has n uploads in progress on srv (a liveness bound of a minute).
func uploading(t *testing.T, srv *httptest.Server, client string, n int) {
	t.Helper()
	v, _ := servers.Load(srv)
	p := v.(*Pages)
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		p.verify.mu.Lock()
		c := p.verify.clients[client]
		active := 0
		if c != nil {
			active = c.active
		}
		p.verify.mu.Unlock()
		if active == n {
			return
		}
	}
	t.Fatalf("%s never had %d uploads in progress", client, n)
}

// uploadFrom posts data as the verification form does, as client address from ("": the test's own).
func uploadFrom(t *testing.T, srv *httptest.Server, from, name string, data []byte) (int, string) {
	t.Helper()
	req := uploadRequest(srv, name, data)
	if from != "" {
		req.Header.Set("X-Forwarded-For", from)
	}
	return answerPage(t, req)
}

// uploadRequest is the verification form's POST of data as the file name, from the page itself.
func uploadRequest(srv *httptest.Server, name string, data []byte) *http.Request {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("pdf", name)
	fw.Write(data)
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/verify", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", srv.URL)
	return req
}

// uploadStream posts the verification form with a file part that write fills as it goes, sent
// chunked as a browser sends a large file; a write error aborts the upload.
func uploadStream(t *testing.T, srv *httptest.Server, write func(io.Writer) error) (int, string) {
	t.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		fw, _ := mw.CreateFormFile("pdf", "big.pdf")
		if err := write(fw); err != nil {
			pw.CloseWithError(err)
			return
		}
		mw.Close()
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/verify", pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return answerPage(t, req)
}

// answerPage sends req and returns the status and the page.
func answerPage(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(page)
}

// slowUpload opens a raw connection and starts an upload of a declared size that it then sends
// one byte a second of; the connection is returned for reading the answer.
func slowUpload(t *testing.T, srv *httptest.Server, from string, declared int) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	const boundary = "slowloris"
	head := "--" + boundary + "\r\nContent-Disposition: form-data; name=\"pdf\"; filename=\"slow.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.7\n"
	fmt.Fprintf(c, "POST /verify HTTP/1.1\r\nHost: %s\r\nOrigin: %s\r\nX-Forwarded-For: %s\r\nContent-Type: multipart/form-data; boundary=%s\r\nContent-Length: %d\r\n\r\n%s",
		srv.Listener.Addr(), srv.URL, from, boundary, declared, head)
	go func() {
		for range 120 {
			time.Sleep(time.Second)
			if _, err := c.Write([]byte{'x'}); err != nil {
				return
			}
		}
	}()
	return c
}

// answer reads the HTTP status of the answer on c, waiting at most a minute (a liveness bound: the
// server must answer at all, not within a time).
func answer(t *testing.T, c net.Conn) int {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(time.Minute))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to the slow upload: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func noUploadsLeft(t *testing.T, dir string) {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(dir, "signet-verify-*"))
	if len(left) > 0 {
		t.Errorf("uploads left on disk: %v", left)
	}
}

// TestAttackSlowLorisVerify: one client opens slow uploads (a byte a second). It gets its two slots
// and no more; another client's verification goes through meanwhile; and the slow uploads are cut
// off (408) instead of being waited for. Before the fix, two slow uploads held both verification
// slots and everyone else got 503.
func TestAttackSlowLorisVerify(t *testing.T) {
	signed, err := os.ReadFile("../testdata/pdf/pdfsig-signed.pdf")
	if err != nil {
		t.Fatal(err)
	}
	srv, tmp := verifyServer(t, 1<<20, VerifyLimits{PerClient: 2, MinUploadRate: 64 << 10, UploadGrace: 2 * time.Second})
	const attacker, honest = "203.0.113.7", "198.51.100.9"
	slow := []net.Conn{slowUpload(t, srv, attacker, 512<<10), slowUpload(t, srv, attacker, 512<<10)}
	uploading(t, srv, attacker, 2)

	third := slowUpload(t, srv, attacker, 512<<10)
	if status := answer(t, third); status != http.StatusTooManyRequests {
		t.Errorf("a third upload from the same client: %d, want 429", status)
	}
	status, page := uploadFrom(t, srv, honest, "signed.pdf", signed)
	if status != http.StatusOK || !strings.Contains(page, "Poppler Test Signer") {
		t.Fatalf("another client's verification while the slow uploads hang: %d\n%s", status, page)
	}
	for i, c := range slow {
		if status := answer(t, c); status != http.StatusRequestTimeout {
			t.Errorf("slow upload %d: %d, want 408", i, status)
		}
	}
	// Their slots are free again: the same client may upload at a normal speed.
	if status, _ := uploadFrom(t, srv, attacker, "signed.pdf", signed); status != http.StatusOK {
		t.Errorf("the slow client, now uploading normally: %d", status)
	}
	noUploadsLeft(t, tmp)
}

// TestAttackOversizedUpload: a declared body over the limit is refused with 413 before it is read,
// and an undeclared (chunked) one as soon as it passes the limit; nothing stays on disk.
func TestAttackOversizedUpload(t *testing.T) {
	srv, tmp := verifyServer(t, 1<<20, VerifyLimits{})
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /verify HTTP/1.1\r\nHost: %s\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: %d\r\n\r\n", srv.Listener.Addr(), 1<<30)
	if status := answer(t, c); status != http.StatusRequestEntityTooLarge {
		t.Errorf("a declared 1 GB upload: %d, want 413 before the body", status)
	}

	status, page := uploadStream(t, srv, func(fw io.Writer) error {
		fw.Write([]byte("%PDF-1.7\n"))
		chunk := make([]byte, 64<<10)
		for range 64 { // 4 MiB, four times the limit
			if _, err := fw.Write(chunk); err != nil {
				return err
			}
		}
		return nil
	})
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(page, "larger than 1 MB") {
		t.Errorf("a chunked 4 MB upload: %d\n%s", status, page)
	}
	noUploadsLeft(t, tmp)
}

// TestAttackBombThroughVerifyPage: a 100 KB PDF whose object stream inflates to 200 MB is refused
// with the clear error (422), in bounded memory, and the page keeps working.
func TestAttackBombThroughVerifyPage(t *testing.T) {
	bomb := pdfgen.Bomb(200)
	srv, tmp := verifyServer(t, 10<<20, VerifyLimits{})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	status, page := uploadFrom(t, srv, "203.0.113.7", "bomb.pdf", bomb)
	runtime.ReadMemStats(&after)
	if status != http.StatusUnprocessableEntity || !strings.Contains(page, "decompression bomb") {
		t.Fatalf("the bomb: %d\n%s", status, page)
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("verifying a %d KB bomb allocated %d MiB", len(bomb)>>10, allocated>>20)
	if allocated > 200<<20 {
		t.Errorf("verifying the bomb allocated %d MiB; the decoding budget should keep it near 2 × 32 MiB", allocated>>20)
	}
	signed, err := os.ReadFile("../testdata/pdf/pdfsig-signed.pdf")
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := uploadFrom(t, srv, "198.51.100.9", "signed.pdf", signed); status != http.StatusOK {
		t.Errorf("after the bomb: %d", status)
	}
	noUploadsLeft(t, tmp)
}

// TestAttackUploadRate: one client may start only Burst uploads at once, then RatePerMinute.
func TestAttackUploadRate(t *testing.T) {
	srv, tmp := verifyServer(t, 1<<20, VerifyLimits{RatePerMinute: 1, Burst: 3})
	for i := range 5 {
		status, _ := uploadFrom(t, srv, "203.0.113.7", "x.pdf", []byte("not a pdf"))
		if want := map[bool]int{true: http.StatusOK, false: http.StatusTooManyRequests}[i < 3]; status != want {
			t.Errorf("upload %d: %d, want %d", i, status, want)
		}
	}
	if status, _ := uploadFrom(t, srv, "198.51.100.9", "x.pdf", []byte("not a pdf")); status != http.StatusOK {
		t.Errorf("another client: %d", status)
	}
	noUploadsLeft(t, tmp) // the refused uploads were not stored, the accepted ones deleted
}

// TestClientAddress: X-Forwarded-For counts only from a trusted proxy, and only its untrusted end.
func TestClientAddress(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, c := range []struct{ remote, xff, want string }{
		{"203.0.113.7:5555", "1.2.3.4", "203.0.113.7"},             // not a proxy: the header is the client's word
		{"10.0.0.2:5555", "1.2.3.4", "1.2.3.4"},                    // through the proxy
		{"10.0.0.2:5555", "6.6.6.6, 1.2.3.4, 10.0.0.3", "1.2.3.4"}, // the client's own header value is not believed
		{"10.0.0.2:5555", "", "10.0.0.2"},
		{"[2001:db8:1:2:3::4]:443", "", "2001:db8:1:2::/64"},
	} {
		r := httptest.NewRequest(http.MethodPost, "/verify", nil)
		r.RemoteAddr = c.remote
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := clientAddress(r, trusted); got != c.want {
			t.Errorf("%s with %q: %s, want %s", c.remote, c.xff, got, c.want)
		}
	}
}

// TestSteadyUploadOutlivesReadTimeout: a large upload that keeps arriving faster than
// verify.min_upload_rate is not cut off by the server's (short) read and write timeouts: the page
// moves the deadlines as the bytes come.
func TestSteadyUploadOutlivesReadTimeout(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.pdf")
	if _, err := pdfgen.WriteBig(big, 400<<10, 100<<10); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(big)
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := verifyServer(t, 4<<20, VerifyLimits{MinUploadRate: 64 << 10, UploadGrace: time.Second})
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = time.Second, time.Second
	status, page := uploadStream(t, srv, func(fw io.Writer) error {
		for off := 0; off < len(data); off += 32 << 10 { // 128 KiB/s: twice the minimum, over ~3 s
			fw.Write(data[off:min(off+32<<10, len(data))])
			time.Sleep(250 * time.Millisecond)
		}
		return nil
	})
	// The whole file arrived and was read: an unsigned PDF is reported as such.
	if status != http.StatusOK || !strings.Contains(page, "This PDF has no digital signature.") {
		t.Fatalf("a steady 3 s upload with 1 s server timeouts: %d\n%s", status, page)
	}
}
