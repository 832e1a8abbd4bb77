package nlconn

import (
	"encoding/binary"
	"errors"
)

// HeaderLen is the size of a netlink message header (NLMSG_HDRLEN).
const HeaderLen = 16

// Message types every netlink family shares.
const (
	TypeError = 2 // NLMSG_ERROR
	TypeDone  = 3 // NLMSG_DONE
)

// ErrMalformed is a datagram whose message lengths do not add up.
var ErrMalformed = errors.New("malformed netlink message")

// Messages calls f with the type, sequence number and payload of each
// message of datagram b, in order, until f returns false. The payloads
// point into b. It allocates nothing.
func Messages(b []byte, f func(typ uint16, seq uint32, payload []byte) bool) error {
	for len(b) >= HeaderLen {
		l := int(binary.NativeEndian.Uint32(b))
		if l < HeaderLen || l > len(b) {
			return ErrMalformed
		}
		typ := binary.NativeEndian.Uint16(b[4:])
		seq := binary.NativeEndian.Uint32(b[8:])
		payload := b[HeaderLen:l]
		b = b[min(len(b), (l+3)&^3):]
		if !f(typ, seq, payload) {
			return nil
		}
	}
	return nil
}

// ErrorCode returns the errno of an NLMSG_ERROR payload (0: an
// acknowledgement, or a payload too short to hold one).
func ErrorCode(payload []byte) int32 {
	if len(payload) < 4 {
		return 0
	}
	return -int32(binary.NativeEndian.Uint32(payload))
}
