package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// adopt stores the file at path under key by linking it into the store (Item.File): a signed 1 GB
// PDF staged by a worker on the same file system becomes the object without being read or written
// again; only its fsync remains, which any durable store needs (issue 22, must 4). sha256Hex is the
// digest the caller computed over exactly these bytes and is recorded as given; Get verifies it on
// every read, so a wrong one can only make reads fail with ErrIntegrity, never pass wrong bytes.
// adopted is false when the file cannot be linked (another file system, a bad key or digest): the
// caller then stores the stream as Put does, which also reports those errors.
func (s *localStore) adopt(ctx context.Context, key, path string, size int64, contentType, sha256Hex string, dirs *dirSet) (obj Object, adopted bool, err error) {
	want, err := parseSHA256(sha256Hex)
	if ValidateKey(key) != nil || err != nil || want == "" {
		return Object{}, false, nil
	}
	if err := ctx.Err(); err != nil {
		return Object{}, true, err
	}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	if obj, err := s.Stat(ctx, key); err == nil && obj.SHA256 == want {
		return obj, true, nil
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmpName := filepath.Join(s.root, localTmpDir, "adopt-"+hex.EncodeToString(rnd[:]))
	if err := os.Link(path, tmpName); err != nil {
		return Object{}, false, nil // EXDEV and the like: copy instead
	}
	defer os.Remove(tmpName) // no-op after the rename
	tmp, err := os.OpenFile(tmpName, os.O_RDWR, 0)
	if err != nil {
		return Object{}, true, fmt.Errorf("storage: put %q: opening the linked file: %w", key, err)
	}
	defer tmp.Close()
	st, err := tmp.Stat()
	if err != nil {
		return Object{}, true, fmt.Errorf("storage: put %q: %w", key, err)
	}
	if size >= 0 && st.Size() != size {
		return Object{}, true, fmt.Errorf("storage: put %q: the file is %d bytes, %d were declared; nothing stored", key, st.Size(), size)
	}
	if err := tmp.Chmod(0o600); err != nil { // as os.CreateTemp makes the objects Put writes
		return Object{}, true, fmt.Errorf("storage: put %q: %w", key, err)
	}
	obj = Object{Key: key, Size: st.Size(), SHA256: want, ContentType: contentType, Modified: s.o.Now().UTC()}
	inXattr, err := s.seal(tmp, obj)
	if err != nil {
		return Object{}, true, err
	}
	obj, err = s.install(tmp, obj, inXattr, dirs)
	return obj, true, err
}
