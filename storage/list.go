package storage

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/minio/minio-go/v7"
)

// Lister lists the keys of stored objects. Both backends implement it; worker/archive uses it to
// find the signed documents whose timestamps need renewing (issue 17 must 6). It is not part of
// Store so that a Store made for a test need not list.
type Lister interface {
	// List calls fn with every key that starts with prefix, in no particular order; fn's error
	// stops the listing and is returned. Signet's own files (the local backend's .signet) are not
	// listed.
	List(ctx context.Context, prefix string, fn func(key string) error) error
}

// List walks the directory below the prefix's last slash.
func (s *localStore) List(ctx context.Context, prefix string, fn func(key string) error) error {
	dir := s.root
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		dir = filepath.Join(s.root, filepath.FromSlash(prefix[:i]))
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == dir {
				return nil // nothing stored under the prefix yet
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, rerr := filepath.Rel(s.root, p)
		if rerr != nil {
			return nil
		}
		key := filepath.ToSlash(rel)
		if d.IsDir() {
			if key == localInternal {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasPrefix(key, prefix) || ValidateKey(key) != nil {
			return nil
		}
		return fn(key)
	})
	return err
}

// List lists the bucket below the store's prefix.
func (s *s3Store) List(ctx context.Context, prefix string, fn func(key string) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops minio's listing goroutine when fn returns early
	for info := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.objectKey(prefix), Recursive: true}) {
		if info.Err != nil {
			return s.wrap(ctx, "list", prefix, info.Err)
		}
		key := strings.TrimPrefix(info.Key, s.prefix)
		if ValidateKey(key) != nil {
			continue
		}
		if err := fn(key); err != nil {
			return err
		}
	}
	return ctx.Err()
}
