package pades

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// B-LT against an external CA run by OpenSSL: the DSS holds the signer's and the TSA's chains, an
// OCSP response from `openssl ocsp` for the signer and a CRL from `openssl ca -gencrl` for the TSA;
// `openssl ocsp -respin` and `openssl crl` accept what is embedded; the VRI key is the SHA-1 of the
// whole /Contents; qpdf accepts the file and pdfsig still calls the signature valid; Verify, with
// the responder and the CRL server shut down, finds the revocation status in the DSS.
func TestExtendLTWithOpenSSLCA(t *testing.T) {
	f := newLTVFixture(t)
	bt := f.signBT(t)
	lt, res := f.extend(t, bt, LevelLT)
	if res.Certs < 3 || res.OCSPs != 1 || res.CRLs != 1 || len(res.Sources) != 2 {
		t.Errorf("extension result: %+v", res)
	}
	f.ca.close()

	path, infos := f.verify(t, lt, nil)
	wantValid(t, infos, 1)
	if in := infos[0]; in.Revocation != RevocationGood || in.RevocationSource != "DSS" {
		t.Errorf("revocation from the DSS: %q %q", in.Revocation, in.RevocationSource)
	}
	if c := infos[0].Changes; len(c) == 0 || !strings.Contains(c[0].What, "DSS") {
		t.Errorf("changes after the signature: %+v", c)
	}
	qpdfCheck(t, path)
	if out := pdfsigOutput(t, path); !strings.Contains(out, "Signature is Valid.") {
		t.Errorf("pdfsig:\n%s", out)
	}

	dss, d := dssOf(t, lt)
	if len(dss.certs) < 3 || len(dss.ocsps) != 1 || len(dss.crls) != 1 {
		t.Fatalf("DSS: %d certs, %d OCSPs, %d CRLs", len(dss.certs), len(dss.ocsps), len(dss.crls))
	}
	key := vriKey(infos[0].contents)
	if len(infos[0].contents) < 1000 || infos[0].contents[len(infos[0].contents)-1] != 0 {
		t.Fatal("the VRI key must be over the whole /Contents, zero padding included")
	}
	vri := d.dict(dss.vri[key])
	if vri == nil || len(d.array(vri["Cert"])) < 3 || len(d.array(vri["OCSP"])) != 1 || len(d.array(vri["CRL"])) != 1 {
		t.Errorf("VRI %s: %v (keys %v)", key, vri, dss.vri)
	}
	ext := d.dict(d.dict(d.catalog["Extensions"])["ESIC"])
	if ext == nil || d.nameOf(ext["BaseVersion"]) != "1.7" {
		t.Errorf("catalog /Extensions /ESIC missing: %v", d.catalog["Extensions"])
	}

	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "resp.der"), dss.ocsps[0].der)
	writePEM(t, filepath.Join(dir, "signer.pem"), f.signer.Certificate)
	out, err := run(t, f.ca.openssl, "ocsp", "-respin", filepath.Join(dir, "resp.der"), "-CAfile", f.ca.path("ca.pem"),
		"-issuer", f.ca.path("ca.pem"), "-cert", filepath.Join(dir, "signer.pem"))
	if err != nil || !strings.Contains(out, "Response verify OK") || !strings.Contains(out, "signer.pem: good") {
		t.Errorf("openssl ocsp -respin: %v\n%s", err, out)
	}
	writeFile(t, filepath.Join(dir, "crl.der"), dss.crls[0].der)
	out, err = run(t, f.ca.openssl, "crl", "-inform", "DER", "-in", filepath.Join(dir, "crl.der"), "-noout", "-issuer", "-CAfile", f.ca.path("ca.pem"))
	if err != nil || !strings.Contains(out, "verify OK") || !strings.Contains(out, "LTV Test Root CA") {
		t.Errorf("openssl crl: %v\n%s", err, out)
	}
}

