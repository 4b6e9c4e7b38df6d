package worker

import (
	"context"
	"crypto"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-b24/signet/contracts"
)

// countingSigner counts the signatures a key makes.
type countingSigner struct {
	crypto.Signer
	n *atomic.Int64
}

func (s *countingSigner) Sign(r io.Reader, digest []byte, o crypto.SignerOpts) ([]byte, error) {
	s.n.Add(1)
	return s.Signer.Sign(r, digest, o)
}

// A job whose certificate the administrator revoked after it was queued is refused before the key
// signs anything (issue 17 must 3), permanently: the workflow is told why, nothing is stored.
func TestRevokedCertificateRefusedBeforeSigning(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := newForgeRig(t, ctx)
	cred, err := r.keys.k.Credential(ctx, r.cred)
	if err != nil {
		t.Fatal(err)
	}
	serial := contracts.NormalSerial(cred.Certificate.SerialNumber.Text(16))
	r.revoked.Set(contracts.Revocation{Serial: serial, Reason: 1, RevokedAt: time.Now().UTC()})
	j := r.job("revoked")
	r.intake.Sign(j, time.Now())
	r.publish(j)
	r.waitFor("the revoked job's workflow told", func() bool { return len(r.portal.EventsSent()[j.Reply.EventToken]) == 1 })
	r.waitFor("the revoked job in DEAD", func() bool { return r.streamMsgs(contracts.StreamDead, contracts.SubjectDeadAll) == 1 })
	if got := r.keys.signs.Load(); got != 0 {
		t.Errorf("the revoked key signed %d times", got)
	}
	// The workflow reads the failure's words (failure.revoked); the serial is in the operator's log.
	if v := fmt.Sprint(r.portal.EventsSent()[j.Reply.EventToken][0]); !strings.Contains(v, "was revoked") || !strings.Contains(v, j.Credential) {
		t.Errorf("the workflow was not told the certificate is revoked: %v", v)
	}
	if n := r.storedFiles(); n != 0 {
		t.Errorf("a revoked certificate's job stored %d files", n)
	}
}
