package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path"
	"strings"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/contracts"
)

// fetch downloads the job's PDF into path, only from the job's own portal. A Disk file is resolved
// with disk.file.get at signing time, so the download URL (with its short-lived auth=) is fresh.
func (s *Signer) fetch(ctx context.Context, job *contracts.SignJob, dst io.Writer) (string, error) {
	if isStoreDocument(job) { // a batch document uploaded by `signet enqueue` (fetch_batch.go)
		return s.fetchBatch(ctx, job, dst)
	}
	fileURL, name := job.Document.URL, job.Document.FileName
	if job.Document.FileField != "" { // a CRM file field: crm.item.get now, for a fresh urlMachine
		var err error
		if fileURL, name, err = resolveCRMFile(ctx, s.Portal, s.Batch, job); err != nil {
			return "", err
		}
	}
	if job.Document.DiskFileID != 0 { // disk.file.get, in a batch shared with other jobs (lookup, below)
		var err error
		if fileURL, name, err = resolveDiskFile(ctx, s.Portal, s.Batch, job); err != nil {
			return "", err
		}
	}
	if name == "" {
		name = "document.pdf"
	}
	if _, err := s.Portal.Download(ctx, job.Portal.MemberID, fileURL, s.MaxPDFBytes, dst); err != nil {
		return "", classify(fmt.Errorf("downloading %s: %w", name, err))
	}
	return name, nil
}

// resolveCRMFile finds the download URL of the job's CRM file (urlMachine, for servers) and pins the
// file id in the job, so the callback replaces exactly the file that was signed.
func resolveCRMFile(ctx context.Context, p Portal, b Batcher, job *contracts.SignJob) (fileURL, name string, err error) {
	_, files, _, err := crmFieldFiles(ctx, p, b, job.Portal.MemberID, job.Document)
	if err != nil {
		return "", "", err
	}
	f, ok := pickCRMFile(files, job.Document.FileID)
	if !ok {
		if job.Document.FileID != 0 {
			return "", "", failing(contracts.Failure{Kind: contracts.FailureFileRemoved, Item: job.Document.EntityID, Field: job.Document.FileField, FileID: job.Document.FileID},
				"deal %d: file %d is no longer in field %s; it was removed from the deal", job.Document.EntityID, job.Document.FileID, job.Document.FileField)
		}
		return "", "", failing(contracts.Failure{Kind: contracts.FailureNoFile, Item: job.Document.EntityID, Field: job.Document.FileField},
			"deal %d: field %s holds no file; attach the PDF to the deal first", job.Document.EntityID, job.Document.FileField)
	}
	job.Document.FileID = int(f.ID)
	fileURL = f.URLMachine
	if fileURL == "" {
		fileURL = f.URL
	}
	name = job.Document.FileName
	if name == "" {
		name = fmt.Sprintf("deal-%d-file-%d.pdf", job.Document.EntityID, f.ID)
		if u, perr := url.Parse(fileURL); perr == nil && strings.HasSuffix(strings.ToLower(u.Path), ".pdf") {
			if b, uerr := url.PathUnescape(path.Base(u.Path)); uerr == nil {
				name = b
			}
		}
	}
	return fileURL, name, nil
}

// resolveDiskFile looks the job's Disk file up (disk.file.get) for its name and a fresh DOWNLOAD_URL.
func resolveDiskFile(ctx context.Context, p Portal, b Batcher, job *contracts.SignJob) (fileURL, name string, err error) {
	var file struct {
		Name        string `json:"NAME"`
		DownloadURL string `json:"DOWNLOAD_URL"`
	}
	if err := lookup(ctx, p, b, job.Portal.MemberID, "disk.file.get", map[string]any{"id": job.Document.DiskFileID}, &file); err != nil {
		return "", "", classify(diskLookupError(job.Document.DiskFileID, err))
	}
	return file.DownloadURL, file.Name, nil
}

// diskLookupError words a failed disk.file.get for the operator's log: a file that is gone says so
// and what to do, and is a FailureFileRemoved for the workflow (classify makes it permanent: the
// portal's answer is).
func diskLookupError(id int, err error) error {
	if bitrix24.IsCode(err, "ERROR_NOT_FOUND") || bitrix24.IsCode(err, bitrix24.ErrCodeNotFound) {
		return &failedError{f: contracts.Failure{Kind: contracts.FailureFileRemoved, DiskFileID: id},
			err: fmt.Errorf("the Disk file %d is no longer on the portal (deleted or moved to the recycle bin); restore it or point the robot at the current file: %w", id, err)}
	}
	return fmt.Errorf("looking up Disk file %d: %w", id, err)
}

// lookup runs a read-only REST call, inside a batch request shared with other jobs when a Batcher is
// given (at 2 requests per second, 50 lookups cost one request), else on its own.
func lookup(ctx context.Context, p Portal, b Batcher, memberID, method string, params map[string]any, out any) error {
	if b == nil {
		return p.Call(ctx, memberID, method, params, out)
	}
	res, err := b.Do(ctx, memberID, []bitrix24.BatchCommand{{Method: method, Params: params}})
	switch {
	case len(res) == 1 && res[0].Err == nil && res[0].Result != nil:
		if err := json.Unmarshal(res[0].Result, out); err != nil {
			return fmt.Errorf("%w: %s on portal %s: %v", bitrix24.ErrUnexpectedAnswer, method, memberID, err)
		}
		return nil
	case err != nil:
		return err
	case len(res) == 1 && res[0].Err != nil:
		return res[0].Err
	}
	return fmt.Errorf("%w: %s on portal %s: no result in the batch answer", bitrix24.ErrUnexpectedAnswer, method, memberID)
}
