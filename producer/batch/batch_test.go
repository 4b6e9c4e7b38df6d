package batch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/jobkey"
	"github.com/signet-b24/signet/internal/queue"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
	"github.com/signet-b24/signet/producer/identity"
	"github.com/signet-b24/signet/storage"
	"github.com/signet-b24/signet/worker"
)

const cred = "pkcs11:token=acme;object=mary-2026"

func TestParseManifest(t *testing.T) {
	base := "/m"
	cases := []struct {
		name, ext, in string
		want          []Document
		err           string
	}{
		{name: "csv", ext: ".csv", in: "path,reason,visible,page,position\na.pdf,Approved,Y,last,bottom-right\n/abs/b.pdf,,N,,\n",
			want: []Document{{Path: "/m/a.pdf", Reason: "Approved", Page: "last", Position: "bottom-right"}, {Path: "/abs/b.pdf"}}},
		{name: "csv portal and deal", ext: ".csv", in: "portal,disk_file_id,deal\nm1,17,1188\n",
			want: []Document{{Portal: "m1", DiskFileID: 17, Deal: 1188, EntityTypeID: 2, EntityID: 1188}}},
		{name: "csv CRM file field", ext: ".csv", in: "portal,entity_type_id,entity_id,file_field,file_id\nm1,31,7,ufCrmSignetFiles,12\n",
			want: []Document{{Portal: "m1", EntityTypeID: 31, EntityID: 7, FileField: "ufCrmSignetFiles", FileID: 12}}},
		{name: "file field without item", ext: ".csv", in: "portal,file_field\nm1,ufCrmSignetFiles\n", err: "entity_type_id"},
		{name: "jsonl", ext: ".jsonl", in: "{\"key\":\"incoming/x/1.pdf\",\"file_name\":\"x.pdf\"}\n\n# comment\n{\"path\":\"c.pdf\"}\n",
			want: []Document{{Key: "incoming/x/1.pdf", FileName: "x.pdf"}, {Path: "/m/c.pdf"}}},
		{name: "guessed jsonl", ext: "", in: "{\"path\":\"c.pdf\"}\n", want: []Document{{Path: "/m/c.pdf"}}},
		{name: "two sources", ext: ".csv", in: "path,key\na.pdf,incoming/a.pdf\n", err: "line 2: give exactly one"},
		{name: "no source", ext: ".csv", in: "reason\nx\n", err: "exactly one"},
		{name: "disk without portal", ext: ".csv", in: "disk_file_id\n5\n", err: "member_id"},
		{name: "key outside incoming", ext: ".jsonl", in: "{\"key\":\"signed/p/1.pdf\"}\n", err: "incoming/"},
		{name: "bad position", ext: ".csv", in: "path,position\na.pdf,middle\n", err: "position"},
		{name: "bad visible", ext: ".csv", in: "path,visible\na.pdf,maybe\n", err: "visible"},
		{name: "unknown column", ext: ".csv", in: "path,colour\na.pdf,red\n", err: "unknown column"},
		{name: "unknown json key", ext: ".jsonl", in: "{\"path\":\"a.pdf\",\"colour\":1}\n", err: "colour"},
		{name: "empty", ext: ".csv", in: "path\n", err: "no documents"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseManifest([]byte(c.in), c.ext, base)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("want an error with %q, got %v", c.err, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %d documents, want %d", len(got), len(c.want))
			}
			for i := range got {
				g, w := got[i], c.want[i]
				g.line, g.Visible = 0, nil
				if fmt.Sprint(g) != fmt.Sprint(w) {
					t.Errorf("document %d:\n got %+v\nwant %+v", i, g, w)
				}
			}
		})
	}
}

