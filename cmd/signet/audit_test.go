package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/csv"
	"encoding/pem"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/audit"
	"github.com/signet-b24/signet/internal/config"
	"github.com/signet-b24/signet/internal/queue"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
)

func TestAuditCommands(t *testing.T) {
	s := natstest.Start(t)
	ctx := context.Background()
	if err := queue.Provision(ctx, s.JS, queue.Settings{}); err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	clock := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	w := audit.NewWriter(s.JS, key, audit.Options{Chain: "w1", CheckpointEvery: 3, CheckpointInterval: time.Hour, Now: func() time.Time { clock = clock.Add(time.Minute); return clock }})
	sum := strings.Repeat("a", 64)
	for _, e := range []contracts.AuditEvent{
		{Action: contracts.AuditRequestAccepted, Portal: "p1", Login: "mary", BitrixUserID: 7, JobID: "r1"},
		{Action: contracts.AuditOTPVerified, Portal: "p1", Login: "mary", BitrixUserID: 7, JobID: "r1"},
		{Action: contracts.AuditRequestRefused, Portal: "p2", Login: "john", BitrixUserID: 9, JobID: "r2", Reason: "OTP rejected, code already used"},
		{Action: contracts.AuditJobSigned, Portal: "p1", Login: "mary", BitrixUserID: 7, JobID: "r1", SHA256Before: sum, SHA256After: sum,
			Credential: "pkcs11:token=acme;object=mary-2026", CertSerial: "01:02", Outcome: contracts.AuditOK},
		{Action: contracts.AuditAdminChange, Login: "admin", Detail: "user mary: OTP disabled", Time: time.Now()},
	} {
		if err := w.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	der, _ := x509.MarshalPKIXPublicKey(key.Public())
	keyFile := filepath.Join(dir, "audit-key.pem")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600)
	url := s.Srv.ClientURL()
	signet := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(ctx, args, &out, &errOut)
		return code, out.String(), errOut.String()
	}

	code, out, errOut := signet("audit", "verify", "--nats-url", url, "--key", keyFile)
	// A checkpoint after the chain's first event, and after every 3 more.
	if code != 0 || !strings.Contains(out, "chain intact") || !strings.Contains(out, "2 with a valid signature") {
		t.Fatalf("verify: exit %d\n%s%s", code, out, errOut)
	}

	code, out, errOut = signet("audit", "export", "--nats-url", url, "--from", "2026-11-22", "--to", "2026-11-22", "--user", "mary", "--format", "csv")
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != 0 || err != nil || len(rows) != 4 || rows[0][0] != "id" || rows[3][3] != contracts.AuditJobSigned {
		t.Fatalf("csv export: exit %d, %v, %q\n%s", code, err, rows, errOut)
	}
	code, out, _ = signet("audit", "export", "--nats-url", url, "--user", "user_9")
	if code != 0 || strings.Count(out, "\n") != 1 || !strings.Contains(out, `"reason":"OTP rejected, code already used"`) {
		t.Fatalf("jsonl export by Bitrix24 user: exit %d\n%s", code, out)
	}
	code, out, _ = signet("audit", "export", "--nats-url", url, "--from", time.Now().Add(-time.Minute).UTC().Format(time.RFC3339))
	if code != 0 || strings.Count(out, "\n") != 1 || !strings.Contains(out, "OTP disabled") {
		t.Fatalf("export from an instant: exit %d\n%s", code, out)
	}

	code, out, errOut = signet("audit", "show", "--nats-url", url, "r1")
	if code != 0 || strings.Count(out, "\n") != 4 || !strings.Contains(out, "Job r1, portal p1") ||
		!strings.Contains(out, "request_accepted") || !strings.Contains(out, "certificate serial 01:02") || strings.Contains(out, "john") {
		t.Fatalf("show: exit %d\n%s%s", code, out, errOut)
	}
	golden(t, "audit_show", transcript([]string{url}, []string{"--nats-url", url},
		[]string{"audit", "show", "r1"}, []string{"audit", "show", "r1", "--json"}))
	if code, _, errOut := signet("audit", "show", "--nats-url", url, "r404"); code != 1 || !strings.Contains(errOut, "no audit events") {
		t.Fatalf("show of an unknown job: exit %d %s", code, errOut)
	}

	// A raw export verifies on its own; with a line deleted it does not.
	raw := filepath.Join(dir, "audit.raw")
	if code, _, errOut := signet("audit", "export", "--nats-url", url, "--format", "raw", "--out", raw); code != 0 {
		t.Fatalf("raw export: %s", errOut)
	}
	if code, out, _ := signet("audit", "verify", "--file", raw, "--key", keyFile); code != 0 || !strings.Contains(out, "chain intact") {
		t.Fatalf("verify --file: exit %d\n%s", code, out)
	}
	b, _ := os.ReadFile(raw)
	lines := strings.SplitAfter(string(b), "\n")
	os.WriteFile(raw, []byte(strings.Join(append(lines[:2:2], lines[3:]...), "")), 0o600)
	code, out, errOut = signet("audit", "verify", "--file", raw)
	if code != 1 || !strings.Contains(out, "BROKEN at event 3: missing events: chain w1, event 4") || !strings.Contains(errOut, "broken at event 3") {
		t.Fatalf("verify of a file with its third line deleted: exit %d\n%s%s", code, out, errOut)
	}

	if code, _, errOut := signet("audit", "verify", "--data-dir", dir); code != 1 || !strings.Contains(errOut, "no NATS to connect to") {
		t.Fatalf("verify without NATS: exit %d %s", code, errOut)
	}
}

