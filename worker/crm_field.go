package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/contracts"
)

// crmFile is one file of a CRM item's "file" field as crm.item.get lists it (reference §4.2, §6.2).
// Both sides read the field: the signature to find its document (fetch.go), the callback to put the
// signed PDF in its place (callback_crm.go).
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
		return "", nil, false, classify(fmt.Errorf("reading deal %d (crm.item.get): %w", doc.EntityID, err))
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
				return "", nil, false, notFileField(doc)
			}
			return k, files, true, nil
		default:
			var f crmFile
			if err := json.Unmarshal(raw, &f); err != nil {
				return "", nil, false, notFileField(doc)
			}
			return k, []crmFile{f}, false, nil
		}
	}
	return "", nil, false, failing(contracts.Failure{Kind: contracts.FailureNoField, Item: doc.EntityID, Field: doc.FileField},
		"deal %d has no field %s; check the robot's document property (a deal file field code such as UF_CRM_1739432938)", doc.EntityID, doc.FileField)
}

func notFileField(doc contracts.Document) error {
	return failing(contracts.Failure{Kind: contracts.FailureNotFileField, Item: doc.EntityID, Field: doc.FileField},
		"deal %d: field %s is not a file field", doc.EntityID, doc.FileField)
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
