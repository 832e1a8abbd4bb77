// Package sockbpf counts bytes per socket in the kernel (cgroup BPF
// programs) and records each socket's owner when it is created.
//
// PLACEHOLDER written by the sockmon helper so that the socket monitor
// compiles before the real package lands: it has the API of BRIEF-14.md
// and no BPF at all (Open always fails with ErrUnsupported). This file is
// deleted when the sockbpf branch is merged.
package sockbpf

import (
	"errors"
	"net/netip"
)

// ErrUnsupported: the host does not allow the programs.
var ErrUnsupported = errors.New("eBPF socket counting is not supported here")

// Socket is one socket's owner and counters as the kernel recorded them.
type Socket struct {
	Cookie                uint64
	PID                   int
	Comm                  string
	NetNSCookie           uint64
	Family                uint8
	Proto                 uint8
	Local, Remote         netip.AddrPort
	BytesIn, BytesOut     uint64
	PacketsIn, PacketsOut uint64
	Closed                bool
}

// Options configure Open.
type Options struct {
	CgroupPath string
	MaxSockets int
}

// Stats is never silent about loss.
type Stats struct {
	Live     int
	MapFull  uint64
	RingLost uint64
	Closed   uint64
}

// Counter holds the programs.
type Counter struct{}

// Open loads and attaches the programs (here: never).
func Open(o Options) (*Counter, error) {
	return nil, errors.Join(ErrUnsupported, errors.New("this build has no eBPF programs (sockbpf placeholder)"))
}

// Read calls fn for every socket.
func (c *Counter) Read(fn func(*Socket)) error { return nil }

// Stats reports the counter's figures.
func (c *Counter) Stats() Stats { return Stats{} }

// Close detaches everything.
func (c *Counter) Close() error { return nil }
