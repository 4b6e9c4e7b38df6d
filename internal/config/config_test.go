package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestPrecedenceDefaultsFileEnvFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "signet.yaml")
	yaml := "listen: 127.0.0.1:9000\nnats:\n  url: nats://a:4222\nworker:\n  batch: 7\ntokens:\n  - name: usb\n    module: /usr/lib/x.so\n    label: acme\n    pin_env: ACME_PIN\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, rest, err := Load("serve", []string{"--config", file, "--worker-batch", "9", "extra"},
		env(map[string]string{"SIGNET_NATS_URL": "nats://b:4222", "SIGNET_WORKER_BATCH": "8"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9000" {
		t.Errorf("file must override the default listen: %s", c.Listen)
	}
	if c.NATS.URL != "nats://b:4222" {
		t.Errorf("env must override the file: %s", c.NATS.URL)
	}
	if c.Worker.Batch != 9 {
		t.Errorf("flag must override env and file: %d", c.Worker.Batch)
	}
	if c.Worker.Interactive != 8 || c.Storage.Retention != 14*24*time.Hour {
		t.Errorf("untouched settings keep their defaults: %d %s", c.Worker.Interactive, c.Storage.Retention)
	}
	if len(c.Tokens) != 1 || c.Tokens[0].PinEnv != "ACME_PIN" {
		t.Errorf("tokens list from the file: %+v", c.Tokens)
	}
	if c.PublicURL != "http://127.0.0.1:9000" {
		t.Errorf("public_url derives from listen: %s", c.PublicURL)
	}
	if len(rest) != 1 || rest[0] != "extra" {
		t.Errorf("arguments after the flags: %v", rest)
	}
}

func TestBadSettingsAreRefusedWithTheirName(t *testing.T) {
	cases := map[string][]string{
		"storage.link_ttl":       {"--storage-link-ttl", "200h"},
		"worker.ack_wait":        {"--worker-ack-wait", "10ms"},
		"log.format":             {"--log-format", "xml"},
		"nats.replicas":          {"--nats-replicas", "7"},
		"worker.max_ack_pending": {"--worker-max-ack-pending", "-1"},
		"signing.tsa_url":        {"--signing-tsa-url", "ftp://tsa.example/"},
		"signing.time_zone":      {"--signing-time-zone", "Mars/Olympus"},
		"ca.revocation_url":      {"--ca-revocation-url", "signet.example"},
		"signing.level":          {"--signing-level", "lta"}, // a document timestamp needs signing.tsa_url
	}
	for key, args := range cases {
		_, _, err := Load("serve", args, env(nil))
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%v: want an error naming %s, got %v", args, key, err)
		}
	}
	// A timestamp authority's password would be shown in errors: refused, and not repeated.
	if _, _, err := Load("serve", []string{"--signing-tsa-url", "https://user:s3cret@tsa.example/"}, env(nil)); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("a TSA URL with a password must be refused without repeating it: %v", err)
	}
	if _, _, err := Load("serve", []string{"--signing-level", "b-ltv"}, env(nil)); err == nil || !strings.Contains(err.Error(), "signing.level") {
		t.Errorf("an unknown PAdES level must be refused naming signing.level: %v", err)
	}
	if _, _, err := Load("serve", []string{"--signing-level", "lta", "--signing-tsa-url", "https://tsa.example/"}, env(nil)); err != nil {
		t.Errorf("signing.level lta with a TSA: %v", err)
	}
	if _, _, err := Load("serve", []string{"--worker-batch", "many"}, env(nil)); err == nil || !strings.Contains(err.Error(), "worker-batch") {
		t.Errorf("a non-number must be refused naming the flag: %v", err)
	}
}

// MaxAckPending comes from worker.max_ack_pending, or 4 × this process's pools when it is 0.
func TestAckPending(t *testing.T) {
	c, _, err := Load("serve", []string{"--worker-interactive", "8", "--worker-batch", "4", "--worker-callbacks", "32"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.AckPending(); got != 176 {
		t.Errorf("derived MaxAckPending %d, want 4 × (8+4+32) = 176", got)
	}
	c, _, err = Load("serve", nil, env(map[string]string{"SIGNET_WORKER_MAX_ACK_PENDING": "1000"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.AckPending(); got != 1000 {
		t.Errorf("MaxAckPending %d, want the configured 1000", got)
	}
}

func TestUnknownYAMLKeyIsRefused(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(file, []byte("nats:\n  ulr: nats://typo\n"), 0o600)
	if _, _, err := Load("serve", []string{"--config", file}, env(nil)); err == nil || !strings.Contains(err.Error(), "ulr") {
		t.Fatalf("a misspelt key must be refused by name: %v", err)
	}
}

func TestTokenPINNeverASettingValue(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(file, []byte("tokens:\n  - module: /x.so\n    label: a\n"), 0o600)
	if _, _, err := Load("serve", []string{"--config", file}, env(nil)); err == nil || !strings.Contains(err.Error(), "pin_file") {
		t.Fatalf("a token without a PIN source must be refused: %v", err)
	}
}

// Every setting must be documented in the settings reference, docs/operations.md (moved there from
// the README, issue 16 must 5), with its environment variable, and named in its Russian version.
func TestEverySettingIsInTheREADME(t *testing.T) {
	en, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	ru, err := os.ReadFile("../../docs/operations.ru.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Defaults().Settings() {
		if !strings.Contains(string(ru), "`"+s.Key+"`") || !strings.Contains(string(ru), s.Env()) {
			t.Errorf("docs/operations.ru.md does not name setting %s (%s): add its row to the Russian settings table", s.Key, s.Env())
		}
		if !strings.Contains(string(en), "`"+s.Key+"`") || !strings.Contains(string(en), s.Env()) {
			t.Errorf("docs/operations.md does not document setting %s (%s): paste the row of `signet config`", s.Key, s.Env())
		}
	}
}

func TestExternalSettingsAreChecked(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--external-seal-credential", "seal"}, "external.seal_credential"},
		{[]string{"--external-seal-credential", "pkcs11:token=a;object=b;pin-value=1234"}, "without a PIN"},
		{[]string{"--external-code-attempts", "0"}, "external.code_attempts"},
		{[]string{"--external-link-ttl", "0s"}, "external.link_ttl"},
		{[]string{"--external-sms-provider", "twilio"}, "external.sms_provider"},
	} {
		cfg, _, err := Load("test", c.args, func(string) string { return "" })
		if err == nil {
			err = cfg.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error naming %s", c.args, err, c.want)
		}
	}
	cfg, _, err := Load("test", []string{"--external-seal-credential", "pkcs11:token=acme;object=seal"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("a good seal: %v", err)
	}
	if cfg.External.LinkTTL != 14*24*time.Hour || cfg.External.CodeAttempts != 5 {
		t.Errorf("defaults: %+v", cfg.External)
	}
}
