package worker

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/bitrix24/emulator"
	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/audit"
	"github.com/signet-b24/signet/internal/jobkey"
	"github.com/signet-b24/signet/internal/queue"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
	"github.com/signet-b24/signet/internal/testsupport/revlist"
	"github.com/signet-b24/signet/keyring"
	"github.com/signet-b24/signet/storage"
)

// countingKeys is the real keyring, counting every time a job reaches for a key.
type countingKeys struct {
	k     *keyring.Keyring
	n     atomic.Int64
	signs atomic.Int64 // signatures the keys made (C_Sign)
}

func (c *countingKeys) Credential(ctx context.Context, uri string) (*keyring.Credential, error) {
	c.n.Add(1)
	cred, err := c.k.Credential(ctx, uri)
	if err != nil {
		return nil, err
	}
	counted := *cred
	counted.Key = &countingSigner{Signer: cred.Key, n: &c.signs}
	return &counted, nil
}

// forgeRig is a worker pool on a real JetStream, a SoftHSM key, local storage and the emulated
// portal; jobs are published straight to SIGN, as anything that reaches NATS could.
type forgeRig struct {
	t       *testing.T
	ctx     context.Context
	js      jetstream.JetStream
	portal  *emulator.Portal
	keys    *countingKeys
	store   storage.Store
	storeAt string
	results *Results
	intake  *contracts.JobSigner // the intake's key, trusted by the workers
	cred    string
	revoked *revlist.List // what the internal CA revoked (empty until a test revokes)
	// sink stands in for the intake's robot handler: it takes the portal's robot calls, so that each
	// job carries a real, waiting event_token (a workflow the portal would let Signet complete).
	sink string
}

// newForgeRig starts the rig; opts change the worker's Signer before the pool starts.
func newForgeRig(t *testing.T, ctx context.Context, opts ...func(*Signer)) *forgeRig {
	t.Helper()
	mod, pinFile := testToken(t, "forge")
	kr, err := keyring.Open(ctx, []keyring.TokenConfig{{Name: "forge", Module: mod, Label: "forge", PinFile: pinFile, MaxSessions: 4}}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kr.Close() })
	cred, err := kr.GenerateSelfSigned(ctx, "forge", "mary", "CN=Mary,O=Signet test", keyring.KeyType("p256"), 30)
	if err != nil {
		t.Fatal(err)
	}
	// The key a forger would rather use.
	if _, err := kr.GenerateSelfSigned(ctx, "forge", "ceo", "CN=The CEO,O=Signet test", keyring.KeyType("p256"), 30); err != nil {
		t.Fatal(err)
	}

	portal := startPortal(t, emulator.Config{})
	client := adminClient(ctx, t, portal, bitrix24.ClientConfig{})

	ns := natstest.Start(t)
	if err := queue.Provision(ctx, ns.JS, queue.Settings{Replicas: 1, AckWait: 5 * time.Second, MaxDeliver: 3, MaxAckPending: 16}); err != nil {
		t.Fatal(err)
	}
	storeAt := t.TempDir()
	results, store := resultsAndStore(ctx, t, ns.JS, storeAt, storage.Options{PublicURL: "http://signet.test", LinkSecret: []byte("0123456789abcdef0123456789abcdef")})
	intake, err := jobkey.Generate(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(sink.Close)
	r := &forgeRig{sink: sink.URL, t: t, ctx: ctx, js: ns.JS, portal: portal, keys: &countingKeys{k: kr}, store: store, storeAt: storeAt,
		results: results, intake: intake, cred: cred.URI, revoked: &revlist.List{}}

	log := zaptest.NewLogger(t)
	aw := audit.NewWriter(ns.JS, nil, audit.Options{Log: log})
	pool := &Pool{JS: ns.JS, Interactive: 2, Batch: 1, Callbacks: 2, AckWait: 5 * time.Second, MaxDeliver: 3, Audit: aw, Log: log,
		Signer: &Signer{Keys: r.keys, Audit: aw, Portal: client, Store: store, Results: results, TempDir: t.TempDir(),
			MaxPDFBytes: 10 << 20, Log: log, JobKeys: contracts.NewJobKeys(intake.Public()), Revocations: r.revoked},
		Caller: &Caller{Portal: client, Store: store, Results: results, LinkTTL: time.Hour, Log: log}}
	for _, o := range opts {
		o(pool.Signer)
	}
	runPool(ctx, t, pool)
	return r
}

