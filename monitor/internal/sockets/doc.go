// Package sockets finds the socket at one end of a flow: its inode (which
// the process table turns into a process), state, owner's UID and, from
// sock_diag, its cookie. It is the one place that looks sockets up, for the
// watched network namespace and for every other one (a container's, behind
// NAT), by two means:
//
//   - NETLINK_SOCK_DIAG (Diag), an exact lookup by tuple the way the kernel
//     demultiplexes a packet (TCP: established, time-wait, listening; UDP:
//     connected and bound), a listener by local address, and a dump of
//     every socket with its inode and cookie (List);
//   - the /proc/net tables (tcp, udp, icmp, raw and their "6" twins), for
//     ping and raw sockets, which sock_diag does not look up by tuple, and
//     for TCP and UDP where sock_diag cannot be had (no CAP_SYS_ADMIN to
//     enter a namespace). They are parsed by ParseProcNet, matched by one
//     rule (Match) and kept for a moment in one Cache, on one clock,
//     shared by every namespace's lookups.
//
// # The matching rule
//
// A socket matches the local end of a flow when it is bound to the flow's
// local port (for ping sockets the echo ID, for raw sockets the IP
// protocol) and to its local address or the wildcard. Among those, a
// connected socket (its remote address set) matches only its peer: the
// remote address, and the remote port where the table records one (ping
// and raw sockets record none); it wins over an unconnected socket, of
// which the first listed is taken.
//
// Namespace ties these together for one network namespace: a small pool of
// sock_diag sockets, opened when first needed, and the /proc/net tables
// read through a Source that knows how to reach that namespace.
//
// A Namespace's lookups wait for a free sock_diag socket (a semaphore)
// before they take its mu; mu is never held while a table is read, nor
// while the Cache's lock is taken: no two of these locks nest.
//
// It does not know processes or flows. Looking up sockets of another
// user's processes needs root or CAP_NET_ADMIN for sock_diag's answers in
// full; entering another network namespace needs CAP_SYS_ADMIN, reading
// its /proc/PID/net CAP_SYS_PTRACE.
package sockets
