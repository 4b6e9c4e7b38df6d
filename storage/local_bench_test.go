package storage

import (
	"bytes"
	"context"
	"fmt"
	"testing"
)

// BenchmarkLocalPut measures one Put of a 4 KB object to a new key in b.TempDir() (on this project's
// CI and dev VMs, ext4), with the metadata in the extended attribute and in a sidecar file.
func BenchmarkLocalPut(b *testing.B) {
	data := bytes.Repeat([]byte("signet! "), 512) // 4 KB
	for _, mode := range testModes {
		b.Run(mode.String(), func(b *testing.B) {
			o := Options{PruneInterval: -1}
			o.defaults()
			st, err := openLocalMode(b.TempDir(), o, mode == metaSidecarMode)
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			if st.mode != mode {
				b.Skipf("the store chose %s mode here (no user extended attributes)", st.mode)
			}
			ctx := context.Background()
			b.SetBytes(int64(len(data)))
			for i := 0; b.Loop(); i++ {
				key := fmt.Sprintf("signed/bench/2026/11/g%d/job-%d.pdf", i%64, i)
				if _, err := st.Put(ctx, key, bytes.NewReader(data), int64(len(data)), "application/pdf", ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
