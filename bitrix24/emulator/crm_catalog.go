package emulator

import (
	"slices"
	"strconv"
	"strings"

	"github.com/signet-b24/signet/bitrix24"
)

// The CRM's catalogue as the bulk page reads it (issue 19, must 3 and 7): smart processes
// (crm.type.list), pipelines (crm.category.list), stages (crm.status.list) and an entity type's
// fields (crm.item.fields), answered as the official REST docs describe them:
//
//   - crm.type.list (apidocs.bitrix24.com api-reference/crm/universal/user-defined-object-types/
//     crm-type-list): order, filter, start; "who can execute: any user with administrative access to
//     the CRM section"; a static page of 50 in result.types with total and next. Each type as
//     crm.type.get shows it: id (the row), title, entityTypeId, isCategoriesEnabled, isStagesEnabled….
//   - crm.category.list (…/crm/universal/category/crm-category-list): entityTypeId*; "any user"; the
//     list "is filtered by access permissions": a pipeline the user may not read is left out; result
//     .categories of {id, name, sort, entityTypeId, isDefault} (crm.category.get).
//   - crm.status.list (…/crm/status/crm-status-list; dev.1c-bitrix.ru crm_status_list: "select and
//     navigation are not supported"): filter (ENTITY_ID), order (SORT); the whole list in result, an
//     array of {ID, ENTITY_ID, STATUS_ID, NAME, NAME_INIT, SORT, SYSTEM, CATEGORY_ID, COLOR, SEMANTICS,
//     EXTRA}. ENTITY_ID is DEAL_STAGE (the default deal pipeline) or DEAL_STAGE_<categoryId>,
//     SMART_INVOICE_STAGE_<categoryId> for invoices, DYNAMIC_<entityTypeId>_STAGE_<categoryId> for a
//     smart process (tutorials/crm/how-to-get-lists/how-to-get-stages-with-semantics). An unknown
//     ENTITY_ID is an empty list, not an error, as for any directory filter.
//   - crm.item.fields (…/crm/universal/crm-item-fields): entityTypeId*, useOriginalUfNames (Y: UF_CRM_…
//     names, default N: camelCase); result.fields is field name → {type, isRequired, isReadOnly,
//     isImmutable, isMultiple, isDynamic, title, upperName}; a file user field has type "file".
//
// An entityTypeId the portal has no type for is the same error crm.item.list gives (crm_list.go).

// crmCatalog is the emulated portal's types, pipelines and stages.
type crmCatalog struct {
	types      []smartType
	categories []category
	stages     []stage
	fields     map[int][]userField // entityTypeId → user fields besides DealFileField
	hidden     map[[3]int]bool     // {userID, entityTypeId, categoryId}: a pipeline the user may not read
	nextTypeID int
}

type smartType struct {
	id, entityTypeID int
	title            string
}

type category struct {
	id, entityTypeID, sort int
	name                   string
	isDefault              bool
}

type stage struct {
	entityID, statusID, name, semantics string
	categoryID, sort, id                int
}

type userField struct{ code, typ, title string }

// catalogLocked is the catalogue, made on first use with what every portal has: the deals' default
// pipeline 0 (stages NEW, PREPARATION, WON, LOSE) and the invoices' default pipeline.
func (p *Portal) catalogLocked() *crmCatalog {
	if p.catalog != nil {
		return p.catalog
	}
	c := &crmCatalog{fields: map[int][]userField{}, hidden: map[[3]int]bool{}, nextTypeID: 1}
	p.catalog = c
	c.categories = append(c.categories, category{id: 0, entityTypeID: EntityDeal, sort: 100, name: "General", isDefault: true})
	for i, s := range [][3]string{{"NEW", "New", "process"}, {"PREPARATION", "Preparing documents", "process"}, {"WON", "Deal won", "success"}, {"LOSE", "Deal lost", "failure"}} {
		c.stages = append(c.stages, stage{entityID: "DEAL_STAGE", statusID: s[0], name: s[1], semantics: s[2], sort: 10 * (i + 1), id: len(c.stages) + 1})
	}
	p.addCategoryLocked(EntityInvoice, InvoiceDefaultCategory, "Invoices", true)
	return c
}

