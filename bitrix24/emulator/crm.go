package emulator

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/signet-b24/signet/bitrix24"
)

// DealFileField is the deal's multiple "file" user field the emulator carries (reference §6.2).
const DealFileField = "ufCrmSignetFiles"

type deal struct {
	id     int
	fields map[string]any
	files  []int // b_file ids in DealFileField
}

func newDeal(id int) *deal {
	return &deal{id: id, fields: map[string]any{"title": "Deal #" + strconv.Itoa(id), "stageId": "NEW"}}
}

type crmFile struct {
	name string
	data []byte
}

type diskFile struct {
	id       int
	name     string
	dealID   int
	parent   int // its folder (disk_folder.go); 0: the common drive's root
	versions [][]byte
	fileIDs  []int // b_file id per version
	created  time.Time
	updated  time.Time
}

// TimelineComment is a stored crm.timeline.comment.add.
type TimelineComment struct {
	ID         int
	EntityType string
	EntityID   int
	Comment    string
	Files      map[string][]byte // name → content
	AuthorID   int
}

// LogMessage is a stored crm.timeline.logmessage.add.
type LogMessage struct {
	ID                     int
	EntityTypeID, EntityID int
	Title, Text, IconCode  string
}

// Notification is a stored im.notify.system.add or im.notify.personal.add (notify.go).
type Notification struct {
	ID      int
	UserID  int
	Message string
	// Out is MESSAGE_OUT, the text for e-mail and other external channels.
	Out string
	Tag string
	// From is the user a personal notification is sent on behalf of (the token's); 0 for system.
	From int
}

// AddDealFile stores pdf as a Disk file attached to the deal (created if missing) and lists the same
// content in the deal's DealFileField. downloadURL is the Disk DOWNLOAD_URL with a current admin
// auth= token.
func (p *Portal) AddDealFile(dealID int, name string, pdf []byte) (int, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d, ok := p.deals[dealID]
	if !ok {
		d = newDeal(dealID)
		p.deals[dealID] = d
	}
	fid := p.newIDLocked()
	p.files[fid] = &crmFile{name: name, data: append([]byte(nil), pdf...)}
	d.files = append(d.files, fid)
	id := p.newIDLocked()
	now := time.Now()
	p.disk[id] = &diskFile{id: id, name: name, dealID: dealID, versions: [][]byte{append([]byte(nil), pdf...)},
		fileIDs: []int{fid}, created: now, updated: now}
	a := p.newAuthLocked(AdminUserID)
	return id, p.diskDownloadURLLocked(id, a.AccessToken)
}

// EditFile stores pdf as a new version of a Disk file, as a person editing it in Bitrix24 does
// (the route tests change a document mid-route with it).
func (p *Portal) EditFile(diskFileID int, pdf []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, ok := p.disk[diskFileID]
	if !ok {
		return
	}
	fid := p.newIDLocked()
	p.files[fid] = &crmFile{name: f.name, data: append([]byte(nil), pdf...)}
	f.versions = append(f.versions, append([]byte(nil), pdf...))
	f.fileIDs = append(f.fileIDs, fid)
	f.updated = time.Now()
}

// FileVersions returns every version of a Disk file, oldest first.
func (p *Portal) FileVersions(diskFileID int) [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, ok := p.disk[diskFileID]
	if !ok {
		return nil
	}
	out := make([][]byte, len(f.versions))
	for i, v := range f.versions {
		out[i] = append([]byte(nil), v...)
	}
	return out
}

// DealFiles returns name → content of the files in the deal's DealFileField.
func (p *Portal) DealFiles(dealID int) map[int]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[int]string{}
	if d, ok := p.deals[dealID]; ok {
		for _, id := range d.files {
			out[id] = p.files[id].name
		}
	}
	return out
}

// DealField returns the value crm.item.update last set in a deal's field (a user field such as the
// link mode's link and status, camelCase as crm.item.* names it), or nil.
func (p *Portal) DealField(dealID int, field string) any {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d, ok := p.deals[dealID]; ok {
		return d.fields[field]
	}
	return nil
}

// CRMFileData returns the content of a file of a CRM file field, or nil.
func (p *Portal) CRMFileData(fileID int) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f, ok := p.files[fileID]; ok {
		return append([]byte(nil), f.data...)
	}
	return nil
}

// TimelineComments returns the comments added to a deal.
func (p *Portal) TimelineComments(dealID int) []TimelineComment {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []TimelineComment
	for _, c := range p.comments {
		if c.EntityID == dealID && strings.EqualFold(c.EntityType, "deal") {
			out = append(out, c)
		}
	}
	return out
}

