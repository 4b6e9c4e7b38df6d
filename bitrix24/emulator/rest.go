package emulator

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/signet-b24/signet/bitrix24"
	"go.uber.org/zap"
)

// maxRESTBody is generous: base64 PDFs go through fileContent (cloud POST limit is 2 GB, reference §6).
const maxRESTBody = 64 << 20

// apiError is a v1 error envelope (reference §2): {"error","error_description"} plus extra keys.
type apiError struct {
	status int
	code   string
	desc   string
	extra  map[string]any
}

func (e *apiError) body() map[string]any {
	m := map[string]any{"error": e.code, "error_description": e.desc}
	for k, v := range e.extra {
		m[k] = v
	}
	return m
}

func errScope() *apiError {
	return &apiError{status: 403, code: bitrix24.ErrCodeInsufficientScope, desc: "The request requires higher privileges than provided by the access token"}
}

func errArg(desc string) *apiError {
	return &apiError{status: 400, code: bitrix24.ErrCodeArgument, desc: desc}
}

// callCtx is who is calling: an OAuth app token (application context) or an incoming webhook.
type callCtx struct {
	userID     int
	admin      bool // the user administers the portal
	appContext bool
	token      string // access token, for DOWNLOAD_URL; "" for webhooks
}

// listResult lets list methods add total/next to the envelope.
type listResult struct {
	items any
	total int
	next  int // 0: the last page
}

type method func(c *callCtx, params map[string]any) (any, *apiError)

func (p *Portal) methods() map[string]method {
	return map[string]method{
		"bizproc.event.send":                 p.bizprocEventSend,
		"bizproc.robot.add":                  p.robotAdd,
		"bizproc.robot.update":               p.robotUpdate,
		"bizproc.robot.list":                 p.robotList,
		"bizproc.robot.delete":               p.robotDelete,
		"placement.bind":                     p.placementBind,
		"placement.unbind":                   p.placementUnbind,
		"placement.get":                      p.placementGet,
		"placement.list":                     p.placementList,
		"disk.file.get":                      p.diskFileGet,
		"disk.file.uploadversion":            p.diskFileUploadVersion,
		"disk.storage.getlist":               p.diskStorageGetList,
		"disk.folder.getchildren":            p.diskFolderGetChildren,
		"disk.folder.addsubfolder":           p.diskFolderAddSubfolder,
		"disk.folder.uploadfile":             p.diskFolderUploadFile,
		"crm.item.get":                       p.crmItemGet,
		"crm.item.update":                    p.crmItemUpdate,
		"crm.item.list":                      p.crmItemList,
		"crm.item.fields":                    p.crmItemFields,
		"crm.type.list":                      p.crmTypeList,
		"crm.category.list":                  p.crmCategoryList,
		"crm.status.list":                    p.crmStatusList,
		"crm.contact.get":                    p.crmContactGet,
		"crm.company.get":                    p.crmCompanyGet,
		"crm.timeline.comment.add":           p.timelineCommentAdd,
		"crm.timeline.comment.list":          p.timelineCommentList,
		"im.notify.system.add":               p.imNotifySystemAdd,
		"im.notify.personal.add":             p.imNotifyPersonalAdd,
		"tasks.task.add":                     p.tasksTaskAdd,
		"crm.documentgenerator.document.get": p.docGenGet,
		"user.search":                        p.userSearch,
		"app.info":                           p.appInfo,
		"user.current":                       p.userCurrent,
		"user.admin":                         p.userAdmin,
		"user.get":                           p.userGet,
	}
}

// Handler serves /rest/…, /oauth/token/ and file downloads.
func (p *Portal) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/oauth/token/", p.moved(p.serveOAuth))
	mux.HandleFunc("/rest/", p.moved(p.serveREST))
	mux.HandleFunc("/upload/", p.moved(p.serveUpload))
	return mux
}

