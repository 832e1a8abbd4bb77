// Package pipe is bwmon's counting TCP forwarder: it accepts clients on a
// listen address, connects each one to a fixed target and copies both
// directions concurrently, counting the payload bytes that pass: in is
// client → target, out is target → client. A Pipe is an aggregator.Monitor
// whose bytes belong to one app, so it meters traffic the host relays, or
// one service exactly, where the conntrack monitor sees IP-layer bytes
// (headers included) of the processes on the host.
//
// It propagates a half-close (a client that shuts its write side still gets
// the whole response), closes both sides when either fails, closes
// connections idle for Config.IdleTimeout (10 minutes unless set), refuses
// clients beyond Config.MaxConns (512 unless set) by closing them at once,
// and limits each direction to Config.RateLimit with a token bucket shared
// by the pipe's connections. On Linux the bytes move with splice(2) through
// a kernel pipe and never enter the process; elsewhere through a pooled
// buffer.
//
// Bytes are counted as they are written to the destination's socket, so
// connections still open count at every Collect, not only when they end.
// When the destination stops reading, a direction holds at most 256 KiB it
// has not counted (in its kernel pipe or buffer), and on Linux the socket
// takes at most 128 KiB it has not sent (TCP_NOTSENT_LOWAT), so the count
// stops near what the peer's receive window let through.
//
// It does not speak any protocol above TCP (no TLS, no HTTP, no PROXY
// protocol header: the target sees the pipe's address, not the client's),
// does not forward UDP, balance between targets or retry a failed target:
// the client is closed and the next client tries again. Clients it cannot
// serve (beyond MaxConns, or whose target is down) are counted in Totals
// and warned about once every 10 s at most.
//
// It needs no privileges, except to listen on a port below 1024 (root or
// CAP_NET_BIND_SERVICE). A connection costs two goroutines and two file
// descriptors (its sockets), and on Linux a kernel pipe (two more) for each
// direction from its first byte: six at most, two while it says nothing.
package pipe
