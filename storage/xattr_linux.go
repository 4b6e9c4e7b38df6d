//go:build linux

package storage

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// metaXattr is the extended attribute holding an object's metadata (the sidecar JSON) on its data file.
// Only the "user." namespace is writable by an unprivileged owner.
const metaXattr = "user.signet.meta"

// setMetaXattr records b on the open file f, replacing any earlier value.
func setMetaXattr(f *os.File, b []byte) error {
	return unix.Fsetxattr(int(f.Fd()), metaXattr, b, 0)
}

// fgetMetaXattr reads the metadata from an open file, so it describes exactly the inode being read.
func fgetMetaXattr(f *os.File) ([]byte, error) {
	fd := int(f.Fd())
	return readXattr(func(dest []byte) (int, error) { return unix.Fgetxattr(fd, metaXattr, dest) })
}

// getMetaXattr reads the metadata by path (Stat: cheaper than opening the file).
func getMetaXattr(path string) ([]byte, error) {
	return readXattr(func(dest []byte) (int, error) { return unix.Getxattr(path, metaXattr, dest) })
}

// removeMetaXattr is used by the probe only.
func removeMetaXattr(f *os.File) error {
	return unix.Fremovexattr(int(f.Fd()), metaXattr)
}

// readXattr calls get with a buffer that fits any normal value in one call, and asks for the size
// only if the value is larger (a very long content type).
func readXattr(get func(dest []byte) (int, error)) ([]byte, error) {
	buf := make([]byte, 512)
	for {
		n, err := get(buf)
		if err == nil {
			return buf[:n], nil
		}
		if !errors.Is(err, unix.ERANGE) {
			return nil, err
		}
		if n, err = get(nil); err != nil {
			return nil, err
		}
		buf = make([]byte, n+64) // it may grow between the two calls; then loop
	}
}

// xattrAbsent reports whether err means "this file carries no such attribute" or "this filesystem has
// no user attributes", so the reader should look for a sidecar instead.
func xattrAbsent(err error) bool {
	return errors.Is(err, unix.ENODATA) || errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EPERM)
}