// moved answers 302 to the new domain on hosts the portal left (reference §8.2, PHPSDK Core.php).
func (p *Portal) moved(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		if p.domain == "" { // Handler mounted without Start and without Config.Domain
			p.domain = r.Host
		}
		old := p.oldHosts[r.Host]
		target := p.scheme + "://" + p.domain + r.URL.RequestURI()
		p.mu.Unlock()
		if old {
			http.Redirect(w, r, target, http.StatusFound)
			return
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// serveREST: /rest/<method>[.json] (OAuth, auth param) and /rest/<uid>/<code>/<method>[.json] (webhook).
func (p *Portal) serveREST(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/rest/"), "/"), "/")
	var webhook string
	switch len(parts) {
	case 1:
	case 3:
		webhook = parts[0] + "/" + parts[1]
	default:
		p.finish(w, start, "", nil, nil, &apiError{status: 404, code: bitrix24.ErrCodeMethodNotFound, desc: "Method not found!"})
		return
	}
	name := strings.ToLower(parts[len(parts)-1])
	if strings.HasSuffix(name, ".xml") {
		p.finish(w, start, name, nil, nil, &apiError{status: 400, code: bitrix24.ErrCodeInvalidRequest, desc: "XML output is not supported by the emulator"})
		return
	}
	name = strings.TrimSuffix(name, ".json")
	if name == "download" {
		p.serveDiskDownload(w, r)
		return
	}
	params, order, aerr := readParams(r)
	if aerr != nil {
		p.finish(w, start, name, nil, nil, aerr)
		return
	}
	tok, _ := params["auth"].(string)
	delete(params, "auth")

	// An injected delay is served after the method ran: the client times out on a call that did
	// happen, the ambiguous case of reference §8.1.
	if delay := p.takeDelay(); delay > 0 {
		w = &delayedWriter{ResponseWriter: w, delay: delay, done: r.Context().Done()}
	}
	p.mu.Lock()
	if aerr := p.injectedLocked(name); aerr != nil {
		p.mu.Unlock()
		p.finish(w, start, name, params, nil, aerr)
		return
	}
	if aerr := p.leakLocked(); aerr != nil {
		p.mu.Unlock()
		p.finish(w, start, name, params, nil, aerr)
		return
	}
	c := &callCtx{}
	if webhook != "" {
		uid, ok := p.webhooks[webhook]
		if !ok {
			p.mu.Unlock()
			p.finish(w, start, name, params, nil, &apiError{status: 401, code: bitrix24.ErrCodeNoAuthFound, desc: "Wrong authorization data"})
			return
		}
		c.userID, c.admin = uid, p.isAdmin(uid)
	} else {
		uid, aerr := p.checkTokenLocked(tok)
		if aerr != nil {
			p.mu.Unlock()
			p.finish(w, start, name, params, nil, aerr)
			return
		}
		c.userID, c.appContext, c.token, c.admin = uid, true, tok, p.isAdmin(uid)
	}
	if until, ok := p.fail.opBlocked[name]; ok && time.Now().Before(until) {
		p.mu.Unlock()
		p.finish(w, start, name, params, nil, &apiError{status: 429, code: bitrix24.ErrCodeOperationTimeLimit, desc: "Method is blocked due to operation time limit."})
		return
	}
	p.mu.Unlock()

	if name == "batch" {
		res, aerr := p.batch(c, params, order)
		p.finish(w, start, name, params, res, aerr)
		return
	}
	m, ok := p.table[name]
	if !ok {
		p.finish(w, start, name, params, nil, &apiError{status: 404, code: bitrix24.ErrCodeMethodNotFound, desc: "Method not found!"})
		return
	}
	if !p.hasScope(name) {
		p.finish(w, start, name, params, nil, errScope())
		return
	}
	p.mu.Lock()
	res, aerr := m(c, params)
	p.mu.Unlock()
	p.finishCall(w, start, name, params, res, aerr, c.userID)
}

func (p *Portal) finish(w http.ResponseWriter, start time.Time, name string, params map[string]any, res any, aerr *apiError) {
	p.finishCall(w, start, name, params, res, aerr, 0)
}

// finishCall logs the call and writes the envelope (reference §2).
func (p *Portal) finishCall(w http.ResponseWriter, start time.Time, name string, params map[string]any, res any, aerr *apiError, uid int) {
	call := Call{Method: name, Params: params, Time: start, UserID: uid}
	if aerr != nil {
		call.ErrorCode = aerr.code
	}
	if dr, ok := res.(duplicateResult); ok {
		call.Duplicate = true
		res = dr.result
	}
	p.mu.Lock()
	p.calls = append(p.calls, call)
	p.mu.Unlock()
	if aerr != nil {
		p.log.Debug("emulator: REST error", zap.String("method", name), zap.String("code", aerr.code))
		writeJSON(w, aerr.status, aerr.body())
		return
	}
	env := map[string]any{"time": p.timeStat(name, start)}
	if lr, ok := res.(listResult); ok {
		env["result"] = lr.items
		env["total"] = lr.total
		if lr.next > 0 {
			env["next"] = lr.next
		}
	} else {
		env["result"] = res
	}
	writeJSON(w, http.StatusOK, env)
}

// timeStat is the "time" object of the success envelope (reference §2).
func (p *Portal) timeStat(name string, start time.Time) map[string]any {
	fin := time.Now()
	p.mu.Lock()
	reset, ok := p.opReset[name]
	if !ok || !fin.Before(reset) {
		reset = start.Add(10 * time.Minute)
		p.opReset[name] = reset
	}
	p.mu.Unlock()
	f := func(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
	d := fin.Sub(start).Seconds()
	return map[string]any{
		"start": f(start), "finish": f(fin), "duration": d, "processing": d,
		"date_start": start.Format(time.RFC3339), "date_finish": fin.Format(time.RFC3339),
		"operating_reset_at": reset.Unix(), "operating": 0,
	}
}

// readParams merges the query string with a JSON or form body. order lists cmd keys of batch in the
// order they were sent (PHP keeps it; a Go map does not).
func readParams(r *http.Request) (map[string]any, []string, *apiError) {
	params := map[string]any{}
	if len(r.URL.RawQuery) > 0 {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return nil, nil, &apiError{status: 400, code: bitrix24.ErrCodeInvalidRequest, desc: "Malformed query string"}
		}
		m, err := bitrix24.DecodeForm(q)
		if err != nil {
			return nil, nil, &apiError{status: 400, code: bitrix24.ErrCodeInvalidRequest, desc: err.Error()}
		}
		params = m
	}
	if r.Method != http.MethodPost {
		return params, nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRESTBody+1))
	if err != nil || len(body) > maxRESTBody {
		return nil, nil, &apiError{status: 400, code: bitrix24.ErrCodeInvalidRequest, desc: "Request body unreadable or too large"}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return params, nil, nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var order []string
	switch ct {
	case "multipart/form-data": // accepted too (reference §2)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err := r.ParseMultipartForm(maxRESTBody); err != nil {
			return nil, nil, &apiError{status: 400, code: bitrix24.ErrCodeInvalidRequest, desc: "Malformed multipart body"}
		}
		m, err := bitrix24.DecodeForm(r.MultipartForm.Value)
		if err != nil {
			return nil, nil, &apiError{status: 400, code: bitrix24.ErrCodeInvalidRequest, desc: err.Error()}
		}
		for k, v := range m {
			params[k] = v
		}
	case "application/json":
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			return nil, nil, &apiError{status: 400, code: bitrix24.ErrCodeInvalidRequest, desc: "Request body is not a JSON object"}
		}
		for k, v := range m {
			params[k] = normalizeJSON(v)
		}
		if _, ok := m["cmd"]; ok { // a batch: its commands run in body order
			order = jsonCmdOrder(body)
		}
	default:
		q, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, nil, &apiError{status: 400, code: bitrix24.ErrCodeInvalidRequest, desc: "Malformed form body"}
		}
		m, err := bitrix24.DecodeForm(q)
		if err != nil {
			return nil, nil, &apiError{status: 400, code: bitrix24.ErrCodeInvalidRequest, desc: err.Error()}
		}
		for k, v := range m {
			params[k] = v
		}
		order = formCmdOrder(string(body))
	}
	return params, order, nil
}

