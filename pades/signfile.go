package pades

// Signing files on disk (issue 22, must 4: a 1 GB PDF at disk speed). The input is read once to
// hash it; the output's prefix is the input's bytes, copied by the kernel (copy_file_range: a reflink
// on XFS and Btrfs, a server-side copy on NFS, an in-kernel copy elsewhere) while the bytes already
// copied are hashed from the output on the other core. SignFileInPlace appends the update to a file
// the caller owns and copies nothing.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"errors"
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

// copyChunk is how much of a large input the kernel copies before that part is hashed: small enough
// that the copy and the hash overlap for most of the file, large enough that the hand-over between
// the two goroutines costs nothing.
var copyChunk int64 = 32 << 20 // a variable so that a test can make a small file take many chunks

// hashBuffers are the read buffers of the streaming hash: 256 KiB reads cost a system call per
// 0.1 ms of SHA-256, and sixteen batch workers hold 4 MiB between them.
var hashBuffers = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// SignFile reads inPath and writes outPath (the input bytes are an exact prefix of the output).
// It streams: the input is parsed (only the objects the update needs), its bytes are copied to the
// output by the kernel and hashed from the output as they land (so the signature covers exactly
// the bytes written), and the update with the finished /Contents is appended. outPath is written
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

// copyAndHash copies in[0:size) to out[0:size), chunk by chunk, and hashes each chunk from out
// once it is there, while the next one is being copied: the two cores work at once, and the hash
// covers the bytes written, whatever happens to the input meanwhile.
func (p *prepared) copyAndHash(ctx context.Context, in, out *os.File, size int64) (prefixHash, error) {
	h := p.newPrefixHash()
	copied := make(chan int64, 1) // end of each chunk copied
	stop := make(chan struct{})
	var copyErr error
	go func() {
		defer close(copied)
		for off := int64(0); off < size; {
			n := min(copyChunk, size-off)
			if copyErr = copyRange(out, in, off, n); copyErr != nil {
				return
			}
			off += n
			select {
			case copied <- off:
			case <-stop:
				return
			}
		}
	}()
	defer func() {
		close(stop)
		for range copied { // wait for the copier: out must not be written after we return
		}
	}()
	var hashed int64
	for end := range copied {
		if err := hashRange(ctx, out, hashed, end, h); err != nil {
			return h, fmt.Errorf("%s: %w", p.name, err)
		}
		hashed = end
	}
	if copyErr != nil {
		if errors.Is(copyErr, io.ErrUnexpectedEOF) {
			return h, fmt.Errorf("%s: the input changed while signing (it is shorter than when it was read); retry", p.name)
		}
		return h, fmt.Errorf("%s: copy to output: %w", p.name, copyErr)
	}
	return h, nil
}

// hashRange hashes f[from:to) into h.
func hashRange(ctx context.Context, f *os.File, from, to int64, h io.Writer) error {
	buf := hashBuffers.Get().(*[]byte)
	defer hashBuffers.Put(buf)
	for off := from; off < to; {
		if err := ctx.Err(); err != nil {
			return err
		}
		b := (*buf)[:min(int64(len(*buf)), to-off)]
		n, err := f.ReadAt(b, off)
		h.Write(b[:n])
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

// copyBytes copies n bytes at off from in to the same offset in out through a buffer: for systems
// and file pairs where the kernel cannot copy (copyRange falls back to it).
func copyBytes(out, in *os.File, off, n int64) error {
	buf := hashBuffers.Get().(*[]byte)
	defer hashBuffers.Put(buf)
	for end := off + n; off < end; {
		b := (*buf)[:min(int64(len(*buf)), end-off)]
		r, err := in.ReadAt(b, off)
		if r > 0 {
			if _, werr := out.WriteAt(b[:r], off); werr != nil {
				return werr
			}
			off += int64(r)
		}
		if err == io.EOF && off < end {
			return io.ErrUnexpectedEOF
		}
		if err != nil && err != io.EOF {
			return err
		}
	}
	return nil
}
