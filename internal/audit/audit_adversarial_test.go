package audit

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
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
	msg, err := st.GetMsg(ctx, 1) // then the checkpoint that ties the writer's new chain

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
