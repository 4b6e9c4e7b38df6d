package archive

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Revisions of a stored document. The worker stores signed/<portal>/<yyyy>/<mm>/<group>/<job>.pdf
// (storage.ArtefactKeys); each renewal writes <job>.r<N>.pdf beside it, N = 2, 3, …, and a record
// <job>.r<N>.json of what was done. The newest revision is the one to verify and renew; the older
// ones stay as they were (a renewal never overwrites: storage may be under Object Lock, and an
// earlier revision is evidence of its own).

var revisionRe = regexp.MustCompile(`^(.*?)(?:\.r([0-9]+))?\.pdf$`)

// docPrefix is where the worker stores signed documents.
const docPrefix = "signed/"

// parseKey splits a PDF key into its document (the first revision's key without .pdf) and its
// revision number (1 for the first); ok is false for keys that are not PDFs.
func parseKey(key string) (doc string, rev int, ok bool) {
	m := revisionRe.FindStringSubmatch(key)
	if m == nil {
		return "", 0, false
	}
	rev = 1
	if m[2] != "" {
		n, err := strconv.Atoi(m[2])
		if err != nil || n < 2 {
			return "", 0, false
		}
		rev = n
	}
	return m[1], rev, true
}

// revisionKey is the key of revision rev of doc.
func revisionKey(doc string, rev int) string {
	if rev <= 1 {
		return doc + ".pdf"
	}
	return fmt.Sprintf("%s.r%d.pdf", doc, rev)
}

// recordKey is the key of the record of revision rev (rev ≥ 2) of doc.
func recordKey(doc string, rev int) string {
	return strings.TrimSuffix(revisionKey(doc, rev), ".pdf") + ".json"
}

// jobID is the last segment of a document key: the job whose signature it holds.
func jobID(doc string) string {
	return doc[strings.LastIndexByte(doc, '/')+1:]
}
