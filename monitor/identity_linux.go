package monitor

import (
	"github.com/bwmon/bwmon/internal/identity"
	"github.com/bwmon/bwmon/model"
)

// identityResolver is procTable's reader of process identities; named here
// so that procs_linux.go needs no import of its own for it.
type identityResolver = identity.Resolver

// identify fills in where process pid runs: its user, cgroup, systemd unit
// and container (internal/identity), and its network namespace. It costs two small reads
// (/proc/PID/cgroup and /proc/PID/status); container names and user
// accounts are cached, so a container's files are read once.
func (t *procTable) identify(pid int, mp *model.Process) {
	mp.Identity = t.ids.Process(t.pidPath(pid, ""))
	if t.netnsLabel != nil {
		if ino, err := nsInode(t.pidPath(pid, "ns/net")); err == nil {
			mp.NetNS = t.netnsLabel(ino)
		}
	}
}
