package pades

// Signing files on disk (issue 22, must 4: a 1 GB PDF at disk speed). The input is read once, and
// hashed once; the output's prefix is a clone of the input where the file system shares extents,
// and otherwise written from the very buffers that were hashed.
// SignFileInPlace appends the update to a file the caller owns and copies nothing.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
)

// smallFile is the size up to which SignFile reads the input in one call and parses it from
// memory: a 1-page invoice then costs a handful of system calls instead of one per object read.
// Larger files stream; either way memory stays bounded by this constant, not the file size.
const smallFile = 1 << 20

// hashBuffers are the read buffers of the streaming hash: 256 KiB reads cost a system call per
// 0.1 ms of SHA-256, and sixteen batch workers hold 4 MiB between them.
var hashBuffers = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// copyBuffers are the buffers of the copy to a new output: 32 KiB, because on this project's VM
// (kernel 6.18, ext4) writing 1 GiB in writes of 64 KiB or more cost 1.7–2.5 s of system time and
// in writes of 32 KiB 0.5 s (bench/RESULTS.md, 2026-12-03); reads cost the same either way.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// SignFile reads inPath and writes outPath (the input bytes are an exact prefix of the output).
// It streams: the input is parsed (only the objects the update needs), its bytes are hashed and
// copied to the output in one pass (so the signature covers exactly the bytes written), and the
// update with the finished /Contents is appended. outPath is written
// through a temporary file in the same directory and renamed, so a failure never leaves a
// half-signed file behind.
func SignFile(ctx context.Context, inPath, outPath string, s Signer, o Options) (*Result, error) {
	name := filepath.Base(inPath)
	in, err := os.Open(inPath)
	if err != nil {
		return nil, fmt.Errorf("%s: open input: %w", name, err)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: stat input: %w", name, err)
	}
	var src source = in
	var whole []byte // the input, when it is small
	if st.Size() <= smallFile {
		whole = make([]byte, st.Size())
		if _, err := io.ReadFull(in, whole); err != nil {
			return nil, fmt.Errorf("%s: the input changed while signing (%v); retry", name, err)
		}
		src = bytes.NewReader(whole)
	}
	p, err := prepare(ctx, src, st.Size(), name, s, o)
	if err != nil {
		return nil, err
	}
	defer p.release()
	tmp, err := os.CreateTemp(filepath.Dir(outPath), ".signet-*.pdf.tmp")
	if err != nil {
		return nil, fmt.Errorf("%s: create output: %w", name, err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	var h prefixHash
	if whole != nil {
		h = p.newPrefixHash()
		h.Write(whole)
	} else if h, err = p.copyAndHash(ctx, in, tmp, st.Size()); err != nil {
		return nil, err
	}
	res, err := p.finishPrefix(ctx, s, o, h)
	if err != nil {
		return nil, err
	}
	out := net.Buffers{p.w.buf.Bytes()}
	if whole != nil {
		out = net.Buffers{whole, p.w.buf.Bytes()} // one writev
	} else if _, err := tmp.Seek(st.Size(), io.SeekStart); err != nil {
		return nil, fmt.Errorf("%s: write output: %w", name, err)
	}
	if _, err = out.WriteTo(tmp); err != nil {
		return nil, fmt.Errorf("%s: write output: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("%s: write output: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), outPath); err != nil {
		return nil, fmt.Errorf("%s: rename output: %w", name, err)
	}
	ok = true
	return res, nil
}

// SignFileInPlace signs the PDF at path by appending the update to that very file, which then is
// the signed document: nothing of the prefix is copied. It is for a file the caller owns and nobody
// else reads or writes meanwhile (a job's staging copy); a failure before the update is written
// leaves the file as it was, a failure while writing it cuts the file back to its original length.
func SignFileInPlace(ctx context.Context, path string, s Signer, o Options) (*Result, error) {
	name := filepath.Base(path)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: open: %w", name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: stat: %w", name, err)
	}
	size := st.Size()
	p, err := prepare(ctx, f, size, name, s, o)
	if err != nil {
		return nil, err
	}
	defer p.release()
	h := p.newPrefixHash()
	if err := hashRange(ctx, f, 0, size, h); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	res, err := p.finishPrefix(ctx, s, o, h)
	if err != nil {
		return nil, err
	}
	if _, err := f.WriteAt(p.w.buf.Bytes(), size); err != nil {
		if terr := f.Truncate(size); terr != nil {
			return nil, fmt.Errorf("%s: write the signature: %w (and cutting the file back failed: %v; fetch the document again)", name, err, terr)
		}
		return nil, fmt.Errorf("%s: write the signature: %w", name, err)
	}
	return res, f.Close()
}

