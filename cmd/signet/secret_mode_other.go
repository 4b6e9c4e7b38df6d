//go:build !unix

package main

import "os"

// fileGroup: no Unix groups here, so a group-readable secret is refused (secretModeProblem).
func fileGroup(os.FileInfo) int { return -1 }
