package archive

import (
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/audit"
	"github.com/signet-b24/signet/internal/queue"
	"github.com/signet-b24/signet/internal/testsupport/forge"
	"github.com/signet-b24/signet/internal/testsupport/natstest"
	"github.com/signet-b24/signet/internal/testsupport/testpki"
	"github.com/signet-b24/signet/internal/testsupport/testtsa"
	"github.com/signet-b24/signet/pades"
	"github.com/signet-b24/signet/storage"
	"github.com/signet-b24/signet/worker"
)

const day = 24 * time.Hour

// rig is a store holding three signed documents, a TSA to renew with, and the audit trail.
type rig struct {
	store   storage.Store
	roots   *x509.CertPool
	renewal *testtsa.TSA
	nats    *natstest.Server
	audit   *audit.Writer
	stamps  int
}

func signer(t *testing.T, bits int) pades.Signer {
	key := testpki.RSAKey(t, bits)
	cert := testpki.SelfSigned(t, &x509.Certificate{SerialNumber: big.NewInt(int64(bits)), Subject: pkix.Name{CommonName: "Mary"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(10 * 365 * day), KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment}, key)
	return pades.Signer{Key: key, Certificate: cert}
}

func newRig(t *testing.T) *rig {
	t.Helper()
	ctx := context.Background()
	invoice, err := os.ReadFile("../../testdata/pdf/invoice.pdf")
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{roots: x509.NewCertPool()}
	if r.store, err = storage.Open(ctx, "file://"+t.TempDir(), storage.Options{PublicURL: "http://127.0.0.1:8080", LinkSecret: []byte("0123456789abcdef0123")}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.store.Close() })
	soon := testtsa.Start(t, "Expiring TSA", time.Now().Add(30*day))
	later := testtsa.Start(t, "Lasting TSA", time.Now().Add(5*365*day))
	r.renewal = testtsa.Start(t, "Renewal TSA", time.Now().Add(8*365*day))
	mary := signer(t, 3072)
	for _, c := range []*x509.Certificate{soon.CA, later.CA, r.renewal.CA, mary.Certificate} {
		r.roots.AddCert(c)
	}
	put := func(job string, s pades.Signer, tsa *testtsa.TSA) {
		o := pades.Options{}
		if tsa != nil {
			o.TSA = pades.HTTPTimestamper{URL: tsa.URL}
		}
		doc, _, err := pades.Sign(ctx, invoice, s, o)
		if err != nil {
			t.Fatal(err)
		}
		pdf, _, _ := storage.ArtefactKeys("acme", time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC), "g", job)
		if _, err := r.store.Put(ctx, pdf, strings.NewReader(string(doc)), int64(len(doc)), "application/pdf", ""); err != nil {
			t.Fatal(err)
		}
	}
	put("expiring", mary, soon)       // B-T, its TSA certificate expires in 30 days: due
	put("lasting", mary, later)       // B-T, five years left: not due
	put("weak", signer(t, 1024), nil) // no timestamp, an RSA-1024 signer: due for its algorithm
	r.nats = natstest.Start(t)
	if err := queue.Provision(ctx, r.nats.JS, queue.Settings{Replicas: 1}); err != nil {
		t.Fatal(err)
	}
	r.audit = audit.NewWriter(r.nats.JS, nil, audit.Options{})
	return r
}

