package monitor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// procEvent is the part of a kernel proc connector event bwmon uses.
type procEvent struct {
	what uint32 // procEventFork, procEventExec or procEventExit
	pid  int    // the process (thread group) the event is about
	tid  int    // the thread; exit and exec matter only when tid == pid
	ppid int    // for fork: the parent
}

const (
	procEventFork = 0x00000001
	procEventExec = 0x00000002
	procEventExit = 0x80000000

	cnIdxProc         = 1
	cnValProc         = 1
	procCnMcastListen = 1
	sizeofCnMsg       = 20
)

// procConnector receives process fork, exec and exit events from the
// kernel's proc connector (CONFIG_PROC_EVENTS), so bwmon learns of a new
// process, and reads its command line, before the process can exit. It
// works only from the initial network and PID namespace.
type procConnector struct {
	c    *netlink.Conn
	wg   sync.WaitGroup
	once sync.Once
}

// dialProcConnector subscribes to process events; handle is called on the
// connector's goroutine for each event, and lost for each lost batch.
func dialProcConnector(handle func(procEvent), lost func(error)) (*procConnector, error) {
	c, err := netlink.Dial(unix.NETLINK_CONNECTOR, &netlink.Config{Groups: cnIdxProc})
	if err != nil {
		return nil, fmt.Errorf("opening proc connector (kernel needs CONFIG_PROC_EVENTS, bwmon must run as root in the host's namespaces): %w", err)
	}
	_ = c.SetReadBuffer(4 << 20)
	msg := make([]byte, sizeofCnMsg+4)
	binary.NativeEndian.PutUint32(msg[0:], cnIdxProc)
	binary.NativeEndian.PutUint32(msg[4:], cnValProc)
	binary.NativeEndian.PutUint16(msg[16:], 4)
	binary.NativeEndian.PutUint32(msg[20:], procCnMcastListen)
	if _, err := c.Send(netlink.Message{Header: netlink.Header{Type: unix.NLMSG_DONE}, Data: msg}); err != nil {
		c.Close()
		return nil, fmt.Errorf("subscribing to proc connector events: %w", err)
	}
	p := &procConnector{c: c}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			msgs, err := c.Receive()
			if err != nil {
				if errors.Is(err, net.ErrClosed) || errors.Is(err, unix.EBADF) || isClosedErr(err) {
					return
				}
				if errors.Is(err, unix.ENOBUFS) {
					lost(err)
					continue
				}
				lost(err)
				return
			}
			for _, m := range msgs {
				if ev, ok := parseProcEvent(m.Data); ok {
					handle(ev)
				}
			}
		}
	}()
	return p, nil
}

// parseProcEvent decodes a cn_msg carrying a struct proc_event.
func parseProcEvent(b []byte) (procEvent, bool) {
	if len(b) < sizeofCnMsg+16 {
		return procEvent{}, false
	}
	ev := b[sizeofCnMsg:]
	what := binary.NativeEndian.Uint32(ev[0:])
	d := ev[16:]
	i32 := func(off int) int { return int(int32(binary.NativeEndian.Uint32(d[off:]))) }
	switch what {
	case procEventFork:
		if len(d) < 16 {
			return procEvent{}, false
		}
		return procEvent{what: what, ppid: i32(4), tid: i32(8), pid: i32(12)}, true
	case procEventExec, procEventExit:
		if len(d) < 8 {
			return procEvent{}, false
		}
		return procEvent{what: what, tid: i32(0), pid: i32(4)}, true
	}
	return procEvent{}, false
}

// Close stops receiving and blocks until the goroutine has exited. It is
// safe to call more than once.
func (p *procConnector) Close() error {
	var err error
	p.once.Do(func() {
		err = p.c.Close()
		p.wg.Wait()
	})
	return err
}
