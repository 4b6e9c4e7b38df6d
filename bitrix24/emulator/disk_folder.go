package emulator

import (
	"strconv"
	"strings"
	"time"
)

// The Disk's folders (bitrix24-people-notes.md §6; DOCS:api-reference/disk/storage/
// disk-storage-get-list.md, disk/folder/disk-folder-get-children.md, disk-folder-add-subfolder.md,
// disk-folder-upload-file.md). The emulator has one storage, the company's common drive (ID 1,
// ENTITY_TYPE common), whose root folder is ID 1: every file made by AddDealFile lives there.
const (
	commonStorageID = 1
	rootFolderID    = 1
)

type diskFolder struct {
	id, parent int
	name       string
	created    time.Time
}

// diskStorageGetList is disk.storage.getlist: the storages, filtered by ENTITY_TYPE (user, group,
// common) when "filter" says so.
func (p *Portal) diskStorageGetList(_ *callCtx, params map[string]any) (any, *apiError) {
	if fv, ok := param(params, "filter"); ok {
		f, _ := fv.(map[string]any)
		if t := paramString(f, "ENTITY_TYPE"); t != "" && !strings.EqualFold(t, "common") {
			return []any{}, nil
		}
	}
	return []any{map[string]any{"ID": strconv.Itoa(commonStorageID), "NAME": "Shared drive", "CODE": nil, "MODULE_ID": "disk",
		"ENTITY_TYPE": "common", "ENTITY_ID": "shared_files_s1", "ROOT_OBJECT_ID": strconv.Itoa(rootFolderID)}}, nil
}

func (p *Portal) folderLocked(params map[string]any) (int, *apiError) {
	id, ok := toInt(mustParam(params, "id"))
	if !ok {
		return 0, errArg("Could not find required argument id")
	}
	if id != rootFolderID && p.folders[id] == nil {
		return 0, &apiError{status: 400, code: "ERROR_NOT_FOUND", desc: "Could not find entity with id '" + strconv.Itoa(id) + "'"}
	}
	return id, nil
}

func (p *Portal) folderObject(f *diskFolder) map[string]any {
	return map[string]any{"ID": strconv.Itoa(f.id), "NAME": f.name, "CODE": nil, "STORAGE_ID": strconv.Itoa(commonStorageID),
		"TYPE": "folder", "PARENT_ID": strconv.Itoa(f.parent), "DELETED_TYPE": "0", "CREATE_TIME": f.created.Format(time.RFC3339),
		"DETAIL_URL": p.scheme + "://" + p.domain + "/docs/path/" + strconv.Itoa(f.id)}
}

// folderAndNameLocked reads "id" (a folder) and data[NAME] of the folder methods.
func (p *Portal) folderAndNameLocked(params map[string]any) (int, string, *apiError) {
	id, e := p.folderLocked(params)
	if e != nil {
		return 0, "", e
	}
	dv, _ := param(params, "data")
	data, _ := dv.(map[string]any)
	return id, strings.TrimSpace(paramString(data, "NAME")), nil
}

// diskFolderGetChildren is disk.folder.getchildren {id, filter}: the folders and files directly
// in the folder; filter NAME keeps those of that name (exact, as the portal's ORM filter does).
func (p *Portal) diskFolderGetChildren(c *callCtx, params map[string]any) (any, *apiError) {
	id, e := p.folderLocked(params)
	if e != nil {
		return nil, e
	}
	name := ""
	if fv, ok := param(params, "filter"); ok {
		f, _ := fv.(map[string]any)
		name = paramString(f, "NAME")
	}
	out := []any{}
	for _, f := range p.folders {
		if f.parent == id && (name == "" || f.name == name) {
			out = append(out, p.folderObject(f))
		}
	}
	for _, f := range p.disk {
		if max(f.parent, rootFolderID) == id && (name == "" || f.name == name) {
			o := p.diskFileObjectLocked(f, c.token)
			o["PARENT_ID"] = strconv.Itoa(max(f.parent, rootFolderID))
			out = append(out, o)
		}
	}
	return out, nil
}

