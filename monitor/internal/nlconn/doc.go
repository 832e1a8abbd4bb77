// Package nlconn is a netlink socket read and written through raw
// syscalls into one buffer it reuses, and an iterator over the messages of
// a datagram. The conntrack dumper (ctnetlink) and the sock_diag lookups
// (sockets) speak through it: mdlayher/netlink's Execute and Receive
// allocate a page and a message slice for every answer, which for hundreds
// of thousands of socket lookups at start is over a gigabyte of garbage.
//
// A Conn serves one goroutine at a time; a send or a receive allocates
// nothing. It does not decode any family's messages: Messages hands each
// message's header and payload to its caller.
//
// Opening a socket in another network namespace needs CAP_SYS_ADMIN;
// what the socket may then ask depends on its family (CAP_NET_ADMIN for
// conntrack).
package nlconn
