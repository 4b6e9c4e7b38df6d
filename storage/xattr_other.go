//go:build !linux

package storage

import (
	"errors"
	"os"
)

// Extended attributes are used on Linux only; elsewhere every store keeps its metadata in sidecars.
const metaXattr = "user.signet.meta"

var errNoXattr = errors.New("extended attributes are not used on this operating system")

func setMetaXattr(*os.File, []byte) error    { return errNoXattr }
func fgetMetaXattr(*os.File) ([]byte, error) { return nil, errNoXattr }
func getMetaXattr(string) ([]byte, error)    { return nil, errNoXattr }
func removeMetaXattr(*os.File) error         { return errNoXattr }
func xattrAbsent(err error) bool             { return errors.Is(err, errNoXattr) }
