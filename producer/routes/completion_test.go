package routes

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/mail"
	"github.com/signet-b24/signet/internal/testsupport/mailpit"
	"github.com/signet-b24/signet/producer/requests"
	"github.com/signet-b24/signet/storage"
)

// sealQueue keeps the seal jobs the engine queues; the test then does what the worker does with
// them (fixture.workerSigns). The seals themselves are judged by pdfsig in cmd/signet.
type sealQueue struct {
	mu   sync.Mutex
	jobs []*contracts.SignJob
}

func (q *sealQueue) Credential() string { return "pkcs11:token=demo;object=seal" }
func (q *sealQueue) Queue(_ context.Context, j *contracts.SignJob) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.jobs = append(q.jobs, j)
	return nil
}

// After the last party the route waits for the company's seal of its last revision and of the
// certificate of completion; the certificate names every party and its QR code reads as the
// verification URL; the route completes when both seals are delivered, the sealed revision final.
func TestRouteCompletionSealsFinalRevisionAndCertificate(t *testing.T) {
	for _, tool := range []string{"pdftotext", "pdftoppm", "zbarimg"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (poppler-utils, zbar-tools)", tool)
		}
	}
	f := newFixture(t)
	q := &sealQueue{}
	f.e.Seal, f.e.PublicURL = q, "https://signet.example.com/"
	ctx := context.Background()
	r := f.start(t, portalA, Step{Parties: []Party{party("ann")}}, Step{Parties: []Party{party("bob")}})
	for _, job := range []string{JobID(r.ID, "s1", "p1"), JobID(r.ID, "s2", "p1")} {
		if _, err := f.e.Hold(ctx, r.ID, job); err != nil {
			t.Fatal(err)
		}
		if err := f.e.JobDone(ctx, job, f.workerSigns(t, job)); err != nil {
			t.Fatal(err)
		}
	}
	r = f.get(t, r.ID)
	if r.State != Running || r.Completion == nil || !r.Completion.Queued || len(q.jobs) != 2 {
		t.Fatalf("after the last party: %s, completion %+v, %d seal jobs", r.State, r.Completion, len(q.jobs))
	}
	for _, j := range q.jobs {
		if j.Credential != q.Credential() || !strings.Contains(j.Stamp.Reason, r.Completion.CertificateSHA256) {
			t.Errorf("seal job %s: credential %q, reason %q", j.ID, j.Credential, j.Stamp.Reason)
		}
	}
	if q.jobs[0].Document.URL != contracts.SharedStoragePrefix+RevisionKey(r.ID, 2) {
		t.Errorf("the seal must sign the last party's revision, not %s", q.jobs[0].Document.URL)
	}

	dir := t.TempDir()
	rc, _, err := f.e.Docs.Get(ctx, r.Completion.CertificateKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := io.ReadAll(rc)
	rc.Close()
	pdfPath := filepath.Join(dir, "certificate.pdf")
	if err := os.WriteFile(pdfPath, cert, 0o600); err != nil {
		t.Fatal(err)
	}
	text, err := exec.Command("pdftotext", "-layout", pdfPath, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v\n%s", err, text)
	}
	for _, want := range []string{"Certificate of completion", "ann", "bob", r.ID, r.Document.SHA256, "CN=" + JobID(r.ID, "s1", "p1")} {
		if !strings.Contains(string(text), want) {
			t.Errorf("the certificate lacks %q:\n%s", want, text)
		}
	}
	if out, err := exec.Command("pdftoppm", "-r", "150", "-png", "-f", "1", "-l", "1", pdfPath, filepath.Join(dir, "page")).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v\n%s", err, out)
	}
	pages, _ := filepath.Glob(filepath.Join(dir, "page*.png"))
	if len(pages) != 1 {
		t.Fatalf("rendered pages: %v", pages)
	}
	code, err := exec.Command("zbarimg", "-q", "--raw", pages[0]).Output()
	if got := strings.TrimSpace(string(code)); err != nil || got != "https://signet.example.com/verify/"+r.ID+"-seal" {
		t.Fatalf("the QR code reads %q (%v)", got, err)
	}

	for i, j := range q.jobs {
		if err := f.e.JobDone(ctx, j.ID, f.workerSigns(t, j.ID)); err != nil {
			t.Fatal(err)
		}
		if r = f.get(t, r.ID); (i == 0) == (r.State == Completed) {
			t.Fatalf("after seal %d of 2: %s", i+1, r.State)
		}
	}
	if r.Revision != 3 || r.RevisionKey != RevisionKey(r.ID, 3) || r.Completion.CertificateSealedKey == "" {
		t.Fatalf("final: revision %d %s, certificate %q", r.Revision, r.RevisionKey, r.Completion.CertificateSealedKey)
	}
	for _, want := range []string{"sealing", "certificate sealed", "completed"} {
		if !strings.Contains(f.audit.details(), want) {
			t.Errorf("audit trail lacks %q:\n%s", want, f.audit.details())
		}
	}
}

