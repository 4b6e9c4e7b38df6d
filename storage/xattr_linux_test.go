//go:build linux

package storage

import (
	"errors"

	"golang.org/x/sys/unix"
)

// Raw attribute access for tests, independent of the store's own helpers.

func testGetXattr(path, name string) ([]byte, error) {
	buf := make([]byte, 4096)
	n, err := unix.Getxattr(path, name, buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

func testSetXattr(path, name string, value []byte) error { return unix.Setxattr(path, name, value, 0) }

// testNoXattr: the file has no such attribute.
func testNoXattr(err error) bool { return errors.Is(err, unix.ENODATA) }
