package worker

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-b24/signet/pades"
)

// signing.level lt reaches the stored document (issue 17 must 4): the signed PDF in storage carries a
// DSS in an update after the signature, which stays intact with only that change after it. The
// rig's credential is self-signed and names no revocation service, so the DSS holds its certificate.
func TestSigningLevelLTStoresExtendedDocument(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := newForgeRig(t, ctx, func(s *Signer) { s.Level = pades.LevelLT })
	j := r.job("level-lt")
	r.intake.Sign(j, time.Now())
	r.publish(j)
	var pdf string
	r.waitFor("the signed PDF stored", func() bool {
		_ = filepath.Walk(r.storeAt, func(p string, fi os.FileInfo, err error) error {
			if err == nil && strings.HasSuffix(p, ".pdf") {
				pdf = p
			}
			return nil
		})
		return pdf != "" && len(r.portal.EventsSent()[j.Reply.EventToken]) == 1
	})
	doc, err := os.ReadFile(pdf)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(doc, []byte("/Type /DSS")) {
		t.Fatal("the stored document has no DSS")
	}
	infos, err := pades.Verify(pdf, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || !infos[0].Intact() || len(infos[0].Changes) == 0 || !strings.Contains(infos[0].Changes[0].What, "DSS") {
		t.Fatalf("the stored document: %d signatures, changes after the first %+v", len(infos), infos[0].Changes)
	}
	for _, c := range infos[0].Changes {
		if !c.Allowed {
			t.Errorf("disallowed change %q", c.What)
		}
	}
}
