package bulk

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/producer/batch"
)

// Caller is the REST call the selection needs: with the viewer's own token (a page's AUTH_ID), so
// the portal lists only the items that person may read (bitrix24.Client.CallAs).
type Caller interface {
	CallAs(ctx context.Context, memberID, accessToken, method string, params map[string]any, out any) error
}

// pageSize is crm.item.list's page (every Bitrix24 list method answers 50).
const pageSize = 50

// Item is one selected CRM item and the file in its field that would be signed.
type Item struct {
	ID     int
	Title  string
	Stage  string
	FileID int // the field's newest file; 0: the item has no file there and is left out
}

// Selection is what a filter picked on one portal.
type Selection struct {
	MemberID     string
	EntityTypeID int
	FileField    string
	Items        []Item // with a file, in id order
	WithoutFile  int    // items the filter matched that have no file to sign
	// AlreadySigned counts the items left out because their file is Signet's signed output (a rerun
	// of the same selection, SignedFiles).
	AlreadySigned int
	// Mode is where the signed PDFs go (ModeReplace: back into the items; ModeLink: a link and the
	// status only); Manifest writes it on every document.
	Mode Mode
}

// SignedFiles says whether an item's file is Signet's signed output: in the replace mode the file that
// replaced the original, in the link mode the original the link was written for (worker.Results, which
// records both when the write-back is done).
type SignedFiles interface {
	SignedFile(ctx context.Context, memberID string, entityTypeID, entityID, fileID int) (bool, error)
}

// Select lists the items f matches on portal memberID as the viewer (accessToken), reading every page
// of crm.item.list by id (">id" the last one seen, start=-1: no count query, Bitrix24 REST docs'
// advice for long lists), at most max items with a file. fileField is the item's "file" field that
// holds the PDF (camelCase, as crm.item.* names it). With signed, an item whose newest file is
// Signet's signed output is left out and counted in AlreadySigned, so the same filter run twice signs
// nothing twice (issue 19, must 3); the record is per file id, so it holds in both write-back modes and
// a file uploaded since is signed.
func Select(ctx context.Context, c Caller, memberID, accessToken string, f Filter, fileField string, max int, signed ...SignedFiles) (*Selection, error) {
	if fileField == "" {
		return nil, fmt.Errorf("choose the file field that holds the documents")
	}
	sel := &Selection{MemberID: memberID, EntityTypeID: f.EntityTypeID, FileField: fileField}
	after := 0
	for {
		filter, err := f.Params(after)
		if err != nil {
			return nil, err
		}
		var res struct {
			Items []map[string]json.RawMessage `json:"items"`
		}
		err = c.CallAs(ctx, memberID, accessToken, "crm.item.list", map[string]any{
			"entityTypeId": f.EntityTypeID, "filter": filter, "order": map[string]any{"id": "ASC"},
			"select": []any{"id", "title", "stageId", fileField}, "start": -1,
		}, &res)
		if err != nil {
			return nil, fmt.Errorf("listing the CRM items (crm.item.list): %w", err)
		}
		for _, raw := range res.Items {
			var it Item
			var id bitrix24.ID
			if json.Unmarshal(raw["id"], &id) != nil || int(id) <= after {
				return nil, fmt.Errorf("%w: crm.item.list answered an item out of order", bitrix24.ErrUnexpectedAnswer)
			}
			it.ID, after = int(id), int(id)
			_ = json.Unmarshal(raw["title"], &it.Title)
			_ = json.Unmarshal(raw["stageId"], &it.Stage)
			it.FileID = newestFile(raw[fileField])
			if it.FileID == 0 {
				sel.WithoutFile++
				continue
			}
			done, err := alreadySigned(ctx, signed, memberID, f.EntityTypeID, it)
			if err != nil {
				return nil, err
			}
			if done {
				sel.AlreadySigned++
				continue
			}
			if max > 0 && len(sel.Items) >= max {
				return nil, fmt.Errorf("the filter picks more than %d documents; narrow it (dates, stage) and sign in parts", max)
			}
			sel.Items = append(sel.Items, it)
		}
		if len(res.Items) < pageSize {
			return sel, nil
		}
	}
}

// alreadySigned asks each of signed whether the item's file is Signet's output.
func alreadySigned(ctx context.Context, signed []SignedFiles, memberID string, entityTypeID int, it Item) (bool, error) {
	for _, s := range signed {
		done, err := s.SignedFile(ctx, memberID, entityTypeID, it.ID, it.FileID)
		if err != nil {
			return false, fmt.Errorf("checking whether item %d is signed already: %w", it.ID, err)
		}
		if done {
			return true, nil
		}
	}
	return false, nil
}

// newestFile reads a file field's value ({id,…} or [{id,…},…]) and returns its last file's id.
func newestFile(raw json.RawMessage) int {
	type file struct {
		ID bitrix24.ID `json:"id"`
	}
	var many []file
	if json.Unmarshal(raw, &many) == nil && len(many) > 0 {
		return int(many[len(many)-1].ID)
	}
	var one file
	if json.Unmarshal(raw, &one) == nil {
		return int(one.ID)
	}
	return 0
}

// Manifest is the selection as a producer/batch manifest: one document per item, the item's file in
// its field, so one grant covers exactly these documents (batch.Enqueuer asks for len(Items)).
// Source names the selection in the batch's record, which derives the batch id from it.
func (s *Selection) Manifest(source string) (*batch.Manifest, error) {
	if len(s.Items) == 0 {
		return nil, fmt.Errorf("the filter picks no document with a file; widen it")
	}
	docs := make([]batch.Document, 0, len(s.Items))
	for _, it := range s.Items {
		docs = append(docs, batch.Document{Portal: s.MemberID, EntityTypeID: s.EntityTypeID, EntityID: it.ID,
			FileField: s.FileField, FileID: it.FileID, FileName: it.Title, WriteBack: s.Mode.writeBack()})
	}
	return batch.FromDocuments(source, docs)
}