type env struct {
	js    jetstream.JetStream
	kv    jetstream.KeyValue
	store storage.Store
	key   *contracts.JobSigner
	id    *identity.Service
	dir   string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	ns := natstest.Start(t)
	if err := queue.Provision(ctx, ns.JS, queue.Settings{AckWait: time.Minute, MaxDeliver: 3, MaxAckPending: 10}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	line, err := identity.GenerateKeyLine()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "secret.keys")
	if err := os.WriteFile(keyFile, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := identity.LoadKeys(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	id, err := identity.New(ctx, ns.JS, identity.Config{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	if err := id.AddUser(ctx, identity.User{Login: "mary", OTPDisabled: true, Credentials: []string{cred}, DefaultCredential: cred}); err != nil {
		t.Fatal(err)
	}
	st, err := storage.Open(ctx, "file://"+filepath.Join(dir, "artefacts"), storage.Options{PruneInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kv, err := OpenBucket(ctx, ns.JS, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	key, err := jobkey.Generate(0)
	if err != nil {
		t.Fatal(err)
	}
	return &env{js: ns.JS, kv: kv, store: st, id: id, dir: dir, key: key}
}

func (e *env) folder(t *testing.T, n int) string {
	t.Helper()
	d := filepath.Join(e.dir, "in")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		body := fmt.Sprintf("%%PDF-1.4\n%% invoice %d\n%%%%EOF\n", i)
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("inv-%03d.pdf", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// enqueue queues a batch of n documents signed by mary (whose OTP is off) and returns its record.
func (e *env) enqueue(t *testing.T, n int) *Record {
	t.Helper()
	ctx := context.Background()
	m, _ := ReadFolder(e.folder(t, n))
	enq := &Enqueuer{JS: e.js, KV: e.kv, Store: e.store, Identity: e.id, JobKey: e.key}
	sum, err := enq.Enqueue(ctx, Request{Login: "mary", Credential: cred, Manifest: m, OTP: func() (string, error) { return "", nil }})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := GetRecord(ctx, e.kv, sum.BatchID)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// queued reads the job at seq in SIGN.
func (e *env) queued(t *testing.T, seq uint64) (*jetstream.RawStreamMsg, *contracts.SignJob) {
	t.Helper()
	stream, err := e.js.Stream(context.Background(), contracts.StreamSign)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := stream.GetMsg(context.Background(), seq)
	if err != nil {
		t.Fatal(err)
	}
	job, err := contracts.DecodeSignJob(msg.Data)
	if err != nil {
		t.Fatal(err)
	}
	return msg, job
}

func (e *env) signPending(t *testing.T) uint64 {
	t.Helper()
	s, err := e.js.Stream(context.Background(), contracts.StreamSign)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// A batch is published once, with derived ids, one OTP, and local files uploaded to the storage; the
// same command again publishes nothing and asks no OTP; a run that stopped half way resumes.
func TestEnqueueIdempotentAndResumable(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	m, err := ReadFolder(e.folder(t, 6))
	if err != nil {
		t.Fatal(err)
	}
	otps := 0
	enq := &Enqueuer{JS: e.js, KV: e.kv, Store: e.store, Identity: e.id, JobKey: e.key}
	req := Request{Login: "mary", Credential: cred, Manifest: m, OTP: func() (string, error) { otps++; return "", nil },
		Stamp: contracts.Stamp{Visible: true, Page: "last"}, Language: "ru", TimeZone: "Asia/Yekaterinburg"}

	// The first run stops after 4 documents (the context ends, as with Ctrl-C).
	cctx, cancel := context.WithCancel(ctx)
	req.Progress = func(p Progress) {
		if p.Published == 4 {
			cancel()
		}
	}
	if _, err := enq.Enqueue(cctx, req); err == nil || !strings.Contains(err.Error(), "run the same command again") {
		t.Fatalf("an interrupted run must say how to resume, got %v", err)
	}
	if got := e.signPending(t); got != 4 {
		t.Fatalf("%d jobs queued after the interruption, want 4", got)
	}
	req.Progress = nil
	sum, err := enq.Enqueue(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Resumed != 4 || sum.Published != 6 || otps != 1 {
		t.Fatalf("resume: %+v, OTP asked %d times; want resumed at 4, 6 published, one OTP", sum, otps)
	}
	if sum.GrantUsed != 6 || sum.GrantMax != 6 {
		t.Fatalf("grant used %d of %d, want 6 of 6: each job is authorised once", sum.GrantUsed, sum.GrantMax)
	}
	if _, err := enq.Enqueue(ctx, req); err != nil {
		t.Fatal(err)
	}
	if got := e.signPending(t); got != 6 || otps != 1 {
		t.Fatalf("after a third run %d jobs are queued and the OTP was asked %d times; want 6 and 1", got, otps)
	}

	// The jobs: batch kind and subject, derived ids, the grant, documents in storage.
	id := ID("mary", cred, m)
	rec, err := GetRecord(ctx, e.kv, id)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for seq := uint64(1); seq <= 6; seq++ {
		msg, job := e.queued(t, seq)
		if msg.Subject != contracts.SubjectSignBatch || job.Kind != contracts.KindBatch || job.BatchID != id {
			t.Fatalf("job %s: subject %s kind %s batch %s", job.ID, msg.Subject, job.Kind, job.BatchID)
		}
		if job.Language != "ru" || job.TimeZone != "Asia/Yekaterinburg" {
			t.Fatalf("job %s: language %q, zone %q; want the request's (issue 18)", job.ID, job.Language, job.TimeZone)
		}
		if job.ID != rec.JobID(n) || msg.Header.Get(contracts.HeaderMsgID) != job.ID {
			t.Fatalf("job %d has id %s and Nats-Msg-Id %s, want %s", n, job.ID, msg.Header.Get(contracts.HeaderMsgID), rec.JobID(n))
		}
		if job.Signer.Authorization != identity.MethodGrant || job.Signer.GrantID == "" || job.Signer.Login != "mary" {
			t.Fatalf("job %s is not authorised by the grant: %+v", job.ID, job.Signer)
		}
		key := strings.TrimPrefix(job.Document.URL, contracts.SharedStoragePrefix)
		rc, _, err := e.store.Get(ctx, key)
		if err != nil {
			t.Fatalf("job %s: document %s not in storage: %v", job.ID, key, err)
		}
		rc.Close()
		if !job.Stamp.Visible || job.Stamp.Page != "last" || job.Document.FileName != fmt.Sprintf("inv-%03d.pdf", n) {
			t.Fatalf("job %s: stamp %+v name %s", job.ID, job.Stamp, job.Document.FileName)
		}
		n++
	}
	if n != 6 {
		t.Fatalf("read %d jobs, want 6", n)
	}
}

// A changed folder is a new batch; a different signer is a new batch too.
func TestBatchIDFollowsContentAndSigner(t *testing.T) {
	e := newEnv(t)
	dir := e.folder(t, 2)
	m1, _ := ReadFolder(dir)
	if err := os.WriteFile(filepath.Join(dir, "inv-001.pdf"), []byte("%PDF-1.4\n% changed\n%%EOF\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m2, _ := ReadFolder(dir)
	if ID("mary", cred, m1) == ID("mary", cred, m2) {
		t.Fatal("a changed file must make a new batch id")
	}
	if ID("mary", cred, m1) != ID("Mary", cred, m1) {
		t.Fatal("logins are case-insensitive; the same signer must get the same batch id")
	}
	if ID("mary", cred, m1) == ID("john", cred, m1) {
		t.Fatal("another signer must get another batch id")
	}
}

// A refused grant (the credential is not mapped) queues nothing.
func TestEnqueueRefusedQueuesNothing(t *testing.T) {
	e := newEnv(t)
	m, _ := ReadFolder(e.folder(t, 2))
	enq := &Enqueuer{JS: e.js, KV: e.kv, Store: e.store, Identity: e.id, JobKey: e.key}
	_, err := enq.Enqueue(context.Background(), Request{Login: "mary", Credential: "pkcs11:token=acme;object=other", Manifest: m,
		OTP: func() (string, error) { return "123456", nil }})
	if err == nil || !strings.Contains(err.Error(), "not mapped") && !strings.Contains(err.Error(), "map") {
		t.Fatalf("want a refusal naming the mapping, got %v", err)
	}
	if strings.Contains(err.Error(), "123456") {
		t.Fatal("the OTP must never appear in an error")
	}
	if got := e.signPending(t); got != 0 {
		t.Fatalf("%d jobs queued after a refusal", got)
	}
}

// Status counts the outcomes the callback path records and lists failures with their reasons,
// including a job whose callback went to DEAD.
func TestStatus(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	rec := e.enqueue(t, 5)
	id := rec.ID
	results, err := worker.OpenResults(ctx, e.js, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := e.js.KeyValue(ctx, contracts.BucketJobs)
	if err != nil {
		t.Fatal(err)
	}
	st, err := ReadStatus(ctx, e.js, e.kv, jobs, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.Pending != 5 || st.Signed != 0 || st.Done {
		t.Fatalf("before any result: %+v", st)
	}
	save := func(n int, o contracts.Outcome, reason string) {
		cb := &contracts.Callback{JobID: rec.JobID(n), Kind: contracts.KindBatch, BatchID: id, Outcome: o, Error: reason}
		if err := results.SaveOutcome(ctx, cb, ""); err != nil {
			t.Fatal(err)
		}
	}
	save(0, contracts.OutcomeSigned, "")
	save(1, contracts.OutcomeSigned, "")
	save(3, contracts.OutcomeFailed, "document inv-003.pdf: encrypted PDF")
	if err := queue.MoveToDead(ctx, e.js, queue.Dead{Subject: contracts.SubjectCallback, Stream: contracts.StreamCallback, Seq: 99,
		JobID: rec.JobID(4), Reason: "callback gave up", Data: []byte(`{"job_id":"` + rec.JobID(4) + `"}`)}); err != nil {
		t.Fatal(err)
	}
	// Another batch's results do not count, nor a result under this batch's id with another tag.
	for _, other := range []string{id + "x.0", id + ".2-" + strings.Repeat("0", 2*tagBytes), id + ".2"} {
		if err := results.SaveOutcome(ctx, &contracts.Callback{JobID: other, Outcome: contracts.OutcomeSigned}, ""); err != nil {
			t.Fatal(err)
		}
	}
	st, err = ReadStatus(ctx, e.js, e.kv, jobs, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.Signed != 2 || st.Failed != 2 || st.Pending != 1 || st.Done {
		t.Fatalf("status %+v; want 2 signed, 2 failed, 1 pending", st)
	}
	if len(st.Failures) != 2 || st.Failures[0].N != 4 || st.Failures[0].Name != "inv-003.pdf" || !strings.Contains(st.Failures[0].Reason, "encrypted") ||
		st.Failures[1].N != 5 || st.Failures[1].Dead == 0 || st.Failures[1].Reason != "callback gave up" {
		t.Fatalf("failures %+v", st.Failures)
	}
	save(2, contracts.OutcomeSigned, "")
	st, _ = ReadStatus(ctx, e.js, e.kv, jobs, id)
	if !st.Done || st.Pending != 0 {
		t.Fatalf("all finished, status %+v", st)
	}
	recs, err := ListRecords(ctx, e.kv)
	if err != nil || len(recs) != 1 || recs[0].ID != id || recs[0].Total != 5 {
		t.Fatalf("list: %+v %v", recs, err)
	}
}

// A grant revoked while the batch is queued stops it with the identity service's reason, and the
// grant id (a bearer credential) appears only shortened.
func TestRevokedGrantStopsTheBatchWithoutLeakingIt(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	m, _ := ReadFolder(e.folder(t, 3))
	enq := &Enqueuer{JS: e.js, KV: e.kv, Store: e.store, Identity: e.id, JobKey: e.key}
	var grant string
	_, err := enq.Enqueue(ctx, Request{Login: "mary", Credential: cred, Manifest: m, OTP: func() (string, error) { return "", nil },
		Progress: func(p Progress) {
			if p.Published == 1 && grant == "" {
				rec, err := GetRecord(ctx, e.kv, p.BatchID)
				if err != nil {
					t.Error(err)
					return
				}
				grant = rec.GrantID
				if err := e.id.RevokeGrant(ctx, grant); err != nil {
					t.Error(err)
				}
			}
		}})
	if !errors.Is(err, identity.ErrGrantRevoked) {
		t.Fatalf("want the revocation, got %v", err)
	}
	if grant == "" || strings.Contains(err.Error(), grant) {
		t.Fatalf("the full grant id must not appear in the error: %v", err)
	}
	if got := e.signPending(t); got != 1 {
		t.Fatalf("%d jobs queued; only the one before the revocation may be", got)
	}
}
