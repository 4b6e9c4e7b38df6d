package main

// Who may read a secret file that `signet config check` reads (docs/operations.md, "Secret files").
// Its owner, and no one else — except a group the process itself is in: Kubernetes mounts a
// Secret's files root-owned with the pod's fsGroup as their group (deploy/k8s: defaultMode 0440),
// and puts every container of the pod in that group, so 0440 there is the only mode that lets a
// non-root service read its secret at all. A group the service is in is the service's own; a group
// it is not in (staff, users) is other people.

import (
	"fmt"
	"os"
	"slices"
	"strconv"
)

// secretModeProblem judges perm, and the file's group gid (-1: unknown) against the process's
// groups; nil when only the owner, or the owner and a group of the process, may read the file.
func secretModeProblem(path string, perm os.FileMode, gid int, groups []int) error {
	if perm&0o077&^0o040 != 0 {
		return errorf("cli.config.secretMode", "%[1]s holds a secret but is mode %[2]s; run chmod 600 %[1]s", path, fmt.Sprintf("%04o", perm))
	}
	if perm&0o040 != 0 && (gid < 0 || !slices.Contains(groups, gid)) {
		return errorf("cli.config.secretGroup", "%[1]s holds a secret and is readable by group %[2]s, which this process is not in; run chmod 600 %[1]s, or chgrp it to the service's own group",
			path, strconv.Itoa(gid))
	}
	return nil
}

// processGroups is the process's real, effective and supplementary groups.
func processGroups() []int {
	groups, _ := os.Getgroups()
	return append(groups, os.Getgid(), os.Getegid())
}
