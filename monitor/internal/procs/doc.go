// Package procs is the process table: which processes run on the host and
// which socket inodes each holds, so that a socket found for a flow names
// its process. It answers "who holds inode N" (Holder, and the searches
// OwnerQuick, OwnerRefresh, OwnerByListener) and "what is process PID"
// (Process: executable, command line, start time, and where it runs —
// user, cgroup, unit, container through internal/identity, and network
// namespace through Options.NetNS), and says when a process exits
// (Options.Exited).
//
// It is built by one full scan of /proc/PID/fd at start and then kept up
// to date incrementally: the kernel's proc connector (CONFIG_PROC_EVENTS)
// names new and exited processes, and a process's open-file count (the
// size of /proc/PID/fd, one stat) tells which processes opened or closed
// files since they were last read. No tick rescans every fd of every
// process. Its rules, on the injected clock:
//
//   - young: a process forked or exec'd less than 2 s ago is searched first
//     for a socket not known yet, when its open-file count changed;
//     newborn: under 250 ms old, even when the count looks unchanged (an
//     exec keeps the count, with other files); exec'd less than 20 ms ago,
//     its fds are polled every 0.5 ms by a watcher goroutine;
//   - recent: the last 16 owners of a resolved flow are read again on a
//     miss, and the fd of their last socket probed (a daemon connecting
//     again and again keeps its count and most often its fd number);
//   - exit grace: an exited process answers for its sockets for 5 s (the
//     conntrack event of its last flow may come after its exit event);
//   - PID reuse: a fork or exec on the PID of an exited process is another
//     process, which never inherits the old one's sockets;
//   - inode expiry: a socket's owner is remembered for 10 s after it left
//     its owner's fd table (or its owner went);
//   - inherited: a socket found held by a process forked less than 30 s
//     ago is its parent's while the parent (by the fork event) still holds
//     it, read afresh, up to 4 generations (OwnerRefresh): a child
//     inherits every fd, and one that did not get the socket handed over
//     (a command substitution, a helper) is not its user.
//
// The /proc root is Options.Root, so tests run on fixture trees. Reading
// other users' /proc/PID/fd needs root (CAP_SYS_PTRACE and
// CAP_DAC_READ_SEARCH); the proc connector needs CAP_NET_ADMIN in the
// host's network and PID namespaces, and without it the table is only
// refreshed by scans (a warning says so).
//
// # Locks
//
// mu guards the table. newScan serialises listings of /proc for PIDs not
// known yet and is taken before mu, never inside it. No file is read with
// mu held, so the conntrack event workers search for owners in parallel;
// Options.Exited is called without it.
package procs
