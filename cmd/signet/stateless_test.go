package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/internal/config"
	"github.com/signet-b24/signet/producer"
	"github.com/signet-b24/signet/web"
)

// startSecondIntake starts an intake-only process, B, beside the running serve process of e (A): its
// own data directory and listener, A's NATS, and only the files that are the same on every host
// (the sealing keys, the job signing key; the storage, as S3 would be). Everything else B needs it
// finds in NATS (issue 21 must 1).
func startSecondIntake(t *testing.T, ctx context.Context, e *b24env) (*config.Config, *app) {
	t.Helper()
	dir := t.TempDir()
	settings, err := emulatorSettings(e.portal, dir)
	if err != nil {
		t.Fatal(err)
	}
	sec := e.cfg.Security
	settings = append(settings, "--nats-url", e.a.embedded.ClientURL(), "--nats-user", embeddedUser,
		"--nats-password-file", natsPasswordFile(e.cfg), "--security-secret-keys-file", sec.SecretKeysFile,
		"--security-job-signing-key-file", sec.JobSigningKeyFile, "--security-job-verify-keys-file", sec.JobVerifyKeysFile,
		"--storage-url", e.cfg.Storage.URL)
	cfg, _, err := config.Load("intake-b", settings, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	return cfg, startRole(t, ctx, cfg, role{intake: true})
}

// Two intakes on one NATS answer interchangeably: the Sign dialog opened on A is submitted to B, a
// control-panel session opened on A works on B, the admin API token of A's host works on B, a robot
// call reaches B, and B serves the download link a worker made for A.
func TestTwoIntakesServeInterchangeably(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e := startB24(t, emulator.Config{})
	// A's data directory held the old secret files; B's does not, and has none of its own.
	b, _ := startSecondIntake(t, ctx, e)
	for _, f := range []string{"placement.key", "link.secret", "admin.passwords"} {
		if _, err := os.Stat(filepath.Join(b.DataDir, f)); err == nil {
			t.Errorf("intake B made %s in its data directory; it must use the one in NATS", f)
		}
	}

	// 1. The Sign dialog: opened on A (where the portal's button points), submitted to B.
	e.addUser(t, "mary", 7, false, e.cfg.Demo.Credential)
	secret := e.enrol(t, "mary")
	e.portal.AddDealFile(701, "contract.pdf", demoInvoice)
	if h := e.portal.Placements()[producer.PlacementToolbar][0]; !strings.HasPrefix(h, e.cfg.PublicURL) {
		t.Fatalf("the Sign button opens %s, want intake A %s", h, e.cfg.PublicURL)
	}
	// The status is polled on B; the document is signed by A's worker; its link, made by A's worker
	// with the shared link key, is served by B.
	st := submitSign(t, b.PublicURL, e.signDialog(t, 7, 701, secret))
	if st.State != "done" || st.Link == "" {
		t.Fatalf("status on B: %+v", st)
	}
	link := strings.Replace(st.Link, e.cfg.PublicURL, b.PublicURL, 1)
	lr, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	signed, _ := io.ReadAll(lr.Body)
	lr.Body.Close()
	if lr.StatusCode != http.StatusOK || !bytes.HasPrefix(signed, []byte("%PDF")) {
		t.Fatalf("A's download link on B: HTTP %d, %d bytes", lr.StatusCode, len(signed))
	}

	// 2. The control panel: an administrator set with the CLI (into NATS: A is running), signed in
	// on A, the session used on B; removed, the session ends on B too.
	password := "correct horse battery staple"
	var out, errOut bytes.Buffer
	if err := runAdminLocal(ctx, []string{"set", "alice", "--data-dir", e.cfg.DataDir, "--password-file", writeTemp(t, "pw", []byte(password+"\n"))}, &out, &errOut); err != nil {
		t.Fatalf("signet admin local-admin set: %v\n%s", err, errOut.String())
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	cookie, _ := signIn(t, noRedirect, e.cfg.PublicURL, "alice", password)
	usersOn := func(base string) int {
		req, _ := http.NewRequest(http.MethodGet, base+"/admin/users", nil)
		req.Header.Set("Cookie", cookie)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := usersOn(b.PublicURL); got != http.StatusOK {
		t.Fatalf("A's session on B: HTTP %d, want 200", got)
	}
	// Signing in on B works too: the password was set once, for every intake.
	signIn(t, noRedirect, b.PublicURL, "alice", password)
	if err := runAdminLocal(ctx, []string{"remove", "alice", "--data-dir", e.cfg.DataDir}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if got := usersOn(b.PublicURL); got == http.StatusOK {
		t.Fatal("the session of a removed administrator still works on B")
	}

	// 3. The admin API: the token of A's host works on B (and B wrote the same token to its file).
	tokA, err := os.ReadFile(e.cfg.Security.AdminTokenFile)
	if err != nil {
		t.Fatal(err)
	}
	if tokB, err := os.ReadFile(b.Security.AdminTokenFile); err != nil || !bytes.Equal(tokA, tokB) {
		t.Fatalf("B's admin token file differs from A's (%v)", err)
	}
	areq, _ := http.NewRequest(http.MethodGet, b.PublicURL+"/v1/admin/users", nil)
	areq.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tokA)))
	aresp, err := http.DefaultClient.Do(areq)
	if err != nil {
		t.Fatal(err)
	}
	aresp.Body.Close()
	if aresp.StatusCode != http.StatusOK {
		t.Fatalf("A's admin token on B: HTTP %d", aresp.StatusCode)
	}

	// 4. A robot call taken by B is signed by A's worker and answered to the workflow.
	e.addUser(t, "bob", 8, true, e.cfg.Demo.Credential)
	e.portal.AddDealFile(702, "invoice.pdf", demoInvoice)
	tok, status, err := e.portal.RobotCall(ctx, b.PublicURL+"/bitrix24/robot", e.cfg.Bitrix24.RobotCode, 702,
		robotProps("UF_CRM_SIGNET_FILES", "user_8", e.cfg.Demo.Credential))
	if err != nil || status != http.StatusOK {
		t.Fatalf("robot call to B: HTTP %d %v", status, err)
	}
	ret := e.waitEvents(t, []string{tok}, 2*time.Minute)[tok][0]
	if ret["signed"] != "Y" {
		t.Fatalf("robot call through B: %v", ret)
	}
}

// An existing installation's data-directory secrets are imported into NATS at the first start
// after the upgrade, so open Sign dialogs, outstanding download links, the operators' admin token and
// the local administrators keep working; the passwords file is renamed so it is read once only.
func TestDataDirectorySecretsImportedOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	old := map[string][]byte{}
	for _, f := range []string{"placement.key", "link.secret", "admin.token"} {
		s, err := loadOrCreateSecret(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		old[f] = s
	}
	passwords := filepath.Join(dir, "admin.passwords")
	if err := web.SetLocalAdmin(passwords, "alice", []byte("an old long password")); err != nil {
		t.Fatal(err)
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Load("migrate", []string{"--data-dir", dir, "--listen", addr, "--metrics-listen", "off"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	open := func() *app {
		a, err := openApp(ctx, cfg, zap.NewNop(), role{intake: true})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a := open()
	if !bytes.Equal(a.formKey, old["placement.key"]) || !bytes.Equal(a.linkSecret, old["link.secret"]) || !bytes.Equal(a.adminToken, old["admin.token"]) {
		t.Fatal("the data directory's secrets were not the ones imported")
	}
	if logins, err := web.LocalAdminsIn(ctx, a.admins); err != nil || len(logins) != 1 || logins[0] != "alice" {
		t.Fatalf("local administrators in NATS: %v %v", logins, err)
	}
	if _, err := os.Stat(passwords); err == nil {
		t.Fatal("the passwords file is still there to be read again")
	}
	if _, err := os.Stat(passwords + ".imported"); err != nil {
		t.Fatalf("the imported passwords file was not kept as .imported: %v", err)
	}
	a.Close()
	// Once imported, the files are no longer read: a changed file changes nothing.
	if err := os.WriteFile(filepath.Join(dir, "placement.key"), []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a = open()
	defer a.Close()
	if !bytes.Equal(a.formKey, old["placement.key"]) {
		t.Fatal("the form key changed with the file after it was imported")
	}
}

// `signet admin keys rotate` on a running cluster: every intake signs with the new key at once, and
// the worker, whose security.job_verify_keys_file names only the old key, signs their jobs, trusting
// the new key through the old key's endorsement (issue 21 must 4).
func TestJobKeyRotatedWhileRunning(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e := startB24(t, emulator.Config{})
	_, b := startSecondIntake(t, ctx, e)
	e.addUser(t, "bob", 8, true, e.cfg.Demo.Credential)
	robot := func(base string, deal int) {
		t.Helper()
		e.portal.AddDealFile(deal, "contract.pdf", demoInvoice)
		tok, status, err := e.portal.RobotCall(ctx, base+"/bitrix24/robot", e.cfg.Bitrix24.RobotCode, deal,
			robotProps("UF_CRM_SIGNET_FILES", "user_8", e.cfg.Demo.Credential))
		if err != nil || status != http.StatusOK {
			t.Fatalf("robot call: HTTP %d %v", status, err)
		}
		if ret := e.waitEvents(t, []string{tok}, 2*time.Minute)[tok][0]; ret["signed"] != "Y" {
			t.Fatalf("robot call for deal %d: %v", deal, ret)
		}
	}
	old := e.a.jobKey.KeyID()
	robot(e.cfg.PublicURL, 901)

	var out, errOut bytes.Buffer
	if err := runAdminKeys(ctx, []string{"rotate", "--data-dir", e.cfg.DataDir}, &out, &errOut); err != nil {
		t.Fatalf("signet admin keys rotate: %v\n%s", err, errOut.String())
	}
	for deadline := time.Now().Add(time.Minute); e.a.jobKey.KeyID() == old || b.jobKey.KeyID() == old; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the intakes still sign with %s after the rotation (A %s, B %s)", old, e.a.jobKey.KeyID(), b.jobKey.KeyID())
		}
	}
	if e.a.jobKey.KeyID() != b.jobKey.KeyID() || !strings.Contains(out.String(), e.a.jobKey.KeyID()) {
		t.Fatalf("after the rotation A signs with %s, B with %s; the command said %q", e.a.jobKey.KeyID(), b.jobKey.KeyID(), out.String())
	}
	robot(b.cfg.PublicURL, 902)
	robot(e.cfg.PublicURL, 903)
	// A second rotation chains on the first (the endorsement of the endorser is found too).
	out.Reset()
	if err := runAdminKeys(ctx, []string{"rotate", "--data-dir", e.cfg.DataDir}, &out, &errOut); err != nil {
		t.Fatalf("second rotation: %v\n%s", err, errOut.String())
	}
	second := strings.Fields(strings.SplitN(out.String(), "→ ", 2)[1])[0]
	for deadline := time.Now().Add(time.Minute); b.jobKey.KeyID() != strings.TrimSuffix(second, ";"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("intake B did not follow the second rotation to %s", second)
		}
	}
	robot(b.cfg.PublicURL, 904)
}