// prefixHash is the running hash of the document's prefix: doc in the signature's algorithm, and
// the SHA-256 of the input (Result.SHA256Before). With SHA-256 signatures, the usual case, they are
// one hash: 1 GB is then hashed once, not twice.
type prefixHash struct {
	doc, before hashWriter // before is nil when doc is SHA-256
}

func (p *prepared) newPrefixHash() prefixHash {
	if p.hash == crypto.SHA256 {
		return prefixHash{doc: sha256.New()}
	}
	return prefixHash{doc: p.hash.New(), before: sha256.New()}
}

func (h prefixHash) Write(b []byte) (int, error) {
	h.doc.Write(b)
	if h.before != nil {
		h.before.Write(b)
	}
	return len(b), nil
}

// finishPrefix is finish once the prefix is hashed.
func (p *prepared) finishPrefix(ctx context.Context, s Signer, o Options, h prefixHash) (*Result, error) {
	before := h.before
	if before == nil {
		var err error
		if before, err = cloneHash(h.doc); err != nil { // finish goes on hashing doc
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
	}
	return p.finish(ctx, s, o, h.doc, before)
}

// release gives back the update's buffer.
func (p *prepared) release() {
	if p.w.buf != nil {
		p.w.release()
	}
}

// copyAndHash copies in[0:size) to out[0:size) and hashes it. Where the file system can share
// extents (FICLONE: XFS, Btrfs), the copy is a clone and only the hash reads the bytes. Elsewhere
// (ext4, the common case) each piece is read, hashed and written from the same buffer: one pass
// over the input, and the hash covers exactly the bytes written. On this project's 2-core VM, a
// second core doing the copy (copy_file_range, or writes in another goroutine) made the system
// time 2–5× larger and the whole slower (bench/RESULTS.md, 2026-12-03); one thread it is, and
// small writes (copyBuffers).
func (p *prepared) copyAndHash(ctx context.Context, in, out *os.File, size int64) (prefixHash, error) {
	h := p.newPrefixHash()
	if cloneFile(out, in) == nil {
		if err := hashRange(ctx, out, 0, size, h); err != nil {
			return h, fmt.Errorf("%s: %w", p.name, err)
		}
		return h, nil
	}
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	if err := hashRangeBuf(ctx, in, 0, size, io.MultiWriter(h, out), *buf); err != nil {
		return h, fmt.Errorf("%s: copy to output: %w", p.name, err)
	}
	return h, nil
}

// hashRange hashes f[from:to) into h (which may also write the bytes elsewhere: copyAndHash).
func hashRange(ctx context.Context, f *os.File, from, to int64, h io.Writer) error {
	buf := hashBuffers.Get().(*[]byte)
	defer hashBuffers.Put(buf)
	return hashRangeBuf(ctx, f, from, to, h, *buf)
}

// hashRangeBuf is hashRange through buf.
func hashRangeBuf(ctx context.Context, f *os.File, from, to int64, h io.Writer, buf []byte) error {
	for off := from; off < to; {
		if err := ctx.Err(); err != nil {
			return err
		}
		b := buf[:min(int64(len(buf)), to-off)]
		n, err := f.ReadAt(b, off)
		if _, werr := h.Write(b[:n]); werr != nil {
			return fmt.Errorf("writing: %w", werr)
		}
		off += int64(n)
		if err != nil && off < to {
			if err == io.EOF {
				return fmt.Errorf("the file changed while signing (%d bytes, expected %d); retry", off, to)
			}
			return fmt.Errorf("reading: %w", err)
		}
	}
	return nil
}
