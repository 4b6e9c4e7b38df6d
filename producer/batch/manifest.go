package batch

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/storage"
)

// Document is one row of a manifest: which PDF to sign and how. Exactly one source is given: Path
// (a local file, uploaded to the artefact storage), Key (an object already in the artefact storage),
// or a portal document (Portal with DiskFileID or URL).
type Document struct {
	Path       string `json:"path,omitempty"`
	Key        string `json:"key,omitempty"`
	Portal     string `json:"portal,omitempty"` // member_id of an installed portal
	DiskFileID int    `json:"disk_file_id,omitempty"`
	URL        string `json:"url,omitempty"`
	// FileField and FileID name a file of a CRM item's "file" field (with EntityTypeID and EntityID):
	// the bulk selection inside Bitrix24 (producer/bulk) picks documents this way, and the worker reads
	// and replaces the file as for a robot job (contracts.Document.FileField).
	FileField string `json:"file_field,omitempty"`
	FileID    int    `json:"file_id,omitempty"`
	// WriteBack "link" keeps the signed PDF in Signet's storage and writes only a link and the status
	// into the item (contracts.WriteBackLink); empty replaces the file in its field.
	WriteBack string `json:"write_back,omitempty"`
	// EntityTypeID and EntityID name the CRM item (2 and the deal id for a deal) whose timeline
	// records the signature; "deal": N in a manifest is short for entity_type_id 2, entity_id N.
	EntityTypeID int    `json:"entity_type_id,omitempty"`
	EntityID     int    `json:"entity_id,omitempty"`
	Deal         int    `json:"deal,omitempty"`
	FileName     string `json:"file_name,omitempty"`
	Visible      *bool  `json:"visible,omitempty"`
	Page         string `json:"page,omitempty"`     // first or last
	Position     string `json:"position,omitempty"` // top-left … bottom-right
	Reason       string `json:"reason,omitempty"`
	Location     string `json:"location,omitempty"`

	line int // manifest line, for errors
}

// Name is how progress and failures name the document.
func (d *Document) Name() string {
	switch {
	case d.FileName != "":
		return d.FileName
	case d.Path != "":
		return filepath.Base(d.Path)
	case d.Key != "":
		return d.Key
	case d.DiskFileID != 0:
		return fmt.Sprintf("Disk file %d", d.DiskFileID)
	}
	return "document"
}

var positions = map[string]bool{"top-left": true, "top-center": true, "top-right": true,
	"bottom-left": true, "bottom-center": true, "bottom-right": true}

// validate checks one row; base is the manifest's directory, against which relative paths resolve.
func (d *Document) validate(base string) error {
	sources := 0
	if d.Path != "" {
		sources++
		if !filepath.IsAbs(d.Path) {
			d.Path = filepath.Join(base, d.Path)
		}
	}
	if d.Key != "" {
		sources++
		if !strings.HasPrefix(d.Key, contracts.IncomingPrefix) {
			return fmt.Errorf("key %q: batch documents in Signet's storage live under incoming/", d.Key)
		}
	}
	if d.Portal != "" || d.DiskFileID != 0 || d.URL != "" || d.FileField != "" {
		sources++
		if d.Portal == "" {
			return errors.New("a Disk file id, URL or CRM file field needs the portal's member_id in the portal column")
		}
		if d.DiskFileID == 0 && d.URL == "" && d.FileField == "" {
			return errors.New("a portal document needs disk_file_id, url or file_field")
		}
		if d.FileField != "" && (d.EntityTypeID == 0 && d.Deal == 0 || d.EntityID == 0 && d.Deal == 0) {
			return errors.New("a CRM file field needs the item: entity_type_id and entity_id (or deal)")
		}
	}
	if sources != 1 {
		return errors.New("give exactly one of path (a local PDF), key (an object in Signet's storage), or portal with disk_file_id/url")
	}
	if d.Deal != 0 {
		if d.EntityID != 0 && (d.EntityID != d.Deal || d.EntityTypeID != 2) {
			return errors.New("deal and entity_id disagree")
		}
		d.EntityTypeID, d.EntityID = 2, d.Deal
	}
	if d.WriteBack != "" && (d.WriteBack != string(contracts.WriteBackLink) || d.FileField == "") {
		return fmt.Errorf("write_back %q: the only other mode is link, for a CRM item's file field", d.WriteBack)
	}
	if d.Page != "" && d.Page != "first" && d.Page != "last" {
		return fmt.Errorf("page %q: want first or last", d.Page)
	}
	if d.Position != "" && !positions[d.Position] {
		return fmt.Errorf("position %q: want top-left, top-center, top-right, bottom-left, bottom-center or bottom-right", d.Position)
	}
	if len(d.Reason) > 200 {
		return errors.New("reason is longer than 200 characters")
	}
	return nil
}

// Manifest is a parsed manifest or folder: its documents in order, and the bytes the batch id is
// derived from.
type Manifest struct {
	Source    string // the file or folder it was read from
	Documents []Document
	// content identifies the manifest: its bytes, or for a folder each file's relative path and SHA-256.
	content []byte
}

