package pades

// Adversarial tests of the decoding budgets (budget.go): inputs built to cost memory or time, each
// refused with ErrTooLarge (or ErrCorrupt) and nothing written. Memory is measured, never time.

import (
	"bytes"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-b24/signet/internal/testsupport/testenv"

	"github.com/signet-b24/signet/internal/testsupport/pdfgen"
)

// xrefStreamPDF: see pdfgen.XRefStreamPDF.
var xrefStreamPDF = pdfgen.XRefStreamPDF

var (
	bombOnce sync.Once
	bombPDF  []byte
)

// bomb is a 1-page PDF of about 300 KB whose catalog and page tree live in an object stream that
// inflates (/FlateDecode) to 320 MB: the "1 MB object-stream bomb" of issue 15.
func bomb(t testing.TB) []byte {
	bombOnce.Do(func() { bombPDF = bombOf(320) })
	if len(bombPDF) > 1<<20 {
		t.Fatalf("the bomb is %d bytes; it should be under 1 MB", len(bombPDF))
	}
	return bombPDF
}

// smallBomb inflates to 40 MB, just over the default stream limit: a fuzzing seed.
func smallBomb() []byte { return bombOf(40) }

// bombOf: see pdfgen.Bomb.
var bombOf = pdfgen.Bomb

// withLimits sets the package limits for one test.
func withLimits(t *testing.T, l Limits) {
	SetLimits(l)
	t.Cleanup(func() { SetLimits(DefaultLimits()) })
}

// allocated runs f and returns the bytes it allocated (all of them, freed or not: a bound on the
// heap it can have needed).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func wantTooLarge(t *testing.T, err error, phrase string) {
	t.Helper()
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), phrase) {
		t.Fatalf("want ErrTooLarge saying %q, got %v", phrase, err)
	}
}

// TestAttackObjectStreamBomb signs the bomb: refused with the clear never-will-work error, no output
// file, and far less memory than the 320 MB the stream inflates to.
func TestAttackObjectStreamBomb(t *testing.T) {
	in := bomb(t)
	dir := t.TempDir()
	src, out := filepath.Join(dir, "bomb.pdf"), filepath.Join(dir, "signed.pdf")
	if err := os.WriteFile(src, in, 0o600); err != nil {
		t.Fatal(err)
	}
	s := ecSigner(t)
	var err error
	n := allocated(func() { _, err = SignFile(context.Background(), src, out, s, Options{Page: -1}) })
	wantTooLarge(t, err, "expands to more than 32 MB when decoded")
	t.Logf("signing the bomb allocated %d MiB: %v", n>>20, err)
	if n > 160<<20 {
		t.Errorf("signing the bomb allocated %d MiB; the decoding budget should keep it near 2 × 32 MiB", n>>20)
	}
	if _, serr := os.Stat(out); !errors.Is(serr, os.ErrNotExist) {
		t.Errorf("a signed file was written for the bomb (%v)", serr)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("files left behind: %v", ents)
	}

	// In memory (the worker's path for small documents) the same.
	_, _, err = Sign(context.Background(), in, s, Options{})
	wantTooLarge(t, err, "when decoded")
}

// TestAttackBombThroughVerify: the verification path reads with the same budget.
func TestAttackBombThroughVerify(t *testing.T) {
	src := filepath.Join(t.TempDir(), "bomb.pdf")
	if err := os.WriteFile(src, bomb(t), 0o600); err != nil {
		t.Fatal(err)
	}
	var err error
	n := allocated(func() { _, err = Verify(src, nil) })
	wantTooLarge(t, err, "when decoded")
	if n > 160<<20 {
		t.Errorf("verifying the bomb allocated %d MiB", n>>20)
	}
}

// TestAttackTwelveBombsAtOnce: twelve bombs at once share the process budget, so the live heap stays
// near the budget instead of twelve times a document's share (issue 15: 1.07 GB RSS).
func TestAttackTwelveBombsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes twelve bombs")
	}
	in := bomb(t)
	withLimits(t, Limits{MaxStreamBytes: 16 << 20, MaxDocumentBytes: 16 << 20, ProcessBytes: 40 << 20})
	s := ecSigner(t)
	errs := make([]error, 12)
	peak := testenv.PeakHeap(func() {
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() { _, _, errs[i] = Sign(context.Background(), in, s, Options{}) })
		}
		wg.Wait()
	})
	for i, err := range errs {
		if !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrBusy) {
			t.Errorf("bomb %d: want ErrTooLarge or ErrBusy, got %v", i, err)
		}
	}
	t.Logf("twelve bombs at once: peak heap %d MiB above the start (process budget 40 MiB)", peak>>20)
	// Unshared, each bomb would hold 16 MiB decoded plus its filter's buffer: over 200 MiB at once.
	if peak > 150<<20 {
		t.Errorf("twelve bombs at once took a peak of %d MiB of heap; the process budget is 40 MiB", peak>>20)
	}
}

