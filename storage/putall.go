package storage

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/sourcegraph/conc/pool"
)

// Item is one object for PutAll, with Put's arguments.
type Item struct {
	Key         string
	R           io.Reader
	Size        int64
	ContentType string
	SHA256      string
	// What names the object in an error ("signed PDF").
	What string
	// File, when set, is the path of a file holding exactly R's bytes, which the caller gives up:
	// the local store links it into place instead of copying it when it is on the same file system
	// (issue 22, must 4: a 1 GB signed PDF is not written twice). SHA256 must then be given, and it
	// is recorded without reading the bytes again; Get still checks it on every read. Other stores,
	// and a file on another file system, read R as usual.
	File string
}

// multiPutter is a Store that writes several objects together more cheaply than one by one.
type multiPutter interface {
	putAll(ctx context.Context, items []Item) ([]Object, error)
}

// PutAll stores every item as Put would, all at once; it returns when all are stored, or with the
// first error (the others may be stored: Put is idempotent, so the caller simply tries again). The
// local store then makes the renames durable with one fsync per directory instead of one per object:
// a job's three artefacts share a directory.
func PutAll(ctx context.Context, s Store, items []Item) ([]Object, error) {
	if m, ok := s.(multiPutter); ok {
		return m.putAll(ctx, items)
	}
	return putEach(ctx, items, s.Put)
}

// putEach runs put for every item at once.
func putEach(ctx context.Context, items []Item, put func(ctx context.Context, key string, r io.Reader, size int64, contentType, sha256Hex string) (Object, error)) ([]Object, error) {
	objs := make([]Object, len(items))
	p := pool.New().WithErrors().WithContext(ctx)
	for i, it := range items {
		p.Go(func(ctx context.Context) error {
			obj, err := put(ctx, it.Key, it.R, it.Size, it.ContentType, it.SHA256)
			if err != nil {
				if it.What != "" {
					return fmt.Errorf("storing the %s: %w", it.What, err)
				}
				return err
			}
			objs[i] = obj
			return nil
		})
	}
	if err := p.Wait(); err != nil {
		return nil, err
	}
	return objs, nil
}

// dirSet collects the directories whose renames still need an fsync.
type dirSet struct {
	mu   sync.Mutex
	dirs map[string]bool
}

func (d *dirSet) add(dirs ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dirs == nil {
		d.dirs = map[string]bool{}
	}
	for _, dir := range dirs {
		d.dirs[dir] = true
	}
}

// sync fsyncs each directory once with fsync.
func (d *dirSet) sync(fsync func(dir string)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for dir := range d.dirs {
		fsync(dir)
	}
	d.dirs = nil
}
