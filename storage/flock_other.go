//go:build !unix

package storage

import "os"

// flock: without flock, only writers inside one process are serialised (see localStore.lock).
func flock(*os.File, bool) error { return nil }