// normalizeJSON turns json.Number into the string PHP would see for form values, keeping ints
// recognisable by toInt.
func normalizeJSON(v any) any {
	switch t := v.(type) {
	case json.Number:
		return t.String()
	case bool:
		if t {
			return "1"
		}
		return "0"
	case map[string]any:
		for k, c := range t {
			t[k] = normalizeJSON(c)
		}
		return t
	case []any:
		for i, c := range t {
			t[i] = normalizeJSON(c)
		}
		return t
	}
	return v
}

// jsonCmdOrder returns the keys of the top-level "cmd" object in body order.
func jsonCmdOrder(body []byte) []string {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return nil
	}
	raw, ok := top["cmd"]
	if !ok {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var keys []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return keys
		}
		k, _ := t.(string)
		keys = append(keys, k)
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return keys
		}
	}
	return keys
}

// formCmdOrder returns the cmd[...] keys of a form body in body order.
func formCmdOrder(body string) []string {
	var keys []string
	seen := map[string]bool{}
	for _, pair := range strings.Split(body, "&") {
		k, _, _ := strings.Cut(pair, "=")
		k, err := url.QueryUnescape(k)
		if err != nil || !strings.HasPrefix(k, "cmd[") || !strings.HasSuffix(k, "]") {
			continue
		}
		id := k[4 : len(k)-1]
		if !seen[id] {
			seen[id] = true
			keys = append(keys, id)
		}
	}
	return keys
}

