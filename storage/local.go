package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Local layout under the root directory:
//
//	<root>/<key>                         the object's bytes, browsable as plain files
//	<root>/.signet/meta/<key>.json       sidecar: SHA-256, size, content type, write time
//	<root>/.signet/tmp/                  temp files; a write becomes visible only by rename
//
// Keys may not have segments starting with ".", so no key can reach .signet.
const (
	localInternal = ".signet"
	localMetaDir  = ".signet/meta"
	localTmpDir   = ".signet/tmp"
	localLockDir  = ".signet/lock"
)

type sidecar struct {
	SHA256      string    `json:"sha256"`
	Size        int64     `json:"size"`
	ContentType string    `json:"content_type"`
	Modified    time.Time `json:"modified"`
}

type localStore struct {
	root string
	o    Options
	log  *zap.Logger

	stripes [256]sync.Mutex // writers of one key, within this process; striped by key hash

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

func openLocal(dir string, o Options) (*localStore, error) {
	if dir == "" || !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("storage: local directory %q must be an absolute path (file:///var/lib/signet/artefacts)", dir)
	}
	root := filepath.Clean(dir)
	for _, d := range []string{root, filepath.Join(root, localMetaDir), filepath.Join(root, localTmpDir), filepath.Join(root, localLockDir)} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, fmt.Errorf("storage: cannot create local storage directory %s: %w; check permissions", d, err)
		}
	}
	if len(o.LinkSecret) > 0 && len(o.LinkSecret) < 16 {
		return nil, fmt.Errorf("storage: link secret is %d bytes; use at least 16 random bytes", len(o.LinkSecret))
	}
	s := &localStore{root: root, o: o, log: o.Log.With(zap.String("storage", "file"), zap.String("dir", root)), stop: make(chan struct{})}
	interval := o.PruneInterval
	if interval == 0 {
		interval = min(max(o.Retention/24, time.Minute), time.Hour)
	}
	if interval > 0 {
		s.wg.Add(1)
		go s.pruneLoop(interval)
	}
	return s, nil
}

func (s *localStore) dataPath(key string) string {
	return filepath.Join(s.root, filepath.FromSlash(key))
}

func (s *localStore) metaPath(key string) string {
	return filepath.Join(s.root, filepath.FromSlash(localMetaDir), filepath.FromSlash(key)+".json")
}

// lock serialises the writers of one key: a mutex within this process, and an flock on one of 256
// lock files (chosen by a hash of the key) across processes sharing the directory. If the lock file
// cannot be used, the in-process mutex still holds and a rare cross-process race can only produce a
// pair that fails the SHA-256 check, never wrong bytes that pass it.
func (s *localStore) lock(key string) func() {
	h := sha256.Sum256([]byte(key))
	mu := &s.stripes[h[0]]
	mu.Lock()
	funlock, err := flockFile(filepath.Join(s.root, localLockDir, hex.EncodeToString(h[:1])))
	if err != nil {
		s.log.Warn("cannot take the cross-process lock; relying on the in-process one", zap.String("key", key), zap.Error(err))
		return mu.Unlock
	}
	return func() { funlock(); mu.Unlock() }
}

