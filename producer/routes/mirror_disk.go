package routes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/signet-b24/signet/contracts"
)

// MirrorConfig is what the settings say of mirroring (bitrix24.route_date_field,
// bitrix24.route_status_field, bitrix24.route_folder): the deal's fields for the route's end, and
// the company drive's folder where a completed route's signatures and reports are filed.
type MirrorConfig struct {
	DateField, StatusField string
	// Folder is the top folder on the company drive ("Signed Documents"); "": nothing filed.
	Folder string
}

// Kinds of a MirrorStep that are more than one call.
const (
	stepCall   = ""       // one REST call: Method with Params
	stepFile   = "file"   // a document filed under Folder / Year / Month / Deal (Params: folder, key, name)
	stepBeside = "beside" // the final document uploaded beside the original Disk file (Params: key, name)
)

// mirrorEnd mirrors a route's end (issue 20, must 4): the deal's status and signing-date fields,
// and for a completed route each party's detached signature (CMS) and signing report filed on the
// company drive under Folder / Year / Month / Deal, and, when the route says so, the final document
// beside the original instead of as its new version (tell does that).
func (e *Engine) mirrorEnd(ctx context.Context, r *Route) {
	if e.Bitrix == nil || r.Portal.MemberID == "" {
		return
	}
	cfg := e.Mirroring
	var steps []MirrorStep
	if r.onDeal() {
		fields := map[string]any{}
		if cfg.StatusField != "" {
			fields[cfg.StatusField] = string(r.State)
		}
		if cfg.DateField != "" && r.State == Completed {
			fields[cfg.DateField] = r.Since.UTC().Format(time.RFC3339)
		}
		if len(fields) > 0 {
			steps = append(steps, MirrorStep{Key: "end/fields", Method: "crm.item.update", Params: map[string]any{
				"entityTypeId": 2, "id": r.Document.EntityID, "fields": fields}})
		}
	}
	if r.State != Completed {
		e.mirror(ctx, r.ID, steps)
		return
	}
	base := strings.TrimSuffix(r.Document.FileName, path.Ext(r.Document.FileName))
	if base == "" {
		base = "document"
	}
	if r.Mirror.FinalBeside && r.Document.DiskFileID != 0 {
		steps = append(steps, MirrorStep{Key: "end/beside", Kind: stepBeside, Method: "disk.folder.uploadfile", Params: map[string]any{
			"key": r.RevisionKey, "name": diskName(base + " (signed).pdf")}})
	}
	if cfg.Folder != "" {
		loc := time.UTC
		if l, err := time.LoadLocation(r.TimeZone); err == nil && r.TimeZone != "" {
			loc = l
		}
		at := r.Since.In(loc)
		folder := []any{diskName(cfg.Folder), strconv.Itoa(at.Year()), fmt.Sprintf("%02d", int(at.Month()))}
		jobs, err := e.jobs(ctx)
		for _, st := range r.Steps {
			for _, p := range st.Parties {
				if p.State != PartySigned || err != nil {
					continue
				}
				ent, gerr := jobs.Get(ctx, contracts.ResultKey(p.JobID))
				var s contracts.Signed
				if gerr != nil || json.Unmarshal(ent.Value(), &s) != nil {
					e.log().Warn("route: a party's signature and report are not filed on Disk: their job's result is gone", zap.String("route", r.ID), zap.String("party", p.ID))
					continue
				}
				for _, f := range []struct{ key, suffix string }{{s.CMSKey, ".p7s"}, {s.ReportKey, ".report" + path.Ext(s.ReportKey)}} {
					if f.key == "" {
						continue
					}
					name := diskName(base + " " + r.ID + " " + st.ID + p.ID + f.suffix)
					steps = append(steps, MirrorStep{Key: "end/file/" + name, Kind: stepFile, Method: "disk.folder.uploadfile", Params: map[string]any{
						"folder": folder, "key": f.key, "name": name}})
				}
			}
		}
		if err != nil {
			e.log().Warn("route: the signatures and reports are not filed on Disk", zap.String("route", r.ID), zap.Error(err))
		}
	}
	e.mirror(ctx, r.ID, steps)
}

// makeStep makes one step of any kind.
func (e *Engine) makeStep(ctx context.Context, r *Route, s MirrorStep) error {
	switch s.Kind {
	case stepCall:
		return e.Bitrix.Call(ctx, r.Portal.MemberID, s.Method, s.Params, nil)
	case stepFile:
		var names []string
		if l, ok := s.Params["folder"].([]any); ok {
			for _, n := range l {
				names = append(names, fmt.Sprint(n))
			}
		}
		deal, err := e.dealFolderName(ctx, r)
		if err != nil {
			return err
		}
		root, err := e.commonRoot(ctx, r)
		if err != nil {
			return err
		}
		at := root
		for _, n := range append(names, deal) {
			if at, err = e.folder(ctx, r, at, n); err != nil {
				return err
			}
		}
		return e.upload(ctx, r, at, fmt.Sprint(s.Params["name"]), fmt.Sprint(s.Params["key"]))
	case stepBeside:
		var f struct {
			ParentID any `json:"PARENT_ID"`
		}
		if err := e.Bitrix.Call(ctx, r.Portal.MemberID, "disk.file.get", map[string]any{"id": r.Document.DiskFileID}, &f); err != nil {
			return err
		}
		parent := idOf(f.ParentID)
		if parent == 0 {
			return fmt.Errorf("Disk file %d has no folder to put the signed document beside", r.Document.DiskFileID)
		}
		return e.upload(ctx, r, parent, fmt.Sprint(s.Params["name"]), fmt.Sprint(s.Params["key"]))
	}
	return fmt.Errorf("unknown mirror step kind %q", s.Kind)
}