// Notifications returns the current system notifications (a TAG replaces an earlier one).
func (p *Portal) Notifications() []Notification {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Notification(nil), p.notifies...)
}

func (p *Portal) diskDownloadURLLocked(id int, tok string) string {
	return p.scheme + "://" + p.domain + "/rest/download.json?" +
		url.Values{"auth": {tok}, "token": {"disk|" + strconv.Itoa(id)}}.Encode()
}

func (p *Portal) crmFileURLLocked(id int, tok string) string {
	return p.scheme + "://" + p.domain + "/upload/crm/" + strconv.Itoa(id) + "/" + url.PathEscape(p.files[id].name) +
		"?" + url.Values{"auth": {tok}}.Encode()
}

// decodeFileContent reads ["name.pdf","<base64>"] (reference §6: no data: prefix).
func decodeFileContent(v any) (string, []byte, bool) {
	l, ok := v.([]any)
	if !ok || len(l) != 2 {
		return "", nil, false
	}
	name, ok1 := l[0].(string)
	b64, ok2 := l[1].(string)
	if !ok1 || !ok2 || name == "" {
		return "", nil, false
	}
	data, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", nil, false
	}
	return name, data, true
}

func (p *Portal) diskFileObjectLocked(f *diskFile, tok string) map[string]any {
	last := f.versions[len(f.versions)-1]
	return map[string]any{
		"ID": strconv.Itoa(f.id), "NAME": f.name, "CODE": nil, "STORAGE_ID": "1", "TYPE": "file", "PARENT_ID": strconv.Itoa(max(f.parent, rootFolderID)),
		"DELETED_TYPE": "0", "GLOBAL_CONTENT_VERSION": strconv.Itoa(len(f.versions)),
		"FILE_ID": strconv.Itoa(f.fileIDs[len(f.fileIDs)-1]), "SIZE": strconv.Itoa(len(last)),
		"CREATE_TIME": f.created.Format(time.RFC3339), "UPDATE_TIME": f.updated.Format(time.RFC3339),
		"DELETE_TIME": nil, "CREATED_BY": "1", "UPDATED_BY": "1", "DELETED_BY": nil,
		"DOWNLOAD_URL": p.diskDownloadURLLocked(f.id, tok),
		"DETAIL_URL":   p.scheme + "://" + p.domain + "/docs/file/" + url.PathEscape(f.name),
	}
}

// diskFileGet (reference §4.2): DOWNLOAD_URL embeds the caller's auth token.
func (p *Portal) diskFileGet(c *callCtx, params map[string]any) (any, *apiError) {
	id, ok := toInt(mustParam(params, "id"))
	if !ok {
		return nil, errArg("Could not find required argument id")
	}
	f, ok := p.disk[id]
	if !ok {
		return nil, &apiError{status: 400, code: "ERROR_NOT_FOUND", desc: "Could not find entity with id '" + strconv.Itoa(id) + "'"}
	}
	return p.diskFileObjectLocked(f, c.token), nil
}

// diskFileUploadVersion (reference §6.1): id, fileContent ["name","base64"] → a new version.
func (p *Portal) diskFileUploadVersion(c *callCtx, params map[string]any) (any, *apiError) {
	id, ok := toInt(mustParam(params, "id"))
	if !ok {
		return nil, errArg("Could not find required argument id")
	}
	fc, ok := param(params, "fileContent")
	if !ok {
		return nil, errArg("Could not find required argument fileContent")
	}
	name, data, ok := decodeFileContent(fc)
	if !ok {
		return nil, errArg("fileContent must be [\"name\", \"base64\"]")
	}
	f, ok := p.disk[id]
	if !ok {
		return nil, &apiError{status: 400, code: "ERROR_NOT_FOUND", desc: "Could not find entity with id '" + strconv.Itoa(id) + "'"}
	}
	fid := p.newIDLocked()
	p.files[fid] = &crmFile{name: name, data: data}
	f.versions = append(f.versions, data)
	f.fileIDs = append(f.fileIDs, fid)
	f.updated = time.Now()
	return p.diskFileObjectLocked(f, c.token), nil
}

func mustParam(m map[string]any, k string) any { v, _ := param(m, k); return v }

func (p *Portal) dealFromParams(params map[string]any) (*deal, *apiError) {
	et, ok := toInt(mustParam(params, "entityTypeId"))
	if !ok {
		return nil, errArg("entityTypeId is required")
	}
	if et != 2 {
		return nil, &apiError{status: 400, code: bitrix24.ErrCodeNotFound, desc: "Smart process not found (the emulator has deals only)"}
	}
	id, ok := toInt(mustParam(params, "id"))
	if !ok {
		return nil, errArg("id is required")
	}
	d, ok := p.deals[id]
	if !ok {
		return nil, &apiError{status: 400, code: bitrix24.ErrCodeNotFound, desc: "Element not found"}
	}
	return d, nil
}

