package pades

import (
	"errors"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// copyRange copies n bytes at off from in to the same offset in out with copy_file_range(2): the
// bytes never pass through this process, and a file system that can share extents (XFS, Btrfs)
// shares them instead of copying. Where the kernel refuses (another file system on an old kernel,
// a special file), it copies through a buffer.
func copyRange(out, in *os.File, off, n int64) error {
	rfd, wfd := int(in.Fd()), int(out.Fd())
	roff, woff := off, off
	for end := off + n; roff < end; {
		c, err := unix.CopyFileRange(rfd, &roff, wfd, &woff, int(end-roff), 0)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil && roff == off && fallBack(err):
			return copyBytes(out, in, off, n)
		case err != nil:
			return err
		case c == 0:
			return io.ErrUnexpectedEOF // the input is shorter than it was
		}
	}
	return nil
}

// fallBack reports whether copy_file_range's error means "not here", not "failed".
func fallBack(err error) bool {
	return errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EXDEV) || errors.Is(err, unix.EINVAL) ||
		errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EBADF) || errors.Is(err, unix.EPERM)
}
