//go:build !linux

package storage

import "errors"

// The store uses extended attributes on Linux only; elsewhere every file "has no attribute".

func testGetXattr(string, string) ([]byte, error) { return nil, errors.ErrUnsupported }
func testSetXattr(string, string, []byte) error   { return errors.ErrUnsupported }
func testNoXattr(err error) bool                  { return errors.Is(err, errors.ErrUnsupported) }