func (p *Portal) itemLocked(d *deal, tok string) map[string]any {
	item := map[string]any{"id": d.id, "entityTypeId": 2}
	for k, v := range d.fields {
		item[k] = v
	}
	files := []any{}
	for _, id := range d.files {
		u := p.crmFileURLLocked(id, tok)
		files = append(files, map[string]any{"id": id, "url": u, "urlMachine": u})
	}
	item[DealFileField] = files
	return map[string]any{"item": item}
}

func (p *Portal) crmItemGet(c *callCtx, params map[string]any) (any, *apiError) {
	d, e := p.dealFromParams(params)
	if e != nil {
		return nil, e
	}
	return p.itemLocked(d, c.token), nil
}

// crmItemUpdate applies the multiple-file-field rule of reference §6.2: the field is set as a whole;
// {"id":N} keeps an existing file, ["name","base64"] adds one, every other file is deleted.
func (p *Portal) crmItemUpdate(c *callCtx, params map[string]any) (any, *apiError) {
	d, e := p.dealFromParams(params)
	if e != nil {
		return nil, e
	}
	fv, _ := param(params, "fields")
	fields, ok := fv.(map[string]any)
	if !ok || len(fields) == 0 {
		return nil, errArg("fields is required")
	}
	for k, v := range fields {
		if k != DealFileField {
			if strings.EqualFold(k, "id") {
				continue
			}
			d.fields[k] = v
			continue
		}
		var list []any
		switch t := v.(type) {
		case []any:
			list = t
		case string:
			if t != "" {
				return nil, &apiError{status: 400, code: bitrix24.ErrCodeInvalidArgValue, desc: "Wrong value for field " + k}
			}
		default:
			return nil, &apiError{status: 400, code: bitrix24.ErrCodeInvalidArgValue, desc: "Wrong value for field " + k}
		}
		current := map[int]bool{}
		for _, id := range d.files {
			current[id] = true
		}
		var next []int
		for _, it := range list {
			if m, ok := it.(map[string]any); ok {
				if id, ok := toInt(m["id"]); ok && current[id] {
					next = append(next, id)
				}
				continue
			}
			name, data, ok := decodeFileContent(it)
			if !ok {
				return nil, &apiError{status: 400, code: bitrix24.ErrCodeInvalidArgValue, desc: "Wrong file value for field " + k}
			}
			fid := p.newIDLocked()
			p.files[fid] = &crmFile{name: name, data: data}
			next = append(next, fid)
		}
		d.files = next
	}
	return p.itemLocked(d, c.token), nil
}

// timelineCommentAdd (reference §6.4): lower-case "fields" is mandatory.
func (p *Portal) timelineCommentAdd(c *callCtx, params map[string]any) (any, *apiError) {
	fv, ok := params["fields"]
	fields, isMap := fv.(map[string]any)
	if !ok || !isMap {
		return nil, &apiError{status: 400, code: bitrix24.ErrCodeInvalidArgValue, desc: "Parameter 'fields' is required (lower case)"}
	}
	et := paramString(fields, "ENTITY_TYPE")
	eid, ok := toInt(mustParam(fields, "ENTITY_ID"))
	comment := paramString(fields, "COMMENT")
	if et == "" || !ok || comment == "" {
		return nil, &apiError{status: 400, code: bitrix24.ErrCodeInvalidArgValue, desc: "ENTITY_ID, ENTITY_TYPE and COMMENT are required"}
	}
	if !strings.EqualFold(et, "deal") || p.deals[eid] == nil {
		return nil, &apiError{status: 400, code: bitrix24.ErrCodeOwnerNotFound, desc: "Owner not found"}
	}
	tc := TimelineComment{EntityType: strings.ToLower(et), EntityID: eid, Comment: comment, Files: map[string][]byte{}, AuthorID: c.userID}
	if files, ok := param(fields, "FILES"); ok {
		l, _ := files.([]any)
		for _, f := range l {
			name, data, ok := decodeFileContent(f)
			if !ok {
				return nil, &apiError{status: 400, code: bitrix24.ErrCodeInvalidArgValue, desc: "FILES must be [[\"name\",\"base64\"],…]"}
			}
			tc.Files[name] = data
		}
	}
	tc.ID = p.newIDLocked()
	p.comments = append(p.comments, tc)
	return tc.ID, nil
}

