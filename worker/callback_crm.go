package worker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"path"
	"strings"
	"sync"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/contracts"
)

// crmFile is one file of a CRM item's "file" field as crm.item.get lists it (reference §4.2, §6.2).
type crmFile struct {
	ID         bitrix24.ID `json:"id"`
	URL        string      `json:"url"`
	URLMachine string      `json:"urlMachine"`
}

// normField compares field codes across their spellings: UF_CRM_1739432938 (robot property, user
// field code) and ufCrm_1739432938 (crm.item.* camelCase) are the same field.
func normField(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", "")) }

// crmFieldFiles reads the item and returns the field's key as the portal spells it, its files, and
// whether it is a multiple field.
func crmFieldFiles(ctx context.Context, p Portal, b Batcher, memberID string, doc contracts.Document) (string, []crmFile, bool, error) {
	if doc.EntityTypeID == 0 || doc.EntityID == 0 {
		return "", nil, false, Permanentf("file field %s: the job names no CRM item; the robot must run on a deal", doc.FileField)
	}
	var res struct {
		Item map[string]json.RawMessage `json:"item"`
	}
	err := lookup(ctx, p, b, memberID, "crm.item.get", map[string]any{"entityTypeId": doc.EntityTypeID, "id": doc.EntityID}, &res)
	if err != nil {
		return "", nil, false, classifyPortal(fmt.Errorf("reading deal %d (crm.item.get): %w", doc.EntityID, err))
	}
	want := normField(doc.FileField)
	for k, raw := range res.Item {
		if normField(k) != want {
			continue
		}
		raw = bytes.TrimSpace(raw)
		switch {
		case len(raw) == 0 || raw[0] == 'n' || raw[0] == 'f' || string(raw) == `""`: // null, false, ""
			return k, nil, false, nil
		case raw[0] == '[':
			var files []crmFile
			if err := json.Unmarshal(raw, &files); err != nil {
				return "", nil, false, Permanentf("deal %d: field %s is not a file field", doc.EntityID, doc.FileField)
			}
			return k, files, true, nil
		default:
			var f crmFile
			if err := json.Unmarshal(raw, &f); err != nil {
				return "", nil, false, Permanentf("deal %d: field %s is not a file field", doc.EntityID, doc.FileField)
			}
			return k, []crmFile{f}, false, nil
		}
	}
	return "", nil, false, Permanentf("deal %d has no field %s; check the robot's document property (a deal file field code such as UF_CRM_1739432938)", doc.EntityID, doc.FileField)
}

// pickCRMFile is the file with doc.FileID, or the newest (highest id) when FileID is 0.
func pickCRMFile(files []crmFile, fileID int) (crmFile, bool) {
	var best crmFile
	found := false
	for _, f := range files {
		if fileID != 0 && int(f.ID) == fileID {
			return f, true
		}
		if fileID == 0 && (!found || f.ID > best.ID) {
			best, found = f, true
		}
	}
	return best, found
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
			return "", "", Permanentf("deal %d: file %d is no longer in field %s; it was removed from the deal", job.Document.EntityID, job.Document.FileID, job.Document.FileField)
		}
		return "", "", Permanentf("deal %d: field %s holds no file; attach the PDF to the deal first", job.Document.EntityID, job.Document.FileField)
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

// itemLocks serialise the read-modify-write of one CRM item's file field in this process (striped by
// item, so memory stays bounded): two jobs signing two files of the same multiple field must not drop
// each other's new file.
var itemLocks [256]sync.Mutex

func itemLock(key string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(key))
	return &itemLocks[h.Sum32()%uint32(len(itemLocks))]
}