// B-LTA, then B-LTA on B-LTA: each document timestamp is over the whole file before it (openssl ts
// -verify on the ByteRange bytes), the second DSS update adds the first timestamp's validation
// data, and every earlier signature stays valid with only allowed changes after it.
func TestExtendLTATwiceWithOpenSSLCA(t *testing.T) {
	f := newLTVFixture(t)
	lta, res := f.extend(t, f.signBT(t), LevelLTA)
	if res.Timestamp == nil || res.Timestamp.FieldName != "Timestamp1" {
		t.Fatalf("no document timestamp: %+v", res)
	}
	checkDocTimestamp(t, f, lta, res.Timestamp)
	// The archive TSA's own data follows its timestamp: the document validates offline at once.
	_, d := dssOf(t, lta)
	if vri := d.dict(d.dict(d.dict(d.catalog["DSS"])["VRI"])[vriKey(tokenContents(t, lta, res.Timestamp))]); vri == nil || vri["OCSP"] == nil && vri["CRL"] == nil {
		t.Errorf("no revocation data for the new document timestamp: %v", vri)
	}
	lta2, res2 := f.extend(t, lta, LevelLTA)
	if res2.Signatures != 2 || res2.Timestamp.FieldName != "Timestamp2" {
		t.Errorf("second extension: %d signatures, field %s", res2.Signatures, res2.Timestamp.FieldName)
	}
	checkDocTimestamp(t, f, lta2, res2.Timestamp)
	f.ca.close()

	path, infos := f.verify(t, lta2, nil)
	wantValid(t, infos, 3)
	for i, in := range infos {
		if in.Revocation != RevocationGood {
			t.Errorf("signature %d (%s): revocation %q", i, in.Field, in.Revocation)
		}
		for _, c := range in.Changes {
			if !c.Allowed {
				t.Errorf("signature %d: disallowed change %q", i, c.What)
			}
		}
	}
	if infos[1].SubFilter != "ETSI.RFC3161" || infos[2].SubFilter != "ETSI.RFC3161" {
		t.Errorf("document timestamps: %+v", infos)
	}
	dss, d := dssOf(t, lta2)
	if d.dict(dss.vri[vriKey(infos[1].contents)]) == nil {
		t.Error("no VRI entry for the first document timestamp")
	}
	qpdfCheck(t, path)
	if out := pdfsigOutput(t, path); !strings.Contains(out, "Signature is Valid.") {
		t.Errorf("pdfsig:\n%s", out)
	}
}

// tokenContents is the whole /Contents of the document timestamp of res, zero padding included.
func tokenContents(t *testing.T, doc []byte, res *Result) []byte {
	t.Helper()
	raw := doc[res.ByteRange[1]+1 : res.ByteRange[2]-1]
	out := make([]byte, len(raw)/2)
	if _, err := hex.Decode(out, raw); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkDocTimestamp judges the document timestamp of res with openssl ts -verify over its
// ByteRange bytes, and checks that only its own validation data (a DSS update) follows it.
func checkDocTimestamp(t *testing.T, f *ltvFixture, doc []byte, res *Result) {
	t.Helper()
	br := res.ByteRange
	end := br[2] + br[3]
	if br[0] != 0 || end > int64(len(doc)) || !bytes.Contains(doc[end:], []byte("/Type /DSS")) {
		t.Fatalf("the document timestamp's ByteRange %v is not followed by its DSS update alone (%d-byte file)", br, len(doc))
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "ranges.bin"), append(bytes.Clone(doc[:br[1]]), doc[br[2]:end]...))
	writeFile(t, filepath.Join(dir, "token.der"), res.CMS)
	if out, err := run(t, f.ca.openssl, "ts", "-verify", "-token_in", "-in", filepath.Join(dir, "token.der"),
		"-data", filepath.Join(dir, "ranges.bin"), "-CAfile", f.ca.path("ca.pem")); err != nil || !strings.Contains(out, "Verification: OK") {
		t.Errorf("openssl ts -verify: %v\n%s", err, out)
	}
	if !bytes.Contains(doc[br[1]-2000:br[1]], []byte("/Type/DocTimeStamp/Filter/Adobe.PPKLite/SubFilter/ETSI.RFC3161")) {
		t.Error("no /DocTimeStamp dictionary before the timestamp's /Contents")
	}
}