// InvoiceDefaultCategory is the emulated invoices' default pipeline.
const InvoiceDefaultCategory = 2

// stageEntityID is crm.status.list's ENTITY_ID of a pipeline's stages (how-to-get-stages-with-semantics).
func stageEntityID(entityTypeID, categoryID int) string {
	switch entityTypeID {
	case EntityDeal:
		if categoryID == 0 {
			return "DEAL_STAGE"
		}
		return "DEAL_STAGE_" + strconv.Itoa(categoryID)
	case EntityInvoice:
		return "SMART_INVOICE_STAGE_" + strconv.Itoa(categoryID)
	}
	return "DYNAMIC_" + strconv.Itoa(entityTypeID) + "_STAGE_" + strconv.Itoa(categoryID)
}

// addCategoryLocked adds a pipeline with three stages: for deals C<id>:NEW, C<id>:WON, C<id>:LOSE
// (the prefix crm.status.add puts on a non-default deal pipeline's stages), else DT<type>_<id>:NEW,
// :SUCCESS, :FAIL as smart processes and invoices name theirs.
func (p *Portal) addCategoryLocked(entityTypeID, id int, name string, isDefault bool) {
	c := p.catalog
	c.categories = append(c.categories, category{id: id, entityTypeID: entityTypeID, sort: 100 + 10*len(c.categories), name: name, isDefault: isDefault})
	prefix := "DT" + strconv.Itoa(entityTypeID) + "_" + strconv.Itoa(id) + ":"
	codes := [][3]string{{"NEW", "New", "process"}, {"SUCCESS", "Success", "success"}, {"FAIL", "Failed", "failure"}}
	if entityTypeID == EntityDeal {
		prefix = "C" + strconv.Itoa(id) + ":"
		codes = [][3]string{{"NEW", "New", "process"}, {"WON", "Deal won", "success"}, {"LOSE", "Deal lost", "failure"}}
	}
	for i, s := range codes {
		c.stages = append(c.stages, stage{entityID: stageEntityID(entityTypeID, id), statusID: prefix + s[0], name: s[1], semantics: s[2],
			categoryID: id, sort: 10 * (i + 1), id: len(c.stages) + 1})
	}
}

// AddSmartProcess registers a smart process (entityTypeId 128–191 or 1030 and up) with its default
// pipeline (id defaultCategory, stages DT<type>_<id>:NEW, :SUCCESS, :FAIL); its items are added with
// AddItem.
func (p *Portal) AddSmartProcess(entityTypeID int, title string, defaultCategory int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.catalogLocked()
	c.types = append(c.types, smartType{id: c.nextTypeID, entityTypeID: entityTypeID, title: title})
	c.nextTypeID++
	if p.items == nil {
		p.items = map[int]map[int]*deal{}
	}
	if p.items[entityTypeID] == nil {
		p.items[entityTypeID] = map[int]*deal{}
	}
	p.addCategoryLocked(entityTypeID, defaultCategory, "General", true)
}

// AddCategory adds pipeline id to an entity type (see addCategoryLocked for its stages).
func (p *Portal) AddCategory(entityTypeID, id int, name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.catalogLocked()
	p.addCategoryLocked(entityTypeID, id, name, false)
}

// AddStage adds a stage to a pipeline (its ENTITY_ID from stageEntityID).
func (p *Portal) AddStage(entityTypeID, categoryID int, statusID, name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.catalogLocked()
	c.stages = append(c.stages, stage{entityID: stageEntityID(entityTypeID, categoryID), statusID: statusID, name: name, semantics: "process",
		categoryID: categoryID, sort: 1000 + len(c.stages), id: len(c.stages) + 1})
}

// AddUserField adds a user field to an entity type's fields (crm.item.fields): code as UF_CRM_…,
// typ a user field type such as "file" or "string".
func (p *Portal) AddUserField(entityTypeID int, code, typ, title string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.catalogLocked()
	c.fields[entityTypeID] = append(c.fields[entityTypeID], userField{code: code, typ: typ, title: title})
}