func (s *localStore) Put(ctx context.Context, key string, r io.Reader, size int64, contentType, sha256Hex string) (Object, error) {
	if err := ValidateKey(key); err != nil {
		return Object{}, err
	}
	want, err := parseSHA256(sha256Hex)
	if err != nil {
		return Object{}, fmt.Errorf("%w (key %q)", err, key)
	}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	if want != "" {
		if obj, err := s.Stat(ctx, key); err == nil && obj.SHA256 == want {
			return obj, nil
		}
	}

	tmp, err := os.CreateTemp(filepath.Join(s.root, localTmpDir), "put-*")
	if err != nil {
		return Object{}, fmt.Errorf("storage: put %q: cannot create temp file in %s: %w; check free space and permissions", key, s.root, err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // no-op after the rename
	pr := newPutReader(ctxReader{ctx, r}, key, want, size)
	if _, err := io.Copy(tmp, pr); err != nil {
		tmp.Close()
		return Object{}, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return Object{}, fmt.Errorf("storage: put %q: flushing temp file: %w", key, err)
	}
	if err := tmp.Close(); err != nil {
		return Object{}, fmt.Errorf("storage: put %q: closing temp file: %w", key, err)
	}
	obj := Object{Key: key, Size: pr.n, SHA256: pr.sum(), ContentType: contentType, Modified: s.o.Now().UTC()}

	unlock := s.lock(key)
	defer unlock()
	if old, err := s.Stat(ctx, key); err == nil && old.SHA256 == obj.SHA256 && old.Size == obj.Size {
		// Idempotent: keep the recorded object (and its write time). The new bytes are known to match
		// the record, so installing them repairs a file damaged on disk and changes nothing otherwise.
		if err := os.Rename(tmpName, s.dataPath(key)); err != nil {
			return Object{}, fmt.Errorf("storage: put %q: %w", key, err)
		}
		return old, nil
	}
	meta, err := json.Marshal(sidecar{SHA256: obj.SHA256, Size: obj.Size, ContentType: obj.ContentType, Modified: obj.Modified})
	if err != nil {
		return Object{}, fmt.Errorf("storage: put %q: %w", key, err)
	}
	metaTmp, err := writeTemp(filepath.Join(s.root, localTmpDir), meta)
	if err != nil {
		return Object{}, fmt.Errorf("storage: put %q: writing checksum sidecar: %w", key, err)
	}
	defer os.Remove(metaTmp)
	dp, mp := s.dataPath(key), s.metaPath(key)
	for _, d := range []string{filepath.Dir(dp), filepath.Dir(mp)} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return Object{}, fmt.Errorf("storage: put %q: creating directory %s: %w", key, d, err)
		}
	}
	// Data first, then its sidecar: a crash in between leaves a pair that fails the SHA-256 check
	// (ErrIntegrity), never one that passes with the wrong bytes; a repeated Put repairs it.
	if err := os.Rename(tmpName, dp); err != nil {
		return Object{}, fmt.Errorf("storage: put %q: %w", key, err)
	}
	if err := os.Rename(metaTmp, mp); err != nil {
		return Object{}, fmt.Errorf("storage: put %q: installing checksum sidecar: %w", key, err)
	}
	syncDir(filepath.Dir(dp))
	syncDir(filepath.Dir(mp))
	return obj, nil
}

