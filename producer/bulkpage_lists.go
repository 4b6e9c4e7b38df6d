package producer

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/bitrix24"
	"github.com/signet-b24/signet/internal/i18n"
	"github.com/signet-b24/signet/internal/routes"
	"github.com/signet-b24/signet/producer/bulk"
)

// The bulk page's pickers (issue 19, must 3 and 5): the entity types, the chosen type's pipelines and
// a pipeline's stages, the responsible found by name and the type's file fields come from the portal
// instead of typed ids. Each list is read with the viewer's own AUTH_ID (CallAs), so the portal shows
// only what that person may see (crm.category.list filters pipelines by permission; crm.type.list is
// for CRM administrators, and for anyone else the page keeps the typed smart process id). The page's
// script calls these with the page's session in X-Signet-Bulk-Token, as /show; nothing is in the URL.
// The portal's answers are documented in bitrix24/emulator/crm_catalog.go and people.go.

// bulkListPages bounds how many pages of 50 one list reads (crm.type.list, user.search): 500 entries
// fill a picker; the person narrows the name instead.
const bulkListPages = 10

func (in *Intake) bulkListRoutes(mux routes.Mux) {
	mux.HandleFunc("POST "+BulkPath+"/types", in.bulkList(in.bulkTypes))
	mux.HandleFunc("POST "+BulkPath+"/categories", in.bulkList(in.bulkCategories))
	mux.HandleFunc("POST "+BulkPath+"/stages", in.bulkList(in.bulkStages))
	mux.HandleFunc("POST "+BulkPath+"/users", in.bulkList(in.bulkUsers))
	mux.HandleFunc("POST "+BulkPath+"/fields", in.bulkList(in.bulkFields))
}

// bulkListQuery is what a picker asks: the type, the pipeline, the name typed.
type bulkListQuery struct {
	EntityTypeID int    `json:"entity_type_id"`
	Category     string `json:"category"`
	Find         string `json:"find"`
}

// bulkOption is one entry of a picker: its value and the words shown.
type bulkOption struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

// bulkLister reads one list; the error key is a catalogue message for a refused query, err the portal's.
type bulkLister func(r *http.Request, s *bulkSession, l *i18n.Localizer, q bulkListQuery) (map[string]any, string, error)

// bulkList wraps a lister with the page's session (a missing, forged or expired one is 404, as /show),
// the query's decoding and the answer.
func (in *Intake) bulkList(list bulkLister) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := in.bulkCaller(r, 0)
		if s == nil || in.Bulk == nil {
			reply(w, http.StatusNotFound, answer{Status: "unknown", Error: "open the page from Bitrix24 again"})
			return
		}
		l := in.bulkLocalizer(s, r)
		var q bulkListQuery
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10)).Decode(&q); err != nil {
			reply(w, http.StatusBadRequest, answer{Status: "refused", Error: l.T("bulk.err.form")})
			return
		}
		out, bad, err := list(r, s, l, q)
		switch {
		case bad != "":
			reply(w, http.StatusUnprocessableEntity, answer{Status: "refused", Error: l.T(bad)})
			return
		case err != nil:
			in.Log.Info("bulk: a picker's list was refused", zap.String("member_id", s.MemberID), zap.Error(err))
			reply(w, http.StatusUnprocessableEntity, answer{Status: "refused", Error: l.T("bulk.err.select", err.Error())})
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		reply(w, http.StatusOK, out)
	}
}