// HideCategory makes a pipeline one userID may not read: crm.category.list leaves it out for them.
func (p *Portal) HideCategory(userID, entityTypeID, categoryID int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.catalogLocked().hidden[[3]int{userID, entityTypeID, categoryID}] = true
}

// knownTypeLocked reports whether the portal has entity type et: deals, invoices, a smart process.
func (p *Portal) knownTypeLocked(et int) bool {
	if et == EntityDeal || et == EntityInvoice {
		return true
	}
	for _, t := range p.catalogLocked().types {
		if t.entityTypeID == et {
			return true
		}
	}
	return p.items[et] != nil
}

func errUnknownType() *apiError {
	return &apiError{status: 400, code: bitrix24.ErrCodeNotFound, desc: "Smart process not found"}
}

func yn(b bool) string {
	if b {
		return "Y"
	}
	return "N"
}

// crmTypeList is crm.type.list: CRM administrators only; pages of 50 by start; order by id.
func (p *Portal) crmTypeList(c *callCtx, params map[string]any) (any, *apiError) {
	if !c.admin {
		return nil, &apiError{status: 403, code: bitrix24.ErrCodeAccessDenied, desc: "Access denied"}
	}
	if fv, ok := param(params, "filter"); ok && fv != nil {
		if _, isMap := fv.(map[string]any); !isMap {
			if l, isList := fv.([]any); !isList || len(l) != 0 {
				return nil, &apiError{status: 400, code: bitrix24.ErrCodeInvalidArgValue, desc: "filter must be an object"}
			}
		}
	}
	types := slices.Clone(p.catalogLocked().types)
	if ov, ok := mustParam(params, "order").(map[string]any); ok && strings.EqualFold(scalarString(ov["id"]), "DESC") {
		slices.Reverse(types)
	}
	all := make([]any, 0, len(types))
	for _, t := range types {
		all = append(all, map[string]any{"id": t.id, "title": t.title, "code": "", "entityTypeId": t.entityTypeID,
			"isCategoriesEnabled": "Y", "isStagesEnabled": "Y", "isAutomationEnabled": "Y", "isBizProcEnabled": "Y"})
	}
	page := pageOf(all, params)
	page.items = map[string]any{"types": page.items}
	return page, nil
}

// crmCategoryList is crm.category.list: the type's pipelines the caller may read, in sort order.
func (p *Portal) crmCategoryList(c *callCtx, params map[string]any) (any, *apiError) {
	et, ok := toInt(mustParam(params, "entityTypeId"))
	if !ok {
		return nil, errArg("entityTypeId is required")
	}
	if !p.knownTypeLocked(et) {
		return nil, errUnknownType()
	}
	cat := p.catalogLocked()
	var all []any
	for _, k := range cat.categories {
		if k.entityTypeID != et || cat.hidden[[3]int{c.userID, et, k.id}] {
			continue
		}
		all = append(all, map[string]any{"id": k.id, "name": k.name, "sort": k.sort, "entityTypeId": et, "isDefault": yn(k.isDefault)})
	}
	if all == nil {
		all = []any{}
	}
	page := pageOf(all, params)
	page.items = map[string]any{"categories": page.items}
	return page, nil
}

