package monitor

import (
	"log/slog"

	"github.com/bwmon/bwmon/internal/identity"
	"github.com/bwmon/bwmon/model"
)

// identityResolver is procTable's reader of process identities; named here
// so that procs_linux.go needs no import of its own for it.
type identityResolver = identity.Resolver

// newIdentityResolver starts a resolver and its container-naming worker,
// which logs refused container files to log (nil: nowhere); the procTable
// it is handed to closes it in wait.
func newIdentityResolver(log *slog.Logger) *identityResolver {
	return identity.NewResolver(identity.Options{Logger: log})
}

// identify fills in where process pid runs: its user, cgroup, systemd unit
// and container (internal/identity), and its network namespace. It costs two small reads
// (/proc/PID/cgroup and /proc/PID/status); user accounts are cached, and
// container names are read by the resolver's worker, never here.
func (t *procTable) identify(pid int, mp *model.Process) {
	mp.Identity = t.ids.Process(t.pidPath(pid, ""))
	if t.netnsLabel != nil {
		if ino, err := nsInode(t.pidPath(pid, "ns/net")); err == nil {
			mp.NetNS = t.netnsLabel(ino)
		}
	}
}