// Must 5 and 2 of the slice: a completed route's final document goes by link to every party with
// an e-mail (a real SMTP server); the link opens the document until it expires, a wrong token never
// does; after routes.delete_after the sweeper deletes the route's files, and the link is dead.
func TestRouteFinalLinkMailedThenFilesDeleted(t *testing.T) {
	mp := mailpit.Start(t)
	sender, err := mail.New(mail.Config{SMTPHost: mp.SMTP, From: "Signet <signet@example.test>", TLS: mail.TLSNone})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	now := time.Now().UTC()
	f.e.Now = func() time.Time { return now }
	f.e.Mail, f.e.PublicURL, f.e.FinalLinkTTL, f.e.DeleteAfter = sender, "https://signet.example.com", 48*time.Hour, 72*time.Hour
	ctx := context.Background()
	ann := party("ann")
	ann.Email = "ann@example.test"
	r := f.start(t, portalA, Step{Parties: []Party{ann}})
	job := JobID(r.ID, "s1", "p1")
	if _, err := f.e.Hold(ctx, r.ID, job); err != nil {
		t.Fatal(err)
	}
	if err := f.e.JobDone(ctx, job, f.workerSigns(t, job)); err != nil {
		t.Fatal(err)
	}
	if r = f.get(t, r.ID); r.State != Completed || r.Completion == nil || !r.Completion.Delivered {
		t.Fatalf("route %s, completion %+v", r.State, r.Completion)
	}
	msgs := mp.To(t, "ann@example.test")
	if len(msgs) != 1 {
		t.Fatalf("ann got %d messages", len(msgs))
	}
	link := regexp.MustCompile(`https://signet\.example\.com/routes/final/(rt[0-9a-f]+)/([0-9a-f]{64})`).FindStringSubmatch(msgs[0].Text)
	if link == nil || link[1] != r.ID {
		t.Fatalf("no final link in the mail:\n%s", msgs[0].Text)
	}
	if strings.Contains(f.get(t, r.ID).Completion.LinkHash, link[2]) {
		t.Fatal("the route record holds the link's token")
	}
	rc, name, err := f.e.Final(ctx, r.ID, link[2], false)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if name != "a.pdf" || !strings.Contains(string(got), "signed by "+job) {
		t.Fatalf("the link gives %s: %q", name, got)
	}
	if _, _, err := f.e.Final(ctx, r.ID, strings.Repeat("0", 64), false); err != ErrLinkInvalid {
		t.Fatalf("a guessed token: %v", err)
	}
	now = now.Add(49 * time.Hour)
	if _, _, err := f.e.Final(ctx, r.ID, link[2], false); err != ErrLinkInvalid {
		t.Fatalf("an expired link: %v", err)
	}
	if err := f.e.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if rc, _, err := f.e.Docs.Get(ctx, RevisionKey(r.ID, 1)); err != nil {
		t.Fatalf("the files are deleted before routes.delete_after: %v", err)
	} else {
		rc.Close()
	}
	now = now.Add(24 * time.Hour)
	if err := f.e.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	for n := 0; n <= 1; n++ {
		if _, _, err := f.e.Docs.Get(ctx, RevisionKey(r.ID, n)); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("revision %d after routes.delete_after: %v", n, err)
		}
	}
	if r = f.get(t, r.ID); r.Completion.FilesDeleted.IsZero() || !strings.Contains(f.audit.details(), "files deleted") || !strings.Contains(f.audit.details(), "delivered") {
		t.Fatalf("files deleted %v; audit:\n%s", r.Completion.FilesDeleted, f.audit.details())
	}
}

// Must 7: a party removed mid-route leaves the inbox and its step is evaluated again: the other
// party's signature completes an "all" step; a party who acted cannot be removed.
func TestRouteRemovePartyMidRoute(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r := f.start(t, portalA, Step{Parties: []Party{party("ann"), party("bob")}})
	ann, bob := JobID(r.ID, "s1", "p1"), JobID(r.ID, "s1", "p2")
	if _, err := f.e.RemoveParty(ctx, portalA, "ann", r.ID, "s1", "p2", "wrong person"); !errors.Is(err, ErrNotOriginator) {
		t.Fatalf("a party removes another: %v", err)
	}
	if _, err := f.e.Hold(ctx, r.ID, ann); err != nil {
		t.Fatal(err)
	}
	if err := f.e.JobDone(ctx, ann, f.workerSigns(t, ann)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.RemoveParty(ctx, "", "", r.ID, "s1", "p1", ""); err == nil {
		t.Fatal("a party who signed was removed")
	}
	r, err := f.e.RemoveParty(ctx, portalA, "mary", r.ID, "s1", "p2", "left the company")
	if err != nil {
		t.Fatal(err)
	}
	if r.State != Completed || r.Steps[0].Parties[1].State != PartyRemoved || !strings.Contains(r.Steps[0].Parties[1].Reason, "left the company") {
		t.Fatalf("after removing bob: %s\n%s", r.State, r.Summary())
	}
	if q, _, err := f.reqs.Store.Get(ctx, bob); err != nil || q.State == requests.Pending {
		t.Fatalf("bob's request stays pending: %v", err)
	}
	if !strings.Contains(f.audit.details(), "removed party p2 (bob)") {
		t.Errorf("audit trail:\n%s", f.audit.details())
	}
}

// A seal that never comes back (its job a dead letter) does not leave the route running for ever:
// after a job's authorisation has run out the sweeper ends it as failed and says why.
func TestRouteSealThatNeverComesBackFails(t *testing.T) {
	f := newFixture(t)
	now := time.Now().UTC()
	f.e.Now = func() time.Time { return now }
	f.e.Seal, f.e.PublicURL = &sealQueue{}, "https://signet.example.com"
	ctx := context.Background()
	r := f.start(t, portalA, Step{Parties: []Party{party("ann")}})
	job := JobID(r.ID, "s1", "p1")
	if _, err := f.e.Hold(ctx, r.ID, job); err != nil {
		t.Fatal(err)
	}
	if err := f.e.JobDone(ctx, job, f.workerSigns(t, job)); err != nil {
		t.Fatal(err)
	}
	if err := f.e.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if r = f.get(t, r.ID); r.State != Running {
		t.Fatalf("sealing route after a sweep: %s", r.State)
	}
	now = now.Add(25 * time.Hour)
	if err := f.e.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if r = f.get(t, r.ID); r.State != Failed || !strings.Contains(r.Reason, "seal did not come back") {
		t.Fatalf("after 25 h: %s (%s)", r.State, r.Reason)
	}
}
