package pades

import (
	"crypto/sha256"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// The report's indications follow the verdicts: passed when valid, indeterminate without a chain
// to a trust anchor, total-failed with FORMAT_FAILURE after a disallowed change and HASH_FAILURE
// for a changed signed byte.
func TestReportIndications(t *testing.T) {
	doc := signedInvoice(t)
	f := facts(t, doc)
	shadow, _ := appendUpdate(t, doc, []upObj{obj(f.ContentsNr, streamObj(forgedText))}, "")
	tampered := append([]byte(nil), doc...)
	tampered[11] ^= 1
	for _, c := range []struct {
		name      string
		doc       []byte
		untrusted bool
		ind, sub  string
	}{
		{"valid", doc, false, IndicationPassed, ""},
		{"untrusted", doc, true, IndicationIndeterminate, "NO_CERTIFICATE_CHAIN_FOUND"},
		{"shadow", shadow, false, IndicationFailed, "FORMAT_FAILURE"},
		{"tampered", tampered, false, IndicationFailed, "HASH_FAILURE"},
	} {
		path, infos := verifyDoc(t, c.doc)
		if c.untrusted {
			infos, _ = Verify(path, nil)
		}
		sum := sha256.Sum256(c.doc)
		rep := NewReport("doc.pdf", int64(len(c.doc)), sum[:], infos, time.Now())
		b, err := json.Marshal(rep)
		if err != nil {
			t.Fatal(err)
		}
		s := rep.Signatures[0]
		if s.Indication != c.ind || !strings.HasSuffix(s.SubIndication, c.sub) || (c.sub == "") != (s.SubIndication == "") ||
			s.Certificate == nil || strings.Contains(string(b), "0001-01-01") {
			t.Errorf("%s: %s", c.name, b)
		}
	}
}