// extend is a real TSA-based extender: a document timestamp from the renewal TSA over the whole
// file (the last step of B-LTA; pades.Extend adds the validation data before it, wired in cmd).
func (r *rig) extend(t *testing.T) Extender {
	return func(ctx context.Context, pdf []byte) ([]byte, error) {
		r.stamps++
		return forge.AddDocTimestamp(t, pdf, "ArchiveTimestamp"+string(rune('0'+r.stamps)), func(digest []byte) []byte {
			tok, err := pades.HTTPTimestamper{URL: r.renewal.URL}.Timestamp(ctx, digest, crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}), nil
	}
}

func (r *rig) job(t *testing.T) *Job {
	return &Job{Store: r.store, Extend: r.extend(t), Inspect: PadesInspector(r.roots), RenewBefore: DefaultRenewBefore, Audit: r.audit}
}

func byJob(entries []Entry) map[string]Entry {
	m := map[string]Entry{}
	for _, e := range entries {
		m[jobID(e.Document)] = e
	}
	return m
}

// The job finds what is due (a TSA certificate expiring within archive.renew_before, a weak
// signer key) and not what is not, renews it with a new document timestamp from a TSA, writes the
// result beside the old revision (which stays byte for byte), records it in storage and in the
// audit trail; the new revisions verify with Signet's verifier, are no longer due, and a second
// run does nothing.
func TestArchiveRenewsWhatExpiresAndKeepsTheOld(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	j := r.job(t)
	before, err := j.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := byJob(before)
	if e := got["expiring"]; !e.Due || !strings.Contains(e.Reason, "TSA certificate CN=Expiring TSA expires within") || e.Timestamp.IsZero() {
		t.Errorf("the document with an expiring TSA certificate: %+v", e)
	}
	if e := got["lasting"]; e.Due || e.Error != "" || !strings.Contains(e.What, "Lasting TSA") {
		t.Errorf("the document with five years left: %+v", e)
	}
	if e := got["weak"]; !e.Due || !strings.Contains(e.Reason, "RSA-1024") {
		t.Errorf("the document signed with RSA-1024: %+v", e)
	}
	if before[0].Document != got["expiring"].Document {
		t.Errorf("status is not soonest expiry first: %v", before)
	}
	old := read(t, r.store, got["expiring"].Key)

	sum, err := j.Run(ctx)
	if err != nil || sum != (Summary{Documents: 3, Renewed: 2}) {
		t.Fatalf("run: %+v %v", sum, err)
	}
	after := byJob(mustStatus(t, j))
	for _, name := range []string{"expiring", "weak"} {
		e := after[name]
		if e.Revision != 2 || !strings.HasSuffix(e.Key, name+".r2.pdf") || e.Unrecorded {
			t.Errorf("%s after the run: %+v", name, e)
		}
		if e.Due && name == "expiring" {
			t.Errorf("%s is still due after its renewal: %+v", name, e)
		}
		infos := verifyBytes(t, read(t, r.store, e.Key), r.roots)
		last := infos[len(infos)-1]
		if len(infos) != 2 || last.Verdict() != pades.VerdictValid || last.Signer != "Renewal TSA" {
			t.Errorf("%s revision 2 as Signet's verifier sees it: %d signatures, last %s by %q %v", name, len(infos), last.Verdict(), last.Signer, last.Problems)
		}
		var rec Record
		if err := json.Unmarshal(read(t, r.store, recordKey(e.Document, 2)), &rec); err != nil || rec.From != revisionKey(e.Document, 1) || rec.SHA256After == "" {
			t.Errorf("%s record: %+v %v", name, rec, err)
		}
	}
	if string(read(t, r.store, got["expiring"].Key)) != string(old) {
		t.Error("the old revision was changed")
	}
	if after["lasting"].Revision != 1 {
		t.Errorf("the lasting document was renewed: %+v", after["lasting"])
	}
	if n := auditEvents(t, r); n != 2 {
		t.Errorf("%d archive_renewed events, want 2", n)
	}
	// The weak signer key is now under a timestamp with strong algorithms: nothing is due any more.
	if sum, err := j.Run(ctx); err != nil || sum.Renewed != 0 {
		t.Errorf("a second run: %+v %v", sum, err)
	}
}

// A run that stopped after storing a revision (the process died before its record and audit
// event) is finished by the next run, without extending again; the lease lets one process run at
// a time, and a held lease makes another skip its turn.
func TestArchiveRecoversAnInterruptedRunUnderTheLease(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	j := r.job(t)
	e := byJob(mustStatus(t, j))["expiring"]
	out, err := j.Extend(ctx, read(t, r.store, e.Key))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.store.Put(ctx, revisionKey(e.Document, 2), strings.NewReader(string(out)), int64(len(out)), "application/pdf", ""); err != nil {
		t.Fatal(err)
	}
	if e := byJob(mustStatus(t, j))["expiring"]; !e.Unrecorded || e.Due {
		t.Fatalf("the interrupted revision: %+v", e)
	}
	results, err := worker.OpenResults(ctx, r.nats.JS, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s := &Scheduler{Job: j, Leases: results, Every: time.Hour}
	other, err := results.Claim(ctx, leaseName, "another process", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Once(ctx); !errors.Is(err, ErrBusy) {
		t.Fatalf("with the lease held elsewhere: %v", err)
	}
	other.Release(ctx)
	sum, err := s.Once(ctx)
	if err != nil || sum.Recorded != 1 || sum.Renewed != 1 { // the weak document; the interrupted one only recorded
		t.Fatalf("run after the interruption: %+v %v", sum, err)
	}
	if e := byJob(mustStatus(t, j))["expiring"]; e.Unrecorded || e.Revision != 2 {
		t.Errorf("after recovery: %+v", e)
	}
	if n := auditEvents(t, r); n != 2 {
		t.Errorf("%d archive_renewed events, want 2", n)
	}
}

func mustStatus(t *testing.T, j *Job) []Entry {
	t.Helper()
	s, err := j.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func read(t *testing.T, st storage.Store, key string) []byte {
	t.Helper()
	rc, _, err := st.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func verifyBytes(t *testing.T, pdf []byte, roots *x509.CertPool) []pades.SignatureInfo {
	t.Helper()
	f := t.TempDir() + "/doc.pdf"
	if err := os.WriteFile(f, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	infos, err := pades.Verify(f, roots)
	if err != nil {
		t.Fatal(err)
	}
	return infos
}

// auditEvents counts the archive_renewed events in the AUDIT stream.
func auditEvents(t *testing.T, r *rig) int {
	t.Helper()
	st, err := r.nats.JS.Stream(context.Background(), contracts.StreamAudit)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background(), jetstream.WithSubjectFilter(contracts.AuditSubject(contracts.AuditArchiveRenewed)+".*"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range info.State.Subjects {
		n += int(c)
	}
	return n
}
