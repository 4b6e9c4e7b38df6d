package batch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signet-b24/signet/contracts"
	"github.com/signet-b24/signet/storage"
)

// SignedLookup returns the stored result of a signed job, or nil when the job has none (not signed,
// or not yet). The worker keeps these records (worker.Results.Signed); the producer reads them through
// this function so that it never imports the worker.
type SignedLookup func(ctx context.Context, jobID string) (*contracts.Signed, error)

// Collected is what Collect did, document by document.
type Collected struct {
	BatchID string
	Total   int
	// Written are the files written (or found already there, identical) in the folder.
	Written []CollectedFile
	// Unsigned are the documents that have no signed result: failed, or still pending.
	Unsigned []CollectedFile
}

// CollectedFile is one document of the batch and its file name in the folder.
type CollectedFile struct {
	N    int    // 1-based, as in the manifest and `signet batch status`
	Name string // the file name in the folder
	Size int64
	// Existing: the folder already held this exact file (a second collect writes nothing).
	Existing bool
}

// Collect writes every signed document of batch id into dir under its original name: the file's
// name in the folder, or the manifest's file_name or path. In the storage a batch's signed PDFs are
// named by job (<batch>.<n>.pdf), which a person cannot map back to their files.
//
// A name is reduced to its last path element (a manifest's file_name cannot climb out of dir); two
// documents with one name get "name (2).pdf". A file already in dir is never overwritten: it is
// skipped when it is this very signed document (same SHA-256), and an error otherwise. Each file is
// written beside its final name and renamed once complete and checked, so dir never holds half a PDF.
func Collect(ctx context.Context, batches jetstream.KeyValue, store storage.Store, signed SignedLookup, id, dir string) (*Collected, error) {
	rec, err := GetRecord(ctx, batches, id)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("--out: %w", err)
	}
	out := &Collected{BatchID: rec.ID, Total: rec.Total}
	names := fileNames(rec)
	for n := 0; n < rec.Total; n++ {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		f := CollectedFile{N: n + 1, Name: names[n]}
		s, err := signed(ctx, rec.JobID(n))
		if err != nil {
			return out, fmt.Errorf("document %d (%s): reading its result: %w", f.N, f.Name, err)
		}
		if s == nil {
			out.Unsigned = append(out.Unsigned, f)
			continue
		}
		f.Size, f.Existing, err = writeSigned(ctx, store, s, filepath.Join(dir, f.Name))
		if err != nil {
			return out, fmt.Errorf("document %d (%s): %w", f.N, f.Name, err)
		}
		out.Written = append(out.Written, f)
	}
	return out, nil
}

// fileNames gives every document of the record a distinct, safe file name.
func fileNames(rec *Record) []string {
	out := make([]string, rec.Total)
	used := map[string]bool{}
	for n := range out {
		name := ""
		if n < len(rec.Names) {
			name = safeName(rec.Names[n])
		}
		if name == "" {
			// A record of more than maxNames documents keeps no names; the job's number is all there is.
			name = rec.ID + "." + strconv.Itoa(n+1) + ".pdf"
		}
		ext := filepath.Ext(name)
		stem := strings.TrimSuffix(name, ext)
		for i := 2; used[strings.ToLower(name)]; i++ {
			name = fmt.Sprintf("%s (%d)%s", stem, i, ext)
		}
		used[strings.ToLower(name)] = true
		out[n] = name
	}
	return out
}

// safeName keeps the last element of a path written with / or \, and refuses names that are not a
// file's ("", ".", "..") or that hold control characters.
func safeName(name string) string {
	name = strings.ReplaceAll(name, "\\", "/")
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	name = strings.TrimSpace(name)
	if name == "" || name == "." || name == ".." || strings.IndexFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return ""
	}
	return name
}

// writeSigned copies the signed PDF s to path, unless path already holds it.
func writeSigned(ctx context.Context, store storage.Store, s *contracts.Signed, path string) (size int64, existing bool, err error) {
	if sum, err := storage.FileSHA256(path); err == nil {
		if sum == s.SHA256After {
			st, err := os.Stat(path)
			if err != nil {
				return 0, false, err
			}
			return st.Size(), true, nil
		}
		return 0, false, fmt.Errorf("%s already exists and is another file; remove it or collect into another folder", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return 0, false, err
	}
	rc, _, err := store.Get(ctx, s.PDFKey)
	if err != nil {
		return 0, false, fmt.Errorf("reading the signed PDF from the storage: %w", err)
	}
	defer rc.Close()
	tmp, err := os.CreateTemp(filepath.Dir(path), ".signet-collect-*")
	if err != nil {
		return 0, false, err
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	h := sha256.New()
	// The store's reader checks the object's SHA-256 at EOF (storage.Store.Get); the sum here checks
	// it is the file the worker recorded as signed.
	size, err = io.Copy(io.MultiWriter(tmp, h), rc)
	if err == nil {
		err = rc.Close()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, false, fmt.Errorf("copying the signed PDF: %w", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); s.SHA256After != "" && got != s.SHA256After {
		return 0, false, fmt.Errorf("the stored file's SHA-256 is %s, the signed result's %s; nothing written (run `signet audit show` on the job)", got, s.SHA256After)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return 0, false, err
	}
	// Link, not rename: it fails if the name was taken meanwhile, so nothing is ever overwritten. A
	// file system without hard links gets a rename (the name was free a moment ago).
	if err := os.Link(tmp.Name(), path); errors.Is(err, os.ErrExist) {
		return 0, false, fmt.Errorf("%s appeared while collecting; nothing overwritten", path)
	} else if err != nil {
		if err := os.Rename(tmp.Name(), path); err != nil {
			return 0, false, err
		}
	}
	return size, false, nil
}
