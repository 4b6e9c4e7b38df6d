package storage

import (
	"bytes"
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
//	<root>/<key>                         the object's bytes, browsable as plain files; its metadata
//	                                     (SHA-256, size, content type, write time as JSON) is in the
//	                                     extended attribute user.signet.meta of the file itself
//	<root>/.signet/meta/<key>.json       sidecar with the same JSON, on filesystems without user
//	                                     extended attributes and for objects written by older versions
//	<root>/.signet/tmp/                  temp files; a write becomes visible only by rename
//	<root>/.signet/lock/00 … ff          flock files serialising the writers of one key across processes
//
// Keys may not have segments starting with ".", so no key can reach .signet.
//
// With the attribute, the bytes and their checksum live on one inode and appear together with a single
// rename; a sidecar needs a second file and a second rename. Which one a store writes is decided once at
// open by a probe (metaMode); readers always look at the attribute first and then at the sidecar, so
// both kinds of object stay readable. Tools that copy or save a file as a new inode without its extended
// attributes (plain cp, some editors and backup tools; rsync without -X) drop the checksum: such an
// object fails with ErrIntegrity ("no checksum") until it is put again.
const (
	localInternal = ".signet"
	localMetaDir  = ".signet/meta"
	localTmpDir   = ".signet/tmp"
	localLockDir  = ".signet/lock"
)

// sidecar is an object's metadata, stored as JSON in the user.signet.meta attribute or a sidecar file.
type sidecar struct {
	SHA256      string    `json:"sha256"`
	Size        int64     `json:"size"`
	ContentType string    `json:"content_type"`
	Modified    time.Time `json:"modified"`
}

// metaMode is where a store writes new objects' metadata.
type metaMode int

const (
	metaXattrMode   metaMode = iota // user.signet.meta on the data file
	metaSidecarMode                 // .signet/meta/<key>.json
)

func (m metaMode) String() string {
	if m == metaXattrMode {
		return "xattr"
	}
	return "sidecar"
}

// metaSource says where Stat found an object's metadata.
type metaSource int

const (
	fromXattr metaSource = iota + 1
	fromSidecar
)

type localStore struct {
	root string
	o    Options
	log  *zap.Logger
	mode metaMode

	// Writers of one key are serialised by one of 256 stripes (chosen by a hash of the key): a mutex
	// within this process, then an flock on the stripe's lock file across processes. lockFiles[i] is
	// opened on first use and kept until Close; it is guarded by stripes[i].
	stripes   [256]sync.Mutex
	lockFiles [256]*os.File

	// syncDir makes the renames into a directory durable (the package's syncDir; tests count calls).
	syncDir func(dir string)

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

func openLocal(dir string, o Options) (*localStore, error) {
	return openLocalMode(dir, o, false)
}

// openLocalMode is openLocal; forceSidecar (tests only) skips the probe and writes sidecars.
func openLocalMode(dir string, o Options, forceSidecar bool) (*localStore, error) {
	if dir == "" || !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("storage: local directory %q must be an absolute path (file:///var/lib/signet/artefacts)", dir)
	}
	root := filepath.Clean(dir)
	if o.ReadOnly {
		if _, err := os.Stat(root); err != nil {
			return nil, fmt.Errorf("storage: local directory %s: %w; run `signet setup` or start a server", root, err)
		}
	}
	for _, d := range []string{root, filepath.Join(root, localMetaDir), filepath.Join(root, localTmpDir), filepath.Join(root, localLockDir)} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, fmt.Errorf("storage: cannot create local storage directory %s: %w; check permissions", d, err)
		}
	}
	if len(o.LinkSecret) > 0 && len(o.LinkSecret) < 16 {
		return nil, fmt.Errorf("storage: link secret is %d bytes; use at least 16 random bytes", len(o.LinkSecret))
	}
	s := &localStore{root: root, o: o, log: o.Log.With(zap.String("storage", "file"), zap.String("dir", root)), stop: make(chan struct{}),
		syncDir: syncDir}
	s.chooseMode(forceSidecar)
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

