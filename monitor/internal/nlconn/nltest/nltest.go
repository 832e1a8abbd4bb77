package nltest

import (
	"encoding/binary"
	"syscall"

	"github.com/bwmon/bwmon/monitor/internal/nlconn"
)

// Msg is a netlink message of type typ numbered seq with payload p,
// padded to 4 bytes.
func Msg(typ uint16, seq uint32, p []byte) []byte {
	return MsgFlags(typ, 0, seq, p)
}

// MsgFlags is Msg with header flags.
func MsgFlags(typ, flags uint16, seq uint32, p []byte) []byte {
	b := make([]byte, nlconn.HeaderLen, nlconn.HeaderLen+len(p)+3)
	binary.NativeEndian.PutUint32(b, uint32(nlconn.HeaderLen+len(p)))
	binary.NativeEndian.PutUint16(b[4:], typ)
	binary.NativeEndian.PutUint16(b[6:], flags)
	binary.NativeEndian.PutUint32(b[8:], seq)
	b = append(b, p...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// Err is the kernel's answer errno (0: an acknowledgement) to request
// seq.
func Err(errno syscall.Errno, seq uint32) []byte {
	code := -int32(errno)
	return Msg(nlconn.TypeError, seq, binary.NativeEndian.AppendUint32(make([]byte, 0, 20), uint32(code)))
}
