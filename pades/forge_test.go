package pades

// The builders of forged and legitimate revisions live in internal/testsupport/forge, shared with
// the forged corpus (`go run ./cmd/forgecorpus`) and the archive job's tests; these short names keep
// the attacks in the tests readable. Only what needs the engine itself (a CMS from buildCMS) is here.

import (
	"context"
	"crypto"
	"testing"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"

	"github.com/signet-b24/signet/internal/testsupport/forge"
)

type (
	upObj     = forge.Obj
	baseFacts = forge.Facts
)

func obj(nr int, body string) upObj            { return forge.NewObj(nr, body) }
func facts(t testing.TB, doc []byte) baseFacts { return forge.ReadFacts(t, doc) }
func sigDictBody(extra ...string) string       { return forge.SigDictBody(extra...) }
func docTimestampBody() string                 { return forge.DocTimestampBody() }
func sigBody(entries string) string            { return forge.SigBody(entries) }
func appendUpdate(t testing.TB, doc []byte, objs []upObj, extra string) ([]byte, map[int]int64) {
	return forge.AppendUpdate(t, doc, objs, extra)
}
func signUpdateWith(t testing.TB, doc []byte, gapEnd int64, sign func(digest []byte) []byte) []byte {
	return forge.SignUpdateWith(t, doc, gapEnd, sign)
}
func addSignatureField(t testing.TB, doc []byte, name, sig, fieldExtra string, catExtra types.Dict) []byte {
	return forge.AddSignatureField(t, doc, name, sig, fieldExtra, catExtra)
}

// signUpdate signs the last signature placeholder of doc with s (a CMS made by the engine). gapEnd
// > 0 makes the ByteRange gap end there (forge.SignUpdateWith).
func signUpdate(t testing.TB, doc []byte, s Signer, gapEnd int64) []byte {
	t.Helper()
	return signUpdateWith(t, doc, gapEnd, func(digest []byte) []byte {
		cms, err := buildCMS(context.Background(), digest, s, cmsParams{hash: crypto.SHA256})
		if err != nil {
			t.Fatal(err)
		}
		return cms
	})
}

// forgeSignature appends a signature field name on page 1 signed by s; sigExtra goes into the
// signature dictionary, fieldExtra into the field, catExtra into the catalog.
func forgeSignature(t testing.TB, doc []byte, s Signer, name, sigExtra, fieldExtra string, catExtra types.Dict) []byte {
	t.Helper()
	unsigned := addSignatureField(t, doc, name, sigDictBody(sigExtra), fieldExtra, catExtra)
	return signUpdate(t, unsigned, s, 0)
}