// TestAttackTwelveLargeDocumentsAtOnce: documents that may each decode a large object stream (12 MB,
// under the document's limit) share the process budget: twelve of them read at once, each kept open
// until all have tried, hold no more than the budget between them; the others wait and are turned
// away (ErrBusy, or their deadline), instead of twelve times 12 MB being decoded at once.
func TestAttackTwelveLargeDocumentsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes twelve 12 MB streams")
	}
	in := bombOf(12)
	withLimits(t, Limits{MaxStreamBytes: 16 << 20, MaxDocumentBytes: 16 << 20, ProcessBytes: 40 << 20})
	docs := make([]*document, 12)
	errs := make([]error, 12)
	peak := testenv.PeakHeap(func() {
		var wg sync.WaitGroup
		for i := range docs {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second) // ErrBusy comes first, after busyWait
				defer cancel()
				docs[i], errs[i] = readDocument(ctx, bytes.NewReader(in), int64(len(in)), "large.pdf")
			})
		}
		wg.Wait() // every document read so far is still open: what they hold adds up
		runtime.GC()
	})
	read := 0
	for i, d := range docs {
		if d != nil {
			read++
			d.release()
		} else if !errors.Is(errs[i], ErrBusy) && !errors.Is(errs[i], context.DeadlineExceeded) {
			t.Errorf("document %d: want ErrBusy or the deadline, got %v", i, errs[i])
		}
	}
	t.Logf("twelve 12 MB documents at once: %d read, peak heap %d MiB above the start (process budget 40 MiB)", read, peak>>20)
	if read == 0 || read > 3 {
		t.Errorf("%d of twelve documents read at once; the 40 MiB budget has room for two or three", read)
	}
	if peak > 110<<20 {
		t.Errorf("a peak of %d MiB of heap; the process budget is 40 MiB", peak>>20)
	}
	budgetFree(t)
	// With the budget free again, a document is read at once.
	d, err := readDocument(context.Background(), bytes.NewReader(in), int64(len(in)), "large.pdf")
	if err != nil {
		t.Fatal(err)
	}
	d.release()
}

// TestAttackDeepNesting: arrays nested 100,000 deep in the catalog, in a plain object and in an
// object stream, are refused as corrupt, not a stack overflow.
func TestAttackDeepNesting(t *testing.T) {
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	plain := buildPDF([]string{"<</Type/Catalog/Pages 2 0 R/X " + deep + ">>", "<</Type/Pages/Kids[3 0 R]/Count 1>>", "<</Type/Page/Parent 2 0 R>>"}, "", nil)
	objs := "<</Type/Catalog/Pages 2 0 R/X " + deep + ">>\n<</Type/Pages/Kids[3 0 R]/Count 1>>\n"
	prolog := fmt.Sprintf("1 0 2 %d ", strings.Index(objs, "\n")+1)
	stm := fmt.Sprintf("<</Type/ObjStm/N 2/First %d/Length %d>>\nstream\n%s\nendstream", len(prolog), len(prolog+objs), prolog+objs)
	packed := xrefStreamPDF(map[int]string{3: "<</Type/Page/Parent 2 0 R>>", 4: stm}, []int{3, 4}, map[int][2]int{1: {4, 0}, 2: {4, 1}}, 1)
	s := ecSigner(t)
	for name, in := range map[string][]byte{"plain": plain, "object stream": packed} {
		_, _, err := Sign(context.Background(), in, s, Options{})
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: want ErrCorrupt, got %v", name, err)
		}
	}
}

// TestAttackHugeObjectCount: a cross-reference stream of 10 KB that lists 20 million objects (one
// byte each, /W [1 0 0]) is refused before the reader builds a map of them.
func TestAttackHugeObjectCount(t *testing.T) {
	const count = 20_000_000
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	zw.Write(bytes.Repeat([]byte{1}, count))
	zw.Close()
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n")
	at := b.Len()
	fmt.Fprintf(&b, "1 0 obj\n<</Type/XRef/Size %d/W[1 0 0]/Root 2 0 R/Filter/FlateDecode/Length %d>>\nstream\n", count, z.Len())
	b.Write(z.Bytes())
	fmt.Fprintf(&b, "\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n", at)
	in := b.Bytes()
	var err error
	n := allocated(func() { _, _, err = Sign(context.Background(), in, ecSigner(t), Options{}) })
	wantTooLarge(t, err, "lists more than 1048576 objects")
	t.Logf("a %d KB file listing %d objects: refused after allocating %d MiB", len(in)>>10, count, n>>20)
	if n > 256<<20 {
		t.Errorf("refusing %d objects allocated %d MiB", count, n>>20)
	}
}