// job is a well-formed robot job for a new Disk file of deal 1188, with the event_token of a waiting
// robot, not yet signed.
func (r *forgeRig) job(id string) *contracts.SignJob {
	pdf, err := os.ReadFile(filepath.Join("..", "testdata", "pdf", "invoice.pdf"))
	if err != nil {
		r.t.Fatal(err)
	}
	disk, _ := r.portal.AddDealFile(1188, id+".pdf", pdf)
	eventToken, status, err := r.portal.RobotCall(r.ctx, r.sink, "signet_sign_pdf", 1188, nil)
	if err != nil || status != http.StatusOK {
		r.t.Fatalf("robot call: %d, %v", status, err)
	}
	return &contracts.SignJob{ID: id, Kind: contracts.KindRobot, Created: time.Now().UTC(),
		Portal:     contracts.Portal{MemberID: r.portal.MemberID()},
		Document:   contracts.Document{DiskFileID: disk, EntityTypeID: 2, EntityID: 1188},
		Signer:     contracts.Signer{Login: "mary", BitrixUserID: 1, Authorization: "otp"},
		Credential: r.cred,
		Reply:      contracts.Reply{EventToken: eventToken, WorkflowID: "wf-" + id}}
}

// publish puts a job on SIGN as is (no intake involved).
func (r *forgeRig) publish(j *contracts.SignJob) {
	r.t.Helper()
	j.V = contracts.Version
	data, err := j.Marshal()
	if err != nil {
		r.t.Fatal(err)
	}
	msgID := j.ID
	if len(msgID) > 64 {
		msgID = msgID[:64]
	}
	if _, err := r.js.PublishMsg(r.ctx, &nats.Msg{Subject: contracts.SubjectSignInteractive, Data: data,
		Header: nats.Header{contracts.HeaderMsgID: []string{msgID}}}); err != nil {
		r.t.Fatal(err)
	}
}