// Checkpoints signed by a key on a SoftHSM token (the keyring's Credential(...).Key, as the worker
// gives the writer) verify against the certificate read from the same token with --key-uri.
func TestAuditCheckpointsWithATokenKey(t *testing.T) {
	testenv.RequireTool(t, "softhsm2-util")
	s := natstest.Start(t)
	ctx := context.Background()
	if err := queue.Provision(ctx, s.JS, queue.Settings{}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	t.Setenv("SIGNET_DATA_DIR", dir)
	cfg, _, err := config.Load("test", nil, os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	a := &app{cfg: cfg, log: zap.NewNop()}
	k, err := a.openTokens(ctx) // creates the demo token and its credential
	if err != nil {
		t.Fatal(err)
	}
	cred, err := k.Credential(ctx, cfg.Demo.Credential)
	if err != nil {
		t.Fatal(err)
	}
	w := audit.NewWriter(s.JS, cred.Key, audit.Options{CheckpointEvery: 2})
	for i := range 5 {
		if err := w.Record(ctx, contracts.AuditEvent{Action: contracts.AuditJobSigned, JobID: "r" + strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	k.Close()

	var out, errOut bytes.Buffer
	code := run(ctx, []string{"audit", "verify", "--nats-url", s.Srv.ClientURL(), "--key-uri", cfg.Demo.Credential}, &out, &errOut)
	if code != 0 || !strings.Contains(out.String(), "3 with a valid signature") || !strings.Contains(out.String(), "chain intact") {
		t.Fatalf("verify with the token's key: exit %d\n%s%s", code, out.String(), errOut.String())
	}
}

// `signet audit verify` on a trail of writer chains (issue 22): an intake without the service key and
// a worker with it, interleaved; each way of tampering with a raw export is reported, in English and
// in Russian (testdata/audit_verify_tampered*.golden), and the untouched export verifies.
func TestAuditVerifyTamperingGolden(t *testing.T) {
	s := natstest.Start(t)
	ctx := context.Background()
	if err := queue.Provision(ctx, s.JS, queue.Settings{}); err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	clock := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	now := func() time.Time { clock = clock.Add(time.Second); return clock }
	worker := audit.NewWriter(s.JS, key, audit.Options{Chain: "worker", CheckpointEvery: 3, CheckpointInterval: time.Hour, Now: now})
	intake := audit.NewWriter(s.JS, nil, audit.Options{Chain: "intake", CheckpointEvery: 3, CheckpointInterval: time.Hour, Now: now})
	for i := range 5 {
		job := "r" + strconv.Itoa(i)
		if err := intake.Record(ctx, contracts.AuditEvent{Action: contracts.AuditRequestAccepted, Portal: "p1", Login: "mary", JobID: job}); err != nil {
			t.Fatal(err)
		}
		if err := worker.Record(ctx, contracts.AuditEvent{Action: contracts.AuditJobSigned, Portal: "p1", Login: "mary", JobID: job, Outcome: contracts.AuditOK}); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	der, _ := x509.MarshalPKIXPublicKey(key.Public())
	keyFile := filepath.Join(dir, "audit-key.pem")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600)
	raw := filepath.Join(dir, "audit.raw")
	if code, _, errOut := signet("audit", "export", "--nats-url", s.Srv.ClientURL(), "--format", "raw", "--out", raw); code != 0 {
		t.Fatalf("raw export: %s", errOut)
	}
	b, _ := os.ReadFile(raw)
	lines := strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n")
	// Where each event is: "intake:3" → its line.
	at := map[string]int{}
	for i, l := range lines {
		e, err := audit.Decode(uint64(i+1), []byte(strings.TrimSpace(l)))
		if err != nil {
			t.Fatal(err)
		}
		at[e.Chain+":"+strconv.FormatUint(e.Seq, 10)] = i
	}
	edit := func(l, from, to string) string {
		if !strings.Contains(l, from) {
			t.Fatalf("%q not in %s", from, l)
		}
		return strings.Replace(l, from, to, 1)
	}
	variants := []struct{ name, what string }{{"untouched", ""}}
	write := func(name, what string, ls []string) {
		os.WriteFile(filepath.Join(dir, name), []byte(strings.Join(ls, "")), 0o600)
		variants = append(variants, struct{ name, what string }{name, what})
	}
	os.Rename(raw, filepath.Join(dir, "untouched"))
	cp := func() []string { return append([]string(nil), lines...) }
	ls := cp()
	ls[at["intake:3"]] = edit(ls[at["intake:3"]], `"login":"mary"`, `"login":"john"`)
	write("edited", "the intake's event 3 edited", ls)
	ls = cp()
	write("deleted", "the worker's event 4 deleted", append(ls[:at["worker:4"]:at["worker:4"]], ls[at["worker:4"]+1:]...))
	ls = cp()
	ls[at["worker:3"]], ls[at["worker:4"]] = ls[at["worker:4"]], ls[at["worker:3"]]
	write("swapped", "the worker's events 3 and 4 swapped", ls)
	ls = nil
	for _, l := range lines {
		if !strings.Contains(l, `"chain":"intake"`) {
			ls = append(ls, l)
		}
	}
	write("chain-deleted", "the intake's whole chain deleted", ls)
	ls = cp()
	ls[at["worker:2"]] = edit(ls[at["worker:2"]], `"signature":"`, `"signature":"AAAA`)
	write("signature", "a checkpoint's signature altered", ls)

	var cmds [][]string
	for _, v := range variants {
		cmds = append(cmds, []string{"audit", "verify", "--file", filepath.Join(dir, v.name), "--key", keyFile})
	}
	shortHash := regexp.MustCompile(`[0-9a-f]{12}…`)
	run := func() string { return shortHash.ReplaceAllString(transcript([]string{dir}, nil, cmds...), "HASH…") }
	en := run()
	golden(t, "audit_verify_tampered", en)
	golden(t, "audit_verify_tampered.ru", inRussian(run))
	for _, want := range []string{"chain intact", "BROKEN at event", "broken link", "missing events", "bad checkpoint", "2 writer chains"} {
		if !strings.Contains(en, want) {
			t.Errorf("the output lacks %q:\n%s", want, en)
		}
	}
	if got := strings.Count(en, "(exit 1)"); got != len(variants)-1 {
		t.Errorf("%d of %d tampered exports found broken:\n%s", got, len(variants)-1, en)
	}
}
