package owners

import (
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/monitor/internal/sockets"
)

// earlyMax bounds the inodes NoteEarly keeps; those the event path never
// takes (a flow a dump resolved first) are dropped all at once.
const earlyMax = 4096

// NoteEarly looks up, with d, the socket local -> remote of a TCP
// connection this namespace opened, on the event reader's thread as soon
// as its NEW event is read, and reads the recent owners' fds (ProbeRecent)
// while the socket is surely open. A client that connects, sends a few
// kilobytes and closes within a fraction of a millisecond has its socket in
// time-wait, with no inode, by the time an event worker looks: the inode
// found here, with the owner the probe recorded, still names the process.
// When the probe does not find it either, it reads the fds of the young
// processes that opened a file since they were read (FindYoung): under CPU
// load an event worker may look many milliseconds later, after a process
// that lived a few has exited. It costs one sock_diag round trip per new
// outgoing TCP connection; the probe's readlinks when the socket is not
// known yet, and the young processes' fd tables (at most 32) when the
// probe missed.
//
// It reports whether the socket's owner is known.
func (r *Resolver) NoteEarly(d *sockets.Diag, local, remote netip.AddrPort) bool {
	s, found, err := d.Lookup(unix.IPPROTO_TCP, local, remote)
	if err != nil || !found || s.Inode == 0 || s.State == sockets.TCPListen {
		return false
	}
	known := r.procs.Known(s.Inode)
	if !known {
		r.procs.ProbeRecent()
		known = r.procs.Known(s.Inode)
	}
	if !known {
		known = r.procs.FindYoung(s.Inode)
	}
	r.earlyMu.Lock()
	if r.early == nil || len(r.early) >= earlyMax {
		r.early = make(map[[2]netip.AddrPort]uint64)
	}
	r.early[[2]netip.AddrPort{local, remote}] = s.Inode
	r.earlyMu.Unlock()
	return known
}

// takeEarly returns and forgets the inode NoteEarly found for local ->
// remote (0: none).
func (r *Resolver) takeEarly(local, remote netip.AddrPort) uint64 {
	k := [2]netip.AddrPort{local, remote}
	r.earlyMu.Lock()
	defer r.earlyMu.Unlock()
	ino := r.early[k]
	if ino != 0 {
		delete(r.early, k)
	}
	return ino
}

// acceptedBy finds the holder of a server's socket inode whose holder is
// not known yet, by reading the fds of the process holding the listener
// (found by listener) on its local port; nil when that does not tell.
func (r *Resolver) acceptedBy(listener func(netip.AddrPort) (uint64, bool), local netip.AddrPort, inode uint64) *model.Process {
	l, ok := listener(local)
	if !ok || l == inode {
		return nil
	}
	return r.procs.OwnerByListener(inode, l)
}

// listenerHolder is the process holding the TCP listener where local is,
// for an inbound connection whose accepted socket had no inode when it was
// looked up after its first tick: closed by then (a server that answers
// and closes within a millisecond, most often before an event worker
// looks), or not accepted yet. Either way its listener's holder accepted
// it or will, short of a super-server that hands each connection to a
// process of its own: PID 1's listeners (systemd's Accept=yes) are not
// taken; inetd's are (docs/design.md, Known limits). nil when no process
// known holds a listener there.
func (r *Resolver) listenerHolder(listener func(netip.AddrPort) (uint64, bool), local netip.AddrPort) *model.Process {
	l, ok := listener(local)
	if !ok {
		return nil
	}
	p := r.procs.OwnerRefresh(l)
	if p == nil || p.PID == 1 {
		return nil
	}
	return p
}
