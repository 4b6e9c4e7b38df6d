package faults

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/bcrypt"

	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/producer"
)

// The real intake and worker processes run against a nats-server started from the shipped secured
// configuration (deploy/nats: TLS, one user per role, signet-accounts.conf), each logged in as its
// own role with nats.user, nats.password_file and nats.tls_ca_file: a robot call is signed and its
// workflow completed, so the role permissions are enough for Signet's real work. A sign job
// published on NATS by the worker role is refused by the server; one published by the admin role
// (which may publish on signet.>) without the intake's signature is refused by the worker, and the
// portal hears nothing of it.
func TestAttackSecuredNATSEndToEnd(t *testing.T) {
	testenv.RequireTool(t, "softhsm2-util")
	testenv.RequireTool(t, "openssl")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	root := repoRoot(t)

	// The operator's steps: certificates, passwords, node configuration.
	tlsDir := filepath.Join(dir, "tls")
	if out, err := exec.Command("sh", filepath.Join(root, "deploy", "nats", "gen-certs.sh"), tlsDir).CombinedOutput(); err != nil {
		t.Fatalf("gen-certs.sh: %v\n%s", err, out)
	}
	passwords, hashEnv := natsUsers(t, dir)
	for _, kv := range hashEnv {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	for _, f := range []string{"nats-1.conf", "signet-accounts.conf"} {
		b, err := os.ReadFile(filepath.Join(root, "deploy", "nats", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), []byte(strings.ReplaceAll(string(b), "/etc/nats/tls/", tlsDir+"/")), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	opts, err := server.ProcessConfigFile(filepath.Join(dir, "nats-1.conf"))
	if err != nil {
		t.Fatal(err)
	}
	opts.Host, opts.Port, opts.HTTPPort = "127.0.0.1", -1, 0
	opts.Cluster, opts.Routes = server.ClusterOpts{}, nil
	opts.StoreDir, opts.NoLog, opts.NoSigs = filepath.Join(dir, "jetstream"), true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	natsURL := "tls://" + ns.Addr().String()

	// The portal, and Signet's two roles sharing a data directory as in the other fault tests.
	realLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	portal := emulator.New(emulator.Config{Domain: realLn.Addr().String()})
	hs := &http.Server{Handler: portal.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(realLn) }()
	t.Cleanup(func() { hs.Close() })
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	secretFile := filepath.Join(dir, "bitrix24.client_secret")
	os.WriteFile(secretFile, []byte(portal.ClientSecret()), 0o600)
	adminToken := make([]byte, 32)
	_, _ = rand.Read(adminToken)
	os.WriteFile(filepath.Join(data, "admin.token"), []byte(hex.EncodeToString(adminToken)+"\n"), 0o600)
	common := []string{
		"--nats-url", natsURL, "--nats-tls-ca-file", filepath.Join(tlsDir, "ca.pem"), "--data-dir", data,
		"--log-format", "json", "--log-level", "warn", "--metrics-listen", "127.0.0.1:0", // processes share the machine
		"--bitrix24-portals", "http://" + realLn.Addr().String(), "--bitrix24-allow-private",
		"--bitrix24-client-id", portal.ClientID(), "--bitrix24-client-secret-file", secretFile,
		"--bitrix24-oauth-url", "http://" + realLn.Addr().String() + "/oauth/token/",
		"--bitrix24-rate-per-sec", "1000", "--bitrix24-burst", "1000", "--worker-ack-wait", "5s",
	}
	role := func(name string) []string {
		return []string{"SIGNET_NATS_USER=" + name, "SIGNET_NATS_PASSWORD_FILE=" + filepath.Join(dir, "nats-"+name+".password")}
	}
	ip, wp := freePort(t), freePort(t)
	intake := &proc{name: "intake", args: append([]string{"intake", "--listen", fmt.Sprintf("127.0.0.1:%d", ip)}, common...),
		env: role("intake"), url: fmt.Sprintf("http://127.0.0.1:%d", ip), log: filepath.Join(dir, "intake.log")}
	intake.start(t)
	t.Cleanup(func() { intake.term(10 * time.Second) })
	intake.waitReady(t, 60*time.Second)
	worker := &proc{name: "worker", args: append([]string{"worker", "--listen", fmt.Sprintf("127.0.0.1:%d", wp)}, common...),
		env: role("worker"), url: fmt.Sprintf("http://127.0.0.1:%d", wp), log: filepath.Join(dir, "worker.log")}
	worker.start(t)
	t.Cleanup(func() { worker.term(30 * time.Second) })
	worker.waitReady(t, 60*time.Second)

	if err := portal.Install(ctx, intake.url+"/bitrix24/install"); err != nil {
		t.Fatal(err)
	}
	p := &pipeline{t: t, dir: data, portal: portal, intake: intake, cred: "pkcs11:token=signet-demo;object=demo-signer"}
	p.addSigner(ctx)

	// A genuine robot call: signed and completed through the secured NATS.
	pdf := testPDF(t)
	robot := func(deal int) (string, int) {
		disk, _ := portal.AddDealFile(deal, "invoice.pdf", pdf)
		props := map[string]any{producer.PropDocument: strconv.Itoa(disk), producer.PropSigner: "user_" + strconv.Itoa(emulator.AdminUserID),
			producer.PropCredential: p.cred, producer.PropPage: "last"}
		tok, status, err := portal.RobotCall(ctx, intake.url+"/bitrix24/robot", "signet_sign_pdf", deal, props)
		if err != nil || status != http.StatusOK {
			t.Fatalf("robot call: %d %v\nintake log:\n%s", status, err, intake.tail())
		}
		return tok, disk
	}
	tok, disk := robot(7001)
	if err := eventually(90*time.Second, func() bool { return len(portal.EventsSent()[tok]) == 1 }); err != nil {
		t.Fatalf("the robot call was not completed through the secured NATS\nintake:\n%s\nworker:\n%s", intake.tail(), worker.tail())
	}
	if ret := portal.EventsSent()[tok][0]; fmt.Sprint(ret["signed"]) != "Y" || len(portal.FileVersions(disk)) != 2 {
		t.Fatalf("the document was not signed: %v\nworker:\n%s", ret, worker.tail())
	}

	var mu sync.Mutex
	var violations []string
	seen := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(violations, " ")
	}
	connect := func(name string) (*nats.Conn, jetstream.JetStream) {
		nc, err := nats.Connect(natsURL, nats.UserInfo(name, passwords[name]), nats.RootCAs(filepath.Join(tlsDir, "ca.pem")),
			nats.CustomInboxPrefix("_INBOX_"+name), nats.NoReconnect(),
			nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
				mu.Lock()
				violations = append(violations, err.Error())
				mu.Unlock()
			}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, _ := jetstream.New(nc)
		return nc, js
	}
	// A forged job for a second waiting robot, aimed at the same document.
	forgedTok, forgedDisk := robot(7002)
	// Give the genuine second call time to pass, then look only at what the forgeries cause.
	if err := eventually(90*time.Second, func() bool { return len(portal.EventsSent()[forgedTok]) == 1 }); err != nil {
		t.Fatalf("the second robot call was not completed\nworker:\n%s", worker.tail())
	}
	versions, calls := len(portal.FileVersions(forgedDisk)), len(portal.Calls())
	forged := &contracts.SignJob{ID: "forged-1", Kind: contracts.KindRobot, Created: time.Now().UTC(),
		Portal:     contracts.Portal{MemberID: portal.MemberID()},
		Document:   contracts.Document{DiskFileID: forgedDisk},
		Signer:     contracts.Signer{Login: "signer", BitrixUserID: emulator.AdminUserID, Authorization: "otp"},
		Credential: p.cred, Reply: contracts.Reply{EventToken: forgedTok}}
	data2, _ := forged.Marshal()

	wnc, wjs := connect("worker")
	pctx, pcancel := context.WithTimeout(ctx, time.Second)
	_, err = wjs.Publish(pctx, contracts.SubjectSignInteractive, data2)
	pcancel()
	_ = wnc.Flush()
	time.Sleep(200 * time.Millisecond)
	if err == nil || !strings.Contains(seen(), "Permissions Violation") {
		t.Errorf("the worker role published a sign job: %v, %s", err, seen())
	}

	_, ajs := connect("admin")
	forged.ID = "forged-2"
	data3, _ := forged.Marshal()
	if _, err := ajs.Publish(ctx, contracts.SubjectSignInteractive, data3); err != nil {
		t.Fatalf("the admin role may publish on signet.>: %v", err)
	}
	if err := eventually(30*time.Second, func() bool {
		st, err := ajs.Stream(ctx, contracts.StreamDead)
		if err != nil {
			return false
		}
		info, err := st.Info(ctx, jetstream.WithSubjectFilter(contracts.SubjectDeadSign))
		return err == nil && info.State.Msgs >= 1
	}); err != nil {
		t.Fatalf("the unsigned job was not dead-lettered\nworker:\n%s", worker.tail())
	}
	if v := len(portal.FileVersions(forgedDisk)); v != versions {
		t.Errorf("the forged job changed the document: %d versions, had %d", v, versions)
	}
	if c := len(portal.Calls()); c != calls {
		t.Errorf("the forged job made Signet call the portal %d times", c-calls)
	}
	if !strings.Contains(worker.tail(), "without a valid authorisation") {
		t.Errorf("the worker did not log the refusal:\n%s", worker.tail())
	}
	// Neither process met a permission it lacks while doing its own work.
	for _, pr := range []*proc{intake, worker} {
		if b, _ := os.ReadFile(pr.log); strings.Contains(strings.ToLower(string(b)), "permissions violation") {
			t.Errorf("%s hit a NATS permissions violation in its own work:\n%s", pr.name, b)
		}
	}
}

// natsUsers is gen-users.sh for a test: a random password for each role of
// deploy/nats/signet-accounts.conf, written to dir/nats-ROLE.password, and the
// SIGNET_NATS_ROLE_BCRYPT=hash lines the nats-server's environment needs.
func natsUsers(t testing.TB, dir string) (passwords map[string]string, hashEnv []string) {
	t.Helper()
	passwords = map[string]string{}
	for _, role := range []string{"intake", "worker", "callback", "admin", "status", "sys"} {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		passwords[role] = hex.EncodeToString(b)
		h, err := bcrypt.GenerateFromPassword([]byte(passwords[role]), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		hashEnv = append(hashEnv, "SIGNET_NATS_"+strings.ToUpper(role)+"_BCRYPT="+string(h))
		if err := os.WriteFile(filepath.Join(dir, "nats-"+role+".password"), []byte(passwords[role]+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return passwords, hashEnv
}
