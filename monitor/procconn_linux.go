package monitor

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/monitor/internal/subscription"
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
// works only from the initial network and PID namespace. A subscription
// that fails is opened again after a pause (subscription.Reader).
type procConnector struct {
	r    *subscription.Reader
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// dialProcConnector subscribes to process events; handle is called on the
// connector's goroutine for each event, and lost when events were missed
// (the kernel dropped some, or the subscription was opened again after a
// failure: err says which).
func dialProcConnector(handle func(procEvent), lost func(error), log *slog.Logger, now func() time.Time) (*procConnector, error) {
	src, err := openProcConnector()
	if err != nil {
		return nil, err
	}
	return runProcConnector(src, openProcConnector, handle, lost, subscription.New(subscription.Options{What: "proc connector", Log: log, Now: now})), nil
}

// runProcConnector reads src, then what open opens after a failure, with r.
func runProcConnector(src subscription.Source, open func() (subscription.Source, error), handle func(procEvent), lost func(error), r *subscription.Reader) *procConnector {
	p := &procConnector{r: r, stop: make(chan struct{})}
	r.Set(src)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		r.Run(p.stop, open, func(msgs []netlink.Message) {
			for _, m := range msgs {
				if ev, ok := parseProcEvent(m.Data); ok {
					handle(ev)
				}
			}
		}, lost)
	}()
	return p
}

// openProcConnector opens a socket on the proc connector and subscribes.
func openProcConnector() (subscription.Source, error) {
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
	return &nlSource{c: c}, nil
}

// nlSource is a netlink.Conn read with Receive.
type nlSource struct {
	c        *netlink.Conn
	once     sync.Once
	closeErr error
}

func (s *nlSource) Read() ([]netlink.Message, error) { return s.c.Receive() }

func (s *nlSource) Close() error {
	s.once.Do(func() { s.closeErr = s.c.Close() })
	return s.closeErr
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

// failures counts the subscription's failures since start.
func (p *procConnector) failures() uint64 { return p.r.Failures() }

// Close stops receiving and blocks until the goroutine has exited. It is
// safe to call more than once.
func (p *procConnector) Close() error {
	var err error
	p.once.Do(func() {
		err = p.r.Close()
		close(p.stop)
		p.wg.Wait()
	})
	return err
}
