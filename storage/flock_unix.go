//go:build unix

package storage

import (
	"os"
	"syscall"
)

// flock takes (exclusive) or releases an advisory lock on f, so that several Signet processes sharing
// one local directory never interleave the writes of one key. The lock belongs to f's open file
// description: a second flock through the same descriptor in this process would succeed at once,
// which is why localStore.lock holds an in-process mutex around it.
func flock(f *os.File, exclusive bool) error {
	how := syscall.LOCK_UN
	if exclusive {
		how = syscall.LOCK_EX
	}
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			return err
		}
	}
}
