package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
)

// Signed files: which CRM files are Signet's signed output, so that a rerun of a bulk selection
// leaves them out (issue 19, must 3; producer/bulk.SignedFiles). One record per file, in the jobs
// bucket beside the job's result and living as long (its TTL is the artefacts' retention):
//   - replace mode: the file that replaced the original in the item's field (Steps.SignedFileID);
//   - link mode: the original file itself, which stays in the item while its signed copy is in
//     Signet's storage and the item carries the link.
//
// Both modes are answered by the same question, "is the item's newest file one Signet signed or
// wrote?", which does not depend on a user field the portal may not have (the status field is for
// people, not for this). A file someone uploads afterwards is a new id and is signed again.

// RecordSignedFile records that the item's file fileID is Signet's signed output of job jobID.
func (r *Results) RecordSignedFile(ctx context.Context, memberID string, entityTypeID, entityID, fileID int, jobID string) error {
	if fileID == 0 || entityID == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if _, err := r.kv.Put(ctx, contracts.SignedFileKey(memberID, entityTypeID, entityID, fileID), []byte(jobID)); err != nil {
		return fmt.Errorf("job %s: recording the signed file %d: %w", jobID, fileID, err)
	}
	return nil
}

// SignedFile says whether the item's file fileID was recorded as signed by Signet (RecordSignedFile).
func (r *Results) SignedFile(ctx context.Context, memberID string, entityTypeID, entityID, fileID int) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	_, err := r.kv.Get(ctx, contracts.SignedFileKey(memberID, entityTypeID, entityID, fileID))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("reading whether file %d of item %d is signed: %w", fileID, entityID, err)
	}
	return true, nil
}
