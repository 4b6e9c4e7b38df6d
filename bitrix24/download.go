package bitrix24

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// browser-like headers: the portal's nginx answers 404 to bare clients (reference §4.2, §11).
const downloadUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36 signet"

// newDownloadClient builds the HTTP client of Download: redirects only on the first request's
// scheme+host, and (unless allowPrivate) a dialer that refuses loopback/private/link-local addresses
// after DNS resolution, so a DNS answer cannot point us inside the network.
func newDownloadClient(allowPrivate bool) *http.Client {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			ip, err := netip.ParseAddr(host)
			if err != nil {
				return fmt.Errorf("%w: %q", ErrPrivateAddress, host)
			}
			if !publicAddr(ip) {
				return fmt.Errorf("%w (%s); set AllowPrivate for on-premise portals", ErrPrivateAddress, ip)
			}
			return nil
		}
	}
	tr := portalTransport()
	tr.DialContext = d.DialContext
	tr.Proxy = nil // a proxy would dial for us and bypass the address check
	tr.ResponseHeaderTimeout = 60 * time.Second
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return fmt.Errorf("bitrix24: download: more than 5 redirects")
			}
			// Another host or scheme (https→http included) is where the auth= of the URL must not go; a
			// renamed portal is an administrator's step (ErrPortalMoved: the job retries later).
			if !sameOrigin(req.URL, via[0].URL) {
				return fmt.Errorf("%w: download redirected from %s://%s to %s://%s; not followed, no token was sent there",
					ErrPortalMoved, via[0].URL.Scheme, via[0].URL.Host, req.URL.Scheme, req.URL.Host)
			}
			return nil
		},
	}
}

// idleConnsPerHost is how many idle keep-alive connections to one portal are kept. Go's default is 2:
// with more requests than that in flight at once (every sign and callback worker calls the same
// portal), each extra response closed its connection and the next request dialled a new one.
const idleConnsPerHost = 64

// portalTransport is Go's default transport with enough idle connections per portal host.
func portalTransport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = idleConnsPerHost
	tr.MaxIdleConns = 4 * idleConnsPerHost
	return tr
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

func publicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsGlobalUnicast() && !ip.IsPrivate() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() && !cgnat.Contains(ip)
}

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Host, b.Host)
}

// Download fetches fileURL (a DOWNLOAD_URL or urlMachine, reference §4.2) into w and returns the
// byte count. The URL must be on the portal's own scheme+host (from the stored client_endpoint);
// redirects off that host are refused; bodies over maxBytes fail with ErrTooLarge (w may then hold a
// partial prefix: write to a temporary place). The URL carries auth=, so it is never logged nor put
// into an error.
func (c *Client) Download(ctx context.Context, memberID, fileURL string, maxBytes int64, w io.Writer) (int64, error) {
	a, err := c.load(ctx, memberID)
	if err != nil {
		return 0, err
	}
	base, err := a.PortalBase()
	if err != nil {
		return 0, err
	}
	u, err := url.Parse(fileURL)
	if err != nil || u.Host == "" {
		return 0, fmt.Errorf("bitrix24: download for portal %s: file URL is not an absolute URL", memberID)
	}
	if !sameOrigin(u, base) {
		return 0, fmt.Errorf("%w: file for portal %s is on %s, expected %s; only files on the portal are fetched", ErrForeignHost, memberID, u.Host, base.Host)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, fmt.Errorf("bitrix24: download for portal %s: %w", memberID, stripURL(err))
	}
	req.Header.Set("User-Agent", downloadUA)
	req.Header.Set("Accept", "*/*")
	req.Header.Set("Accept-Language", "en-US,en;q=0.9")
	req.Header.Set("Referer", base.String()+"/")
	resp, err := c.dl.Do(req)
	if err != nil {
		return 0, fmt.Errorf("bitrix24: download from portal %s (%s): %w", memberID, base.Host, stripURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("bitrix24: download from portal %s (%s): HTTP %d; the auth= token in the file URL may have expired, fetch a fresh URL (disk.file.get / crm.item.get)", memberID, base.Host, resp.StatusCode)
	}
	if maxBytes > 0 && resp.ContentLength > maxBytes {
		return 0, fmt.Errorf("%w: portal %s file is %d bytes, limit %d", ErrTooLarge, memberID, resp.ContentLength, maxBytes)
	}
	var src io.Reader = resp.Body
	if maxBytes > 0 {
		src = io.LimitReader(resp.Body, maxBytes+1)
	}
	n, err := io.Copy(w, src)
	if err != nil {
		return n, fmt.Errorf("bitrix24: download from portal %s (%s): %w", memberID, base.Host, stripURL(err))
	}
	if maxBytes > 0 && n > maxBytes {
		return n, fmt.Errorf("%w: portal %s file exceeds the limit of %d bytes", ErrTooLarge, memberID, maxBytes)
	}
	return n, nil
}
