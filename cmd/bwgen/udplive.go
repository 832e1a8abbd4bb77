package main

// portsPerDest is how many local ports udp-live binds for one destination
// port: above it, sockets go to the next destination port, so that every
// socket has a 4-tuple (and a conntrack flow) of its own without running
// out of local ports.
const portsPerDest = 50_000

// firstLocalPort is the first local port udp-live binds.
const firstLocalPort = 10_000

// livePorts returns the local port of udp-live's i-th socket, and how far
// above the destination port given its destination port is: sockets 0 to
// portsPerDest-1 take local ports from firstLocalPort up to the given
// destination port, the next ones the same local ports to the port above,
// and so on.
func livePorts(i int64) (local, above int) {
	return firstLocalPort + int(i%portsPerDest), int(i / portsPerDest)
}
