//go:build unix

package main

import (
	"os"
	"syscall"
)

// fileGroup is the group that owns the file; -1 when the system does not say.
func fileGroup(st os.FileInfo) int {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return int(s.Gid)
	}
	return -1
}