// timelineCommentList: filter{ENTITY_ID*, ENTITY_TYPE*}, order{ID: ASC|DESC} (default ASC), start;
// pages of 50 with total and next, as every Bitrix24 list method.
func (p *Portal) timelineCommentList(_ *callCtx, params map[string]any) (any, *apiError) {
	fv, _ := param(params, "filter")
	filter, ok := fv.(map[string]any)
	if !ok {
		return nil, &apiError{status: 400, code: bitrix24.ErrCodeArgument, desc: "filter[ENTITY_ID] and filter[ENTITY_TYPE] are required"}
	}
	et := paramString(filter, "ENTITY_TYPE")
	eid, ok := toInt(mustParam(filter, "ENTITY_ID"))
	if et == "" || !ok {
		return nil, &apiError{status: 400, code: bitrix24.ErrCodeArgument, desc: "filter[ENTITY_ID] and filter[ENTITY_TYPE] are required"}
	}
	if !strings.EqualFold(et, "deal") || p.deals[eid] == nil {
		return nil, &apiError{status: 400, code: bitrix24.ErrCodeOwnerNotFound, desc: "Owner not found"}
	}
	var all []map[string]any
	for _, c := range p.comments {
		if c.EntityID == eid && strings.EqualFold(c.EntityType, et) {
			all = append(all, map[string]any{"ID": strconv.Itoa(c.ID), "ENTITY_ID": strconv.Itoa(c.EntityID),
				"ENTITY_TYPE": c.EntityType, "AUTHOR_ID": strconv.Itoa(c.AuthorID), "COMMENT": c.Comment})
		}
	}
	if ov, _ := param(params, "order"); ov != nil {
		if order, ok := ov.(map[string]any); ok && strings.EqualFold(paramString(order, "ID"), "DESC") {
			slices.Reverse(all)
		}
	}
	return pageOf(all, params), nil
}

// listPage is the page size of every Bitrix24 list method.
const listPage = 50

// timelineLogMessageAdd (reference §6.4): fields{entityTypeId*, entityId*, title*, text*, iconCode*};
// the result is {"logMessage": {...}}.
func (p *Portal) timelineLogMessageAdd(_ *callCtx, params map[string]any) (any, *apiError) {
	fv, _ := param(params, "fields")
	f, ok := fv.(map[string]any)
	if !ok {
		return nil, &apiError{status: 400, code: bitrix24.ErrCodeInvalidArgValue, desc: "Parameter 'fields' is required"}
	}
	et, ok1 := toInt(mustParam(f, "entityTypeId"))
	eid, ok2 := toInt(mustParam(f, "entityId"))
	lm := LogMessage{EntityTypeID: et, EntityID: eid, Title: paramString(f, "title"), Text: paramString(f, "text"), IconCode: paramString(f, "iconCode")}
	if !ok1 || !ok2 || lm.Title == "" || lm.Text == "" || lm.IconCode == "" {
		return nil, &apiError{status: 400, code: bitrix24.ErrCodeInvalidArgValue, desc: "entityTypeId, entityId, title, text and iconCode are required"}
	}
	if et != 2 || p.deals[eid] == nil {
		return nil, &apiError{status: 400, code: bitrix24.ErrCodeOwnerNotFound, desc: "Owner not found"}
	}
	lm.ID = p.newIDLocked()
	p.logMessages = append(p.logMessages, lm)
	return map[string]any{"logMessage": map[string]any{"id": lm.ID, "entityTypeId": et, "entityId": eid,
		"title": lm.Title, "text": lm.Text, "iconCode": lm.IconCode}}, nil
}

// TimelineLogMessages returns the log messages added to a deal.
func (p *Portal) TimelineLogMessages(dealID int) []LogMessage {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []LogMessage
	for _, m := range p.logMessages {
		if m.EntityTypeID == 2 && m.EntityID == dealID {
			out = append(out, m)
		}
	}
	return out
}

func (p *Portal) appInfo(c *callCtx, _ map[string]any) (any, *apiError) {
	if !c.appContext {
		return nil, &apiError{status: 403, code: bitrix24.ErrCodeAccessDenied, desc: "Application context required"}
	}
	return map[string]any{"ID": 1, "CODE": p.cfg.ClientID, "VERSION": 1, "STATUS": "L", "INSTALLED": true,
		"PAYMENT_EXPIRED": "N", "DAYS": nil, "LANGUAGE_ID": p.cfg.Language, "LICENSE": p.cfg.Language + "_project"}, nil
}

type placement struct {
	code, handler, title string
	langAll              map[string]string // LANG_ALL: language id (upper-cased) → TITLE
}

