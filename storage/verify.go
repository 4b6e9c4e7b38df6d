package storage

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
)

// FileSHA256 is the hex SHA-256 of the file at path, read in chunks: the digest a document is
// recorded under before it is signed.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// parseSHA256 normalises a caller-supplied hex digest; "" means "compute it".
func parseSHA256(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	s = strings.ToLower(s)
	if b, err := hex.DecodeString(s); err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("storage: SHA-256 %q is not 64 hex digits", s)
	}
	return s, nil
}

// putReader hashes what it passes on and never hands over the final byte of the stream until the whole
// stream has been read and checked against the expected digest and size. An uploader therefore never
// sees a complete body that fails the check: a single PUT ends short and a multipart upload never
// completes, so nothing is stored.
type putReader struct {
	src     io.Reader
	key     string
	want    string // expected hex digest, "" = accept any
	size    int64  // expected size, -1 = unknown
	h       hash.Hash
	n       int64
	buf     []byte
	pend    []byte
	checked bool
	err     error
}

func newPutReader(src io.Reader, key, want string, size int64) *putReader {
	return &putReader{src: src, key: key, want: want, size: size, h: sha256.New(), buf: make([]byte, 64<<10)}
}

func (r *putReader) Read(p []byte) (int, error) {
	for {
		if r.err != nil {
			return 0, r.err
		}
		if len(p) == 0 {
			return 0, nil
		}
		avail := len(r.pend)
		if !r.checked {
			avail-- // hold back one byte until the check passes
		}
		if avail > 0 {
			n := copy(p, r.pend[:avail])
			r.pend = r.pend[n:]
			return n, nil
		}
		if r.checked {
			return 0, io.EOF
		}
		k := copy(r.buf, r.pend) // 0 or 1 held byte, moved to the front
		n, err := r.src.Read(r.buf[k:])
		r.h.Write(r.buf[k : k+n])
		r.n += int64(n)
		r.pend = r.buf[:k+n]
		if r.size >= 0 && r.n > r.size {
			r.err = fmt.Errorf("storage: put %q: stream is longer than the declared size %d bytes; nothing stored", r.key, r.size)
			continue
		}
		switch {
		case errors.Is(err, io.EOF):
			r.err = r.check()
			r.checked = r.err == nil
		case err != nil:
			r.err = fmt.Errorf("storage: put %q: reading the data: %w", r.key, err)
		}
	}
}

func (r *putReader) check() error {
	if r.size >= 0 && r.n != r.size {
		return fmt.Errorf("storage: put %q: stream has %d bytes, declared size is %d; nothing stored", r.key, r.n, r.size)
	}
	if r.want != "" && r.sum() != r.want {
		return fmt.Errorf("%w: put %q: data has SHA-256 %s, caller gave %s; nothing stored", ErrChecksumMismatch, r.key, r.sum(), r.want)
	}
	return nil
}

func (r *putReader) sum() string { return hex.EncodeToString(r.h.Sum(nil)) }

// getReader verifies a stored object as it is read: at EOF the digest and length must match the
// recorded ones, or the final Read (and Close) return ErrIntegrity instead of io.EOF.
type getReader struct {
	rc   io.ReadCloser
	obj  Object
	h    hash.Hash
	n    int64
	err  error // sticky verdict once EOF was seen
	done bool
}

func newGetReader(rc io.ReadCloser, obj Object) *getReader {
	return &getReader{rc: rc, obj: obj, h: sha256.New()}
}

func (r *getReader) Read(p []byte) (int, error) {
	if r.done {
		if r.err != nil {
			return 0, r.err
		}
		return 0, io.EOF
	}
	n, err := r.rc.Read(p)
	r.h.Write(p[:n])
	r.n += int64(n)
	if errors.Is(err, io.EOF) {
		r.done = true
		got := hex.EncodeToString(r.h.Sum(nil))
		switch {
		case r.n != r.obj.Size:
			r.err = fmt.Errorf("%w: %q has %d bytes, %d were recorded at write time; do not use it, re-sign the job", ErrIntegrity, r.obj.Key, r.n, r.obj.Size)
		case got != r.obj.SHA256:
			r.err = fmt.Errorf("%w: %q has SHA-256 %s, %s was recorded at write time; do not use it, re-sign the job", ErrIntegrity, r.obj.Key, got, r.obj.SHA256)
		}
		if r.err != nil {
			return n, r.err
		}
	}
	return n, err
}

// Close reports ErrIntegrity again if the object was read to the end and failed the check, so callers
// that only look at Close still learn of it. A reader closed before EOF was not verified.
func (r *getReader) Close() error {
	cerr := r.rc.Close()
	if r.err != nil {
		return r.err
	}
	return cerr
}
