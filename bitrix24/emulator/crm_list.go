package emulator

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/signet-b24/signet/bitrix24"
)

// CRM entity type ids crm.item.* takes (Bitrix24 REST docs, crm/universal: "entityTypeId"): deals 2,
// the new invoices 31; smart processes have ids of their own (128–191 for old ones, 1030 and up).
const (
	EntityDeal    = 2
	EntityInvoice = 31
)

// AddItem creates a CRM item of entityTypeID with fields (camelCase names as crm.item.* gives them:
// title, categoryId, stageId, assignedById, createdTime, begindate, closedate, …) and returns its id.
// Missing title, stageId, categoryId, assignedById, createdTime and updatedTime get the portal's
// defaults. Deals are the same deals crm.item.get and the robot see.
func (p *Portal) AddItem(entityTypeID int, fields map[string]any) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	id := p.newIDLocked()
	d := newDeal(id)
	now := time.Now().UTC().Format(time.RFC3339)
	d.fields["categoryId"] = 0
	d.fields["assignedById"] = AdminUserID
	d.fields["createdTime"] = now
	d.fields["updatedTime"] = now
	if entityTypeID != EntityDeal {
		d.fields["title"] = "Item #" + strconv.Itoa(id)
	}
	for k, v := range fields {
		d.fields[k] = v
	}
	if entityTypeID == EntityDeal {
		p.deals[id] = d
		return id
	}
	if p.items == nil {
		p.items = map[int]map[int]*deal{}
	}
	if p.items[entityTypeID] == nil {
		p.items[entityTypeID] = map[int]*deal{}
	}
	p.items[entityTypeID][id] = d
	return id
}

// itemFilterOps are the key prefixes of crm.item.list's filter (Bitrix24 REST docs, crm.item.list:
// "filter"), longest first so that ">=" is not read as ">". No prefix means "=".
var itemFilterOps = []string{"!@", "!=", "!%", "=%", "%=", ">=", "<=", "@", "=", "%", ">", "<", "!"}

// itemFields are the fields the emulator's items carry; a filter or order on another field is the
// portal's "unknown field" error rather than silently matching everything.
var itemFields = map[string]bool{"id": true, "title": true, "categoryId": true, "stageId": true,
	"assignedById": true, "createdTime": true, "updatedTime": true, "begindate": true, "closedate": true,
	"opportunity": true, "currencyId": true, "createdBy": true}

type itemCond struct {
	op, field string
	value     any
}

func parseItemFilter(filter map[string]any) ([]itemCond, *apiError) {
	var conds []itemCond
	for k, v := range filter {
		op, field := "=", k
		for _, o := range itemFilterOps {
			if strings.HasPrefix(k, o) {
				op, field = o, k[len(o):]
				break
			}
		}
		if !itemFields[field] {
			return nil, &apiError{status: 400, code: bitrix24.ErrCodeInvalidArgValue, desc: "Unknown field in filter: " + field}
		}
		if isListValue(v) && !strings.Contains("@ !@ = ! !=", op) {
			return nil, &apiError{status: 400, code: bitrix24.ErrCodeInvalidArgValue, desc: "Wrong filter value for " + k}
		}
		if (op == "@" || op == "!@") && !isListValue(v) {
			return nil, &apiError{status: 400, code: bitrix24.ErrCodeInvalidArgValue, desc: "Filter " + k + " needs an array"}
		}
		conds = append(conds, itemCond{op: op, field: field, value: v})
	}
	return conds, nil
}

func isListValue(v any) bool { _, ok := v.([]any); return ok }

// compareValues orders a field's value against a filter value: as numbers when both are numbers, as
// times when both are dates (ISO 8601, as the REST API gives and takes them), else as strings.
func compareValues(a, b any) int {
	as, bs := scalarString(a), scalarString(b)
	if x, err1 := strconv.ParseFloat(as, 64); err1 == nil {
		if y, err2 := strconv.ParseFloat(bs, 64); err2 == nil {
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		}
	}
	if x, ok1 := parseItemTime(as); ok1 {
		if y, ok2 := parseItemTime(bs); ok2 {
			return x.Compare(y)
		}
	}
	return strings.Compare(as, bs)
}

func parseItemTime(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func scalarString(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case int:
		return strconv.Itoa(t)
	case nil:
		return ""
	}
	return ""
}

