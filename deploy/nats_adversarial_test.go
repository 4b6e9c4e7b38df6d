package deploy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/bcrypt"

	"github.com/signet-b24/signet/bitrix24/budget"
	"github.com/signet-b24/signet/bitrix24/portals"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/audit"
	"github.com/signet-b24/signet/internal/ops"
	"github.com/signet-b24/signet/internal/queue"
	"github.com/signet-b24/signet/internal/testsupport/testenv"
	"github.com/signet-b24/signet/producer/batch"
	"github.com/signet-b24/signet/producer/identity"
	"github.com/signet-b24/signet/producer/requests"
	"github.com/signet-b24/signet/worker"
)

// natsRoles are the users of deploy/nats/signet-accounts.conf.
var natsRoles = []string{"intake", "worker", "callback", "admin", "status", "sys"}

// natsMaterial is what an operator makes with gen-certs.sh and gen-users.sh, and the shipped node
// configurations pointing at it.
type natsMaterial struct {
	dir       string
	configs   []string
	passwords map[string]string
}

// newNATSMaterial runs the shipped gen-certs.sh (OpenSSL), hashes a password per role as gen-users.sh
// does (bcrypt) into the environment the configurations read, and copies the node configurations
// with /etc/nats/tls/ moved to the test's directory.
func newNATSMaterial(t *testing.T) *natsMaterial {
	t.Helper()
	testenv.RequireTool(t, "openssl")
	dir := t.TempDir()
	tlsDir := filepath.Join(dir, "tls")
	if out, err := exec.Command("sh", "nats/gen-certs.sh", tlsDir).CombinedOutput(); err != nil {
		t.Fatalf("gen-certs.sh: %v\n%s", err, out)
	}
	if st, err := os.Stat(filepath.Join(tlsDir, "nats-1-key.pem")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("gen-certs.sh left the node key readable by others: %v %v", err, st.Mode())
	}
	m := &natsMaterial{dir: dir, passwords: map[string]string{}}
	for _, r := range natsRoles {
		pw := "pw-" + r + "-" + fmt.Sprint(time.Now().UnixNano())
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		m.passwords[r] = pw
		t.Setenv("SIGNET_NATS_"+strings.ToUpper(r)+"_BCRYPT", string(h))
	}
	files, _ := filepath.Glob("nats/*.conf")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, filepath.Base(f))
		if err := os.WriteFile(out, []byte(strings.ReplaceAll(string(b), "/etc/nats/tls/", tlsDir+"/")), 0o600); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(filepath.Base(f), "nats-") {
			m.configs = append(m.configs, out)
		}
	}
	return m
}

// violations collects the permission violations the server reports to one connection.
type violations struct {
	mu   sync.Mutex
	seen []string
}

func (v *violations) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	if err != nil && strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
		v.mu.Lock()
		v.seen = append(v.seen, err.Error())
		v.mu.Unlock()
	}
}

func (v *violations) saw(subject string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, s := range v.seen {
		if strings.Contains(s, `"`+subject+`"`) {
			return true
		}
	}
	return false
}

// roleConn is a connection as one role, as Signet makes it (nats.user, nats.password_file,
// nats.tls_ca_file; inbox _INBOX_<user>).
type roleConn struct {
	*nats.Conn
	js jetstream.JetStream
	v  *violations
}

func (m *natsMaterial) connect(t *testing.T, s *server.Server, role string) *nats.Conn {
	t.Helper()
	return m.roleConn(t, s, role).Conn
}

