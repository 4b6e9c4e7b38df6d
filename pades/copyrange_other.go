//go:build !linux

package pades

import "os"

// copyRange copies n bytes at off from in to the same offset in out through a buffer (the kernel
// copy is Linux's copy_file_range; see copyrange_linux.go).
func copyRange(out, in *os.File, off, n int64) error { return copyBytes(out, in, off, n) }