// Revocation online and offline: a B-T document without a DSS is "not checked" offline and good
// online; a certificate revoked before a signature without timestamp makes it invalid (REVOKED)
// and refuses the extension; revoked after the timestamp, the signature stays valid; with the
// responder down, online verification is INDETERMINATE/TRY_LATER.
func TestVerifyRevocationOnline(t *testing.T) {
	f := newLTVFixture(t)
	bt := f.signBT(t)
	_, infos := f.verify(t, bt, nil)
	wantValid(t, infos, 1)
	if infos[0].Revocation != RevocationNotChecked {
		t.Errorf("offline without a DSS: %q", infos[0].Revocation)
	}
	_, infos = f.verify(t, bt, &RevocationFetcher{})
	wantValid(t, infos, 1)
	if infos[0].Revocation != RevocationGood || !strings.HasPrefix(infos[0].RevocationSource, "OCSP http://127.0.0.1") {
		t.Errorf("online: %q from %q", infos[0].Revocation, infos[0].RevocationSource)
	}

	bb, _, err := Sign(context.Background(), corpus(t, "invoice.pdf"), f.signer, Options{Time: time.Now().Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	f.ca.revoke(f.signer.Certificate, time.Now().Add(-30*time.Minute))
	_, infos = f.verify(t, bb, &RevocationFetcher{})
	if in := infos[0]; in.Verdict() != VerdictInvalid || in.Revocation != RevocationRevoked {
		t.Errorf("revoked signer: %s %q %v", in.Verdict(), in.Revocation, in.Problems)
	}
	if ind, sub := infos[0].Indication(); ind != IndicationFailed || !strings.HasSuffix(sub, ":REVOKED") {
		t.Errorf("indication %s %s", ind, sub)
	}
	if _, _, err := Extend(context.Background(), bb, ExtendOptions{Level: LevelLT, Roots: f.ca.roots()}); !errors.Is(err, ErrNotExtendable) || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("extending a revoked signature: %v", err)
	}
	// Revoked after the B-T signature's timestamp (the database may hold any revocation time).
	f.ca.revoke(f.signer.Certificate, time.Now().Add(2*time.Second))
	_, infos = f.verify(t, bt, &RevocationFetcher{})
	if in := infos[0]; in.Verdict() != VerdictValid || in.Revocation != RevocationGood {
		t.Errorf("revoked after the signature timestamp: %s %q %v", in.Verdict(), in.Revocation, in.Problems)
	}

	// The TSA's certificate revoked before the signature timestamp: the time it vouches for falls.
	f.ca.revoke(f.tsaCert, time.Now().Add(-time.Hour))
	_, infos = f.verify(t, bt, &RevocationFetcher{})
	if in := infos[0]; in.Verdict() != VerdictInvalid || in.Revocation != RevocationRevoked || !strings.Contains(fmt.Sprint(in.Problems), "LTV Test TSA") {
		t.Errorf("revoked TSA: %s %q %v", in.Verdict(), in.Revocation, in.Problems)
	}

	f.ca.close()
	_, infos = f.verify(t, bt, &RevocationFetcher{Timeout: 2 * time.Second})
	if in := infos[0]; in.Verdict() != VerdictIndeterminate || in.Revocation != RevocationUnavailable {
		t.Errorf("responder down: %s %q", in.Verdict(), in.Revocation)
	}
	if ind, sub := infos[0].Indication(); ind != IndicationIndeterminate || !strings.HasSuffix(sub, ":TRY_LATER") {
		t.Errorf("indication %s %s", ind, sub)
	}
	if !strings.Contains(fmt.Sprint(infos[0].Problems), ErrRevocationUnavailable.Error()) {
		t.Errorf("problems: %v", infos[0].Problems)
	}
	if _, _, err := Extend(context.Background(), bt, ExtendOptions{Level: LevelLT, Roots: f.ca.roots()}); !errors.Is(err, ErrRevocationUnavailable) {
		t.Errorf("extending with the responder down: %v", err)
	}
}

// A DSS written to a file whose signature the verifier knows: the modification analysis lists
// it as allowed, an existing DSS grows in place and keeps its old VRI entries.
func TestExtendKeepsExistingDSS(t *testing.T) {
	f := newLTVFixture(t)
	lt, _ := f.extend(t, f.signBT(t), LevelLT)
	old, d := dssOf(t, lt)
	oldRef := d.catalog["DSS"]
	lt2, res := f.extend(t, lt, LevelLT)
	if res.Certs != 0 {
		t.Errorf("certificates added twice: %+v", res)
	}
	now, d2 := dssOf(t, lt2)
	if !sameValue(d2.catalog["DSS"], oldRef) || len(now.certs) != len(old.certs) || len(now.vri) != len(old.vri) {
		t.Errorf("DSS not grown in place: %v → %v, %d → %d certs", oldRef, d2.catalog["DSS"], len(old.certs), len(now.certs))
	}
	for k, v := range old.vri {
		if !sameValue(now.vri[k], v) {
			t.Errorf("VRI %s changed", k)
		}
	}
	f.ca.close()
	_, infos := f.verify(t, lt2, nil)
	wantValid(t, infos, 1)
}

// Without trust anchors (the worker's case: the chain is the signer's own CA, not a system root),
// Extend embeds the chain the document carries, says so, and the result validates against the CA.
func TestExtendWithoutTrustAnchors(t *testing.T) {
	f := newLTVFixture(t)
	out, res, err := Extend(context.Background(), f.signBT(t), ExtendOptions{Level: LevelLT})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) == 0 || !strings.Contains(strings.Join(res.Warnings, "\n"), "does not chain to the system roots") {
		t.Errorf("warnings: %v", res.Warnings)
	}
	f.ca.close()
	_, infos := f.verify(t, out, nil)
	wantValid(t, infos, 1)
	if infos[0].Revocation != RevocationGood {
		t.Errorf("revocation: %q", infos[0].Revocation)
	}
}

