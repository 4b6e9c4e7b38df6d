package bitrix24_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
)

// SSRF through a document URL at signing time (issue 15, must 8: "SSRF forms", defended before the
// issue and kept in the standing suite). A job's document URL, or the DOWNLOAD_URL a portal answers,
// may name any address; Download fetches only from the portal's own scheme and host, and never from a
// loopback, private or link-local address unless the portal is on-premise (AllowPrivate). Each form
// must fail before a connection is made: the witness counts TCP connections, not requests.

// countedPortal is a portal that serves a file and counts its connections. It is plain http (the
// download client trusts only the system's roots); the https→http downgrade is in the redirect tests.
func countedPortal(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "%PDF-1.4 file of the portal")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func downloadClient(t *testing.T, domain string, allowPrivate bool) *bitrix24.Client {
	t.Helper()
	store := bitrix24.NewMemoryTokenStore()
	a := bitrix24.Auth{MemberID: "m1", Domain: domain, ClientEndpoint: "http://" + domain + "/rest/", AccessToken: secretToken,
		RefreshToken: "s3cret-refresh", ApplicationToken: "app", Expires: time.Now().Add(time.Hour)}
	if err := store.Save(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	return bitrix24.NewClient(bitrix24.ClientConfig{ClientID: "app", ClientSecret: "s3cret-client",
		HTTPClient: &http.Client{Timeout: 10 * time.Second}, AllowPrivate: allowPrivate}, store)
}

func TestAttackSSRFDownloadURLForms(t *testing.T) {
	portal, portalConns := countedPortal(t)
	witness, dials := testenv.DialWitness(t)
	_, wport, _ := net.SplitHostPort(witness)
	host := strings.TrimPrefix(portal.URL, "http://") // 127.0.0.1:port
	ip, _, _ := net.SplitHostPort(host)
	c := downloadClient(t, host, true) // an on-premise portal on a private address, allowed
	ctx := context.Background()

	// The portal's own file arrives: the guard is by origin, not a refusal of everything.
	var buf strings.Builder
	if _, err := c.Download(ctx, "m1", portal.URL+"/upload/x.pdf?auth="+secretToken, 1<<20, &buf); err != nil || !strings.HasPrefix(buf.String(), "%PDF") {
		t.Fatalf("the portal's own file: %v", err)
	}
	ownConns := portalConns.Load()

	forms := []string{
		"http://" + witness + "/x.pdf",
		"http://" + host + "@" + witness + "/x.pdf",
		"http://" + witness + "/" + host + "/x.pdf",
		"https://" + host + "/x.pdf", // the portal's host, another scheme
		"http://" + ip + ":" + wport + "/x.pdf",
		"http://localhost:" + wport + "/x.pdf",
		"http://[::1]:" + wport + "/x.pdf",
		"http://[::ffff:127.0.0.1]:" + wport + "/x.pdf",
		"http://2130706433:" + wport + "/x.pdf",
		"http://0x7f000001:" + wport + "/x.pdf",
		"http://169.254.169.254/latest/meta-data/iam/security-credentials/",
		"http://metadata.google.internal/computeMetadata/v1/",
		"file:///etc/passwd",
		"ftp://" + witness + "/x.pdf",
		"//" + witness + "/x.pdf",
		"/upload/x.pdf",
		"http://" + witness + "\\@" + host + "/x.pdf",
	}
	for _, u := range forms {
		n, err := c.Download(ctx, "m1", u+"?auth="+secretToken, 1<<20, io.Discard)
		if err == nil || n != 0 {
			t.Errorf("%q: downloaded %d bytes (%v); want a refusal", u, n, err)
			continue
		}
		if strings.Contains(err.Error(), secretToken) {
			t.Errorf("%q: the refusal carries the URL's auth= token: %v", u, err)
		}
	}
	if d := dials.Load(); d != 0 {
		t.Fatalf("the witness address was dialled %d times", d)
	}
	if d := portalConns.Load() - ownConns; d != 0 {
		t.Fatalf("a refused form still connected to the portal %d times", d)
	}

	// DNS pointing inside the network: the stored portal is a name that resolves to loopback, and the
	// portal is not on-premise (no AllowPrivate). The dialer checks the resolved address, so even the
	// portal's "own" URL is refused before connecting.
	_, port, _ := net.SplitHostPort(host)
	strict := downloadClient(t, "localhost:"+port, false)
	before := portalConns.Load()
	for _, u := range []string{"http://localhost:" + port + "/upload/x.pdf", "http://LOCALHOST:" + port + "/upload/x.pdf"} {
		if _, err := strict.Download(ctx, "m1", u, 1<<20, io.Discard); !errors.Is(err, bitrix24.ErrPrivateAddress) {
			t.Errorf("%q resolving to loopback: %v; want ErrPrivateAddress", u, err)
		}
	}
	if d := portalConns.Load() - before; d != 0 {
		t.Fatalf("a private address was connected to %d times", d)
	}
}