// dealFolderName is the deal's folder: its title, else "Deal <id>".
func (e *Engine) dealFolderName(ctx context.Context, r *Route) (string, error) {
	name := "Deal " + strconv.Itoa(r.Document.EntityID)
	if !r.onDeal() {
		return "Route " + r.ID, nil
	}
	var res struct {
		Item struct {
			Title string `json:"title"`
		} `json:"item"`
	}
	if err := e.Bitrix.Call(ctx, r.Portal.MemberID, "crm.item.get", map[string]any{"entityTypeId": 2, "id": r.Document.EntityID}, &res); err != nil {
		return "", err
	}
	if t := diskName(res.Item.Title); t != "" {
		name = t
	}
	return name, nil
}

// commonRoot is the root folder of the company drive (disk.storage.getlist, ENTITY_TYPE common).
func (e *Engine) commonRoot(ctx context.Context, r *Route) (int, error) {
	var list []struct {
		Root any `json:"ROOT_OBJECT_ID"`
	}
	if err := e.Bitrix.Call(ctx, r.Portal.MemberID, "disk.storage.getlist", map[string]any{"filter": map[string]any{"ENTITY_TYPE": "common"}}, &list); err != nil {
		return 0, err
	}
	if len(list) == 0 || idOf(list[0].Root) == 0 {
		return 0, errors.New("the portal has no company drive to file the signed documents on; clear bitrix24.route_folder or ask the portal administrator")
	}
	return idOf(list[0].Root), nil
}

type diskObject struct {
	ID   any    `json:"ID"`
	Name string `json:"NAME"`
	Type string `json:"TYPE"`
}

// child finds the object named name in folder id (disk.folder.getchildren with a NAME filter).
func (e *Engine) child(ctx context.Context, r *Route, id int, name string) (*diskObject, error) {
	var list []diskObject
	if err := e.Bitrix.Call(ctx, r.Portal.MemberID, "disk.folder.getchildren", map[string]any{"id": id, "filter": map[string]any{"NAME": name}}, &list); err != nil {
		return nil, err
	}
	for i := range list {
		if strings.EqualFold(list[i].Name, name) {
			return &list[i], nil
		}
	}
	return nil, nil
}

// folder finds or makes the subfolder name of folder id: looked up first, since an existing name
// answers DISK_OBJ_22000 (bitrix24-people-notes.md §6); a folder made meanwhile by another
// process is looked up again.
func (e *Engine) folder(ctx context.Context, r *Route, id int, name string) (int, error) {
	if o, err := e.child(ctx, r, id, name); err != nil || o != nil {
		if o != nil && o.Type != "folder" {
			return 0, fmt.Errorf("Disk: %q is a file, not a folder; rename it so Signet can file the signed documents", name)
		}
		if o != nil {
			return idOf(o.ID), nil
		}
		return 0, err
	}
	var made diskObject
	err := e.Bitrix.Call(ctx, r.Portal.MemberID, "disk.folder.addsubfolder", map[string]any{"id": id, "data": map[string]any{"NAME": name}}, &made)
	if err != nil {
		if o, lerr := e.child(ctx, r, id, name); lerr == nil && o != nil {
			return idOf(o.ID), nil
		}
		return 0, err
	}
	return idOf(made.ID), nil
}

// upload puts the document key of Signet's storage into folder id as name, unless it is there.
func (e *Engine) upload(ctx context.Context, r *Route, id int, name, key string) error {
	if o, err := e.child(ctx, r, id, name); err != nil || o != nil {
		return err
	}
	content, err := e.base64Of(ctx, key)
	if err != nil {
		return err
	}
	return e.Bitrix.Call(ctx, r.Portal.MemberID, "disk.folder.uploadfile", map[string]any{
		"id": id, "data": map[string]any{"NAME": name}, "fileContent": []string{name, content}}, nil)
}

// diskName makes s a Disk name: no characters Disk refuses, at most 200 bytes.
func diskName(s string) string {
	s = strings.Map(func(c rune) rune {
		if strings.ContainsRune(`/\:*?"<>|`, c) || c < ' ' {
			return '_'
		}
		return c
	}, strings.TrimSpace(s))
	return strings.TrimSpace(clip(s, 200))
}

// idOf reads a Bitrix24 id, a string or a number.
func idOf(v any) int {
	switch t := v.(type) {
	case string:
		n, _ := strconv.Atoi(t)
		return n
	case float64:
		return int(t)
	}
	return 0
}