func (m *natsMaterial) roleConn(t *testing.T, s *server.Server, role string) *roleConn {
	t.Helper()
	v := &violations{}
	nc, err := nats.Connect(s.ClientURL(), nats.UserInfo(role, m.passwords[role]), nats.RootCAs(filepath.Join(m.dir, "tls", "ca.pem")),
		nats.CustomInboxPrefix("_INBOX_"+role), nats.ErrorHandler(v.handler), nats.NoReconnect())
	if err != nil {
		t.Fatalf("connecting as %s: %v", role, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &roleConn{Conn: nc, js: js, v: v}
}

// startNode runs node 1's shipped configuration alone (no routes): JetStream standalone.
func (m *natsMaterial) startNode(t *testing.T) *server.Server {
	t.Helper()
	opts, err := server.ProcessConfigFile(m.configs[0])
	if err != nil {
		t.Fatal(err)
	}
	opts.Host, opts.Port, opts.HTTPPort = "127.0.0.1", -1, 0
	opts.Cluster = server.ClusterOpts{}
	opts.Routes = nil
	opts.StoreDir = t.TempDir()
	opts.NoLog, opts.NoSigs = true, true
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("the NATS node did not start")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// refused runs one action of a role and expects the server to refuse it: an error, and the
// server's permissions violation for subject.
func refused(t *testing.T, c *roleConn, role, what, subject string, action func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
	defer cancel()
	err := action(ctx)
	_ = c.Flush()
	deadline := time.Now().Add(2 * time.Second)
	for !c.v.saw(subject) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err == nil || !c.v.saw(subject) {
		t.Errorf("%s could %s (%s): err %v, violation reported %v", role, what, subject, err, c.v.saw(subject))
	}
}

func allowed(t *testing.T, role, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s cannot %s: %v", role, what, err)
	}
}

// The shipped NATS configuration, on a real nats-server: a client without TLS, without a user or with
// a wrong password is turned away; each role can do its job with Signet's own provisioning code; and
// each is refused by the server what it must not do — the worker cannot publish a sign job, purge or
// delete AUDIT or write identity state, the status role cannot publish anything, no role (not even
// admin) can purge AUDIT or delete a stream.
func TestAttackNATSRolesAreLeastPrivilege(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m := newNATSMaterial(t)
	s := m.startNode(t)

	// The door: TLS with Signet's CA, and a user with the right password.
	for name, opts := range map[string][]nats.Option{
		"no user":            {nats.RootCAs(filepath.Join(m.dir, "tls", "ca.pem"))},
		"wrong password":     {nats.RootCAs(filepath.Join(m.dir, "tls", "ca.pem")), nats.UserInfo("worker", "guess")},
		"unknown CA":         {nats.UserInfo("worker", m.passwords["worker"])},
		"TLS verify skipped": {nats.UserInfo("nobody", "x"), nats.Secure(&tlsSkipVerify)},
	} {
		nc, err := nats.Connect(s.ClientURL(), append(opts, nats.NoReconnect(), nats.Timeout(3*time.Second))...)
		if err == nil {
			nc.Close()
			t.Errorf("%s: connected, want refused", name)
		}
	}
	// A plain-text client is told TLS is required before anything else is said.
	raw, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	info, _ := bufio.NewReader(raw).ReadString('\n')
	raw.Close()
	if !strings.Contains(info, `"tls_required":true`) {
		t.Errorf("the server does not require TLS of clients: %s", info)
	}

	qs := queue.Settings{Replicas: 1, AckWait: 30 * time.Second, MaxDeliver: 5, MaxAckPending: 10}

	line, _ := identity.GenerateKeyLine()
	keys, err := identity.LoadKeys(line)
	if err != nil {
		t.Fatal(err)
	}
	open := func(role string, c *roleConn, intake, work bool) {
		t.Helper()
		allowed(t, role, "provision at start", queue.Provision(ctx, c.js, qs))
		_, err := portals.Open(ctx, c.js, 1, keys)
		allowed(t, role, "open the portals bucket", err)
		kvb, err := budget.Provision(ctx, c.js, 1)
		allowed(t, role, "open the Bitrix24 budget bucket", err)
		b, err := budget.New(kvb, budget.Config{})
		allowed(t, role, "watch the Bitrix24 pauses", err)
		b.Close()
		_, err = kvb.Put(ctx, "rate.probe", []byte("{}"))
		allowed(t, role, "take a slot of a portal's budget", err)
		_, err = c.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: contracts.BucketSecrets, History: 5})
		allowed(t, role, "open the secrets bucket", err)
		if work {
			_, err = worker.OpenResults(ctx, c.js, 1, time.Hour)
			allowed(t, role, "open the results bucket", err)
			_, err = identity.NewCredentialPolicy(ctx, c.js, 1)
			allowed(t, role, "read the credential policy", err)
		}
		if intake {
			_, err = identity.New(ctx, c.js, identity.Config{Keys: keys, Replicas: 1})
			allowed(t, role, "open the identity buckets", err)
			_, err = batch.OpenBucket(ctx, c.js, 1, time.Hour)
			allowed(t, role, "open the batches bucket", err)
			_, err = c.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "signet_sessions", Storage: jetstream.FileStorage})
			allowed(t, role, "open the sessions bucket", err)
			if role == "intake" {
				reqs, err := requests.OpenStore(ctx, c.js, 1)
				allowed(t, role, "open the requests bucket", err)
				if err == nil {
					allowed(t, role, "store a request to sign", reqs.Create(ctx, &requests.Request{ID: "r0", State: requests.Pending}))
					_, err = reqs.All(ctx)
					allowed(t, role, "walk the requests (inbox, sweeper)", err)
				}
			}
		}
		allowed(t, role, "append to the audit trail", audit.NewWriter(c.js, nil, audit.Options{}).Record(ctx,
			contracts.AuditEvent{Action: contracts.AuditAdminChange, Detail: role + " started"}))
	}
	// The intake starts first, on an empty server: it creates every stream, AUDIT append-only.
	in := m.roleConn(t, s, "intake")
	open("intake", in, true, false)
	admin := m.roleConn(t, s, "admin")
	open("admin", admin, true, true)

	// The intake queues a job and a refusal.
	_, err = in.js.Publish(ctx, contracts.SubjectSignInteractive, []byte(`{"v":1,"id":"j1"}`))
	allowed(t, "intake", "queue a sign job", err)
	_, err = in.js.Publish(ctx, contracts.SubjectCallback, []byte(`{"v":1,"job_id":"j0"}`))
	allowed(t, "intake", "queue a refusal", err)

	// The worker: starts, takes the job, acks it, queues its callback and a dead letter.
	w := m.roleConn(t, s, "worker")
	open("worker", w, false, true)
	cons, err := w.js.Consumer(ctx, contracts.StreamSign, contracts.ConsumerSignInteractive)
	allowed(t, "worker", "find its consumer", err)
	batchMsgs, err := cons.Fetch(1, jetstream.FetchMaxWait(3*time.Second))
	allowed(t, "worker", "pull a job", err)
	got := 0
	for msg := range batchMsgs.Messages() {
		allowed(t, "worker", "ack a job", msg.DoubleAck(ctx))
		got++
	}
	if got != 1 {
		t.Fatalf("the worker pulled %d jobs, want 1 (%v)", got, batchMsgs.Error())
	}
	_, err = w.js.Publish(ctx, contracts.SubjectCallback, []byte(`{"v":1,"job_id":"j1"}`))
	allowed(t, "worker", "queue a callback", err)
	_, err = w.js.Publish(ctx, contracts.SubjectCallbackBatch, []byte(`{"v":1,"job_id":"j2"}`))
	allowed(t, "worker", "queue a batch job's callback", err)
	for _, name := range []string{contracts.ConsumerCallback, contracts.ConsumerCallbackBatch} {
		cons, err := w.js.Consumer(ctx, contracts.StreamCallback, name)
		allowed(t, "worker", "find consumer "+name, err)
		if err == nil {
			_, err = cons.Fetch(1, jetstream.FetchMaxWait(time.Second))
			allowed(t, "worker", "pull from consumer "+name, err)
		}
	}
	_, err = w.js.Publish(ctx, contracts.SubjectDeadSign, []byte(`{}`))
	allowed(t, "worker", "dead-letter a job", err)

	// What each role must not do.
	purgeAudit := func(c *roleConn) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			st, err := c.js.Stream(ctx, contracts.StreamAudit)
			if err != nil {
				return err
			}
			return st.Purge(ctx)
		}
	}
	deleteAuditMsg := func(c *roleConn) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			st, err := c.js.Stream(ctx, contracts.StreamAudit)
			if err != nil {
				return err
			}
			return st.DeleteMsg(ctx, 1)
		}
	}
	shortenAudit := func(c *roleConn) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			st, err := c.js.Stream(ctx, contracts.StreamAudit)
			if err != nil {
				return err
			}
			cfg := st.CachedInfo().Config
			cfg.MaxAge = 25 * time.Hour // a purge by retention, once the events are a day old
			_, err = c.js.UpdateStream(ctx, cfg)
			return err
		}
	}
	publish := func(c *roleConn, subject string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			_, err := c.js.Publish(ctx, subject, []byte(`{"v":1,"id":"forged"}`))
			return err
		}
	}
	deleteStream := func(c *roleConn, name string) func(ctx context.Context) error {
		return func(ctx context.Context) error { return c.js.DeleteStream(ctx, name) }
	}

	refused(t, w, "worker", "publish a sign job", contracts.SubjectSignInteractive, publish(w, contracts.SubjectSignInteractive))
	refused(t, w, "worker", "publish a batch job", contracts.SubjectSignBatch, publish(w, contracts.SubjectSignBatch))
	refused(t, w, "worker", "purge AUDIT", "$JS.API.STREAM.PURGE.AUDIT", purgeAudit(w))
	refused(t, w, "worker", "delete an audit event", "$JS.API.STREAM.MSG.DELETE.AUDIT", deleteAuditMsg(w))
	refused(t, w, "worker", "shorten AUDIT's retention", "$JS.API.STREAM.UPDATE.AUDIT", shortenAudit(w))
	refused(t, w, "worker", "delete SIGN", "$JS.API.STREAM.DELETE.SIGN", deleteStream(w, contracts.StreamSign))
	refused(t, w, "worker", "write a user", "$KV.signet_users.mary", publish(w, "$KV.signet_users.mary"))
	refused(t, w, "worker", "write a grant", "$KV.signet_grants.g1", publish(w, "$KV.signet_grants.g1"))
	refused(t, w, "worker", "re-enable a credential", "$KV.signet_credentials.c1", publish(w, "$KV.signet_credentials.c1"))

	// The shared secrets: the workers read and make the download-link key, nothing else of the bucket.
	inSecrets, err := in.js.KeyValue(ctx, contracts.BucketSecrets)
	allowed(t, "intake", "find the secrets bucket", err)
	for _, k := range []string{"form", "admin-token"} {
		_, err = inSecrets.Put(ctx, k, []byte("sealed"))
		allowed(t, "intake", "store the shared secret "+k, err)
	}
	wSecrets, err := w.js.KeyValue(ctx, contracts.BucketSecrets)
	allowed(t, "worker", "find the secrets bucket", err)
	_, err = wSecrets.Create(ctx, "link", []byte("sealed"))
	allowed(t, "worker", "make the link key", err)
	_, err = wSecrets.Get(ctx, "link")
	allowed(t, "worker", "read the link key", err)
	_, err = inSecrets.Put(ctx, "jobkey.0011223344556677", []byte(`{}`))
	allowed(t, "intake", "store a job key endorsement", err)
	_, err = wSecrets.Get(ctx, "jobkey.0011223344556677")
	allowed(t, "worker", "read a job key endorsement", err)
	refused(t, w, "worker", "endorse a job key", "$KV.signet_secrets.jobkey.0011223344556677", publish(w, "$KV.signet_secrets.jobkey.0011223344556677"))
	refused(t, w, "worker", "read the rotated job signing key", "$JS.API.DIRECT.GET.KV_signet_secrets.$KV.signet_secrets.job-signing", func(ctx context.Context) error {
		_, err := wSecrets.Get(ctx, "job-signing")
		return err
	})
	wch, err := inSecrets.Watch(ctx, "job-signing")
	allowed(t, "intake", "follow the job signing key", err)
	_ = wch.Stop()
	refused(t, w, "worker", "read the Sign dialog's form key", "$JS.API.DIRECT.GET.KV_signet_secrets.$KV.signet_secrets.form", func(ctx context.Context) error {
		_, err := wSecrets.Get(ctx, "form")
		return err
	})
	refused(t, w, "worker", "replace the admin API token", "$KV.signet_secrets.admin-token", publish(w, "$KV.signet_secrets.admin-token"))

	// Key administration: the intake asks, the worker answers on the reply subject; nobody else asks.
	keysSub, err := w.Subscribe(contracts.SubjectKeysAll, func(m *nats.Msg) { _ = m.Respond([]byte(`{}`)) })
	allowed(t, "worker", "serve key administration", err)
	_ = w.Flush()
	_, err = in.Request(contracts.SubjectKeysAll, []byte(`{"v":1,"op":"status"}`), 5*time.Second)
	allowed(t, "intake", "ask the workers' key administration", err)
	refused(t, admin, "admin", "ask the workers' key administration", contracts.SubjectKeysAll, func(ctx context.Context) error {
		_, err := admin.RequestWithContext(ctx, contracts.SubjectKeysAll, []byte(`{}`))
		return err
	})
	refused(t, w, "worker", "send a key administration request", contracts.SubjectKeysAll, func(ctx context.Context) error {
		_, err := w.RequestWithContext(ctx, contracts.SubjectKeysAll, []byte(`{}`))
		return err
	})
	_ = keysSub.Unsubscribe()

	refused(t, in, "intake", "purge AUDIT", "$JS.API.STREAM.PURGE.AUDIT", purgeAudit(in))
	refused(t, in, "intake", "shorten AUDIT's retention", "$JS.API.STREAM.UPDATE.AUDIT", shortenAudit(in))
	refused(t, in, "intake", "pull sign jobs", "$JS.API.CONSUMER.MSG.NEXT.SIGN.sign-interactive", func(ctx context.Context) error {
		cons, err := in.js.Consumer(ctx, contracts.StreamSign, contracts.ConsumerSignInteractive)
		if err != nil {
			return err
		}
		_, err = cons.Next(jetstream.FetchMaxWait(time.Second))
		return err
	})

	cb := m.roleConn(t, s, "callback")
	refused(t, cb, "callback", "publish a sign job", contracts.SubjectSignInteractive, publish(cb, contracts.SubjectSignInteractive))
	refused(t, cb, "callback", "forge a callback", contracts.SubjectCallback, publish(cb, contracts.SubjectCallback))
	refused(t, cb, "callback", "forge a batch job's callback", contracts.SubjectCallbackBatch, publish(cb, contracts.SubjectCallbackBatch))

	st := m.roleConn(t, s, "status")
	_, err = st.js.Stream(ctx, contracts.StreamSign)
	allowed(t, "status", "read SIGN's state", err)
	_, err = st.js.Consumer(ctx, contracts.StreamSign, contracts.ConsumerSignInteractive)
	allowed(t, "status", "read a consumer's state", err)
	_, err = ops.Take(ctx, st.js)
	allowed(t, "status", "take the snapshot of `signet status`", err)
	refused(t, st, "status", "publish a sign job", contracts.SubjectSignInteractive, publish(st, contracts.SubjectSignInteractive))
	refused(t, st, "status", "publish an audit event", "signet.audit.x", publish(st, "signet.audit.x"))
	refused(t, st, "status", "write a portal", "$KV.signet_portals.p", publish(st, "$KV.signet_portals.p"))
	refused(t, st, "status", "purge DEAD", "$JS.API.STREAM.PURGE.DEAD", func(ctx context.Context) error {
		s, err := st.js.Stream(ctx, contracts.StreamDead)
		if err != nil {
			return err
		}
		return s.Purge(ctx)
	})
	refused(t, st, "status", "read the portals' tokens", "$JS.API.DIRECT.GET.KV_signet_portals.$KV.signet_portals.p", func(ctx context.Context) error {
		kv, err := st.js.KeyValue(ctx, contracts.BucketPortals)
		if err != nil {
			return err
		}
		_, err = kv.Get(ctx, "p")
		return err
	})

	refused(t, admin, "admin", "purge AUDIT", "$JS.API.STREAM.PURGE.AUDIT", purgeAudit(admin))
	refused(t, admin, "admin", "delete AUDIT", "$JS.API.STREAM.DELETE.AUDIT", deleteStream(admin, contracts.StreamAudit))

	// Nothing was lost on the way: the trail holds every role's start.
	trail, err := admin.js.Stream(ctx, contracts.StreamAudit)
	if err != nil {
		t.Fatal(err)
	}
	if n := trail.CachedInfo().State.Msgs; n < 3 {
		t.Errorf("AUDIT holds %d events after the attacks, want the 3 role starts", n)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("the test ran out of time")
	}
}

