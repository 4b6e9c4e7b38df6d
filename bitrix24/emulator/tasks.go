package emulator

import (
	"strconv"
	"strings"
)

// Task is a task made by tasks.task.add.
type Task struct {
	ID            int
	Title         string
	ResponsibleID int
	CreatedBy     int
	Description   string
	// CRM is UF_CRM_TASK: the CRM items the task is bound to (D_10 a deal, L_4 a lead, C_7 a
	// contact, CO_5 a company).
	CRM []string
}

// tasksTaskAdd is tasks.task.add (bitrix24-people-notes.md §6, DOCS:api-reference/tasks/
// tasks-task-add.md): lower-case "fields" with TITLE and RESPONSIBLE_ID required; UF_CRM_TASK a
// list of bindings, each a known type prefix and the id of an existing item (a deal here). The
// result is {"task": {"id": "<id>", ...}}, the id a string; errors are ERROR_CORE with the text.
func (p *Portal) tasksTaskAdd(c *callCtx, params map[string]any) (any, *apiError) {
	fv, _ := param(params, "fields")
	fields, ok := fv.(map[string]any)
	if !ok {
		return nil, &apiError{status: 400, code: "ERROR_CORE", desc: "Parameter 'fields' is required"}
	}
	title := strings.TrimSpace(paramString(fields, "TITLE"))
	if title == "" {
		return nil, &apiError{status: 400, code: "ERROR_CORE", desc: "Не указано название задачи<br>"}
	}
	rid, ok := toInt(mustParam(fields, "RESPONSIBLE_ID"))
	if !ok || rid <= 0 {
		return nil, &apiError{status: 400, code: "ERROR_CORE", desc: "Не указан ответственный<br>"}
	}
	t := Task{Title: title, ResponsibleID: rid, CreatedBy: c.userID, Description: paramString(fields, "DESCRIPTION")}
	if by, ok := toInt(mustParam(fields, "CREATED_BY")); ok && by > 0 {
		t.CreatedBy = by
	}
	if v, ok := param(fields, "UF_CRM_TASK"); ok && v != nil {
		list, isList := v.([]any)
		if !isList {
			return nil, &apiError{status: 400, code: "ERROR_CORE", desc: "UF_CRM_TASK: a list of bindings such as D_10<br>"}
		}
		for _, it := range list {
			s, _ := it.(string)
			kind, id, found := strings.Cut(s, "_")
			n, err := strconv.Atoi(id)
			if !found || err != nil || n <= 0 || (kind != "D" && kind != "L" && kind != "C" && kind != "CO") {
				return nil, &apiError{status: 400, code: "ERROR_CORE", desc: "UF_CRM_TASK: wrong binding " + s + "<br>"}
			}
			if kind == "D" && p.deals[n] == nil {
				return nil, &apiError{status: 400, code: "ERROR_CORE", desc: "UF_CRM_TASK: deal " + id + " not found<br>"}
			}
			t.CRM = append(t.CRM, s)
		}
	}
	t.ID = p.newIDLocked()
	p.tasks = append(p.tasks, t)
	return map[string]any{"task": map[string]any{"id": strconv.Itoa(t.ID), "title": t.Title, "responsibleId": strconv.Itoa(rid)}}, nil
}

// Tasks returns the tasks added.
func (p *Portal) Tasks() []Task {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Task(nil), p.tasks...)
}
