package pades

// Decoding budgets. Whatever the input, reading one PDF decodes a bounded number of bytes, lists a
// bounded number of objects and parses objects of a bounded size; and every document being read in
// the process at once shares one budget of decoded bytes, so twelve decompression bombs arriving
// together cannot add up. A stream's output is reserved before it is made: a FlateDecode stream
// is inflated once to count its bytes (without keeping them) and then into a buffer of that size;
// for another filter the reader reserves a sound upper bound (the raw length times the largest
// expansion the filter can make, ISO 32000-1 §7.4), decodes with that bound as the filter's limit,
// and keeps only what the stream really decoded to (objects.go, streamData).

import (
	"context"
	"math"
	"sync"
	"time"
)

// Limits bound what reading one PDF may cost.
type Limits struct {
	// MaxStreamBytes bounds the decoded size of one object or cross-reference stream.
	MaxStreamBytes int64
	// MaxDocumentBytes bounds the decoded bytes of all the streams one document decodes, and the
	// memory its parsed objects may take.
	MaxDocumentBytes int64
	// MaxObjects bounds the cross-reference entries of one document (over all its sections).
	MaxObjects int
	// ProcessBytes is the decoded bytes held at once by every document being read in this process.
	ProcessBytes int64
}

// DefaultLimits: a structure stream (object stream, cross-reference stream) of a real document
// decodes to kilobytes, at most a few megabytes; a document with a million objects is already a
// very large one.
func DefaultLimits() Limits {
	return Limits{MaxStreamBytes: 32 << 20, MaxDocumentBytes: 64 << 20, MaxObjects: 1 << 20, ProcessBytes: 256 << 20}
}

var (
	limitsMu  sync.Mutex
	limits    = DefaultLimits()
	decodeSem = newWeighted(limits.ProcessBytes)
)

// SetLimits replaces the limits of every document read from now on (zero fields keep the
// defaults). Call it once at start-up, before any document is read.
func SetLimits(l Limits) {
	d := DefaultLimits()
	if l.MaxStreamBytes <= 0 {
		l.MaxStreamBytes = d.MaxStreamBytes
	}
	if l.MaxDocumentBytes <= 0 {
		l.MaxDocumentBytes = d.MaxDocumentBytes
	}
	if l.MaxObjects <= 0 {
		l.MaxObjects = d.MaxObjects
	}
	if l.ProcessBytes <= 0 {
		l.ProcessBytes = d.ProcessBytes
	}
	l.MaxStreamBytes = min(l.MaxStreamBytes, l.MaxDocumentBytes)
	l.MaxDocumentBytes = min(l.MaxDocumentBytes, l.ProcessBytes)
	limitsMu.Lock()
	defer limitsMu.Unlock()
	limits, decodeSem = l, newWeighted(l.ProcessBytes)
}

func currentLimits() (Limits, *weighted) {
	limitsMu.Lock()
	defer limitsMu.Unlock()
	return limits, decodeSem
}

// weighted is the process budget: a counting semaphore of bytes. Unlike a FIFO semaphore it serves
// any request that fits: a document that holds part of the budget and needs a little more (to read
// one more object) must not queue behind a newcomer's large reservation, or neither finishes.
type weighted struct {
	mu   sync.Mutex
	size int64
	cur  int64
	wake chan struct{} // closed, and replaced, on every release
}

func newWeighted(size int64) *weighted {
	return &weighted{size: size, wake: make(chan struct{})}
}

func (w *weighted) tryAcquire(n int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cur+n > w.size {
		return false
	}
	w.cur += n
	return true
}

