package storage

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// The put reader must never hand over the complete stream when its digest or size is wrong: that is
// what keeps a refused S3 upload from completing.
func TestPutReaderHoldsBackLastByte(t *testing.T) {
	data := []byte("0123456789abcdef-signed-pdf")
	wrap := map[string]func(io.Reader) io.Reader{
		"plain":         func(r io.Reader) io.Reader { return r },
		"one byte":      iotest.OneByteReader,
		"data with EOF": iotest.DataErrReader,
		"half":          iotest.HalfReader,
	}
	for name, w := range wrap {
		for _, c := range []struct {
			what    string
			want    string
			size    int64
			wantErr bool
		}{
			{"right digest", sum(data), int64(len(data)), false},
			{"no digest, unknown size", "", -1, false},
			{"wrong digest", sum([]byte("x")), int64(len(data)), true},
			{"short size", "", int64(len(data)) - 1, true},
			{"long size", "", int64(len(data)) + 1, true},
		} {
			pr := newPutReader(w(bytes.NewReader(data)), "k", c.want, c.size)
			got, err := io.ReadAll(pr)
			if c.wantErr {
				if err == nil || len(got) >= len(data) {
					t.Errorf("%s/%s: delivered %d of %d bytes, err %v; want an error before the last byte", name, c.what, len(got), len(data), err)
				}
				continue
			}
			if err != nil || !bytes.Equal(got, data) || pr.sum() != sum(data) {
				t.Errorf("%s/%s: %q, %v", name, c.what, got, err)
			}
		}
	}
	// Reading one byte at a time from the consumer side works too.
	pr := newPutReader(strings.NewReader("ab"), "k", sum([]byte("ab")), 2)
	if err := iotest.TestReader(pr, []byte("ab")); err != nil {
		t.Error(err)
	}
}

func TestGetReaderVerifies(t *testing.T) {
	data := []byte("stored bytes")
	obj := Object{Key: "k", Size: int64(len(data)), SHA256: sum(data)}
	if err := iotest.TestReader(newGetReader(io.NopCloser(bytes.NewReader(data)), obj), data); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]byte{[]byte("stored bytez"), []byte("stored"), []byte("stored bytes!")} {
		r := newGetReader(io.NopCloser(iotest.OneByteReader(bytes.NewReader(bad))), obj)
		if _, err := io.ReadAll(r); !errors.Is(err, ErrIntegrity) {
			t.Errorf("%q read as %v, want ErrIntegrity", bad, err)
		}
		if err := r.Close(); !errors.Is(err, ErrIntegrity) {
			t.Errorf("%q Close = %v, want ErrIntegrity", bad, err)
		}
	}
}
