package sockbpf

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/bwmon/bwmon/internal/identity"
)

// errNoCgroup2 is parseCgroup2Root's answer when no cgroup v2 hierarchy is
// mounted.
var errNoCgroup2 = errors.New("no cgroup v2 hierarchy is mounted")

// parseCgroup2Root returns the mount point of the cgroup v2 hierarchy's
// root from a mountinfo table (proc(5)): /sys/fs/cgroup on unified hosts,
// /sys/fs/cgroup/unified on hybrid ones. A cgroup2 mount of a sub-tree
// (root other than "/") is taken only when there is no mount of the root.
func parseCgroup2Root(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxMountinfo))
	if err != nil {
		return "", fmt.Errorf("reading mountinfo: %w", err)
	}
	sub := ""
	for _, m := range identity.ParseMountInfo(string(b)) {
		if m.FSType != "cgroup2" || !strings.HasPrefix(m.Point, "/") {
			continue
		}
		if m.Root == "/" {
			return m.Point, nil
		}
		if sub == "" {
			sub = m.Point
		}
	}
	if sub != "" {
		return sub, nil
	}
	return "", errNoCgroup2
}

// maxMountinfo bounds the mountinfo read: a host with tens of thousands of
// mounts (containers) stays well under it.
const maxMountinfo = 16 << 20
