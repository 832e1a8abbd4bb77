package main

import (
	"encoding/binary"
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// etherTypeLocal is the IEEE's EtherType for local experiments: no stack
// of the receiving end takes the frames.
const etherTypeLocal = 0x88b5

// rawEth sends total bytes in Ethernet frames of size bytes (header
// included) on the interface named ifname, through an AF_PACKET socket:
// traffic no IP socket, and no conntrack, sees, though the interface's
// counters do. The frames go to the broadcast address.
func rawEth(ifname string, total, size int64) error {
	ifc, err := net.InterfaceByName(ifname)
	if err != nil {
		return err
	}
	if size < 60 || size > int64(ifc.MTU)+14 {
		return fmt.Errorf("frame size %d: use 60 to %d (the MTU and the header)", size, ifc.MTU+14)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(etherTypeLocal)))
	if err != nil {
		return fmt.Errorf("opening an AF_PACKET socket (needs CAP_NET_RAW): %w", err)
	}
	defer unix.Close(fd)
	to := &unix.SockaddrLinklayer{Protocol: htons(etherTypeLocal), Ifindex: ifc.Index, Halen: 6,
		Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	frame := make([]byte, size)
	copy(frame[0:6], to.Addr[:6])
	copy(frame[6:12], ifc.HardwareAddr)
	binary.BigEndian.PutUint16(frame[12:], etherTypeLocal)
	for sent := int64(0); sent < total; sent += size {
		n := min(size, total-sent)
		if n < 60 {
			n = 60 // the shortest frame
		}
		if err := unix.Sendto(fd, frame[:n], 0, to); err != nil {
			return fmt.Errorf("sending a frame on %s: %w", ifname, err)
		}
	}
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