// A document certified with DocMDP P=1 may still be extended (ISO 32000-2 as corrected: validation
// data and document timestamps are not changes): the certification stays valid after B-LT and
// B-LTA. No /Extensions entry is written there, since the analysis counts it a change under P=1.
func TestExtendCertifiedNoChanges(t *testing.T) {
	srv := httptest.NewServer(newTestTSA(t))
	defer srv.Close()
	doc := certified(t, 1)
	roots := x509.NewCertPool()
	roots.AddCert(testCACert)
	out, res, err := Extend(context.Background(), doc, ExtendOptions{Level: LevelLTA, Roots: roots, Timestamper: HTTPTimestamper{URL: srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Timestamp == nil || len(res.Warnings) == 0 {
		t.Errorf("result: timestamp %v, warnings %v", res.Timestamp, res.Warnings)
	}
	_, infos := verifyDoc(t, out)
	wantValid(t, infos, 2)
	_, d := dssOf(t, out)
	if d.catalog["Extensions"] != nil {
		t.Errorf("/Extensions written into a P=1 document: %v", d.catalog["Extensions"])
	}
}

// A document whose cross-reference is a stream gets its DSS and document timestamp updates with
// cross-reference streams too; qpdf accepts the result and every signature stays valid.
func TestExtendXRefStreamDocument(t *testing.T) {
	f := newLTVFixture(t)
	signed, _, err := Sign(context.Background(), corpus(t, "multipage-xref-stream.pdf"), f.signer, Options{TSA: f.timestamper()})
	if err != nil {
		t.Fatal(err)
	}
	lta, _ := f.extend(t, signed, LevelLTA)
	if n := bytes.Count(lta[len(signed):], []byte("/Type/XRef")); n != 3 {
		t.Errorf("%d cross-reference streams in the three updates", n)
	}
	f.ca.close()
	path, infos := f.verify(t, lta, nil)
	wantValid(t, infos, 2)
	qpdfCheck(t, path)
}
