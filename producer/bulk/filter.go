package bulk

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Entity type ids of crm.item.* (Bitrix24 REST docs, crm/universal): deals and the new invoices;
// smart processes have their own ids, 128–191 for the first ones and 1030 and up since.
const (
	EntityDeal    = 2
	EntityInvoice = 31
)

// Filter is what the accountant chooses on the page. Zero fields do not filter.
type Filter struct {
	EntityTypeID int
	// CategoryID is the pipeline (a deal's or smart process's categoryId); nil: every pipeline.
	CategoryID *int
	// StageIDs are stage ids as the portal names them (e.g. "C1:WON", "DT31_2:P").
	StageIDs []string
	// CreatedFrom and CreatedTo bound createdTime: From inclusive, To exclusive.
	CreatedFrom, CreatedTo time.Time
	// AssignedByID is the responsible user.
	AssignedByID int
}

// ValidEntityType reports whether id is a type crm.item.list serves with a file field to sign.
func ValidEntityType(id int) bool {
	return id == EntityDeal || id == EntityInvoice || id >= 128 && id <= 191 || id >= 1030
}

// ErrEntityType says what the page must send.
var ErrEntityType = errors.New("choose deals, invoices or a smart process")

// Params is the filter as crm.item.list's "filter" (Bitrix24 REST docs, crm.item.list: "=" equal,
// "@" in, ">=" and "<" for the dates in ISO 8601), with afterID (the last id of the previous page)
// as ">id" so that a long list is read by id, not by a growing offset.
func (f Filter) Params(afterID int) (map[string]any, error) {
	if !ValidEntityType(f.EntityTypeID) {
		return nil, ErrEntityType
	}
	m := map[string]any{}
	if f.CategoryID != nil {
		m["=categoryId"] = *f.CategoryID
	}
	if len(f.StageIDs) > 0 {
		l := make([]any, 0, len(f.StageIDs))
		for _, s := range f.StageIDs {
			s = strings.TrimSpace(s)
			if s == "" || len(s) > 64 {
				return nil, fmt.Errorf("stage %q: pick a stage from the list", s)
			}
			l = append(l, s)
		}
		m["@stageId"] = l
	}
	if !f.CreatedFrom.IsZero() {
		m[">=createdTime"] = f.CreatedFrom.Format(time.RFC3339)
	}
	if !f.CreatedTo.IsZero() {
		if !f.CreatedFrom.IsZero() && !f.CreatedTo.After(f.CreatedFrom) {
			return nil, errors.New("the end date is before the start date; swap them")
		}
		m["<createdTime"] = f.CreatedTo.Format(time.RFC3339)
	}
	if f.AssignedByID > 0 {
		m["=assignedById"] = f.AssignedByID
	}
	if afterID > 0 {
		m[">id"] = afterID
	}
	return m, nil
}
