package pades

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// FuzzModificationAnalysis appends arbitrary bytes (an attacker's incremental update) to a signed
// document and verifies the result: no panic, no hang, only the reader's sentinel errors; the
// signed bytes stay intact whatever follows them; a signature is never reported unmodified with a
// disallowed change, nor valid with one; and the decoding budget is given back. The seeds are the
// updates of the adversarial tests: a content stream replaced, a DSS, a second signature.
func FuzzModificationAnalysis(f *testing.F) {
	signed, _, err := Sign(context.Background(), corpus(f, "invoice.pdf"), rsaSigner(f), Options{})
	if err != nil {
		f.Fatal(err)
	}
	fc := facts(f, signed)
	shadow, _ := appendUpdate(f, signed, []upObj{obj(fc.ContentsNr, streamObj(forgedText))}, "")
	dss, _ := appendUpdate(f, signed, []upObj{obj(fc.Next, "<</Type/DSS/Certs[]>>")}, "")
	second, _, err := Sign(context.Background(), signed, ecSigner(f), Options{Visible: true})
	if err != nil {
		f.Fatal(err)
	}
	for _, d := range [][]byte{shadow, dss, second} {
		f.Add(d[len(signed):])
	}
	f.Add([]byte("xref\n0 1\n0000000000 65535 f\r\ntrailer\n<</Size 1>>\nstartxref\n0\n%%EOF\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, tail []byte) {
		path := filepath.Join(dir, "fuzz.pdf")
		if err := os.WriteFile(path, append(signed[:len(signed):len(signed)], tail...), 0o600); err != nil {
			t.Fatal(err)
		}
		infos, err := verifyWithin(t, path)
		if err != nil {
			if !isSentinel(err, append(readSentinels, ErrNoSignature)...) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			budgetFree(t)
			return
		}
		for _, in := range infos {
			if in.Field == "Signature1" && (!in.DigestValid || !in.ByteRangeValid) {
				t.Fatalf("the first signature's own bytes were judged changed: %+v", in)
			}
			for _, c := range in.Changes {
				if !c.Allowed && (!in.Modified || in.Verdict() == VerdictValid) {
					t.Fatalf("disallowed change %q, yet modified=%v verdict=%s", c.What, in.Modified, in.Verdict())
				}
			}
		}
		budgetFree(t)
	})
}