var tlsSkipVerify = tls.Config{InsecureSkipVerify: true} //nolint:gosec // the attacker's client

// gen-users.sh writes one password file per role (0600) and the bcrypt lines the node configurations
// read, quoted so that neither a shell nor systemd expands the '$' of a hash. (htpasswd is replaced by
// a stand-in printing a fixed hash: the hashing itself is htpasswd's.)
func TestGenUsersScript(t *testing.T) {
	testenv.RequireTool(t, "openssl")
	bin := t.TempDir()
	fake := "#!/bin/sh\nprintf ':$2y$04$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ012'\n"
	if err := os.WriteFile(filepath.Join(bin, "htpasswd"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "users")
	cmd := exec.Command("sh", "nats/gen-users.sh", out)
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gen-users.sh: %v\n%s", err, b)
	}
	env, err := os.ReadFile(filepath.Join(out, "signet-users.env"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range natsRoles {
		st, err := os.Stat(filepath.Join(out, "nats-"+r+".password"))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("nats-%s.password: %v", r, err)
		}
		line := "SIGNET_NATS_" + strings.ToUpper(r) + "_BCRYPT='$2a$04$"
		if !strings.Contains(string(env), line) {
			t.Errorf("signet-users.env has no %s…' line:\n%s", line, env)
		}
	}
	for _, r := range natsRoles {
		pw, _ := os.ReadFile(filepath.Join(out, "nats-"+r+".password"))
		if p := strings.TrimSpace(string(pw)); len(p) < 32 || strings.Contains(string(env), p) {
			t.Errorf("%s: password %d characters, or written in the nodes' environment file", r, len(p))
		}
	}
}
