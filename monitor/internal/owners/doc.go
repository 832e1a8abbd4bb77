// Package owners finds who owns the local end of a flow (flows.Resolver):
// the socket at that end (package sockets: sock_diag, the /proc/net
// tables), then the process holding the socket's inode (package procs);
// for a flow with no local end, a socket in another network namespace of
// the host when the flow was NATed (a container), else the pair of hosts
// the host forwarded it between. When there is no owner to find it says
// why (model.Reason): no socket, a socket no process holds, the kernel
// answering an echo request, a namespace bwmon may not read.
//
// On the event path (flows.Quick) it looks only where a brand-new flow's
// owner can be found before it exits: the inode the event reader saw the
// moment the connection was announced (NoteEarly), the young and recent
// processes, the process holding a server's listener; at the tick it also
// brings the process table up to date, and reads every process's fds at
// most every 2 s when a socket is open that no process known holds.
//
// It reads the kernel only through what it is handed (Options). Its two
// locks, earlyMu and mu, are never held together.
package owners
