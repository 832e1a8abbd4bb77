package links

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/monitor/internal/nlconn"
)

// Reader reads the link statistics of one network namespace: the counters
// of every interface at each Read, their names, kinds and masters when
// they change. It serves one goroutine at a time.
type Reader struct {
	dump    *nlconn.Conn  // RTM_GETLINK and RTM_GETSTATS dumps
	events  *netlink.Conn // the namespace's link notifications (RTNLGRP_LINK)
	evRaw   syscall.RawConn
	evBuf   []byte
	seq     uint32
	tracker *Tracker
	stats   []Stat
	statReq []byte // the RTM_GETSTATS request, reused
	listed  bool   // a listing is in the tracker

	// recv reads one notification without waiting, into recvN and
	// recvErr: made once, as a closure made per call would be allocated
	// per call.
	recv    func(fd uintptr) bool
	recvN   int
	recvErr error
}

// Open opens the sockets of a Reader in the network namespace netnsFD (0:
// the caller's). Opening them in another namespace needs CAP_SYS_ADMIN.
func Open(netnsFD int) (_ *Reader, err error) {
	r := &Reader{tracker: NewTracker(), evBuf: make([]byte, 32<<10)}
	r.recv = func(fd uintptr) bool {
		r.recvN, _, r.recvErr = unix.Recvfrom(int(fd), r.evBuf, unix.MSG_DONTWAIT)
		return true
	}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	// Subscribe first: a change between the two is then seen.
	if r.events, err = netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{NetNS: netnsFD, Groups: unix.RTMGRP_LINK}); err != nil {
		return nil, fmt.Errorf("subscribing to link notifications: %w", err)
	}
	if r.evRaw, err = r.events.SyscallConn(); err != nil {
		return nil, fmt.Errorf("subscribing to link notifications: %w", err)
	}
	if r.dump, err = nlconn.Dial(unix.NETLINK_ROUTE, netnsFD, 0, 64<<10); err != nil {
		return nil, fmt.Errorf("opening an rtnetlink socket: %w", err)
	}
	return r, nil
}

// Close closes the sockets. It does not block, and is safe to call more
// than once.
func (r *Reader) Close() error {
	var errs []error
	if r.events != nil {
		errs = append(errs, r.events.Close())
		r.events = nil
	}
	if r.dump != nil {
		errs = append(errs, r.dump.Close())
		r.dump = nil
	}
	return errors.Join(errs...)
}

// Read reads every interface's counters and returns what each moved since
// the previous Read (the first sets the baselines: all zero). The slice is
// valid until the next Read.
func (r *Reader) Read() ([]model.InterfaceTick, error) {
	changed, err := r.changed()
	if err != nil {
		return nil, err
	}
	if changed || !r.listed {
		if err := r.list(); err != nil {
			return nil, err
		}
	}
	if err := r.readStats(); err != nil {
		return nil, err
	}
	if !changed && r.unknown() {
		// Made between the notification and the dump, or a notification
		// lost: list once more rather than wait a tick.
		if err := r.list(); err != nil {
			return nil, err
		}
	}
	return r.tracker.Update(r.stats), nil
}

// changed reads the link notifications waiting, without waiting for any:
// any at all (or an overflow, which lost some) means the links changed.
func (r *Reader) changed() (bool, error) {
	changed := false
	for {
		if err := r.evRaw.Read(r.recv); err != nil {
			return false, fmt.Errorf("reading link notifications: %w", err)
		}
		n, rerr := r.recvN, r.recvErr
		switch {
		case errors.Is(rerr, unix.EAGAIN):
			return changed, nil
		case errors.Is(rerr, unix.ENOBUFS):
			changed = true // some were lost: list again
		case errors.Is(rerr, unix.EINTR):
		case rerr != nil:
			return false, fmt.Errorf("reading link notifications: %w", rerr)
		case n > 0:
			changed = true
		default:
			return changed, nil
		}
	}
}

// list reads every interface's attributes into the tracker.
func (r *Reader) list() error {
	var ls []Link
	err := r.dumpAll(linkRequest, rtmNewLink, func(p []byte) {
		if l, ok := ParseLink(p); ok {
			ls = append(ls, l)
		}
	})
	if err != nil {
		return fmt.Errorf("listing the network interfaces: %w", err)
	}
	r.tracker.SetLinks(ls)
	r.listed = true
	return nil
}

// readStats reads every interface's counters into r.stats.
func (r *Reader) readStats() error {
	r.stats = r.stats[:0]
	err := r.dumpAll(func(seq uint32) []byte {
		if r.statReq == nil {
			r.statReq = statsRequest(seq)
		}
		setSeq(r.statReq, seq)
		return r.statReq
	}, rtmNewStats, func(p []byte) {
		if i, c, ok := ParseStats(p); ok {
			r.stats = append(r.stats, Stat{Index: i, Counters: c})
		}
	})
	if err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("reading the interfaces' statistics (RTM_GETSTATS needs Linux 4.7 or later): %w", err)
		}
		return fmt.Errorf("reading the interfaces' statistics: %w", err)
	}
	return nil
}

// unknown reports whether the counters name an interface the last
// listing did not have.
func (r *Reader) unknown() bool {
	for _, s := range r.stats {
		if !r.tracker.Knows(s.Index) {
			return true
		}
	}
	return false
}

// dumpAll sends the dump request req makes and hands the payload of every
// answer of type typ to f, until the dump is done.
func (r *Reader) dumpAll(req func(seq uint32) []byte, typ uint16, f func(payload []byte)) error {
	r.seq++
	seq := r.seq
	if err := r.dump.Send(req(seq)); err != nil {
		return err
	}
	for {
		b, err := r.dump.Recv()
		if err != nil {
			return err
		}
		done := false
		var kerr error
		if err := nlconn.Messages(b, func(t uint16, s uint32, p []byte) bool {
			switch {
			case s != seq:
			case t == nlconn.TypeDone:
				done = true
				return false
			case t == nlconn.TypeError:
				if code := nlconn.ErrorCode(p); code != 0 {
					kerr = syscall.Errno(code)
				}
				done = true
				return false
			case t == typ:
				f(p)
			}
			return true
		}); err != nil {
			return err
		}
		if kerr != nil {
			return kerr
		}
		if done {
			return nil
		}
	}
}