var knownPlacements = []string{"CRM_DEAL_DETAIL_TAB", "CRM_DEAL_DETAIL_TOOLBAR", "CRM_DEAL_DETAIL_ACTIVITY",
	"CRM_DEAL_DOCUMENTGENERATOR_BUTTON", "CRM_DEAL_LIST_MENU", "DEFAULT", "LEFT_MENU"}

// placementBind (reference §10): app context (webhook → WRONG_AUTH_TYPE), admin, PLACEMENT and HANDLER.
func (p *Portal) placementBind(c *callCtx, params map[string]any) (any, *apiError) {
	if e := requireAppAdmin(c, bitrix24.ErrCodeWrongAuthType); e != nil {
		return nil, e
	}
	code := strings.ToUpper(paramString(params, "PLACEMENT"))
	if code == "" || !(contains(knownPlacements, code) || strings.HasPrefix(code, "CRM_DYNAMIC_")) {
		return nil, &apiError{status: 400, code: bitrix24.ErrCodeArgument, desc: "Wrong value", extra: map[string]any{"argument": "PLACEMENT"}}
	}
	h := paramString(params, "HANDLER")
	if e := validateHandler(h); e != nil {
		return nil, &apiError{status: 400, code: bitrix24.ErrCodeArgument, desc: "Wrong value", extra: map[string]any{"argument": "HANDLER"}}
	}
	for _, pl := range p.placements {
		if pl.code == code && pl.handler == h {
			return nil, &apiError{status: 400, code: bitrix24.ErrCodePlacementHandlerExists, desc: "Handler already binded"}
		}
	}
	langAll, e := placementLangAll(params)
	if e != nil {
		return nil, e
	}
	p.placements = append(p.placements, placement{code: code, handler: h, title: paramString(params, "TITLE"), langAll: langAll})
	return true, nil
}

func (p *Portal) placementUnbind(c *callCtx, params map[string]any) (any, *apiError) {
	if e := requireAppAdmin(c, bitrix24.ErrCodeWrongAuthType); e != nil {
		return nil, e
	}
	code := strings.ToUpper(paramString(params, "PLACEMENT"))
	h := paramString(params, "HANDLER")
	n := 0
	kept := p.placements[:0]
	for _, pl := range p.placements {
		if pl.code == code && (h == "" || pl.handler == h) {
			n++
			continue
		}
		kept = append(kept, pl)
	}
	p.placements = kept
	return map[string]any{"count": n}, nil
}

func (p *Portal) placementGet(c *callCtx, _ map[string]any) (any, *apiError) {
	if !c.appContext {
		return nil, &apiError{status: 403, code: bitrix24.ErrCodeWrongAuthType, desc: "Current authorization type is denied for this method"}
	}
	out := []any{}
	for _, pl := range p.placements {
		out = append(out, map[string]any{"placement": pl.code, "handler": pl.handler, "title": pl.title})
	}
	return out, nil
}

func (p *Portal) placementList(c *callCtx, _ map[string]any) (any, *apiError) {
	if !c.appContext {
		return nil, &apiError{status: 403, code: bitrix24.ErrCodeWrongAuthType, desc: "Current authorization type is denied for this method"}
	}
	l := append([]string{}, knownPlacements...)
	sort.Strings(l)
	return l, nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// serveUpload serves /upload/crm/<id>/<name>?auth=… ; without a valid auth it answers 404 like the
// portal's nginx (reference §11).
func (p *Portal) serveUpload(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/upload/crm/"), "/")
	if !p.validDownloadAuth(r.URL.Query()) || len(parts) < 1 {
		http.NotFound(w, r)
		return
	}
	id, err := strconv.Atoi(parts[0])
	p.mu.Lock()
	f, ok := p.files[id]
	p.mu.Unlock()
	if err != nil || !ok {
		http.NotFound(w, r)
		return
	}
	writeFile(w, f.name, f.data)
}

// serveDiskDownload serves DOWNLOAD_URL: /rest/download.json?auth=…&token=disk|<id>.
func (p *Portal) serveDiskDownload(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !p.validDownloadAuth(q) {
		http.NotFound(w, r)
		return
	}
	id, err := strconv.Atoi(strings.TrimPrefix(q.Get("token"), "disk|"))
	p.mu.Lock()
	f, ok := p.disk[id]
	var data []byte
	if ok {
		data = f.versions[len(f.versions)-1]
	}
	p.mu.Unlock()
	if err != nil || !ok {
		http.NotFound(w, r)
		return
	}
	writeFile(w, f.name, data)
}

func writeFile(w http.ResponseWriter, name string, data []byte) {
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
	_, _ = w.Write(data)
}
