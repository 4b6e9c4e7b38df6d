package worker

import (
	"context"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/storage"
)

// isStoreDocument says whether a job's document is in the artefact storage rather than on a portal.
func isStoreDocument(job *contracts.SignJob) bool {
	return job.Kind == contracts.KindBatch && strings.HasPrefix(job.Document.URL, contracts.SharedStoragePrefix)
}

// fetchBatch copies a batch job's document from the artefact storage into path. The storage checks
// the object's SHA-256 while it is read; a missing or altered object can never succeed (permanent),
// an unreachable storage can (retried later).
func (s *Signer) fetchBatch(ctx context.Context, job *contracts.SignJob, dst io.Writer) (string, error) {
	key := strings.TrimPrefix(job.Document.URL, contracts.SharedStoragePrefix)
	name := job.Document.FileName
	if name == "" {
		name = path.Base(key)
	}
	if err := storage.ValidateKey(key); err != nil || !strings.HasPrefix(key, contracts.IncomingPrefix) {
		return "", Permanentf("batch document %s of job %s: %q is not an object under %s in Signet's storage", name, job.ID, key, contracts.IncomingPrefix)
	}
	rc, obj, err := s.Store.Get(ctx, key)
	if err != nil {
		return "", batchDocumentError(fmt.Errorf("batch document %s of job %s: %w", name, job.ID, err))
	}
	defer rc.Close()
	if s.MaxPDFBytes > 0 && obj.Size > s.MaxPDFBytes {
		return "", failing(contracts.Failure{Kind: contracts.FailureTooLarge, Limit: s.MaxPDFBytes},
			"batch document %s of job %s is %d bytes, more than worker.max_pdf_bytes %d", name, job.ID, obj.Size, s.MaxPDFBytes)
	}
	if _, err := io.Copy(dst, rc); err != nil {
		return "", batchDocumentError(fmt.Errorf("batch document %s of job %s: %w", name, job.ID, err))
	}
	if err := rc.Close(); err != nil {
		return "", batchDocumentError(fmt.Errorf("batch document %s of job %s: %w", name, job.ID, err))
	}
	return name, nil
}

// batchDocumentError classifies a failure to read a batch document (errors.go): one that is gone or
// fails its checksum stays so, and the batch's owner is told to enqueue it again.
func batchDocumentError(err error) error {
	if err = classify(err); IsPermanent(err) {
		return Permanentf("%w; enqueue the document again", err)
	}
	return err
}
