package audit

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/signet-b24/signet/contracts"
)

// TestAttackAuditBloat: a refused request whose member_id, reason and detail are 500 KB each (an
// attacker's values, before any authentication) is recorded in a few KB: the member_id hashed and
// marked as invalid, the free text cut and marked; the chain still verifies.
func TestAttackAuditBloat(t *testing.T) {
	s := startAudit(t)
	ctx := context.Background()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	w := NewWriter(s.JS, ec, Options{CheckpointEvery: 1000, CheckpointInterval: time.Hour})
	huge := strings.Repeat("A", 500<<10)
	stored, err := w.Append(ctx, contracts.AuditEvent{Action: contracts.AuditRequestRefused, Portal: huge + "!",
		Outcome: contracts.AuditRefused, Reason: "unknown portal " + huge, Detail: strings.Repeat("я", 300<<10),
		Login: huge, Credential: "pkcs11:object=" + huge, JobID: huge})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored.Portal, InvalidPortalPrefix) || len(stored.Portal) > 128 || strings.Contains(stored.Portal, "AAAA") {
		t.Fatalf("an invalid member_id is recorded as %.80q…; want it hashed and marked", stored.Portal)
	}
	if !strings.HasSuffix(stored.Reason, "[cut: 512015 bytes]") || !strings.HasPrefix(stored.Reason, "unknown portal AAA") {
		t.Fatalf("reason not cut and marked: …%q", stored.Reason[max(0, len(stored.Reason)-60):])
	}
	st, err := s.JS.Stream(ctx, contracts.StreamAudit)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Bytes > 8<<10 {
		t.Fatalf("AUDIT holds %d bytes after one refused request; want a bounded record (< 8 KB)", info.State.Bytes)
	}
	msg, err := st.GetMsg(ctx, info.State.LastSeq)
	if err != nil {
		t.Fatal(err)
	}
	e, err := Decode(msg.Sequence, msg.Data)
	if err != nil {
		t.Fatal(err)
	}
	if e.Portal != stored.Portal || !strings.HasSuffix(e.Detail, "bytes]") {
		t.Fatalf("stored event differs from the bounded one: portal %q", e.Portal)
	}
	rep, err := Verify(ctx, s.JS, contracts.StreamAudit, VerifyOptions{Keys: []crypto.PublicKey{ec.Public()}})
	if err != nil || !rep.OK() {
		t.Fatalf("chain with a bounded event does not verify: %v %+v", err, rep)
	}
}

// A valid member_id and short values are recorded as they are.
func TestBoundKeepsValidValues(t *testing.T) {
	e := contracts.AuditEvent{Action: "x", Portal: "3d906b2a32030386ccc7274d2313a01b", Reason: "wrong code", Login: "mary"}
	if got := Bound(e); got != e {
		t.Fatalf("Bound changed valid values: %+v", got)
	}
}

// The public /verify/{id} page reads the audit trail through a consumer per view. A stream holds at
// most 1,000 consumers (the server's default), and nats.go keeps an idle ordered consumer for five
// minutes: 1,100 views in a row left AUDIT unreadable for everyone ("maximum consumers limit
// reached"). Each view now deletes its consumer: every view answers and none is left behind.
func TestAttackVerifyPageExhaustsConsumers(t *testing.T) {
	s := startAudit(t)
	ctx := context.Background()
	if _, err := NewWriter(s.JS, nil, Options{}).Append(ctx, contracts.AuditEvent{Action: contracts.AuditRequestAccepted, JobID: "r42", Login: "mary"}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /verify/{id}", Page(s.JS, "", nil))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for i := range 1100 {
		resp, err := http.Get(srv.URL + "/verify/r42")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("view %d: HTTP %d", i+1, resp.StatusCode)
		}
	}
	st, err := s.JS.Stream(ctx, contracts.StreamAudit)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Consumers != 0 {
		t.Errorf("%d consumers left on AUDIT after the views", info.State.Consumers)
	}
}