// acquire waits until n fits or ctx ends; n must not exceed the size.
func (w *weighted) acquire(ctx context.Context, n int64) error {
	for {
		w.mu.Lock()
		if w.cur+n <= w.size {
			w.cur += n
			w.mu.Unlock()
			return nil
		}
		wake := w.wake
		w.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (w *weighted) release(n int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cur -= n
	if w.cur < 0 {
		panic("pades: decoding budget released more than held")
	}
	close(w.wake)
	w.wake = make(chan struct{})
}

// busyWait is how long a document that already holds part of the process budget waits for more
// before giving up with ErrBusy (two documents each holding some and waiting for the other's would
// otherwise wait for ever). A document that holds nothing waits as long as its context allows.
const busyWait = 5 * time.Second

// budget is one document's share: what it decoded so far (against MaxDocumentBytes) and what it
// holds of the process budget.
type budget struct {
	lim  Limits
	sem  *weighted
	used int64 // decoded (and charged for parsing) so far
	held int64 // reserved from sem
}

func newBudget() *budget {
	l, s := currentLimits()
	return &budget{lim: l, sem: s}
}

// overDocument is the never-will-work error of a document that expands beyond MaxDocumentBytes.
func overDocument(name string, lim Limits) error {
	return docError(name, ErrTooLarge, "the PDF expands to more than %d MB when decoded (pdf.max_document_bytes); it looks like a decompression bomb. Re-save it with a PDF tool (print to PDF) and send it again", mb(lim.MaxDocumentBytes))
}

func mb(n int64) int64 { return (n + 1<<20 - 1) >> 20 }

// reserve takes n bytes of the process budget for the document, after checking that the document
// may use them. It does not count them as used: see charge.
func (b *budget) reserve(ctx context.Context, name string, n int64) error {
	if n <= 0 {
		return nil
	}
	if n > b.lim.ProcessBytes {
		return overDocument(name, b.lim)
	}
	if b.held == 0 {
		if err := b.sem.acquire(ctx, n); err != nil {
			return err
		}
	} else if !b.sem.tryAcquire(n) {
		wctx, cancel := context.WithTimeout(ctx, busyWait)
		err := b.sem.acquire(wctx, n)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return docError(name, ErrBusy, "Signet is decoding other large documents right now; try again in a minute")
		}
	}
	b.held += n
	return nil
}

// give back n bytes of the reservation.
func (b *budget) give(n int64) {
	n = min(n, b.held)
	if n > 0 {
		b.held -= n
		b.sem.release(n)
	}
}

// charge counts n decoded bytes against the document's limit.
func (b *budget) charge(name string, n int64) error {
	if b.used+n > b.lim.MaxDocumentBytes {
		b.used = b.lim.MaxDocumentBytes
		return overDocument(name, b.lim)
	}
	b.used += n
	return nil
}

// remaining is what the document may still decode.
func (b *budget) remaining() int64 { return b.lim.MaxDocumentBytes - b.used }

// releaseAll gives back everything the document holds; the document is no longer read.
func (b *budget) releaseAll() { b.give(b.held) }

// expansion is the largest factor by which a filter can expand its input, or 0 for a filter that
// never appears on a structure stream. Flate (RFC 1951): a 258-byte match in at most 2 bits, 1032:1;
// LZW: a 9-bit code can stand for a string of up to 4096 bytes; RunLength: 2 bytes make 128;
// ASCII85: "z" makes 4 bytes; ASCIIHex halves its input.
func expansion(filter string) int64 {
	switch filter {
	case "FlateDecode", "Fl":
		return 1032
	case "LZWDecode", "LZW":
		return 3641
	case "RunLengthDecode", "RL":
		return 64
	case "ASCII85Decode", "A85":
		return 4
	case "ASCIIHexDecode", "AHx":
		return 1
	}
	return 0
}

// decodeBound is a sound upper bound of the decoded size of raw bytes through filters, capped at
// limit; ok is false when a filter is not one a structure stream uses.
func decodeBound(raw int64, filters []string, limit int64) (bound int64, ok bool) {
	bound = raw
	for _, f := range filters {
		x := expansion(f)
		if x == 0 {
			return 0, false
		}
		if bound > (math.MaxInt64-1024)/x {
			bound = limit
		} else {
			bound = bound*x + 1024
		}
		bound = min(bound, limit)
	}
	return min(bound, limit), true
}

func errStreamTooLarge(name string, at int64, lim Limits) error {
	return docError(name, ErrTooLarge, "a structure stream at offset %d expands to more than %d MB when decoded (pdf.max_stream_bytes); it looks like a decompression bomb. Re-save the PDF with a PDF tool and send it again", at, mb(lim.MaxStreamBytes))
}

func errTooManyObjects(name string, lim Limits) error {
	return docError(name, ErrTooLarge, "the PDF lists more than %d objects (pdf.max_objects); split it or raise the limit", lim.MaxObjects)
}