// chooseMode probes once whether this filesystem keeps user extended attributes (tmpfs builds without
// them, NFS and others refuse with ENOTSUP or EPERM) and falls back to sidecar files if not.
func (s *localStore) chooseMode(forceSidecar bool) {
	s.mode = metaSidecarMode
	reason := "forced (test)"
	if !forceSidecar {
		if err := s.probeXattr(); err != nil {
			reason = err.Error()
		} else {
			s.mode, reason = metaXattrMode, "extended attribute "+metaXattr+" works on this filesystem"
		}
	}
	s.log.Info("local storage metadata mode", zap.Stringer("mode", s.mode), zap.String("reason", reason))
}

// probeXattr writes, reads back and removes the attribute on a scratch file in .signet/tmp.
func (s *localStore) probeXattr() error {
	f, err := os.CreateTemp(filepath.Join(s.root, localTmpDir), "probe-*")
	if err != nil {
		return fmt.Errorf("cannot create a probe file: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	want := []byte(`{"probe":true}`)
	if err := setMetaXattr(f, want); err != nil {
		return fmt.Errorf("setting %s: %w", metaXattr, err)
	}
	got, err := fgetMetaXattr(f)
	if err != nil {
		return fmt.Errorf("reading %s back: %w", metaXattr, err)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%s read back as %q, wrote %q", metaXattr, got, want)
	}
	if err := removeMetaXattr(f); err != nil {
		return fmt.Errorf("removing %s: %w", metaXattr, err)
	}
	return nil
}

func (s *localStore) dataPath(key string) string {
	return filepath.Join(s.root, filepath.FromSlash(key))
}

func (s *localStore) metaPath(key string) string {
	return filepath.Join(s.root, filepath.FromSlash(localMetaDir), filepath.FromSlash(key)+".json")
}

// lock serialises the writers of one key: a mutex within this process, and an flock on one of 256
// lock files (chosen by a hash of the key) across processes sharing the directory. If the lock file
// cannot be used, the in-process mutex still holds and a rare cross-process race can only produce an
// object that fails the SHA-256 check, never wrong bytes that pass it.
func (s *localStore) lock(key string) func() {
	h := sha256.Sum256([]byte(key))
	i := h[0]
	mu := &s.stripes[i]
	mu.Lock()
	f, err := s.lockFile(i)
	if err == nil {
		err = flock(f, true)
	}
	if err != nil {
		s.log.Warn("cannot take the cross-process lock; relying on the in-process one", zap.String("key", key), zap.Error(err))
		return mu.Unlock
	}
	return func() { _ = flock(f, false); mu.Unlock() }
}

// lockFile returns stripe i's lock file, opening (and creating) it on first use. Opening it once per
// store instead of once per Put saves a path lookup and an open on every write. Caller holds stripes[i].
func (s *localStore) lockFile(i byte) (*os.File, error) {
	if f := s.lockFiles[i]; f != nil {
		return f, nil
	}
	f, err := os.OpenFile(filepath.Join(s.root, localLockDir, hex.EncodeToString([]byte{i})), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, err
	}
	s.lockFiles[i] = f
	return f, nil
}

func (s *localStore) Put(ctx context.Context, key string, r io.Reader, size int64, contentType, sha256Hex string) (Object, error) {
	var dirs dirSet
	obj, err := s.put(ctx, key, r, size, contentType, sha256Hex, &dirs)
	dirs.sync(s.syncDir)
	return obj, err
}

// putAll writes the items at once and then fsyncs each directory they were renamed into once.
func (s *localStore) putAll(ctx context.Context, items []Item) ([]Object, error) {
	var dirs dirSet
	files := map[string]string{} // key → file to adopt (adopt.go)
	for _, it := range items {
		if it.File != "" && it.SHA256 != "" {
			files[it.Key] = it.File
		}
	}
	objs, err := putEach(ctx, items, func(ctx context.Context, key string, r io.Reader, size int64, contentType, sha256Hex string) (Object, error) {
		if f := files[key]; f != "" {
			if obj, adopted, err := s.adopt(ctx, key, f, size, contentType, sha256Hex, &dirs); adopted {
				return obj, err
			}
		}
		return s.put(ctx, key, r, size, contentType, sha256Hex, &dirs)
	})
	dirs.sync(s.syncDir)
	return objs, err
}

// put is Put without the directory fsync: the directories of its renames are added to dirs, for the
// caller to sync before it reports the object stored.
func (s *localStore) put(ctx context.Context, key string, r io.Reader, size int64, contentType, sha256Hex string, dirs *dirSet) (Object, error) {
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
	defer os.Remove(tmp.Name()) // no-op after the rename
	defer tmp.Close()           // a second Close only returns an error, which is ignored
	obj, inXattr, err := s.spool(ctx, tmp, key, r, size, contentType, want)
	if err != nil {
		return Object{}, err
	}
	return s.install(tmp, obj, inXattr, dirs)
}

// install makes tmp, holding obj's bytes (and its attribute when inXattr), visible under obj.Key.
func (s *localStore) install(tmp *os.File, obj Object, inXattr bool, dirs *dirSet) (Object, error) {
	key := obj.Key
	unlock := s.lock(key)
	defer unlock()
	old, src, err := s.stat(key, nil)
	same := err == nil && old.SHA256 == obj.SHA256 && old.Size == obj.Size
	if same {
		// Idempotent: keep the recorded object (and its write time). The new bytes are known to match
		// the record, so installing them repairs a file damaged on disk and changes nothing otherwise.
		obj = old
	}
	if inXattr {
		return s.installXattr(tmp, obj, same, src, dirs)
	}
	if err := tmp.Close(); err != nil {
		return Object{}, fmt.Errorf("storage: put %q: closing temp file: %w", key, err)
	}
	return s.installSidecar(tmp.Name(), obj, same && src == fromSidecar, dirs)
}

// spool copies the stream into tmp, checking its size and digest, records the metadata in tmp's
// attribute (in xattr mode) and fsyncs, so the bytes are on disk before the caller reports the job
// done. inXattr is false if the metadata must go to a sidecar instead.
func (s *localStore) spool(ctx context.Context, tmp *os.File, key string, r io.Reader, size int64, contentType, want string) (obj Object, inXattr bool, err error) {
	pr := newPutReader(ctxReader{ctx, r}, key, want, size)
	if _, err := io.Copy(tmp, pr); err != nil {
		return Object{}, false, err
	}
	obj = Object{Key: key, Size: pr.n, SHA256: pr.sum(), ContentType: contentType, Modified: s.o.Now().UTC()}
	inXattr, err = s.seal(tmp, obj)
	return obj, inXattr, err
}

// seal records obj's metadata in tmp's attribute (in xattr mode) and fsyncs tmp. inXattr is false
// if the metadata must go to a sidecar instead.
func (s *localStore) seal(tmp *os.File, obj Object) (inXattr bool, err error) {
	if s.mode == metaXattrMode {
		err := setMeta(tmp, obj)
		if err != nil {
			// E.g. a content type too long for the filesystem's attribute space: this object gets a sidecar.
			s.log.Warn("cannot record metadata in an extended attribute; using a sidecar file", zap.String("key", obj.Key), zap.Error(err))
		}
		inXattr = err == nil
	}
	if err := tmp.Sync(); err != nil {
		return false, fmt.Errorf("storage: put %q: flushing temp file: %w", obj.Key, err)
	}
	return inXattr, nil
}

func setMeta(f *os.File, obj Object) error {
	return setMetaXattr(f, encodeMeta(obj))
}

func encodeMeta(obj Object) []byte {
	b, _ := json.Marshal(sidecar{SHA256: obj.SHA256, Size: obj.Size, ContentType: obj.ContentType, Modified: obj.Modified})
	return b // a struct of strings, an int and a time always marshals
}

// installXattr makes tmp (bytes and attribute) visible under the key with one rename, whose directory
// it adds to dirs. In the idempotent case the attribute is rewritten with the recorded object's write
// time first. A sidecar left by an older version is removed afterwards: the attribute is read first,
// so it is only clutter.
func (s *localStore) installXattr(tmp *os.File, obj Object, same bool, old metaSource, dirs *dirSet) (Object, error) {
	key := obj.Key
	if same {
		if err := setMeta(tmp, obj); err != nil {
			return Object{}, fmt.Errorf("storage: put %q: recording metadata: %w", key, err)
		}
		if err := tmp.Sync(); err != nil {
			return Object{}, fmt.Errorf("storage: put %q: flushing temp file: %w", key, err)
		}
	}
	if err := tmp.Close(); err != nil {
		return Object{}, fmt.Errorf("storage: put %q: closing temp file: %w", key, err)
	}
	dp := s.dataPath(key)
	if err := os.MkdirAll(filepath.Dir(dp), 0o750); err != nil {
		return Object{}, fmt.Errorf("storage: put %q: creating directory %s: %w", key, filepath.Dir(dp), err)
	}
	if err := os.Rename(tmp.Name(), dp); err != nil {
		return Object{}, fmt.Errorf("storage: put %q: %w", key, err)
	}
	dirs.add(filepath.Dir(dp))
	if old == fromSidecar {
		// Written by an older version: the attribute wins on reads, so the sidecar is only clutter now,
		// and failing to remove it does not fail the Put. (Orphaned sidecars are left to prune, so a new
		// key costs no extra lookup.)
		_ = s.removeSidecar(key)
	}
	return obj, nil
}

// installSidecar renames the data file and then writes obj's sidecar (unless keepSidecar: the existing
// one already describes these bytes); the directories of the renames are added to dirs.
func (s *localStore) installSidecar(tmpName string, obj Object, keepSidecar bool, dirs *dirSet) (Object, error) {
	key := obj.Key
	dp, mp := s.dataPath(key), s.metaPath(key)
	if keepSidecar {
		if err := os.Rename(tmpName, dp); err != nil {
			return Object{}, fmt.Errorf("storage: put %q: %w", key, err)
		}
		dirs.add(filepath.Dir(dp))
		return obj, nil
	}
	metaTmp, err := writeTemp(filepath.Join(s.root, localTmpDir), encodeMeta(obj))
	if err != nil {
		return Object{}, fmt.Errorf("storage: put %q: writing checksum sidecar: %w", key, err)
	}
	defer os.Remove(metaTmp)
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
	dirs.add(filepath.Dir(dp), filepath.Dir(mp))
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
	obj, _, err := s.stat(key, nil)
	return obj, err
}

// stat describes the object at key: from the open file f if given (Get: metadata and bytes then come
// from the same inode), else by path. The attribute is read first, then the sidecar.
func (s *localStore) stat(key string, f *os.File) (Object, metaSource, error) {
	var fi fs.FileInfo
	var err error
	if f != nil {
		fi, err = f.Stat()
	} else {
		fi, err = os.Stat(s.dataPath(key))
	}
	if errors.Is(err, fs.ErrNotExist) {
		return Object{}, 0, fmt.Errorf("%w: %q in %s", ErrNotFound, key, s.root)
	}
	if err != nil {
		return Object{}, 0, fmt.Errorf("storage: stat %q: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		return Object{}, 0, fmt.Errorf("%w: %q is a directory, not an object", ErrNotFound, key)
	}
	var b []byte
	if f != nil {
		b, err = fgetMetaXattr(f)
	} else {
		b, err = getMetaXattr(s.dataPath(key))
	}
	switch {
	case err == nil:
		obj, err := decodeMeta(key, b, "extended attribute "+metaXattr)
		return obj, fromXattr, err
	case errors.Is(err, fs.ErrNotExist): // deleted since the stat
		return Object{}, 0, fmt.Errorf("%w: %q in %s", ErrNotFound, key, s.root)
	case !xattrAbsent(err):
		return Object{}, 0, fmt.Errorf("storage: stat %q: reading extended attribute %s: %w", key, metaXattr, err)
	}
	b, err = os.ReadFile(s.metaPath(key))
	if err != nil {
		return Object{}, fromSidecar, fmt.Errorf("%w: %q has no checksum: neither the %s extended attribute nor a sidecar (%v); "+
			"it was not written by Signet, was copied or saved by a tool that drops extended attributes, or the write was interrupted; put it again",
			ErrIntegrity, key, metaXattr, err)
	}
	obj, err := decodeMeta(key, b, "sidecar")
	return obj, fromSidecar, err
}

// decodeMeta parses the metadata JSON; where names its origin for the error message.
func decodeMeta(key string, b []byte, where string) (Object, error) {
	var m sidecar
	if err := json.Unmarshal(b, &m); err != nil {
		return Object{}, fmt.Errorf("%w: %q has a damaged checksum %s (%v); put it again", ErrIntegrity, key, where, err)
	}
	if h, err := parseSHA256(m.SHA256); err != nil || h != m.SHA256 || h == "" || m.Size < 0 {
		return Object{}, fmt.Errorf("%w: %q has a damaged checksum %s (sha256 %q, size %d); put it again", ErrIntegrity, key, where, m.SHA256, m.Size)
	}
	return Object{Key: key, Size: m.Size, SHA256: m.SHA256, ContentType: m.ContentType, Modified: m.Modified}, nil
}

func (s *localStore) Get(ctx context.Context, key string) (io.ReadCloser, Object, error) {
	if err := ValidateKey(key); err != nil {
		return nil, Object{}, err
	}
	f, err := os.Open(s.dataPath(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, Object{}, fmt.Errorf("%w: %q in %s", ErrNotFound, key, s.root)
	}
	if err != nil {
		return nil, Object{}, fmt.Errorf("storage: get %q: %w", key, err)
	}
	obj, _, err := s.stat(key, f)
	if err != nil {
		f.Close()
		return nil, Object{}, err
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
	dp := s.dataPath(key)
	if err := os.Remove(dp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("storage: delete %q: %w", key, err)
	}
	s.removeEmptyParents(filepath.Dir(dp), s.root)
	if err := s.removeSidecar(key); err != nil {
		return fmt.Errorf("storage: delete %q: removing checksum sidecar: %w", key, err)
	}
	return nil
}

// removeSidecar deletes key's sidecar if there is one, and the directories it leaves empty.
func (s *localStore) removeSidecar(key string) error {
	mp := s.metaPath(key)
	err := os.Remove(mp)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // the usual case in xattr mode; the parents need no tidying either
	}
	if err != nil {
		return err
	}
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

// Close stops the prune timer and closes the lock files. The store must not be used afterwards.
func (s *localStore) Close() error {
	s.closeOnce.Do(func() { close(s.stop) })
	s.wg.Wait()
	for i := range s.stripes {
		s.stripes[i].Lock()
		if f := s.lockFiles[i]; f != nil {
			f.Close()
			s.lockFiles[i] = nil
		}
		s.stripes[i].Unlock()
	}
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

// prune deletes objects written longer than Retention ago (by the write time in the attribute or the
// sidecar, or the file's mtime when neither is readable), sidecars whose object is gone, and temp files
// left by interrupted writes.
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
			if fi, err := d.Info(); err == nil && fi.ModTime().Before(cutoff) && os.Remove(p) == nil {
				s.removeEmptyParents(filepath.Dir(p), metaRoot)
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
