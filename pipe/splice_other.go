//go:build !linux

package pipe

import "net"

// newChunker returns the portable chunker: splice(2) is Linux's.
func newChunker(dst, src *net.TCPConn) chunker { return newBufChunker(dst, src) }
