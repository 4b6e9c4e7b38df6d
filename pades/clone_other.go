//go:build !linux

package pades

import (
	"errors"
	"os"
)

// cloneFile is Linux's FICLONE (clone_linux.go); elsewhere the caller copies.
func cloneFile(out, in *os.File) error { return errors.New("no reflink here") }
