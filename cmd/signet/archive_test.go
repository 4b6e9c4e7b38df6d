package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-b24/signet/internal/config"
	"github.com/signet-b24/signet/internal/testsupport/testpki"
	"github.com/signet-b24/signet/internal/testsupport/testtsa"
	"github.com/signet-b24/signet/pades"
	"github.com/signet-b24/signet/storage"
	"github.com/signet-b24/signet/worker/archive"
)

// The text of `signet archive status`: soonest expiry first, what protects each document, the
// time left, what the next run renews and why, and a closing line with the settings.
func TestArchiveStatusGolden(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	cfg := config.Defaults()
	cfg.Archive.Schedule = 24 * time.Hour
	entries := []archive.Entry{
		{Document: "signed/acme/2025/11/g/old", Key: "signed/acme/2025/11/g/old.pdf", Revision: 1, Expires: now.Add(-72 * time.Hour),
			What: "signer certificate CN=Mary (no timestamp)", Due: true, Reason: "the signer certificate CN=Mary (no timestamp) has expired"},
		{Document: "signed/acme/2026/01/g/expiring", Key: "signed/acme/2026/01/g/expiring.pdf", Revision: 1, Expires: now.Add(30 * 24 * time.Hour),
			What: "TSA certificate CN=Expiring TSA", Due: true, Reason: "the TSA certificate CN=Expiring TSA expires within 8760h0m0s"},
		{Document: "signed/acme/2026/02/g/renewed", Key: "signed/acme/2026/02/g/renewed.r2.pdf", Revision: 2, Expires: now.Add(800 * 24 * time.Hour),
			What: "TSA certificate CN=Renewal TSA", Unrecorded: true},
		{Document: "signed/acme/2026/03/g/broken", Key: "signed/acme/2026/03/g/broken.pdf", Revision: 1, Error: "no signature found"},
	}
	print := func() string {
		var b bytes.Buffer
		archivePrint(&b, entries, cfg, now)
		return b.String()
	}
	golden(t, "archive_status", print())
	golden(t, "archive_status.ru", inRussian(print))
}

// `signet archive status` on a real store: a B-T document whose TSA certificate expires in a month
// is due, one with years left is not; --json is valid JSON with the same verdicts; the old
// revisions are only read.
func TestArchiveStatusReadsTheStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	t.Setenv("SIGNET_CONFIG", "")
	t.Setenv("SIGNET_DATA_DIR", dir)
	artefacts := filepath.Join(dir, "artefacts")
	store, err := storage.Open(ctx, "file://"+artefacts, storage.Options{PublicURL: "http://127.0.0.1:8080", LinkSecret: []byte("0123456789abcdef0123")})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	invoice, err := os.ReadFile("../../testdata/pdf/invoice.pdf")
	if err != nil {
		t.Fatal(err)
	}
	key := testpki.P256Key(t)
	mary := pades.Signer{Key: key, Certificate: testpki.SelfSigned(t, &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "Mary"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(10 * 365 * 24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}, key)}
	for job, tsa := range map[string]*testtsa.TSA{
		"expiring": testtsa.Start(t, "Expiring TSA", time.Now().Add(30*24*time.Hour)),
		"lasting":  testtsa.Start(t, "Lasting TSA", time.Now().Add(5*365*24*time.Hour)),
	} {
		doc, _, err := pades.Sign(ctx, invoice, mary, pades.Options{TSA: pades.HTTPTimestamper{URL: tsa.URL}})
		if err != nil {
			t.Fatal(err)
		}
		k, _, _ := storage.ArtefactKeys("acme", time.Now(), "g", job)
		if _, err := store.Put(ctx, k, bytes.NewReader(doc), int64(len(doc)), "application/pdf", ""); err != nil {
			t.Fatal(err)
		}
	}
	code, stdout, stderr := signet("archive", "status", "--json")
	if code != 0 {
		t.Fatalf("archive status --json: exit %d\n%s", code, stderr)
	}
	var entries []archive.Entry
	if err := json.Unmarshal([]byte(stdout), &entries); err != nil || len(entries) != 2 {
		t.Fatalf("--json: %v\n%s", err, stdout)
	}
	if e := entries[0]; !strings.HasSuffix(e.Document, "/expiring") || !e.Due || !strings.Contains(e.What, "Expiring TSA") {
		t.Errorf("first (soonest) entry: %+v", e)
	}
	if e := entries[1]; !strings.HasSuffix(e.Document, "/lasting") || e.Due {
		t.Errorf("second entry: %+v", e)
	}
	code, stdout, _ = signet("archive", "status")
	if code != 0 || !strings.Contains(stdout, "2 documents, 1 due for renewal, 0 unreadable (archive.renew_before 8760h0m0s, archive.schedule off)") {
		t.Errorf("archive status: exit %d\n%s", code, stdout)
	}
}
