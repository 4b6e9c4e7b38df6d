package main

import (
	"context"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/audit"
	"github.com/signet-b24/signet/internal/config"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
)

// `signet admin user …` works against the NATS of a running `signet serve` found through its data
// directory, with the server's secret keys; the enrolment link it prints leads to a QR whose secret
// oathtool turns into codes (checked in producer/identity), and it never prints a secret.
func TestAdminUserCommands(t *testing.T) {
	oathtool := testenv.RequireTool(t, "oathtool")
	dir := t.TempDir()
	srv := serveLikeNATS(t, dir)
	nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo(embeddedUser, "4711abcd"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := loadOrCreateSecretKeys(filepath.Join(dir, "secret.keys")); err != nil {
		t.Fatal(err)
	}
	d := []string{"--data-dir", dir}
	// The CLI only looks buckets up: provision them as an operator would.
	if out, code := runCLI(t, append([]string{"setup"}, d...)...); code != 0 {
		t.Fatalf("signet setup: exit %d\n%s", code, out)
	}
	cli := func(args ...string) string {
		t.Helper()
		out, code := runCLI(t, append(append([]string{"admin", "user"}, args...), d...)...)
		if code != 0 {
			t.Fatalf("signet admin user %v: exit %d\n%s", args, code, out)
		}
		return out
	}
	const cred = "pkcs11:token=acme;object=mary-2026"
	out := cli("add", "mary@acme.example", "--description", "Accountant", "--bitrix", "3d906b2a32030386ccc7274d2313a01b:7", "--credential", cred)
	for _, want := range []string{"login:       mary@acme.example", "otp:         not-enrolled", "3d906b2a32030386ccc7274d2313a01b:7", cred + " (default)"} {
		if !strings.Contains(out, want) {
			t.Errorf("add: %q missing in\n%s", want, out)
		}
	}
	cli("add", "ivan", "--otp-disabled")
	if out := cli("list"); !strings.Contains(out, "mary@acme.example") || !strings.Contains(out, "not-required") || strings.Count(out, "\n") != 3 {
		t.Errorf("list:\n%s", out)
	}
	if out := cli("disable", "ivan"); !strings.Contains(out, "state:       disabled") {
		t.Errorf("disable:\n%s", out)
	}
	if out := cli("otp-enable", "ivan"); !strings.Contains(out, "otp:         not-enrolled") {
		t.Errorf("otp-enable:\n%s", out)
	}
	if out := cli("map", "mary@acme.example", "--credential", "pkcs11:token=acme;object=seal", "--default"); !strings.Contains(out, "object=seal (default)") {
		t.Errorf("map --default:\n%s", out)
	}
	if out := cli("unmap", "mary@acme.example", "--credential", cred); strings.Contains(out, "object=mary-2026") {
		t.Errorf("unmap:\n%s", out)
	}
	out = cli("enrol", "mary@acme.example")
	link := strings.Fields(out)[0]
	u, err := url.Parse(link)
	if err != nil || !strings.HasPrefix(u.Path, "/enrol/") || !strings.Contains(out, "usable once") {
		t.Fatalf("enrol must print a one-time link first:\n%s", out)
	}
	// The page behind the link shows the secret; a code that oathtool (which nobody here wrote) makes
	// from it confirms the enrolment, and the CLI then shows the user enrolled.
	cfg, _, err := config.Load("test", d, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	svc, closeFn, err := openIdentity(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	token := strings.TrimPrefix(u.Path, "/enrol/")
	pending, err := svc.PendingSecret(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	code, err := exec.Command(oathtool, "--totp", "-b", pending.Secret).Output()
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.ConfirmEnrolment(context.Background(), token, strings.TrimSpace(string(code))); err != nil {
		t.Fatal(err)
	}
	if out := cli("show", "mary@acme.example"); !strings.Contains(out, "otp:         enrolled") || strings.Contains(out, pending.Secret) {
		t.Errorf("show after enrolment (and never the secret):\n%s", out)
	}
	golden(t, "admin_user", transcript([]string{dir}, d,
		[]string{"admin", "user", "list"}, []string{"admin", "user", "list", "--json"},
		[]string{"admin", "user", "show", "mary@acme.example", "--json"},
		[]string{"dlq", "list"}, []string{"dlq", "list", "--json"}))
	golden(t, "admin_user.ru", inRussian(func() string {
		return transcript([]string{dir}, d, []string{"admin", "user", "list"}, []string{"admin", "user", "show", "mary@acme.example"},
			[]string{"dlq", "list"})
	}))
	if out := cli("delete", "ivan"); !strings.Contains(out, "deleted ivan") {
		t.Errorf("delete: %s", out)
	}
	// Every change made on the command line is in the audit trail (the control panel records its own).
	changes, err := audit.Events(context.Background(), js, contracts.StreamAudit, audit.Query{}, func(e *contracts.AuditEvent) bool {
		return e.Action == contracts.AuditAdminChange
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 7 { // add ×2, disable, otp-enable, map, unmap, delete
		t.Errorf("%d admin changes in the audit trail, want 7", len(changes))
	}
	// A credential assigned to a portal on the command line (the control panel then shows it to that
	// portal's administrators only), and made Signet-wide again.
	t.Setenv("SIGNET_DATA_DIR", dir)
	for _, portal := range []string{"3d906b2a32030386ccc7274d2313a01b", ""} {
		out, code := runCLI(t, "admin", "cert", "assign", cred, "--portal", portal)
		if got, err := svc.CredentialPortal(context.Background(), cred); code != 0 || err != nil || got != portal || !strings.Contains(out, "assigned") {
			t.Errorf("admin cert assign --portal %q: exit %d, now %q (%v)\n%s", portal, code, got, err, out)
		}
	}
	if _, code := runCLI(t, append([]string{"admin", "user", "show", "ivan"}, d...)...); code != 1 {
		t.Errorf("show of a deleted user must fail (exit 1), got %d", code)
	}
	if _, code := runCLI(t, "admin", "user", "show", "nobody", "--data-dir", t.TempDir()); code != 1 {
		t.Errorf("without a running server's data directory the command must say so and fail")
	}
}
