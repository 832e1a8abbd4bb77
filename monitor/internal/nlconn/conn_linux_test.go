package nlconn

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// TestConnDumpsLinks asks rtnetlink for the links of this namespace (any
// user may) and reads the answer to its end: the loopback is among them,
// and a second round trip allocates nothing.
func TestConnDumpsLinks(t *testing.T) {
	c, err := Dial(unix.NETLINK_ROUTE, 0, 0, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := make([]byte, HeaderLen+16) // nlmsghdr + ifinfomsg
	binary.NativeEndian.PutUint32(req, uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:], unix.RTM_GETLINK)
	binary.NativeEndian.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	links := 0
	round := func(seq uint32) {
		binary.NativeEndian.PutUint32(req[8:], seq)
		if err := c.Send(req); err != nil {
			t.Fatal(err)
		}
		for done := false; !done; {
			b, err := c.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if err := Messages(b, func(typ uint16, s uint32, _ []byte) bool {
				switch {
				case s != seq:
				case typ == TypeDone || typ == TypeError:
					done = true
				case typ == unix.RTM_NEWLINK:
					links++
				}
				return true
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	round(1)
	if links == 0 {
		t.Fatal("no link in the dump: not even the loopback")
	}
	if a := testing.AllocsPerRun(5, func() { round(2) }); a != 0 {
		t.Errorf("a dump's round trip allocates %.1f times, want none", a)
	}
}