// TestAttackHugeKidsArray: a page tree node whose /Kids array is 8 MB of "1 0 R" is charged to the
// document's budget as it is parsed; with a small budget it is refused.
func TestAttackHugeKidsArray(t *testing.T) {
	withLimits(t, Limits{MaxDocumentBytes: 16 << 20})
	kids := strings.Repeat("3 0 R ", (8<<20)/6-16)
	in := buildPDF([]string{"<</Type/Catalog/Pages 2 0 R>>", "<</Type/Pages/Kids[" + kids + "]/Count 1>>", "<</Type/Page/Parent 2 0 R>>"}, "", nil)
	_, _, err := Sign(context.Background(), in, ecSigner(t), Options{})
	wantTooLarge(t, err, "when decoded")
}

// TestBudgetReleased: after refused bombs every byte of the process budget is back; an ordinary
// document then signs.
func TestBudgetReleased(t *testing.T) {
	withLimits(t, Limits{ProcessBytes: 100 << 20})
	s := ecSigner(t)
	for range 3 {
		if _, _, err := Sign(context.Background(), bomb(t), s, Options{}); !errors.Is(err, ErrTooLarge) {
			t.Fatal(err)
		}
	}
	_, sem := currentLimits()
	if !sem.tryAcquire(100 << 20) {
		t.Fatal("the process budget was not given back after refusing the bombs")
	}
	sem.release(100 << 20)
	if _, _, err := Sign(context.Background(), corpus(t, "xref-stream.pdf"), s, Options{}); err != nil {
		t.Fatal(err)
	}
}

// TestCensus counts what a PDF's streams decode to (worker/evidence's guard before pdfcpu): an
// ordinary document is counted; a page content stream inflating to 200 MB is refused; an image
// stream is not counted (a reader keeps it encoded).
func TestCensus(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	n, err := Census(context.Background(), write("invoice.pdf", corpus(t, "invoice.pdf")))
	if err != nil || n <= 0 {
		t.Fatalf("invoice: %d bytes, %v", n, err)
	}
	_, err = Census(context.Background(), write("content-bomb.pdf", pdfgen.ContentBomb(200)))
	wantTooLarge(t, err, "when decoded")
	_, err = Census(context.Background(), write("bomb.pdf", bomb(t)))
	wantTooLarge(t, err, "when decoded")

	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	zw.Write(make([]byte, 100<<20))
	zw.Close()
	img := xrefStreamPDF(map[int]string{
		1: "<</Type/Catalog/Pages 2 0 R>>", 2: "<</Type/Pages/Kids[3 0 R]/Count 1>>",
		3: "<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]/Resources<</XObject<</Im 4 0 R>>>>>>",
		4: fmt.Sprintf("<</Type/XObject/Subtype/Image/Width 10240/Height 10240/ColorSpace/DeviceGray/BitsPerComponent 8/Filter/FlateDecode/Length %d>>\nstream\n", z.Len()) + z.String() + "\nendstream",
	}, []int{1, 2, 3, 4}, nil, 1)
	if n, err := Census(context.Background(), write("scan.pdf", img)); err != nil || n > 1<<20 {
		t.Errorf("a 100 MB image: counted %d bytes, %v; images stay encoded", n, err)
	}
	budgetFree(t)
}

// TestBudgetServesWhatFits: a document holding part of the budget gets the little more it needs
// while a newcomer waits for a large reservation; a first-come queue would deadlock the two.
func TestBudgetServesWhatFits(t *testing.T) {
	w := newWeighted(100)
	if !w.tryAcquire(60) {
		t.Fatal("60 of 100")
	}
	big := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { big <- w.acquire(ctx, 50) }()
	time.Sleep(10 * time.Millisecond) // let the large request wait (ordering, not a timing assertion)
	if err := w.acquire(context.Background(), 30); err != nil {
		t.Fatalf("the holder's small request waited behind the newcomer: %v", err)
	}
	w.release(90)
	if err := <-big; err != nil {
		t.Fatalf("the newcomer was not served once the holder finished: %v", err)
	}
	w.release(50)
}
