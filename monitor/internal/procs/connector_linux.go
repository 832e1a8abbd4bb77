package procs

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

const (
	cnIdxProc         = 1
	cnValProc         = 1
	procCnMcastListen = 1
)

// connector receives process fork, exec and exit events from the kernel's
// proc connector, so the table learns of a new process before it can
// exit. It works only from the initial network and PID namespace. A
// subscription that fails is opened again after a pause
// (subscription.Reader).
type connector struct {
	r    *subscription.Reader
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// dialConnector subscribes to process events; handle is called on the
// connector's goroutine for each event, and lost when events were missed
// (the kernel dropped some, or the subscription was opened again after a
// failure: err says which).
func dialConnector(handle func(event), lost func(error), log *slog.Logger, now func() time.Time) (*connector, error) {
	src, err := openConnector()
	if err != nil {
		return nil, err
	}
	return runConnector(src, openConnector, handle, lost, subscription.New(subscription.Options{What: "proc connector", Log: log, Now: now})), nil
}

// runConnector reads src, then what open opens after a failure, with r.
func runConnector(src subscription.Source, open func() (subscription.Source, error), handle func(event), lost func(error), r *subscription.Reader) *connector {
	p := &connector{r: r, stop: make(chan struct{})}
	r.Set(src)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		r.Run(p.stop, open, func(msgs []netlink.Message) {
			for _, m := range msgs {
				if ev, ok := parseEvent(m.Data); ok {
					handle(ev)
				}
			}
		}, lost)
	}()
	return p
}

// openConnector opens a socket on the proc connector and subscribes.
func openConnector() (subscription.Source, error) {
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

// failures counts the subscription's failures since start.
func (p *connector) failures() uint64 { return p.r.Failures() }

// Close stops receiving and blocks until the goroutine has exited. It is
// safe to call more than once.
func (p *connector) Close() error {
	var err error
	p.once.Do(func() {
		err = p.r.Close()
		close(p.stop)
		p.wg.Wait()
	})
	return err
}