// replaceCRMFile puts the signed PDF in place of the signed file in the CRM item's field with
// crm.item.update (reference §6.2): the field is set as a whole, so every other file is passed back
// as {"id":N} or it would be deleted. A single field simply gets the new file. redelivered says an
// earlier delivery may have made the update and lost the answer: the field is then checked first.
func (c *Caller) replaceCRMFile(ctx context.Context, cb *contracts.Callback, redelivered bool) error {
	key := fmt.Sprintf("%s|%d|%d", cb.Portal.MemberID, cb.Document.EntityTypeID, cb.Document.EntityID)
	mu := itemLock(key)
	mu.Lock()
	defer mu.Unlock()
	b64, err := c.signedBase64(ctx, cb)
	if err != nil {
		return err
	}
	// Read the field now, not at signing time: files may have been added since (one call, not batched,
	// because the update that follows must see exactly this state).
	field, files, multiple, err := crmFieldFiles(ctx, c.Portal, nil, cb.Portal.MemberID, cb.Document)
	if err != nil {
		return err
	}
	if redelivered {
		done, err := c.crmHasSignedFile(ctx, cb, files)
		if err != nil || done {
			return err
		}
	}
	newFile := []any{fileName(cb), b64}
	var value any = newFile
	if multiple {
		target, _ := pickCRMFile(files, cb.Document.FileID)
		list := make([]any, 0, len(files)+1)
		replaced := false
		for _, f := range files {
			if f.ID == target.ID && !replaced {
				list = append(list, newFile)
				replaced = true
				continue
			}
			list = append(list, map[string]any{"id": int64(f.ID)})
		}
		if !replaced { // the original was removed meanwhile: still store the signed file
			list = append(list, newFile)
		}
		value = list
	}
	err = c.Portal.Call(ctx, cb.Portal.MemberID, "crm.item.update", map[string]any{
		"entityTypeId": cb.Document.EntityTypeID, "id": cb.Document.EntityID, "fields": map[string]any{field: value},
	}, nil)
	return classifyPortal(err)
}

// crmHasSignedFile says whether the field already holds the signed PDF, put there by an earlier
// delivery whose answer was lost. Replacing it again would add a second signed copy to a multiple
// field (the original is gone, so the new file is appended) and a new file id to a single one. The
// signed file is the original's replacement, so it is looked for only once the original is gone, and
// only among newer files (Bitrix24 numbers files upwards), by SHA-256.
func (c *Caller) crmHasSignedFile(ctx context.Context, cb *contracts.Callback, files []crmFile) (bool, error) {
	for _, f := range files {
		if int(f.ID) == cb.Document.FileID {
			return false, nil // the signed file never replaced it
		}
	}
	for _, f := range files {
		if int(f.ID) < cb.Document.FileID {
			continue
		}
		u := f.URLMachine
		if u == "" {
			u = f.URL
		}
		h := sha256.New()
		if _, err := c.Portal.Download(ctx, cb.Portal.MemberID, u, cb.Signed.Size, h); err != nil {
			if errors.Is(err, bitrix24.ErrTooLarge) {
				continue // larger than the signed PDF: another file
			}
			return false, fmt.Errorf("reading file %d of deal %d before replacing the original again: %w", f.ID, cb.Document.EntityID, err)
		}
		if hex.EncodeToString(h.Sum(nil)) == cb.Signed.SHA256After {
			return true, nil
		}
	}
	return false, nil
}

// diskLookupError words a failed disk.file.get for the workflow's log: a file that is gone says so
// and what to do.
func diskLookupError(id int, err error) error {
	if bitrix24.IsCode(err, "ERROR_NOT_FOUND") || bitrix24.IsCode(err, bitrix24.ErrCodeNotFound) {
		return fmt.Errorf("the Disk file %d is no longer on the portal (deleted or moved to the recycle bin); restore it or point the robot at the current file: %w", id, err)
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

// resolveDiskFile looks the job's Disk file up (disk.file.get) for its name and a fresh DOWNLOAD_URL.
func resolveDiskFile(ctx context.Context, p Portal, b Batcher, job *contracts.SignJob) (fileURL, name string, err error) {
	var file struct {
		Name        string `json:"NAME"`
		DownloadURL string `json:"DOWNLOAD_URL"`
	}
	if err := lookup(ctx, p, b, job.Portal.MemberID, "disk.file.get", map[string]any{"id": job.Document.DiskFileID}, &file); err != nil {
		return "", "", classifyPortal(diskLookupError(job.Document.DiskFileID, err))
	}
	return file.DownloadURL, file.Name, nil
}