// ReadManifest reads a CSV (first line a header naming the columns, e.g.
// path,reason,visible,page,position) or JSON-lines manifest (one object per line with the same
// keys); the format is chosen by the extension (.csv, .jsonl, .ndjson, .json), or by the first
// character. Relative paths resolve against the manifest's directory.
func ReadManifest(path string) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the manifest: %w", err)
	}
	docs, err := ParseManifest(data, strings.ToLower(filepath.Ext(path)), filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	return &Manifest{Source: path, Documents: docs, content: data}, nil
}

// ParseManifest parses manifest bytes; ext is ".csv", ".jsonl" (or ".json", ".ndjson"), or "" to
// guess from the first character.
func ParseManifest(data []byte, ext, base string) ([]Document, error) {
	trimmed := bytes.TrimSpace(data)
	if ext == "" || (ext != ".csv" && ext != ".jsonl" && ext != ".ndjson" && ext != ".json") {
		ext = ".csv"
		if len(trimmed) > 0 && trimmed[0] == '{' {
			ext = ".jsonl"
		}
	}
	var docs []Document
	var err error
	if ext == ".csv" {
		docs, err = parseCSV(data)
	} else {
		docs, err = parseJSONLines(data)
	}
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, errors.New("no documents in it")
	}
	for i := range docs {
		if err := docs[i].validate(base); err != nil {
			return nil, fmt.Errorf("line %d: %w", docs[i].line, err)
		}
	}
	return docs, nil
}

func parseJSONLines(data []byte) ([]Document, error) {
	var docs []Document
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		l := bytes.TrimSpace(sc.Bytes())
		if len(l) == 0 || l[0] == '#' {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(l))
		dec.DisallowUnknownFields()
		var d Document
		if err := dec.Decode(&d); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		d.line = line
		docs = append(docs, d)
	}
	return docs, sc.Err()
}

func parseCSV(data []byte) ([]Document, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.Comment = '#'
	r.TrimLeadingSpace = true
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("no header line: %w", err)
	}
	for i, h := range header {
		header[i] = strings.ToLower(strings.TrimSpace(h))
	}
	var docs []Document
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		line, _ := r.FieldPos(0)
		d := Document{line: line}
		for i, v := range rec {
			v = strings.TrimSpace(v)
			if v == "" {
				continue
			}
			if err := d.set(header[i], v); err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
		}
		docs = append(docs, d)
	}
}

func (d *Document) set(col, v string) error {
	num := func() (int, error) {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("column %s: %q is not a positive number", col, v)
		}
		return n, nil
	}
	var err error
	switch col {
	case "path", "file":
		d.Path = v
	case "key":
		d.Key = v
	case "portal", "member_id":
		d.Portal = v
	case "disk_file_id", "disk":
		d.DiskFileID, err = num()
	case "url":
		d.URL = v
	case "file_field":
		d.FileField = v
	case "file_id":
		d.FileID, err = num()
	case "write_back":
		d.WriteBack = strings.ToLower(v)
	case "entity_type_id":
		d.EntityTypeID, err = num()
	case "entity_id", "entity":
		d.EntityID, err = num()
	case "deal":
		d.Deal, err = num()
	case "file_name", "name":
		d.FileName = v
	case "visible":
		b, ok := parseYes(v)
		if !ok {
			return fmt.Errorf("column visible: %q: want Y or N", v)
		}
		d.Visible = &b
	case "page":
		d.Page = strings.ToLower(v)
	case "position":
		d.Position = strings.ToLower(v)
	case "reason":
		d.Reason = v
	case "location":
		d.Location = v
	default:
		return fmt.Errorf("unknown column %q (known: path, key, portal, disk_file_id, url, entity_type_id, entity_id, deal, file_name, visible, page, position, reason, location)", col)
	}
	return err
}

func parseYes(v string) (bool, bool) {
	switch strings.ToLower(v) {
	case "y", "yes", "true", "1":
		return true, true
	case "n", "no", "false", "0":
		return false, true
	}
	return false, false
}

// ReadFolder makes a manifest of every *.pdf in dir (not recursive), in name order. The batch id is
// derived from each file's name and SHA-256, so a changed file makes a new batch.
func ReadFolder(dir string) (*Manifest, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the folder: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && strings.EqualFold(filepath.Ext(e.Name()), ".pdf") {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("folder %s holds no .pdf files", dir)
	}
	sort.Strings(names)
	m := &Manifest{Source: dir}
	var content bytes.Buffer
	for _, n := range names {
		p := filepath.Join(dir, n)
		sum, err := storage.FileSHA256(p)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&content, "%s\t%s\n", n, sum)
		m.Documents = append(m.Documents, Document{Path: p, FileName: n})
	}
	m.content = content.Bytes()
	return m, nil
}

// FromDocuments makes a manifest of documents chosen elsewhere (the bulk page inside Bitrix24,
// producer/bulk), checked as a manifest's rows are; its content, from which the batch id derives, is
// the documents as JSON lines, so the same selection is the same batch and a rerun resumes it.
func FromDocuments(source string, docs []Document) (*Manifest, error) {
	var raw []byte
	for i := range docs {
		line, err := json.Marshal(&docs[i])
		if err != nil {
			return nil, err
		}
		raw = append(append(raw, line...), '\n')
	}
	parsed, err := ParseManifest(raw, ".jsonl", "/")
	if err != nil {
		return nil, err
	}
	return &Manifest{Source: source, Documents: parsed, content: raw}, nil
}
