package worker

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"os"
	"path/filepath"
)

// inMemoryLimit is the largest document a job keeps in memory; larger ones spill to a temporary
// file. Most invoices and contracts are far below it, and every file a job creates, renames and
// removes costs real time on the disks Signet runs on (metadata operations dominate a 1-page
// invoice's signature otherwise).
var inMemoryLimit = 16 << 20 // a variable so that a test can send a small document down the file path

// spool receives a downloaded document: in memory up to inMemoryLimit, then in a temporary file.
// It hashes the bytes as they arrive, so a large document's SHA-256 costs no second pass over the
// file (issue 22, must 4).
type spool struct {
	tempDir, prefix string
	dir             string // the job's staging directory, made on first need
	buf             bytes.Buffer
	f               *os.File
	h               hash.Hash // SHA-256 of everything written; made on first Write
}

func (s *spool) Write(p []byte) (int, error) {
	if s.h == nil {
		s.h = sha256.New()
	}
	s.h.Write(p)
	if s.f == nil && s.buf.Len()+len(p) <= inMemoryLimit {
		return s.buf.Write(p)
	}
	if s.f == nil {
		path, err := s.path("in.pdf")
		if err != nil {
			return 0, err
		}
		if s.f, err = os.Create(path); err != nil {
			return 0, err
		}
		if _, err := s.f.Write(s.buf.Bytes()); err != nil {
			return 0, err
		}
		s.buf = bytes.Buffer{}
	}
	return s.f.Write(p)
}

// sha256 is the hex SHA-256 of the document as downloaded.
func (s *spool) sha256() string {
	if s.h == nil {
		s.h = sha256.New()
	}
	return hex.EncodeToString(s.h.Sum(nil))
}

// inMemory reports whether the whole document is in memory.
func (s *spool) inMemory() bool { return s.f == nil }

// bytes is the document, when inMemory.
func (s *spool) bytes() []byte { return s.buf.Bytes() }

// file returns the path of a file holding the document, writing it out if it was in memory. The
// file is not synced: it is read back from the page cache by this process and signed in place, a
// crash loses the job's staging directory anyway (the job is fetched again), and the store syncs
// the signed file once it is final; a sync here wrote a 1 GB document to the disk twice.
func (s *spool) file() (string, error) {
	if s.f != nil {
		return s.f.Name(), nil
	}
	path, err := s.path("in.pdf")
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(path, s.buf.Bytes(), 0o600)
}

// path names a file in the job's staging directory, creating the directory on first use.
func (s *spool) path(name string) (string, error) {
	if s.dir == "" {
		d, err := os.MkdirTemp(s.tempDir, "signet-"+s.prefix+"-")
		if err != nil {
			return "", err
		}
		s.dir = d
	}
	return filepath.Join(s.dir, name), nil
}

// close removes whatever the job staged on disk.
func (s *spool) close() {
	if s.f != nil {
		s.f.Close()
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}
