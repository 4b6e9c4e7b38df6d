package routes

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
	"github.com/signet-b24/signet/producer/identity"
	"github.com/signet-b24/signet/producer/requests"
	"github.com/signet-b24/signet/storage"
)

// fixture is an engine on a real NATS server and a real local storage, with the real requests
// service; users are a map, and the worker's outcome records are written by the test (the
// signatures themselves are judged end to end in cmd/signet/route_signing_test.go).
type fixture struct {
	e     *Engine
	reqs  *requests.Service
	jobs  jetstream.KeyValue
	audit *auditLog
	// diskFileID is the route document's Disk file on the emulator (withPortal, mirror_test.go).
	diskFileID int
}

type users map[string]*identity.User

func (u users) GetUser(_ context.Context, login string) (*identity.User, error) {
	if x, ok := u[login]; ok {
		return x, nil
	}
	return nil, identity.ErrUserNotFound
}

func (u users) UserByBitrixID(_ context.Context, member string, id int) (*identity.User, error) {
	for _, x := range u {
		if x.BitrixIDs[member] == id {
			return x, nil
		}
	}
	return nil, identity.ErrUserNotFound
}

type auditLog struct {
	mu sync.Mutex
	ev []contracts.AuditEvent
}

func (a *auditLog) Record(_ context.Context, e contracts.AuditEvent) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ev = append(a.ev, e)
	return nil
}

func (a *auditLog) details() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var b strings.Builder
	for _, e := range a.ev {
		b.WriteString(e.Detail + "\n")
	}
	return b.String()
}

const (
	portalA = "member-a"
	portalB = "member-b"
	cred    = "pkcs11:token=demo;object=signet-demo"
)

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	ns := natstest.Start(t)
	store, err := OpenStore(ctx, ns.JS, 1)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := requests.OpenStore(ctx, ns.JS, 1)
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := ns.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: contracts.BucketJobs})
	if err != nil {
		t.Fatal(err)
	}
	docs, err := storage.Open(ctx, "file://"+filepath.Join(t.TempDir(), "artefacts"), storage.Options{PruneInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { docs.Close() })
	u := users{}
	for i, login := range []string{"mary", "ann", "bob"} {
		u[login] = &identity.User{Login: login, BitrixIDs: map[string]int{portalA: 7 + i}, DefaultCredential: cred, Credentials: []string{cred}}
	}
	reqs := &requests.Service{Store: rs}
	a := &auditLog{}
	return &fixture{e: &Engine{Store: store, Jobs: jobs, Docs: docs, Requests: reqs, Users: u, Audit: a}, reqs: reqs, jobs: jobs, audit: a}
}

var pdf = []byte("%PDF-1.7\n% a document\n%%EOF\n")

func (f *fixture) start(t *testing.T, member string, steps ...Step) *Route {
	t.Helper()
	r, err := f.e.Start(context.Background(), &Route{Portal: contracts.Portal{MemberID: member}, Originator: "mary", Steps: steps,
		Document: Document{FileName: "a.pdf"}}, bytes.NewReader(pdf))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func party(login string) Party { return Party{Kind: KindSignet, Login: login} }

func (f *fixture) get(t *testing.T, id string) *Route {
	t.Helper()
	r, _, err := f.e.Store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// workerSigns does what a worker leaves for a signed job: the signed PDF in storage, its result and
// its delivered outcome in the jobs bucket.
func (f *fixture) workerSigns(t *testing.T, jobID string) *contracts.Delivered {
	t.Helper()
	ctx := context.Background()
	out := append(append([]byte(nil), pdf...), []byte("% signed by "+jobID+"\n%%EOF\n")...)
	key := "signed/test/" + jobID + ".pdf"
	obj, err := f.e.Docs.Put(ctx, key, bytes.NewReader(out), int64(len(out)), "application/pdf", "")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := json.Marshal(contracts.Signed{PDFKey: key, SHA256After: obj.SHA256, CertificateSubject: "CN=" + jobID, SignedAt: time.Now().UTC()})
	if _, err := f.jobs.Put(ctx, contracts.ResultKey(jobID), s); err != nil {
		t.Fatal(err)
	}
	d := &contracts.Delivered{Outcome: contracts.OutcomeSigned, Delivered: time.Now().UTC()}
	b, _ := json.Marshal(d)
	if _, err := f.jobs.Put(ctx, contracts.DeliveredKey(jobID), b); err != nil {
		t.Fatal(err)
	}
	return d
}