func (r *forgeRig) streamMsgs(stream, filter string) uint64 {
	r.t.Helper()
	s, err := r.js.Stream(r.ctx, stream)
	if err != nil {
		r.t.Fatal(err)
	}
	info, err := s.Info(r.ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		r.t.Fatal(err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n
}

func (r *forgeRig) waitFor(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// storedFiles counts the files in the artefact storage.
func (r *forgeRig) storedFiles() int {
	n := 0
	_ = filepath.Walk(r.storeAt, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && !strings.HasPrefix(fi.Name(), ".") {
			n++
		}
		return nil
	})
	return n
}

// Jobs published straight to NATS without the intake's proof — no signature, a signature by another
// key, a genuine signature over a job whose credential or signer was then changed, a signature whose
// expiry was pushed out — are refused before a key is touched: nothing is signed or stored, the
// portal is not called at all (not even to report the failure: the reply address is the forger's),
// each is dead-lettered and audited as job_refused. A genuine job afterwards is signed, so the pool
// was working all along.
func TestAttackForgedSignJobOnNATS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := newForgeRig(t, ctx)
	other, err := jobkey.Generate(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	forgeries := map[string]func(j *contracts.SignJob){
		"unsigned":      func(j *contracts.SignJob) {},
		"other-key":     func(j *contracts.SignJob) { other.Sign(j, now) },
		"other-key-kid": func(j *contracts.SignJob) { other.Sign(j, now); j.Auth.KeyID = r.intake.KeyID() },
		"credential-swap": func(j *contracts.SignJob) {
			r.intake.Sign(j, now)
			j.Credential = strings.Replace(j.Credential, "mary", "ceo", 1)
		},
		"signer-swap": func(j *contracts.SignJob) { r.intake.Sign(j, now); j.Signer.Login = "ceo" },
		"reply-swap": func(j *contracts.SignJob) {
			r.intake.Sign(j, now)
			j.Reply.EventToken = r.job("another").Reply.EventToken
		},
		"expiry-extended": func(j *contracts.SignJob) { r.intake.Sign(j, now); j.Auth.Expires = j.Auth.Expires.Add(24 * time.Hour) },
		"huge-id": func(j *contracts.SignJob) {
			j.ID = strings.Repeat("x", 100_000)
			j.Signer.Login = strings.Repeat("é", 50_000)
		},
	}
	connsBefore := r.portal.Connections()
	for name, forge := range forgeries {
		j := r.job("forged-" + name)
		forge(j)
		r.publish(j)
	}
	n := uint64(len(forgeries))
	r.waitFor("every forged job in DEAD", func() bool { return r.streamMsgs(contracts.StreamDead, contracts.SubjectDeadAll) == n })
	r.waitFor("every refusal audited", func() bool {
		return r.streamMsgs(contracts.StreamAudit, contracts.AuditSubject(contracts.AuditJobRefused)+".>") == n
	})

	if got := r.keys.n.Load(); got != 0 {
		t.Errorf("forged jobs reached for a key %d times, want 0", got)
	}
	if calls := r.portal.Calls(); len(calls) != 0 || r.portal.Connections() != connsBefore {
		t.Errorf("forged jobs made Signet call the portal: %d REST calls, %d connections", len(calls), r.portal.Connections()-connsBefore)
	}
	if ev := r.portal.EventsSent(); len(ev) != 0 {
		t.Errorf("forged jobs completed workflows: %v", ev)
	}
	if n := r.storedFiles(); n != 0 {
		t.Errorf("forged jobs stored %d files", n)
	}
	if n := r.streamMsgs(contracts.StreamCallback, contracts.SubjectCallbackAll); n != 0 {
		t.Errorf("forged jobs queued %d callbacks", n)
	}
	if n := r.streamMsgs(contracts.StreamSign, contracts.SubjectSignAll); n != 0 {
		t.Errorf("%d forged jobs still in SIGN", n)
	}
	for name := range forgeries {
		if name == "huge-id" {
			continue
		}
		if s, err := r.results.Signed(ctx, "forged-"+name); err != nil || s != nil {
			t.Errorf("%s: a result was recorded: %+v, %v", name, s, err)
		}
	}
	// The audit trail keeps bounded values: the 100 kB id of the last forgery is cut short.
	st, _ := r.js.Stream(ctx, contracts.StreamAudit)
	info, _ := st.Info(ctx)
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Data) > 4096 {
			t.Errorf("audit event %d (%s) is %d bytes: attacker-controlled values must be bounded", seq, m.Subject, len(m.Data))
		}
	}

	// The control: a job the intake signed is signed and its workflow completed.
	genuine := r.job("genuine")
	r.intake.Sign(genuine, time.Now())
	r.publish(genuine)
	r.waitFor("the genuine job's workflow completed", func() bool { return len(r.portal.EventsSent()[genuine.Reply.EventToken]) == 1 })
	if s, err := r.results.Signed(ctx, "genuine"); err != nil || s == nil {
		t.Fatalf("the genuine job has no result: %v", err)
	}
	if r.keys.n.Load() == 0 {
		t.Fatal("the genuine job was signed without a key?")
	}
}

// A genuine job that waited longer than its authorisation allows (or one replayed from an old
// capture) is refused before a key or the document is touched. It is the intake's own, so its
// workflow is told it failed, once, instead of waiting forever; nothing is signed or stored.
func TestAttackExpiredSignJob(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := newForgeRig(t, ctx)
	j := r.job("expired")
	r.intake.Sign(j, time.Now().Add(-2*time.Hour)) // TTL 1 h: expired an hour ago
	r.publish(j)
	r.waitFor("the expired job's workflow told", func() bool { return len(r.portal.EventsSent()[j.Reply.EventToken]) == 1 })
	r.waitFor("the expired job in DEAD", func() bool { return r.streamMsgs(contracts.StreamDead, contracts.SubjectDeadAll) == 1 })
	if got := r.keys.n.Load(); got != 0 {
		t.Errorf("an expired job reached for a key %d times", got)
	}
	for _, c := range r.portal.Calls() {
		if c.Method != "bizproc.event.send" {
			t.Errorf("an expired job made a %s call (only the failure report is allowed)", c.Method)
		}
	}
	if v := r.portal.EventsSent()[j.Reply.EventToken][0]; !strings.Contains(fmt.Sprint(v), "expired") {
		t.Errorf("the workflow was not told the authorisation expired: %v", v)
	}
	if n := r.storedFiles(); n != 0 {
		t.Errorf("an expired job stored %d files", n)
	}
	if s, _ := r.results.Signed(ctx, "expired"); s != nil {
		t.Error("an expired job was signed")
	}
}
