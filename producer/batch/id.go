package batch

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/signet-b24/signet/contracts"
)

// ID derives a batch id from who signs, with which key, and what: the same manifest enqueued again by
// the same signer is the same batch, so its jobs keep their ids and JetStream drops the repeats.
func ID(login, credential string, m *Manifest) string {
	h := sha256.New()
	h.Write([]byte("signet-batch/v1\n" + strings.ToLower(login) + "\n" + credential + "\n"))
	h.Write(m.content)
	return "b" + hex.EncodeToString(h.Sum(nil))[:24]
}

// JobID is the id of document n (from 0) of the batch: "<batch>.<n>-<tag>". The dot makes the batch id
// its own token in subjects and KV keys, so the results of one batch are read with the filter
// "out.<batch>.*" (contracts.DeliveredKey) instead of a scan of every job.
//
// The tag is why a document's id tells nothing of its neighbours (issue 15: the job id is the public
// /verify/{id} and is printed on self-proving documents; with "<batch>.<n>" alone, whoever held one
// document of a batch read the signer, certificate and hashes of all the others). It is 128 bits of
// HMAC-SHA256 under the batch's document key, a random secret made with the batch's record and never
// printed: the same batch always gets the same ids (exactly-once publishing and `signet batch status`
// rely on that), and no id can be derived from another.
func (r *Record) JobID(n int) string {
	m := hmac.New(sha256.New, []byte(r.DocKey))
	m.Write([]byte("signet-batch-document/v1\n" + r.ID + "\n" + strconv.Itoa(n)))
	return r.ID + "." + strconv.Itoa(n) + "-" + hex.EncodeToString(m.Sum(nil)[:tagBytes])
}

// tagBytes is the length of a document's tag: 128 bits, as many as a placement job id's.
const tagBytes = 16

// index reads n from a job id of this batch; an id whose tag is not this batch's is not one of its
// documents.
func (r *Record) index(jobID string) (int, bool) {
	rest, ok := strings.CutPrefix(jobID, r.ID+".")
	if !ok {
		return 0, false
	}
	num, _, _ := strings.Cut(rest, "-")
	n, err := strconv.Atoi(num)
	return n, err == nil && n >= 0 && hmac.Equal([]byte(jobID), []byte(r.JobID(n)))
}

// newDocKey makes a batch's document key (hex of 256 random bits).
func newDocKey() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("making the batch's document key: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// IncomingKey is where a local file of a batch is uploaded in the artefact storage; its job's document
// URL is contracts.SharedStoragePrefix and this key.
func IncomingKey(batchID string, n int) string {
	return contracts.IncomingPrefix + batchID + "/" + strconv.Itoa(n) + ".pdf"
}

// shortGrant shows a grant id as a person may see it in logs and output: enough to tell two apart,
// not enough to use it (a grant id is a bearer credential for its remaining documents).
func shortGrant(id string) string {
	if len(id) <= 7 {
		return "…"
	}
	return id[:7] + "…"
}
