package emulator_test

import (
	"strings"
	"testing"

	"github.com/signet-b24/signet/bitrix24/emulator"
)

// tasks.task.add (bitrix24-people-notes.md §6): TITLE and RESPONSIBLE_ID or ERROR_CORE; UF_CRM_TASK
// bindings of a known type and an existing deal; the result's task id is a string; the method needs
// the scope task.
func TestTasksTaskAdd(t *testing.T) {
	p := start(t, emulator.Config{})
	p.AddDealFile(5, "a.pdf", []byte("%PDF-1.4"))
	tok := p.NewAuth(1).AccessToken
	call := func(fields string) (int, map[string]any) {
		st, m, _ := post(t, p.BaseURL()+"/rest/tasks.task.add", "application/json", `{"auth":"`+tok+`","fields":{`+fields+`}}`)
		return st, m
	}
	for _, bad := range []string{`"RESPONSIBLE_ID":7`, `"TITLE":"x"`, `"TITLE":"x","RESPONSIBLE_ID":7,"UF_CRM_TASK":["X_5"]`,
		`"TITLE":"x","RESPONSIBLE_ID":7,"UF_CRM_TASK":["D_404"]`, `"TITLE":"x","RESPONSIBLE_ID":7,"UF_CRM_TASK":"D_5"`} {
		if st, m := call(bad); st != 400 || m["error"] != "ERROR_CORE" {
			t.Errorf("%s: %d %v, want ERROR_CORE", bad, st, m)
		}
	}
	st, m := call(`"TITLE":"Declined","RESPONSIBLE_ID":"7","DESCRIPTION":"the price","UF_CRM_TASK":["D_5"]`)
	task, _ := m["result"].(map[string]any)["task"].(map[string]any)
	if st != 200 || task == nil {
		t.Fatalf("add: %d %v", st, m)
	}
	if id, ok := task["id"].(string); !ok || id == "" {
		t.Errorf("the task id must be a string: %v", task["id"])
	}
	if ts := p.Tasks(); len(ts) != 1 || ts[0].ResponsibleID != 7 || ts[0].CRM[0] != "D_5" || ts[0].Description != "the price" {
		t.Errorf("tasks: %+v", ts)
	}
	noTask := start(t, emulator.Config{Scope: "crm,im"})
	if st, m, _ := post(t, noTask.BaseURL()+"/rest/tasks.task.add", "application/json",
		`{"auth":"`+noTask.NewAuth(1).AccessToken+`","fields":{"TITLE":"x","RESPONSIBLE_ID":7}}`); st == 200 || !strings.Contains(strings.ToLower(m["error"].(string)), "scope") {
		t.Errorf("without the scope task: %d %v", st, m)
	}
}

// The Disk's folders (bitrix24-people-notes.md §6): the common storage and its root; a subfolder or
// a file whose name is taken answers DISK_OBJ_22000 (so a caller looks up first); getchildren
// filters by NAME; uploadfile with generateUniqueName renames.
func TestDiskFolders(t *testing.T) {
	p := start(t, emulator.Config{})
	tok := p.NewAuth(1).AccessToken
	call := func(method, body string) (int, map[string]any) {
		st, m, _ := post(t, p.BaseURL()+"/rest/"+method, "application/json", `{"auth":"`+tok+`",`+body+`}`)
		return st, m
	}
	st, m := call("disk.storage.getlist", `"filter":{"ENTITY_TYPE":"common"}`)
	list, _ := m["result"].([]any)
	if st != 200 || len(list) != 1 {
		t.Fatalf("storages: %d %v", st, m)
	}
	root := list[0].(map[string]any)["ROOT_OBJECT_ID"].(string)
	st, m = call("disk.folder.addsubfolder", `"id":`+root+`,"data":{"NAME":"Signed Documents"}`)
	if st != 200 {
		t.Fatalf("addsubfolder: %d %v", st, m)
	}
	folder := m["result"].(map[string]any)["ID"].(string)
	if st, m := call("disk.folder.addsubfolder", `"id":`+root+`,"data":{"NAME":"signed documents"}`); st != 400 || m["error"] != "DISK_OBJ_22000" {
		t.Errorf("a taken name: %d %v", st, m)
	}
	upload := `"id":` + folder + `,"data":{"NAME":"a.p7s"},"fileContent":["a.p7s","Y21z"]`
	if st, m := call("disk.folder.uploadfile", upload); st != 200 {
		t.Fatalf("uploadfile: %d %v", st, m)
	}
	if st, m := call("disk.folder.uploadfile", upload); st != 400 || m["error"] != "DISK_OBJ_22000" {
		t.Errorf("a file's taken name: %d %v", st, m)
	}
	if st, m := call("disk.folder.uploadfile", upload+`,"generateUniqueName":true`); st != 200 || m["result"].(map[string]any)["NAME"] != "a (1).p7s" {
		t.Errorf("generateUniqueName: %d %v", st, m)
	}
	st, m = call("disk.folder.getchildren", `"id":`+root+`,"filter":{"NAME":"Signed Documents"}`)
	if kids, _ := m["result"].([]any); st != 200 || len(kids) != 1 || kids[0].(map[string]any)["TYPE"] != "folder" {
		t.Errorf("getchildren: %d %v", st, m)
	}
	if string(p.DiskPath("Signed Documents", "a.p7s")) != "cms" {
		t.Errorf("the file's content: %q", p.DiskPath("Signed Documents", "a.p7s"))
	}
	if st, m := call("disk.folder.addsubfolder", `"id":999999,"data":{"NAME":"x"}`); st != 400 || m["error"] != "ERROR_NOT_FOUND" {
		t.Errorf("an unknown folder: %d %v", st, m)
	}
}