// bulkTypes lists deals, invoices and the portal's smart processes (crm.type.list, pages of 50). A
// viewer who is not a CRM administrator is refused the smart processes by the portal (the docs: "any
// user with administrative access to the CRM section"): then typed is true and the page asks for the
// smart process's type id, which crm.item.list checks with the viewer's own rights.
func (in *Intake) bulkTypes(r *http.Request, s *bulkSession, l *i18n.Localizer, _ bulkListQuery) (map[string]any, string, error) {
	types := []bulkOption{{ID: strconv.Itoa(bulk.EntityDeal), Title: l.T("bulk.entity.deals")}, {ID: strconv.Itoa(bulk.EntityInvoice), Title: l.T("bulk.entity.invoices")}}
	typed := false
	for page := 0; page < bulkListPages; page++ {
		var res struct {
			Types []struct {
				EntityTypeID bitrix24.ID `json:"entityTypeId"`
				Title        string      `json:"title"`
			} `json:"types"`
		}
		err := in.Bitrix.CallAs(r.Context(), s.MemberID, s.AuthID, "crm.type.list", map[string]any{"order": map[string]any{"id": "ASC"}, "start": page * 50}, &res)
		if bitrix24.IsCode(err, bitrix24.ErrCodeAccessDenied) {
			typed = true
			break
		}
		if err != nil {
			return nil, "", err
		}
		for _, t := range res.Types {
			if bulk.ValidEntityType(int(t.EntityTypeID)) {
				types = append(types, bulkOption{ID: strconv.Itoa(int(t.EntityTypeID)), Title: clip(t.Title, 120)})
			}
		}
		if len(res.Types) < 50 {
			break
		}
	}
	return map[string]any{"types": types, "typed": typed}, "", nil
}

// bulkCategories lists the type's pipelines the viewer may read (crm.category.list), in the
// portal's order.
func (in *Intake) bulkCategories(r *http.Request, s *bulkSession, l *i18n.Localizer, q bulkListQuery) (map[string]any, string, error) {
	if !bulk.ValidEntityType(q.EntityTypeID) {
		return nil, "bulk.err.entity", nil
	}
	var res struct {
		Categories []struct {
			ID   bitrix24.ID `json:"id"`
			Name string      `json:"name"`
			Sort int         `json:"sort"`
		} `json:"categories"`
	}
	if err := in.Bitrix.CallAs(r.Context(), s.MemberID, s.AuthID, "crm.category.list", map[string]any{"entityTypeId": q.EntityTypeID}, &res); err != nil {
		return nil, "", err
	}
	sort.SliceStable(res.Categories, func(i, j int) bool { return res.Categories[i].Sort < res.Categories[j].Sort })
	out := []bulkOption{}
	for _, c := range res.Categories {
		out = append(out, bulkOption{ID: strconv.Itoa(int(c.ID)), Title: clip(c.Name, 120)})
	}
	return map[string]any{"categories": out}, "", nil
}

// bulkStageEntity is crm.status.list's ENTITY_ID of a pipeline's stages (the REST docs' tutorial
// "how to get stages with semantics"): DEAL_STAGE for the deals' default pipeline 0 and
// DEAL_STAGE_<id> for the others, SMART_INVOICE_STAGE_<id> for invoices, DYNAMIC_<type>_STAGE_<id>
// for a smart process.
func bulkStageEntity(entityTypeID, categoryID int) string {
	switch entityTypeID {
	case bulk.EntityDeal:
		if categoryID == 0 {
			return "DEAL_STAGE"
		}
		return "DEAL_STAGE_" + strconv.Itoa(categoryID)
	case bulk.EntityInvoice:
		return "SMART_INVOICE_STAGE_" + strconv.Itoa(categoryID)
	}
	return "DYNAMIC_" + strconv.Itoa(entityTypeID) + "_STAGE_" + strconv.Itoa(categoryID)
}