func writeTemp(dir string, b []byte) (string, error) {
	f, err := os.CreateTemp(dir, "meta-*")
	if err != nil {
		return "", err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// syncDir makes a rename durable; failure only weakens crash safety, so it is not reported.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

func (s *localStore) Stat(ctx context.Context, key string) (Object, error) {
	if err := ValidateKey(key); err != nil {
		return Object{}, err
	}
	fi, err := os.Stat(s.dataPath(key))
	if errors.Is(err, fs.ErrNotExist) {
		return Object{}, fmt.Errorf("%w: %q in %s", ErrNotFound, key, s.root)
	}
	if err != nil {
		return Object{}, fmt.Errorf("storage: stat %q: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		return Object{}, fmt.Errorf("%w: %q is a directory, not an object", ErrNotFound, key)
	}
	b, err := os.ReadFile(s.metaPath(key))
	if err != nil {
		return Object{}, fmt.Errorf("%w: %q has no readable checksum sidecar (%v); it was not written by Signet or the write was interrupted; put it again", ErrIntegrity, key, err)
	}
	var m sidecar
	if err := json.Unmarshal(b, &m); err != nil || len(m.SHA256) != 64 {
		return Object{}, fmt.Errorf("%w: %q has a damaged checksum sidecar; put it again", ErrIntegrity, key)
	}
	return Object{Key: key, Size: m.Size, SHA256: m.SHA256, ContentType: m.ContentType, Modified: m.Modified}, nil
}

func (s *localStore) Get(ctx context.Context, key string) (io.ReadCloser, Object, error) {
	obj, err := s.Stat(ctx, key)
	if err != nil {
		return nil, Object{}, err
	}
	f, err := os.Open(s.dataPath(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, Object{}, fmt.Errorf("%w: %q in %s", ErrNotFound, key, s.root)
	}
	if err != nil {
		return nil, Object{}, fmt.Errorf("storage: get %q: %w", key, err)
	}
	return newGetReader(f, obj), obj, nil
}

func (s *localStore) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	unlock := s.lock(key)
	defer unlock()
	return s.remove(key)
}

func (s *localStore) remove(key string) error {
	dp, mp := s.dataPath(key), s.metaPath(key)
	if err := os.Remove(dp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("storage: delete %q: %w", key, err)
	}
	if err := os.Remove(mp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("storage: delete %q: removing checksum sidecar: %w", key, err)
	}
	s.removeEmptyParents(filepath.Dir(dp), s.root)
	s.removeEmptyParents(filepath.Dir(mp), filepath.Join(s.root, localMetaDir))
	return nil
}

// removeEmptyParents tidies the signed/<portal>/<yyyy>/<mm>/… tree; a concurrent Put may recreate a
// directory at any time, so failures are expected and ignored.
func (s *localStore) removeEmptyParents(dir, stop string) {
	for dir != stop && strings.HasPrefix(dir, stop+string(filepath.Separator)) {
		if os.Remove(dir) != nil {
			return
		}
		dir = filepath.Dir(dir)
	}
}

func (s *localStore) URL(ctx context.Context, key string, expiry time.Duration) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	if err := checkExpiry(expiry); err != nil {
		return "", fmt.Errorf("storage: link for %q: %w", key, err)
	}
	if s.o.PublicURL == "" || len(s.o.LinkSecret) == 0 {
		return "", fmt.Errorf("storage: link for %q: the local backend needs Options.PublicURL and Options.LinkSecret to make download links", key)
	}
	return signLink(s.o.PublicURL, key, s.o.Now().Add(expiry), s.o.LinkSecret), nil
}

func (s *localStore) Ping(ctx context.Context) error {
	d := filepath.Join(s.root, localTmpDir)
	f, err := os.CreateTemp(d, "ping-*")
	if err != nil {
		return fmt.Errorf("%w: local storage %s is not writable: %v", ErrUnavailable, s.root, err)
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

func (s *localStore) Close() error {
	s.closeOnce.Do(func() { close(s.stop) })
	s.wg.Wait()
	return nil
}

func (s *localStore) pruneLoop(every time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	s.pruneLogged()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.pruneLogged()
		}
	}
}

func (s *localStore) pruneLogged() {
	n, err := s.prune()
	if err != nil {
		s.log.Warn("pruning expired artefacts failed; will retry on the next tick", zap.Error(err))
	}
	if n > 0 {
		s.log.Info("pruned expired artefacts", zap.Int("objects", n), zap.Duration("retention", s.o.Retention))
	}
}

// prune deletes objects written longer than Retention ago (by the sidecar's write time, or the file's
// mtime when the sidecar is missing) and temp files left by interrupted writes.
func (s *localStore) prune() (int, error) {
	cutoff := s.o.Now().Add(-s.o.Retention)
	removed := 0
	var firstErr error
	internal := filepath.Join(s.root, localInternal)
	err := filepath.WalkDir(s.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			return nil
		}
		if d.IsDir() {
			if p == internal {
				return filepath.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(s.root, p)
		if err != nil {
			return nil
		}
		key := filepath.ToSlash(rel)
		if ValidateKey(key) != nil {
			return nil
		}
		written := time.Time{}
		if obj, err := s.Stat(context.Background(), key); err == nil {
			written = obj.Modified
		} else if fi, err := d.Info(); err == nil {
			written = fi.ModTime()
		}
		if written.IsZero() || !written.Before(cutoff) {
			return nil
		}
		unlock := s.lock(key)
		// Re-check under the lock: a Put may have just replaced it.
		if obj, err := s.Stat(context.Background(), key); err == nil && !obj.Modified.Before(cutoff) {
			unlock()
			return nil
		}
		if err := s.remove(key); err != nil && firstErr == nil {
			firstErr = err
		} else if err == nil {
			removed++
		}
		unlock()
		return nil
	})
	if err != nil && firstErr == nil {
		firstErr = err
	}
	// Orphaned sidecars and stale temp files.
	metaRoot := filepath.Join(s.root, localMetaDir)
	_ = filepath.WalkDir(metaRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return nil
		}
		rel, _ := filepath.Rel(metaRoot, strings.TrimSuffix(p, ".json"))
		key := filepath.ToSlash(rel)
		if _, err := os.Stat(s.dataPath(key)); errors.Is(err, fs.ErrNotExist) {
			if fi, err := d.Info(); err == nil && fi.ModTime().Before(cutoff) {
				os.Remove(p)
			}
		}
		return nil
	})
	tmpRoot := filepath.Join(s.root, localTmpDir)
	if ents, err := os.ReadDir(tmpRoot); err == nil {
		for _, e := range ents {
			if fi, err := e.Info(); err == nil && fi.ModTime().Before(time.Now().Add(-24*time.Hour)) {
				os.Remove(filepath.Join(tmpRoot, e.Name()))
			}
		}
	}
	return removed, firstErr
}

// ctxReader stops a long copy when the caller's context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
