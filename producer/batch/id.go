package batch

import (
	"crypto/sha256"
	"encoding/hex"
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

// JobID is the id of document n (from 0) of a batch: "<batch>.<n>". The dot makes the batch id its
// own token in subjects and KV keys, so the results of one batch are read with the filter
// "out.<batch>.*" (contracts.DeliveredKey) instead of a scan of every job.
func JobID(batchID string, n int) string { return batchID + "." + strconv.Itoa(n) }

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