// bulkStages lists a pipeline's stages (crm.status.list by ENTITY_ID, by SORT); the pipeline is one
// of the type's the viewer may read, asked of the portal first, so a typed or stale id lists nothing.
func (in *Intake) bulkStages(r *http.Request, s *bulkSession, l *i18n.Localizer, q bulkListQuery) (map[string]any, string, error) {
	if !bulk.ValidEntityType(q.EntityTypeID) {
		return nil, "bulk.err.entity", nil
	}
	cat, err := strconv.Atoi(strings.TrimSpace(q.Category))
	if err != nil || cat < 0 {
		return nil, "bulk.err.category", nil
	}
	cats, _, err := in.bulkCategories(r, s, l, q)
	if err != nil {
		return nil, "", err
	}
	if !slices.ContainsFunc(cats["categories"].([]bulkOption), func(o bulkOption) bool { return o.ID == strconv.Itoa(cat) }) {
		return nil, "bulk.err.category", nil
	}
	var res []struct {
		StatusID string `json:"STATUS_ID"`
		Name     string `json:"NAME"`
		Sort     any    `json:"SORT"`
	}
	if err := in.Bitrix.CallAs(r.Context(), s.MemberID, s.AuthID, "crm.status.list", map[string]any{
		"order": map[string]any{"SORT": "ASC"}, "filter": map[string]any{"ENTITY_ID": bulkStageEntity(q.EntityTypeID, cat)},
	}, &res); err != nil {
		return nil, "", err
	}
	out := []bulkOption{}
	for _, st := range res {
		out = append(out, bulkOption{ID: st.StatusID, Title: clip(st.Name, 120)})
	}
	return map[string]any{"stages": out}, "", nil
}

// bulkUsers finds the responsible by name (user.search, FILTER.FIND with the fast prefix form
// "Text%", bitrix24-people-notes.md §2), at least two letters, the first pages only.
func (in *Intake) bulkUsers(r *http.Request, s *bulkSession, l *i18n.Localizer, q bulkListQuery) (map[string]any, string, error) {
	find := strings.TrimSpace(strings.ReplaceAll(q.Find, "%", ""))
	if len([]rune(find)) < 2 || len(find) > 100 {
		return map[string]any{"users": []bulkOption{}}, "", nil
	}
	out := []bulkOption{}
	for page := 0; page < bulkListPages; page++ {
		var res []struct {
			ID           bitrix24.ID `json:"ID"`
			Name         string      `json:"NAME"`
			LastName     string      `json:"LAST_NAME"`
			WorkPosition string      `json:"WORK_POSITION"`
		}
		if err := in.Bitrix.CallAs(r.Context(), s.MemberID, s.AuthID, "user.search", map[string]any{"FILTER": map[string]any{"FIND": find + "%"}, "start": page * 50}, &res); err != nil {
			return nil, "", err
		}
		for _, u := range res {
			title := strings.TrimSpace(u.Name + " " + u.LastName)
			if u.WorkPosition != "" {
				title += " — " + u.WorkPosition
			}
			out = append(out, bulkOption{ID: strconv.Itoa(int(u.ID)), Title: clip(title, 120)})
		}
		if len(res) < 50 {
			break
		}
	}
	return map[string]any{"users": out}, "", nil
}

// bulkFields lists the type's file fields (crm.item.fields: type "file"), named as crm.item.* names
// them (camelCase, the default of useOriginalUfNames) with the code of the CRM settings beside the title.
func (in *Intake) bulkFields(r *http.Request, s *bulkSession, l *i18n.Localizer, q bulkListQuery) (map[string]any, string, error) {
	if !bulk.ValidEntityType(q.EntityTypeID) {
		return nil, "bulk.err.entity", nil
	}
	var res struct {
		Fields map[string]struct {
			Type      string `json:"type"`
			Title     string `json:"title"`
			UpperName string `json:"upperName"`
		} `json:"fields"`
	}
	if err := in.Bitrix.CallAs(r.Context(), s.MemberID, s.AuthID, "crm.item.fields", map[string]any{"entityTypeId": q.EntityTypeID}, &res); err != nil {
		return nil, "", err
	}
	out := []bulkOption{}
	for name, f := range res.Fields {
		if f.Type == "file" && isFileFieldCode(name) {
			out = append(out, bulkOption{ID: name, Title: clip(f.Title, 80) + " (" + f.UpperName + ")"})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Title < out[j].Title })
	return map[string]any{"fields": out}, "", nil
}
