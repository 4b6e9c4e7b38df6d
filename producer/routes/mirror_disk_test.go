package routes

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/signet-b24/signet/contracts"
)

// signsWithArtefacts is a worker's signed job with its detached CMS and signing report in storage.
func (f *fixture) signsWithArtefacts(t *testing.T, jobID string) {
	t.Helper()
	ctx := context.Background()
	put := func(key string, b []byte) string {
		obj, err := f.e.Docs.Put(ctx, key, bytes.NewReader(b), int64(len(b)), "application/octet-stream", "")
		if err != nil {
			t.Fatal(err)
		}
		return obj.SHA256
	}
	signed := append(append([]byte(nil), pdf...), []byte("% signed by "+jobID+"\n%%EOF\n")...)
	sum := put("signed/test/"+jobID+".pdf", signed)
	put("signed/test/"+jobID+".p7s", []byte("cms of "+jobID))
	put("signed/test/"+jobID+".report.pdf", []byte("%PDF-1.7 report of "+jobID))
	s, _ := json.Marshal(contracts.Signed{PDFKey: "signed/test/" + jobID + ".pdf", CMSKey: "signed/test/" + jobID + ".p7s",
		ReportKey: "signed/test/" + jobID + ".report.pdf", SHA256After: sum, SignedAt: time.Now().UTC()})
	if _, err := f.jobs.Put(ctx, contracts.ResultKey(jobID), s); err != nil {
		t.Fatal(err)
	}
	if err := f.e.JobDone(ctx, jobID, &contracts.Delivered{Outcome: contracts.OutcomeSigned, Delivered: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
}

// A completed route is filed: each signature and report under Signed Documents / Year / Month /
// Deal (folders made once, looked up after), the deal's status and date fields set, and the final
// document beside the original when the route says so (issue 20, must 4).
func TestRouteCompletionFiledOnDisk(t *testing.T) {
	f := newFixture(t)
	p := f.withPortal(t)
	f.e.Mirroring = MirrorConfig{DateField: "ufCrmSignetSignedAt", StatusField: "ufCrmSignetRouteStatus", Folder: "Signed Documents"}
	ctx := context.Background()
	r := f.startOnDeal(t, p, Mirror{FinalBeside: true}, Step{Parties: []Party{party("ann")}})
	job := JobID(r.ID, "s1", "p1")
	f.signsWithArtefacts(t, job)
	r = f.get(t, r.ID)
	if r.State != Completed {
		t.Fatalf("state %s", r.State)
	}
	year, month := fmt.Sprint(r.Since.Year()), fmt.Sprintf("%02d", int(r.Since.Month()))
	for _, name := range []string{"a " + r.ID + " s1p1.p7s", "a " + r.ID + " s1p1.report.pdf"} {
		if p.DiskPath("Signed Documents", year, month, "Deal #5", name) == nil {
			t.Errorf("%s not filed under Signed Documents/%s/%s/Deal #5; steps %+v", name, year, month, r.Mirrored)
		}
	}
	if got := p.DealField(5, "ufCrmSignetRouteStatus"); got != "completed" {
		t.Errorf("status field %v", got)
	}
	if got, _ := p.DealField(5, "ufCrmSignetSignedAt").(string); got != r.Since.UTC().Format(time.RFC3339) {
		t.Errorf("date field %q, want %s", got, r.Since.UTC().Format(time.RFC3339))
	}
	if b := p.DiskPath("a (signed).pdf"); b == nil || !bytes.Contains(b, []byte("signed by "+job)) {
		t.Errorf("the final document is not beside the original")
	}
	if v := p.FileVersions(f.diskFileID); len(v) != 1 {
		t.Errorf("the original has %d versions; FinalBeside keeps it as it was", len(v))
	}
	folders := p.DiskFolders()
	if folders != 4 {
		t.Errorf("%d folders made, want 4", folders)
	}
	// A second route on the same deal finds the folders; a sweep makes nothing twice.
	r2 := f.startOnDeal(t, p, Mirror{}, Step{Parties: []Party{party("bob")}})
	f.signsWithArtefacts(t, JobID(r2.ID, "s1", "p1"))
	if err := f.e.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if p.DiskFolders() != folders {
		t.Errorf("folders made again: %d, want %d", p.DiskFolders(), folders)
	}
	if p.DiskPath("Signed Documents", year, month, "Deal #5", "a "+r2.ID+" s1p1.p7s") == nil {
		t.Errorf("the second route's signature is not filed")
	}
	if v := p.FileVersions(f.diskFileID); len(v) != 2 {
		t.Errorf("without FinalBeside the final document is the original's new version: %d versions", len(v))
	}
	for _, rt := range []*Route{f.get(t, r.ID), f.get(t, r2.ID)} {
		for _, s := range rt.Mirrored {
			if !s.Done {
				t.Errorf("route %s: step %s not done: %s", rt.ID, s.Key, s.Error)
			}
		}
	}
}
