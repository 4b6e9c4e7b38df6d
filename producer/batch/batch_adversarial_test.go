package batch

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/internal/audit"
	"github.com/signet-b24/signet/web"
)

// Issue 15 follow-up: batch job ids were "<batch>.0", "<batch>.1", …, and a job id is the public
// /verify/{id} (and is printed on a self-proving document). Whoever held one document of a batch could
// read the audit record of every other: signer, certificate, SHA-256. The attacker here holds document
// 0 and its id, and tries the ids of its neighbours in every form the old scheme suggests, and with
// document 0's tag; each is unknown to the page, which shows nothing of the other documents. Document 0's
// own id still shows its record.
func TestAttackBatchDocumentsEnumerated(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	batchID := e.enqueue(t, 3).ID

	// The worker's job_signed event for each document, with its own hashes and certificate serial.
	w := audit.NewWriter(e.js, nil, audit.Options{})
	var ids, secrets []string
	for seq := uint64(1); seq <= 3; seq++ {
		_, job := e.queued(t, seq)
		s := &contracts.Signed{SHA256Before: strings.Repeat(fmt.Sprint(seq), 64), SHA256After: strings.Repeat(string(rune('a'+seq)), 64),
			CertificateSubject: "CN=Mary", CertificateSerial: fmt.Sprintf("0%d:7f", seq)}
		if _, err := w.Append(ctx, audit.SignedEvent(job, s)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, job.ID)
		secrets = append(secrets, s.SHA256Before, s.SHA256After, s.CertificateSerial)
	}

	mux := http.NewServeMux()
	mux.Handle("GET /verify/{id}", web.TrailPage(e.js, "", nil))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(id string) (int, string) {
		resp, err := http.Get(srv.URL + "/verify/" + id)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, html.UnescapeString(string(b))
	}

	// The document the attacker holds: its own record, nothing of the others.
	code, body := get(ids[0])
	if code != http.StatusOK || !strings.Contains(body, "Signed by Signet") || !strings.Contains(body, secrets[1]) {
		t.Fatalf("document 0's own id %s: %d, its record not shown\n%s", ids[0], code, body)
	}
	for _, s := range secrets[3:] {
		if strings.Contains(body, s) {
			t.Fatalf("document 0's page shows %q of another document", s)
		}
	}

	// The neighbours, guessed.
	tag0 := ids[0][strings.LastIndexByte(ids[0], '-')+1:]
	var guesses []string
	for n := 1; n <= 3; n++ {
		for _, sep := range []string{".", "_", "-"} {
			guesses = append(guesses, fmt.Sprintf("%s%s%d", batchID, sep, n))
		}
		guesses = append(guesses, fmt.Sprintf("%s.%d-%s", batchID, n, tag0), fmt.Sprintf("%s_%d-%s", batchID, n, tag0),
			fmt.Sprintf("%s.%d-%s", batchID, n, strings.Repeat("0", len(tag0))))
	}
	guesses = append(guesses, batchID, batchID+".0", strings.TrimSuffix(ids[0], tag0)+strings.Repeat("f", len(tag0)))
	for _, g := range guesses {
		code, body := get(g)
		if code != http.StatusNotFound || !strings.Contains(body, "no record") {
			t.Errorf("guessed id %s: %d, want 404 and no record", g, code)
		}
		for _, s := range secrets {
			if strings.Contains(body, s) {
				t.Errorf("guessed id %s shows %q", g, s)
			}
		}
	}

	// The ids share nothing past the batch and the index: each tag is 128 bits of its own.
	seen := map[string]bool{}
	for n, id := range ids {
		prefix := fmt.Sprintf("%s.%d-", batchID, n)
		tag, ok := strings.CutPrefix(id, prefix)
		if !ok || len(tag) != 2*tagBytes || seen[tag] {
			t.Errorf("document %d has id %s: want %s and a tag of %d hex digits of its own", n, id, prefix, 2*tagBytes)
		}
		seen[tag] = true
	}
}

// Two first runs of the same batch at once settle on one record, so their jobs have the same ids and
// JetStream drops the second copy of each: no document is queued (and signed) twice. (One of the two may
// stop when the other spends the grant they share; running the command again finishes the batch.)
func TestConcurrentFirstRunsQueueEachDocumentOnce(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	m, _ := ReadFolder(e.folder(t, 4))
	run := func() error {
		enq := &Enqueuer{JS: e.js, KV: e.kv, Store: e.store, Identity: e.id, JobKey: e.key}
		_, err := enq.Enqueue(ctx, Request{Login: "mary", Credential: cred, Manifest: m, OTP: func() (string, error) { return "", nil }})
		return err
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if err := run(); err != nil {
				t.Logf("a concurrent run stopped: %v", err)
			}
		})
	}
	wg.Wait()
	if err := run(); err != nil {
		t.Fatal(err)
	}
	if got := e.signPending(t); got != 4 {
		t.Fatalf("%d jobs queued by three runs of a 4-document batch, want 4", got)
	}
}
