package sockets

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// Protocol numbers (the same on every OS).
const (
	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
)

// TableName is the /proc/net table listing sockets of protocol proto
// ("tcp", "udp", "icmp", else "raw"), with "6" for IPv6.
func TableName(proto uint8, v6 bool) string {
	name := "raw"
	switch proto {
	case protoTCP:
		name = "tcp"
	case protoUDP:
		name = "udp"
	case protoICMP, protoICMPv6:
		name = "icmp"
	}
	if v6 {
		name += "6"
	}
	return name
}

// ParseProcNet parses the socket table format of /proc/net/tcp and its
// siblings (udp, raw, icmp; IPv4 or IPv6). Addresses are the kernel's %08X
// of each 32-bit word as the host stores it, so they are decoded with the
// host's byte order. For raw sockets the local "port" is the IP protocol;
// for ping sockets the ICMP echo identifier.
func ParseProcNet(r io.Reader) ([]Socket, error) {
	var out []Socket
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	first := true
	for sc.Scan() {
		if first { // header
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 10 {
			continue
		}
		local, err := parseHexAddrPort(f[1])
		if err != nil {
			return nil, err
		}
		remote, err := parseHexAddrPort(f[2])
		if err != nil {
			return nil, err
		}
		state, err := strconv.ParseUint(f[3], 16, 8)
		if err != nil {
			return nil, fmt.Errorf("bad state %q: %w", f[3], err)
		}
		uid, err := strconv.ParseUint(f[7], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("bad uid %q: %w", f[7], err)
		}
		inode, err := strconv.ParseUint(f[9], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad inode %q: %w", f[9], err)
		}
		out = append(out, Socket{Local: local, Remote: remote, State: uint8(state), UID: uint32(uid), Inode: inode})
	}
	return out, sc.Err()
}

func parseHexAddrPort(s string) (netip.AddrPort, error) {
	i := strings.IndexByte(s, ':')
	if i < 0 {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", s)
	}
	raw, err := hex.DecodeString(s[:i])
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", s)
	}
	port, err := strconv.ParseUint(s[i+1:], 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad port in %q", s)
	}
	// Each 32-bit word was printed as a host-order integer: turn it back
	// into the bytes the kernel holds (network order).
	var b [16]byte
	for w := 0; w < len(raw)/4; w++ {
		binary.NativeEndian.PutUint32(b[w*4:], binary.BigEndian.Uint32(raw[w*4:]))
	}
	var a netip.Addr
	if len(raw) == 4 {
		a = netip.AddrFrom4([4]byte(b[:4]))
	} else {
		a = netip.AddrFrom16(b)
	}
	return netip.AddrPortFrom(a, uint16(port)), nil
}
