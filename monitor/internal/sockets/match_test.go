package sockets

import (
	"net/netip"
	"testing"
)

func row(local, remote string, inode uint64) Socket {
	return Socket{Local: netip.MustParseAddrPort(local), Remote: netip.MustParseAddrPort(remote), Inode: inode}
}

// TestMatch states the one matching rule, for every caller.
func TestMatch(t *testing.T) {
	local, remote := netip.MustParseAddrPort("10.0.0.1:5000"), netip.MustParseAddrPort("10.0.0.9:53")
	tests := []struct {
		name      string
		rows      []Socket
		local     netip.AddrPort
		port      uint16
		wantInode uint64
	}{
		{"bound to the address", []Socket{row("10.0.0.1:5000", "0.0.0.0:0", 1)}, local, 5000, 1},
		{"bound to the wildcard", []Socket{row("0.0.0.0:5000", "0.0.0.0:0", 2)}, local, 5000, 2},
		{"another port", []Socket{row("10.0.0.1:5001", "0.0.0.0:0", 3)}, local, 5000, 0},
		{"another address", []Socket{row("10.0.0.2:5000", "0.0.0.0:0", 4)}, local, 5000, 0},
		{"no inode", []Socket{row("10.0.0.1:5000", "0.0.0.0:0", 0)}, local, 5000, 0},
		{"connected to the peer wins over unconnected",
			[]Socket{row("0.0.0.0:5000", "0.0.0.0:0", 5), row("10.0.0.1:5000", "10.0.0.9:53", 6)}, local, 5000, 6},
		{"connected to the peer's address on another port: not it",
			[]Socket{row("10.0.0.1:5000", "10.0.0.9:54", 7)}, local, 5000, 0},
		{"connected to another peer: not it, the unconnected one is",
			[]Socket{row("10.0.0.1:5000", "10.0.0.8:53", 8), row("0.0.0.0:5000", "0.0.0.0:0", 9)}, local, 5000, 9},
		{"the first unconnected one", []Socket{row("0.0.0.0:5000", "0.0.0.0:0", 10), row("10.0.0.1:5000", "0.0.0.0:0", 11)}, local, 5000, 10},
		{"a table with no remote port (ping, raw) matches the address",
			[]Socket{row("10.0.0.1:5000", "10.0.0.9:0", 12)}, local, 5000, 12},
		{"raw socket: the port is the protocol", []Socket{row("0.0.0.0:1", "0.0.0.0:0", 13)}, local, 1, 13},
		{"IPv4-mapped local address", []Socket{row("10.0.0.1:5000", "0.0.0.0:0", 14)}, netip.MustParseAddrPort("[::ffff:10.0.0.1]:5000"), 5000, 14},
		{"IPv6 wildcard", []Socket{row("[::]:5000", "[::]:0", 15)}, netip.MustParseAddrPort("[fd00::1]:5000"), 5000, 15},
		{"empty", nil, local, 5000, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ok := Match(tt.rows, tt.local, remote, tt.port)
			if s.Inode != tt.wantInode || ok != (tt.wantInode != 0) {
				t.Errorf("Match = inode %d, %v; want %d", s.Inode, ok, tt.wantInode)
			}
		})
	}
}
