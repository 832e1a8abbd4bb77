package pipe

import (
	"net"

	"golang.org/x/sys/unix"
)

// unsentLimit is the most a socket the pipe writes to holds that it has
// not yet sent (TCP_NOTSENT_LOWAT), give or take a packet. Without it the
// kernel takes up to the send buffer (net.ipv4.tcp_wmem, 4 MiB by default)
// from a pipe whose peer has stopped reading, and the pipe counts those
// bytes as moved. 128 KiB keeps a loopback pipe's throughput; the bytes in
// flight are bounded by the peer's receive window, as ever.
const unsentLimit = 128 << 10

// limitUnsent sets unsentLimit on c. A kernel without TCP_NOTSENT_LOWAT
// (before 3.12) refuses it, and the connection works without.
func limitUnsent(c *net.TCPConn) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT, unsentLimit)
	})
}
