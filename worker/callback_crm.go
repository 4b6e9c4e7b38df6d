package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/contracts"
)

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
// It returns the id of the signed file in the field (0 when the portal's answer does not show it),
// which the workflow receives as signedFileId.
func (c *Caller) replaceCRMFile(ctx context.Context, cb *contracts.Callback, redelivered bool) (int, error) {
	key := fmt.Sprintf("%s|%d|%d", cb.Portal.MemberID, cb.Document.EntityTypeID, cb.Document.EntityID)
	mu := itemLock(key)
	mu.Lock()
	defer mu.Unlock()
	b64, err := c.signedBase64(ctx, cb)
	if err != nil {
		return 0, err
	}
	// Read the field now, not at signing time: files may have been added since (one call, not batched,
	// because the update that follows must see exactly this state).
	field, files, multiple, err := crmFieldFiles(ctx, c.Portal, nil, cb.Portal.MemberID, cb.Document)
	if err != nil {
		return 0, err
	}
	if redelivered {
		id, err := c.crmHasSignedFile(ctx, cb, files)
		if err != nil || id != 0 {
			return id, err
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
	var res struct {
		Item map[string]json.RawMessage `json:"item"`
	}
	err = c.Portal.Call(ctx, cb.Portal.MemberID, "crm.item.update", map[string]any{
		"entityTypeId": cb.Document.EntityTypeID, "id": cb.Document.EntityID, "fields": map[string]any{field: value},
	}, &res)
	if err != nil {
		return 0, classify(err)
	}
	return newFileID(res.Item[field], files), nil
}

// newFileID is the id of the file in the field's new value (crm.item.update answers the item) that
// was not there before: the signed PDF. 0 when the answer does not show one.
func newFileID(raw json.RawMessage, before []crmFile) int {
	var after []crmFile
	if json.Unmarshal(raw, &after) != nil {
		var one crmFile
		if json.Unmarshal(raw, &one) != nil {
			return 0
		}
		after = []crmFile{one}
	}
	old := map[int]bool{}
	for _, f := range before {
		old[int(f.ID)] = true
	}
	for _, f := range after {
		if f.ID != 0 && !old[int(f.ID)] {
			return int(f.ID)
		}
	}
	return 0
}

// crmHasSignedFile says whether the field already holds the signed PDF, put there by an earlier
// delivery whose answer was lost. Replacing it again would add a second signed copy to a multiple
// field (the original is gone, so the new file is appended) and a new file id to a single one. The
// signed file is the original's replacement, so it is looked for only once the original is gone, and
// only among newer files (Bitrix24 numbers files upwards), by SHA-256.
func (c *Caller) crmHasSignedFile(ctx context.Context, cb *contracts.Callback, files []crmFile) (int, error) {
	for _, f := range files {
		if int(f.ID) == cb.Document.FileID {
			return 0, nil // the signed file never replaced it
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
			return 0, fmt.Errorf("reading file %d of deal %d before replacing the original again: %w", f.ID, cb.Document.EntityID, err)
		}
		if hex.EncodeToString(h.Sum(nil)) == cb.Signed.SHA256After {
			return int(f.ID), nil
		}
	}
	return 0, nil
}
