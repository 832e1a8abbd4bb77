package sockets

import "net/netip"

// Socket is what bwmon knows of a socket.
type Socket struct {
	// Local and Remote are its ends; Remote's address is unspecified
	// for a socket that is not connected.
	Local, Remote netip.AddrPort
	// State is the TCP state (TCPEstablished, TCPListen...), or the
	// kernel's state number for other protocols.
	State uint8
	UID   uint32
	// Inode ties the socket to the process holding it (0: none holds
	// it: time-wait, orphaned, not accepted yet).
	Inode uint64
	// Cookie is the kernel's identifier of the socket (sock_diag and
	// eBPF's bpf_get_socket_cookie; 0 from /proc/net).
	Cookie uint64
	// Proto is its protocol (IPPROTO_TCP, IPPROTO_UDP), set by
	// Diag.List.
	Proto uint8
}

// TCP states (include/net/tcp_states.h).
const (
	TCPEstablished = 1
	TCPSynRecv     = 3
	TCPListen      = 10
)

// Match returns the socket of rows at the local end local of a flow whose
// peer is remote, by the rule of the package's doc; port is the local port
// to match (the echo ID for ping sockets, the IP protocol for raw ones).
// Sockets with no inode are passed over. ok is false when none matches.
func Match(rows []Socket, local, remote netip.AddrPort, port uint16) (Socket, bool) {
	la, ra := local.Addr().Unmap(), remote.Addr().Unmap()
	unconnected := -1
	for i := range rows {
		s := &rows[i]
		if s.Local.Port() != port || s.Inode == 0 {
			continue
		}
		if a := s.Local.Addr().Unmap(); !a.IsUnspecified() && a != la {
			continue
		}
		peer := s.Remote.Addr().Unmap()
		switch {
		case peer.IsUnspecified():
			if unconnected < 0 {
				unconnected = i
			}
		case peer == ra && (s.Remote.Port() == 0 || s.Remote.Port() == remote.Port()):
			return *s, true // connected to this very peer
		}
	}
	if unconnected < 0 {
		return Socket{}, false
	}
	return rows[unconnected], true
}
