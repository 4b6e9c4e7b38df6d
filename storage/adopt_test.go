package storage

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An Item with File on the store's file system becomes the object by a link, not a copy: the
// object is the very inode, readable and checked like any other. A file that cannot be linked is
// stored from R; a wrong declared size stores nothing; a wrong digest stores what Get then refuses.
func TestLocalPutAllAdoptsFile(t *testing.T) { forModes(t, testLocalPutAllAdoptsFile) }

func testLocalPutAllAdoptsFile(t *testing.T, mode metaMode) {
	st, root := openTestLocal(t, nil, mode)
	ctx := context.Background()
	staged := filepath.Join(root, "..", "staged-"+mode.String()+".pdf") // beside the store: same file system
	pdf := bytes.Repeat([]byte("%PDF-1.7 signed\n"), 4096)
	if err := os.WriteFile(staged, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(staged)
	item := Item{What: "signed PDF", Key: "p/2026/11/robot/j1.pdf", R: strings.NewReader("not read"), Size: int64(len(pdf)),
		ContentType: "application/pdf", SHA256: sum(pdf), File: staged}
	if _, err := PutAll(ctx, st, []Item{item}); err != nil {
		t.Fatal(err)
	}
	got, obj, err := readAll(t, st, item.Key)
	if err != nil || !bytes.Equal(got, pdf) || obj.SHA256 != sum(pdf) || obj.Size != int64(len(pdf)) {
		t.Fatalf("adopted object: %d bytes, %+v, %v", len(got), obj, err)
	}
	a, _ := os.Stat(staged)
	b, _ := os.Stat(st.dataPath(item.Key))
	if !os.SameFile(a, b) {
		t.Error("the object is a copy of the staged file, not the file itself")
	}
	if b.Mode().Perm() != 0o600 {
		t.Errorf("adopted object has mode %v, want 0600 like every object", b.Mode().Perm())
	}

	// Not linkable (here: absent): stored from R as Put would.
	other := []byte("%PDF-1.7 other")
	item2 := Item{Key: "p/2026/11/robot/j2.pdf", R: bytes.NewReader(other), Size: int64(len(other)), SHA256: sum(other),
		File: filepath.Join(root, "..", "no-such-file")}
	if _, err := PutAll(ctx, st, []Item{item2}); err != nil {
		t.Fatal(err)
	}
	if got, _, err := readAll(t, st, item2.Key); err != nil || !bytes.Equal(got, other) {
		t.Fatalf("fallback to the stream: %q, %v", got, err)
	}

	// A declared size the file does not have: nothing stored.
	item3 := item
	item3.Key, item3.Size = "p/2026/11/robot/j3.pdf", 5
	if _, err := PutAll(ctx, st, []Item{item3}); err == nil || !strings.Contains(err.Error(), "nothing stored") {
		t.Fatalf("wrong size adopted: %v", err)
	}
	if _, err := st.Stat(ctx, item3.Key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after a refused adoption: %v, want ErrNotFound", err)
	}

	// A digest that is not the file's: recorded as given, and every read fails the check.
	item4 := item
	item4.Key, item4.SHA256 = "p/2026/11/robot/j4.pdf", sum([]byte("something else"))
	if _, err := PutAll(ctx, st, []Item{item4}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readAll(t, st, item4.Key); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("reading an object adopted with a wrong digest: %v, want ErrIntegrity", err)
	}
}