// nameTakenLocked reports whether folder id holds a folder or file named name (case-insensitive,
// as the portal compares names): adding another answers DISK_OBJ_22000.
func (p *Portal) nameTakenLocked(id int, name string) bool {
	for _, f := range p.folders {
		if f.parent == id && strings.EqualFold(f.name, name) {
			return true
		}
	}
	for _, f := range p.disk {
		if max(f.parent, rootFolderID) == id && strings.EqualFold(f.name, name) {
			return true
		}
	}
	return false
}

var errNameTaken = &apiError{status: 400, code: "DISK_OBJ_22000", desc: "Имя уже занято (a folder or file of this name exists here)"}

// diskFolderAddSubfolder is disk.folder.addsubfolder {id, data: {NAME}}.
func (p *Portal) diskFolderAddSubfolder(_ *callCtx, params map[string]any) (any, *apiError) {
	id, name, e := p.folderAndNameLocked(params)
	if e != nil {
		return nil, e
	}
	if name == "" || strings.ContainsAny(name, `/\:*?"<>|`) {
		return nil, errArg("Could not find required argument data[NAME] or the name has a character a Disk name cannot have")
	}
	if p.nameTakenLocked(id, name) {
		return nil, errNameTaken
	}
	f := &diskFolder{id: p.newIDLocked(), parent: id, name: name, created: time.Now()}
	p.folders[f.id] = f
	return p.folderObject(f), nil
}

// diskFolderUploadFile is disk.folder.uploadfile {id, data: {NAME}, fileContent: [name, base64],
// generateUniqueName}: a new file in the folder; a taken name answers DISK_OBJ_22000 unless
// generateUniqueName is true.
func (p *Portal) diskFolderUploadFile(c *callCtx, params map[string]any) (any, *apiError) {
	id, name, e := p.folderAndNameLocked(params)
	if e != nil {
		return nil, e
	}
	fc, ok := param(params, "fileContent")
	if !ok {
		return nil, errArg("Could not find required argument fileContent")
	}
	fname, content, ok := decodeFileContent(fc)
	if !ok {
		return nil, errArg("fileContent must be [\"name\", \"base64\"]")
	}
	if name == "" {
		name = fname
	}
	if name == "" {
		return nil, errArg("Could not find required argument data[NAME]")
	}
	if p.nameTakenLocked(id, name) {
		// JSON true arrives as "1", as PHP sees it (normalizeJSON); a form sends "true" or "Y".
		if u := strings.ToLower(paramString(params, "generateUniqueName")); u != "1" && u != "true" && u != "y" {
			return nil, errNameTaken
		}
		base, ext := name, ""
		if i := strings.LastIndex(name, "."); i > 0 {
			base, ext = name[:i], name[i:]
		}
		for n := 1; p.nameTakenLocked(id, name); n++ {
			name = base + " (" + strconv.Itoa(n) + ")" + ext
		}
	}
	now := time.Now()
	fid := p.newIDLocked()
	p.files[fid] = &crmFile{name: name, data: content}
	f := &diskFile{id: p.newIDLocked(), name: name, parent: id, versions: [][]byte{content}, fileIDs: []int{fid}, created: now, updated: now}
	p.disk[f.id] = f
	o := p.diskFileObjectLocked(f, c.token)
	o["PARENT_ID"] = strconv.Itoa(id)
	return o, nil
}

// DiskPath returns the content of the file at path (folder names then the file's, from the common
// drive's root), or nil.
func (p *Portal) DiskPath(path ...string) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	at := rootFolderID
	for i, name := range path {
		if i == len(path)-1 {
			for _, f := range p.disk {
				if max(f.parent, rootFolderID) == at && f.name == name {
					return append([]byte(nil), f.versions[len(f.versions)-1]...)
				}
			}
			return nil
		}
		next := 0
		for _, f := range p.folders {
			if f.parent == at && f.name == name {
				next = f.id
			}
		}
		if next == 0 {
			return nil
		}
		at = next
	}
	return nil
}

// DiskFolders counts the folders made (to see that none was made twice).
func (p *Portal) DiskFolders() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.folders)
}
