package config

import (
	"net/netip"
	"strings"
	"testing"
)

// The limits of issue 15 (found 8 and 11) cannot be switched off or set out of order.
func TestBoundsAreRefusedWithTheirName(t *testing.T) {
	cases := map[string][]string{
		"http.read_timeout":     {"--http-read-timeout", "0s"},
		"http.idle_timeout":     {"--http-idle-timeout", "0s"},
		"http.max_header_bytes": {"--http-max-header-bytes", "100"},
		"http.trusted_proxies":  {"--http-trusted-proxies", "10.0.0.0/8,proxy.example"},
		"verify.per_client":     {"--verify-per-client", "0"},
		"pdf.max_stream_bytes":  {"--pdf-max-stream-bytes", "1024"},
		"pdf.decode_budget":     {"--pdf-max-document-bytes", "134217728", "--pdf-decode-budget", "67108864"},
	}
	for key, args := range cases {
		_, _, err := Load("serve", args, env(nil))
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%v: want an error naming %s, got %v", args, key, err)
		}
	}
}

func TestTrustedProxies(t *testing.T) {
	c, _, err := Load("serve", []string{"--http-trusted-proxies", "10.0.0.0/8, 192.0.2.7,2001:db8::1"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.TrustedProxies()
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("2001:db8::1/128")}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("proxy %d: %v, want %v", i, got[i], want[i])
		}
	}
}