func (c itemCond) match(fields map[string]any) bool {
	have := fields[c.field]
	switch c.op {
	case "=":
		if l, ok := c.value.([]any); ok { // "=" with an array is "in" (ORM rule)
			return inList(have, l)
		}
		return compareValues(have, c.value) == 0
	case "!", "!=":
		if l, ok := c.value.([]any); ok {
			return !inList(have, l)
		}
		return compareValues(have, c.value) != 0
	case "@":
		return inList(have, c.value.([]any))
	case "!@":
		return !inList(have, c.value.([]any))
	case ">":
		return compareValues(have, c.value) > 0
	case ">=":
		return compareValues(have, c.value) >= 0
	case "<":
		return compareValues(have, c.value) < 0
	case "<=":
		return compareValues(have, c.value) <= 0
	case "%", "=%", "%=", "!%":
		// "%" is a substring, "=%" and "%=" a LIKE pattern with the caller's own % (docs).
		h, w := strings.ToLower(scalarString(have)), strings.ToLower(scalarString(c.value))
		var ok bool
		switch c.op {
		case "=%", "%=":
			ok = likeMatch(h, w)
		default:
			ok = strings.Contains(h, w)
		}
		return ok != (c.op == "!%")
	}
	return false
}

func inList(have any, l []any) bool {
	for _, v := range l {
		if compareValues(have, v) == 0 {
			return true
		}
	}
	return false
}

// likeMatch is SQL LIKE with % only.
func likeMatch(s, pattern string) bool {
	parts := strings.Split(pattern, "%")
	if len(parts) == 1 {
		return s == pattern
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for i := 1; i < len(parts)-1; i++ {
		j := strings.Index(s, parts[i])
		if j < 0 {
			return false
		}
		s = s[j+len(parts[i]):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

// crmItemList (Bitrix24 REST docs, crm.item.list): entityTypeId*, select, filter (prefixed keys), order
// ({field: ASC|DESC}, default id ASC), start; 50 items a page in result.items, with total and next.
func (p *Portal) crmItemList(c *callCtx, params map[string]any) (any, *apiError) {
	et, ok := toInt(mustParam(params, "entityTypeId"))
	if !ok {
		return nil, errArg("entityTypeId is required")
	}
	var pool map[int]*deal
	switch {
	case et == EntityDeal:
		pool = p.deals
	case p.items[et] != nil || et == EntityInvoice:
		pool = p.items[et]
	default:
		return nil, &apiError{status: 400, code: bitrix24.ErrCodeNotFound, desc: "Smart process not found"}
	}
	var conds []itemCond
	if fv, ok := param(params, "filter"); ok && fv != nil {
		filter, isMap := fv.(map[string]any)
		if !isMap {
			if l, isList := fv.([]any); !isList || len(l) != 0 { // PHP sends an empty filter as []
				return nil, &apiError{status: 400, code: bitrix24.ErrCodeInvalidArgValue, desc: "filter must be an object"}
			}
		}
		var e *apiError
		if conds, e = parseItemFilter(filter); e != nil {
			return nil, e
		}
	}
	orderField, desc := "id", false
	if ov, ok := param(params, "order"); ok {
		if order, isMap := ov.(map[string]any); isMap {
			for k, v := range order {
				if !itemFields[k] {
					return nil, &apiError{status: 400, code: bitrix24.ErrCodeInvalidArgValue, desc: "Unknown field in order: " + k}
				}
				orderField, desc = k, strings.EqualFold(scalarString(v), "DESC")
			}
		}
	}
	var picked []*deal
	for _, d := range pool {
		fields := map[string]any{"id": d.id}
		for k, v := range d.fields {
			fields[k] = v
		}
		all := true
		for _, cond := range conds {
			if !cond.match(fields) {
				all = false
				break
			}
		}
		if all {
			picked = append(picked, d)
		}
	}
	get := func(d *deal) any {
		if orderField == "id" {
			return d.id
		}
		return d.fields[orderField]
	}
	sort.SliceStable(picked, func(i, j int) bool {
		c := compareValues(get(picked[i]), get(picked[j]))
		if c == 0 {
			c = compareValues(picked[i].id, picked[j].id)
		}
		if desc {
			return c > 0
		}
		return c < 0
	})
	// select (docs: "the fields to return"; empty or "*": all) narrows each item to the fields named,
	// id and entityTypeId always kept, so a caller that forgets to select its file field sees no file.
	var want map[string]bool
	if sv, ok := param(params, "select"); ok {
		if l, isList := sv.([]any); isList && len(l) > 0 {
			want = map[string]bool{"id": true, "entityTypeId": true}
			for _, f := range l {
				if f == "*" {
					want = nil
					break
				}
				want[scalarString(f)] = true
			}
		}
	}
	items := make([]any, 0, len(picked))
	for _, d := range picked {
		item := p.itemLocked(d, c.token)["item"].(map[string]any)
		item["entityTypeId"] = et
		for k := range item {
			if want != nil && !want[k] {
				delete(item, k)
			}
		}
		items = append(items, item)
	}
	page := pageOf(items, params)
	page.items = map[string]any{"items": page.items}
	return page, nil
}
