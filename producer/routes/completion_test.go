package routes

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/signet-b24/signet/contracts"
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