// leakLocked is the leaky bucket of reference §8.1: +1 per request, drains RatePerSec per second,
// over Burst → 503 QUERY_LIMIT_EXCEEDED. A rejected request is not executed and does not fill it.
func (p *Portal) leakLocked() *apiError {
	if p.cfg.RatePerSec <= 0 || p.cfg.Burst <= 0 {
		return nil
	}
	now := time.Now()
	if !p.bucketAt.IsZero() {
		p.bucketLevel -= now.Sub(p.bucketAt).Seconds() * p.cfg.RatePerSec
		if p.bucketLevel < 0 {
			p.bucketLevel = 0
		}
	}
	p.bucketAt = now
	if p.bucketLevel+1 > float64(p.cfg.Burst) {
		return &apiError{status: 503, code: bitrix24.ErrCodeQueryLimitExceeded, desc: "Too many requests"}
	}
	p.bucketLevel++
	return nil
}

// toInt reads an integer parameter sent as JSON number, string or form value.
func toInt(v any) (int, bool) {
	switch t := v.(type) {
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(t))
		return n, err == nil
	case float64:
		return int(t), t == float64(int(t))
	case int:
		return t, true
	}
	return 0, false
}

// param looks a key up case-insensitively: Bitrix24 upper-cases most parameter names (reference §3.1).
func param(m map[string]any, key string) (any, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

func paramString(m map[string]any, key string) string {
	v, _ := param(m, key)
	s, _ := v.(string)
	return s
}

// delayedWriter holds the answer back (fault injection: Failure.Delay).
type delayedWriter struct {
	http.ResponseWriter
	delay time.Duration
	done  <-chan struct{}
	slept bool
}

func (d *delayedWriter) WriteHeader(code int) {
	if !d.slept {
		d.slept = true
		select {
		case <-time.After(d.delay):
		case <-d.done:
		}
	}
	d.ResponseWriter.WriteHeader(code)
}

func (d *delayedWriter) Write(b []byte) (int, error) {
	if !d.slept {
		d.WriteHeader(http.StatusOK)
	}
	return d.ResponseWriter.Write(b)
}
