package pades

import (
	"bytes"
	"context"
	"sync"
	"testing"
)

// TestConcurrentSign signs from several goroutines at once, as the worker pool does (run with -race).
func TestConcurrentSign(t *testing.T) {
	in := corpus(t, "invoice.pdf")
	s := ecSigner(t)
	var wg sync.WaitGroup
	outs := make([][]byte, 8)
	results := make([]*Result, 8)
	errs := make([]error, 8)
	for i := range outs {
		wg.Go(func() {
			outs[i], results[i], errs[i] = Sign(context.Background(), in, s, Options{Visible: i%2 == 0, Name: "Иванов Иван Иванович"})
		})
	}
	wg.Wait()
	for i := range outs {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !bytes.HasPrefix(outs[i], in) {
			t.Fatalf("signature %d: input is not a prefix", i)
		}
	}
	checkSigned(t, in, outs[0], results[0], 1)
	checkSigned(t, in, outs[1], results[1], 1)
}
