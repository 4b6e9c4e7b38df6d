package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// everyCommand is every command and subcommand line, for the tests that walk them all.
var everyCommand = [][]string{
	{"serve"}, {"intake"}, {"worker"}, {"demo"}, {"sign"}, {"verify"}, {"config"}, {"version"},
	{"admin"}, {"admin", "user"}, {"admin", "ca"}, {"admin", "cert"}, {"admin", "bitrix24"}, {"admin", "local-admin"},
	{"admin", "user", "add"}, {"admin", "user", "list"}, {"admin", "user", "show"}, {"admin", "user", "enrol"},
	{"admin", "user", "map"}, {"admin", "user", "otp-disable"},
	{"admin", "ca", "init"}, {"admin", "ca", "issue"}, {"admin", "ca", "export"},
	{"admin", "cert", "list"}, {"admin", "cert", "self-signed"}, {"admin", "cert", "import"}, {"admin", "cert", "disable"},
	{"admin", "bitrix24", "register"}, {"admin", "bitrix24", "portals"}, {"admin", "bitrix24", "move"},
	{"admin", "local-admin", "set"}, {"admin", "local-admin", "list"}, {"admin", "local-admin", "remove"},
	{"audit"}, {"audit", "verify"}, {"audit", "export"}, {"audit", "show"},
	{"enqueue"}, {"batch"}, {"batch", "status"}, {"batch", "list"},
	{"status"}, {"dlq"}, {"dlq", "list"}, {"dlq", "show"}, {"dlq", "retry"}, {"dlq", "purge"},
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
		{[]string{"status"}, []string{"-json", "-nats-url", "-metrics-listen", "-data-dir"}, []string{"-worker-batch", "-http-read-timeout", "-verify-burst", "-nats-sync-always"}},
		{[]string{"dlq", "list"}, []string{"-nats-url", "-all"}, []string{"-storage-url", "-worker-batch"}},
		{[]string{"batch", "list"}, []string{"-nats-url", "-json"}, []string{"-pdf-max-objects", "-bitrix24-burst"}},
		{[]string{"admin", "local-admin", "list"}, []string{"-security-admin-passwords-file"}, []string{"-nats-url"}},
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