// crmStatusList is crm.status.list: the directory's entries by filter (ENTITY_ID, STATUS_ID), ordered
// by SORT; no paging (the docs: navigation is not supported).
func (p *Portal) crmStatusList(c *callCtx, params map[string]any) (any, *apiError) {
	var filter map[string]any
	if fv, ok := param(params, "filter"); ok && fv != nil {
		m, isMap := fv.(map[string]any)
		if l, isList := fv.([]any); !isMap && (!isList || len(l) != 0) {
			return nil, &apiError{status: 400, code: bitrix24.ErrCodeInvalidArgValue, desc: "filter must be an object"}
		}
		filter = m
	}
	for k := range filter {
		if k != "ENTITY_ID" && k != "STATUS_ID" && k != "CATEGORY_ID" {
			return nil, &apiError{status: 400, code: bitrix24.ErrCodeInvalidArgValue, desc: "Unknown field in filter: " + k}
		}
	}
	cat := p.catalogLocked()
	stages := slices.Clone(cat.stages)
	slices.SortStableFunc(stages, func(a, b stage) int { return a.sort - b.sort })
	out := []any{}
	for _, s := range stages {
		if v := scalarString(filter["ENTITY_ID"]); v != "" && v != s.entityID {
			continue
		}
		if v := scalarString(filter["STATUS_ID"]); v != "" && v != s.statusID {
			continue
		}
		var catID any
		if strings.HasPrefix(s.entityID, "DEAL_STAGE_") || strings.HasPrefix(s.entityID, "SMART_") || strings.HasPrefix(s.entityID, "DYNAMIC_") {
			catID = strconv.Itoa(s.categoryID)
		}
		out = append(out, map[string]any{"ID": strconv.Itoa(s.id), "ENTITY_ID": s.entityID, "STATUS_ID": s.statusID, "NAME": s.name,
			"NAME_INIT": s.name, "SORT": strconv.Itoa(s.sort), "SYSTEM": "N", "CATEGORY_ID": catID, "COLOR": "#39A8EF", "SEMANTICS": nil,
			"EXTRA": map[string]any{"SEMANTICS": s.semantics, "COLOR": "#39A8EF"}})
	}
	return out, nil
}

// crmItemFields is crm.item.fields: the fields every emulated item carries (crm_list.go itemFields),
// DealFileField and the type's user fields.
func (p *Portal) crmItemFields(c *callCtx, params map[string]any) (any, *apiError) {
	et, ok := toInt(mustParam(params, "entityTypeId"))
	if !ok {
		return nil, errArg("entityTypeId is required")
	}
	if !p.knownTypeLocked(et) {
		return nil, errUnknownType()
	}
	original := strings.EqualFold(paramString(params, "useOriginalUfNames"), "Y")
	field := func(typ, title, upper string, multiple, readOnly bool) map[string]any {
		return map[string]any{"type": typ, "isRequired": false, "isReadOnly": readOnly, "isImmutable": false, "isMultiple": multiple,
			"isDynamic": strings.HasPrefix(upper, "UF_"), "title": title, "upperName": upper}
	}
	out := map[string]any{
		"id": field("integer", "ID", "ID", false, true), "title": field("string", "Name", "TITLE", false, false),
		"categoryId": field("crm_category", "Pipeline", "CATEGORY_ID", false, false), "stageId": field("crm_status", "Stage", "STAGE_ID", false, false),
		"assignedById": field("user", "Responsible", "ASSIGNED_BY_ID", false, false), "createdTime": field("datetime", "Created on", "CREATED_TIME", false, true),
		"updatedTime": field("datetime", "Modified on", "UPDATED_TIME", false, true), "opportunity": field("double", "Amount", "OPPORTUNITY", false, false),
	}
	ufs := append([]userField{{code: "UF_CRM_SIGNET_FILES", typ: "file", title: "Documents to sign"}}, p.catalogLocked().fields[et]...)
	for _, u := range ufs {
		name := u.code
		if !original {
			name = ufCamel(u.code)
		}
		out[name] = field(u.typ, u.title, u.code, u.typ == "file", false)
	}
	return map[string]any{"fields": out}, nil
}

// ufCamel is a user field's name as crm.item.* gives it (api-reference/crm/universal, "Features of
// working with field names"): UF_CRM_SIGNET_FILES → ufCrmSignetFiles, UF_CRM_5_1639669411830 →
// ufCrm5_1639669411830 (an underscore between digits stays).
func ufCamel(code string) string {
	parts := strings.Split(strings.ToLower(code), "_")
	var b strings.Builder
	for i, part := range parts {
		if part == "" {
			continue
		}
		digit := part[0] >= '0' && part[0] <= '9'
		if i > 0 && digit && b.Len() > 0 {
			last := b.String()[b.Len()-1]
			if last >= '0' && last <= '9' {
				b.WriteByte('_')
			}
		}
		if i > 0 && !digit {
			part = strings.ToUpper(part[:1]) + part[1:]
		}
		b.WriteString(part)
	}
	return b.String()
}
