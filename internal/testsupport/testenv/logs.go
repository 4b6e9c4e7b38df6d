package testenv

import (
	"fmt"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest/observer"
)

// NoSecretsLogged fails t if any entry of logs holds one of secrets, in its message or its fields:
// PINs, OTP seeds, tokens and passwords never go in a log line (common rule; STYLE.md).
func NoSecretsLogged(t testing.TB, logs *observer.ObservedLogs, secrets ...string) {
	t.Helper()
	for _, e := range logs.All() {
		line := e.Message + fmt.Sprint(e.ContextMap())
		for _, s := range secrets {
			if s != "" && strings.Contains(line, s) {
				t.Errorf("log entry %q contains a secret", e.Message)
			}
		}
	}
}
