package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/signet-b24/signet/internal/config"
)

// everyCommand is every command and subcommand line, for the tests that walk them all.
var everyCommand = [][]string{
	{"serve"}, {"intake"}, {"worker"}, {"demo"}, {"sign"}, {"verify"}, {"extend"}, {"config"}, {"version"},
	{"admin"}, {"admin", "user"}, {"admin", "ca"}, {"admin", "cert"}, {"admin", "bitrix24"}, {"admin", "local-admin"}, {"admin", "keys"},
	{"admin", "user", "add"}, {"admin", "user", "list"}, {"admin", "user", "show"}, {"admin", "user", "enrol"},
	{"admin", "user", "map"}, {"admin", "user", "otp-disable"},
	{"admin", "ca", "init"}, {"admin", "ca", "issue"}, {"admin", "ca", "export"},
	{"admin", "cert", "list"}, {"admin", "cert", "self-signed"}, {"admin", "cert", "import"}, {"admin", "cert", "disable"},
	{"admin", "bitrix24", "register"}, {"admin", "bitrix24", "portals"}, {"admin", "bitrix24", "move"}, {"admin", "bitrix24", "resume"},
	{"admin", "bitrix24", "add"}, {"admin", "bitrix24", "remove"}, {"admin", "bitrix24", "allowed"}, {"admin", "keys", "rotate"},
	{"admin", "local-admin", "set"}, {"admin", "local-admin", "list"}, {"admin", "local-admin", "remove"},
	{"audit"}, {"audit", "verify"}, {"audit", "export"}, {"audit", "show"},
	{"archive"}, {"archive", "status"},
	{"enqueue"}, {"route"}, {"route", "start"}, {"route", "status"}, {"route", "cancel"}, {"route", "remove-party"}, {"batch"}, {"batch", "status"}, {"batch", "list"}, {"batch", "collect"}, {"config", "check"}, {"config", "print"},
	{"setup"}, {"status"}, {"dlq"}, {"dlq", "list"}, {"dlq", "show"}, {"dlq", "retry"}, {"dlq", "purge"},
}

// --help, -h and `help` exit 0 on every command and subcommand and print something (issue 16, must 6).
func TestHelpExitsZero(t *testing.T) {
	for _, cmd := range everyCommand {
		for _, h := range []string{"--help", "-h"} {
			args := append(append([]string{}, cmd...), h)
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
				t.Errorf("signet %s: exit %d, want 0\n%s", strings.Join(args, " "), code, stderr.String())
			}
			if stdout.Len()+stderr.Len() == 0 {
				t.Errorf("signet %s printed nothing", strings.Join(args, " "))
			}
		}
	}
}

// A client command's help lists the settings it reads, not the server's (issue 16: `status --help`
// was 87 lines of server flags).
func TestHelpShowsOnlyTheCommandsFlags(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		has     []string
		hasNone []string
	}{
		{[]string{"status"}, []string{"-json", "-nats-url", "-expect-workers", "-data-dir"}, []string{"-metrics-listen", "-metrics-token-file", "-worker-batch", "-http-read-timeout", "-verify-burst", "-nats-sync-always"}},
		{[]string{"dlq", "list"}, []string{"-nats-url", "-all"}, []string{"-storage-url", "-worker-batch"}},
		{[]string{"batch", "list"}, []string{"-nats-url", "-json"}, []string{"-pdf-max-objects", "-bitrix24-burst"}},
		{[]string{"admin", "local-admin", "list"}, []string{"-security-admin-passwords-file", "-nats-url"}, []string{"-worker-batch", "-storage-url"}},
	} {
		var stdout, stderr bytes.Buffer
		run(context.Background(), append(tc.args, "--help"), &stdout, &stderr)
		help := stdout.String() + stderr.String()
		for _, f := range tc.has {
			if !strings.Contains(help, f) {
				t.Errorf("signet %s --help does not mention %s", strings.Join(tc.args, " "), f)
			}
		}
		for _, f := range tc.hasNone {
			if strings.Contains(help, f) {
				t.Errorf("signet %s --help lists %s, which it does not read", strings.Join(tc.args, " "), f)
			}
		}
	}
}

// Settings are typed flags: a bool alone sets it, a duration or a number is checked while parsing and
// the error names the flag; the file and the environment are still overridden only by flags given.
func TestTypedSettingFlags(t *testing.T) {
	env := func(k string) string {
		if k == "SIGNET_WORKER_BATCH" {
			return "7"
		}
		return ""
	}
	cfg, rest, err := config.Load("serve", []string{"--nats-sync-always", "--worker-ack-wait", "45s", "--bitrix24-portals=a.example,b.example", "--data-dir", t.TempDir(), "extra"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.NATS.SyncAlways || cfg.Worker.AckWait != 45*time.Second || cfg.Worker.Batch != 7 ||
		len(cfg.Bitrix24.Portals) != 2 || len(rest) != 1 || rest[0] != "extra" {
		t.Errorf("sync_always %v, ack_wait %s, batch %d (env), portals %q, rest %q", cfg.NATS.SyncAlways, cfg.Worker.AckWait, cfg.Worker.Batch, cfg.Bitrix24.Portals, rest)
	}
	for _, bad := range [][]string{{"--worker-batch", "many"}, {"--worker-ack-wait", "30"}, {"--nats-sync-always=maybe"}} {
		if _, _, err := config.Load("serve", bad, env); err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(strings.SplitN(bad[0], "=", 2)[0], "--")) {
			t.Errorf("%q: error %v, want one naming the flag", bad, err)
		}
	}
	var stdout, stderr bytes.Buffer
	run(context.Background(), []string{"serve", "--help"}, &stdout, &stderr)
	for _, line := range []string{"  -nats-sync-always\n", "  -worker-ack-wait duration\n", "  -worker-batch int\n", "  -verify-rate-per-minute float\n"} {
		if !strings.Contains(stderr.String(), line) {
			t.Errorf("serve --help has no line %q", line)
		}
	}
}
