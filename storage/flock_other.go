//go:build !unix

package storage

// flockFile: without flock, only writers inside one process are serialised (see localStore.lock).
func flockFile(string) (func(), error) { return func() {}, nil }
