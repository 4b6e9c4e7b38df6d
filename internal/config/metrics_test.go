package config

import (
	"strings"
	"testing"
)

// /metrics has its own listener (issue 15, must 9): loopback by default, never the public address,
// off with "off" (a flag or variable cannot be empty), and a token file only with a listener.
func TestMetricsListener(t *testing.T) {
	c, _, err := Load("serve", nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Metrics.Listen != "127.0.0.1:9464" || !c.MetricsLoopback() {
		t.Errorf("default metrics.listen %q (loopback %v), want 127.0.0.1:9464 on loopback", c.Metrics.Listen, c.MetricsLoopback())
	}
	if c, _, err = Load("serve", []string{"--metrics-listen", "off"}, env(nil)); err != nil || c.Metrics.Listen != "" {
		t.Errorf("--metrics-listen off: %q, %v; want it empty (off)", c.Metrics.Listen, err)
	}
	if c, _, err = Load("serve", []string{"--metrics-listen", "0.0.0.0:9464", "--metrics-token-file", "/etc/signet/metrics.token"}, env(nil)); err != nil || c.MetricsLoopback() {
		t.Errorf("0.0.0.0:9464 with a token file: %v, loopback %v", err, c != nil && c.MetricsLoopback())
	}
	for _, args := range [][]string{
		{"--metrics-listen", "9464"},
		{"--listen", "127.0.0.1:8080", "--metrics-listen", "127.0.0.1:8080"},
		{"--metrics-listen", "off", "--metrics-token-file", "/etc/signet/metrics.token"},
	} {
		if _, _, err := Load("serve", args, env(nil)); err == nil || !strings.Contains(err.Error(), "metrics.") {
			t.Errorf("%v: want an error naming the metrics setting, got %v", args, err)
		}
	}
}
