package monitor

import (
	"net/netip"
	"time"

	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/monitor/internal/ctnetlink"
	"github.com/bwmon/bwmon/monitor/internal/sockbpf"
)

// A TCP socket closed by its process before its peer's FIN came (the
// client that sends and hangs up; the server that answers and closes) is
// an orphan the kernel turns into a time-wait socket once its own FIN is
// acknowledged: the peer's FIN and the ACK answering it then pass through
// that time-wait socket, after the socket's final counters, and no eBPF
// program sees them (sockbpf.Socket.Late). conntrack does: the socket
// counter looks the flow up in the watched namespace's table (a GET by
// its tuple, 64 to a request) a tick after the close record, and books
// what conntrack counted beyond the socket's final counters to the
// socket's owner; again, waiting twice as long each time, until conntrack
// has seen both FINs (TIME_WAIT) or lateWait has passed, or the flow is
// gone, or the entry on the tuple is another flow's (another ID than at
// the first look, or more than lateMaxBytes beyond the socket). Without it each such connection loses its last two packets (104
// bytes with timestamps): a tenth of a 1 kB connection.

// lateFlows reads the current counters of conntrack entries by their
// tuple (ctnetlink.Dumper).
type lateFlows interface {
	Get(keys []ctnetlink.Key) ([]ctnetlink.Rec, error)
	Close() error
}

// Bounds of the late flows.
const (
	// maxLate is how many late sockets wait for a look at once; beyond
	// it a late socket is counted in lateUnchecked and its last packets
	// go unbooked.
	maxLate = 16384
	// lateLooksPerTick is how many flows a tick looks up at most (16
	// requests of 64); the others wait for the next tick.
	lateLooksPerTick = 1024
	// lateWait is how long a late socket's flow is looked at: the
	// peer's FIN normally follows within a round trip, and a time-wait
	// socket in FIN-WAIT-2 lives tcp_fin_timeout (60 s by default).
	lateWait = 64 * time.Second
	// lateFirst is the wait before the first look, and the step that
	// doubles after each.
	lateFirst = time.Second
	// lateMaxBytes bounds what a look books each way: the packets that
	// follow a late socket's final counters carry no data (the peer's FIN,
	// the ACK answering it, their retransmissions, a reset: 40 to 100
	// bytes each). More is another flow on the same tuple (a client
	// reusing a time-wait port, tcp_tw_reuse): nothing is booked from it.
	lateMaxBytes = 1024
)

// lateFlow is a closed late socket whose flow is still to be looked at.
type lateFlow struct {
	key           model.Key
	info          model.Info
	class         model.Class
	cross         bool // what it moves crossed the watched namespace's interfaces
	proto         uint8
	local, remote netip.AddrPort
	// in and out are what was booked of the flow so far: the socket's
	// final counters, then conntrack's beyond them.
	in, out uint64
	// id is its conntrack entry's ID, from the first look on: a later
	// look that finds another entry on the tuple books nothing.
	id    uint32
	next  time.Time // its next look
	step  time.Duration
	until time.Time
}

// lateRow is what a tick books for late flows.
type lateRow struct {
	key     model.Key
	info    model.Info
	class   model.Class
	in, out uint64
}

// noteLate takes a closed late socket, with its state before forget: its
// flow is looked at from the next tick on.
func (s *socketCounter) noteLate(k *sockbpf.Socket, st *sockState) {
	if s.o.late == nil || !k.Late || k.Proto != protoTCP || !k.Local.IsValid() || !k.Remote.IsValid() ||
		!st.resolved || st.skip || st.local || !st.home || st.own == 0 {
		return
	}
	if len(s.late) >= maxLate {
		s.lateUnchecked++
		return
	}
	o := s.ownerList[st.own]
	s.late = append(s.late, lateFlow{key: o.key, info: o.info, class: st.class, cross: !st.loop,
		proto: k.Proto, local: k.Local, remote: k.Remote, in: k.BytesIn, out: k.BytesOut,
		next: s.now.Add(lateFirst / 2), step: lateFirst, until: s.now.Add(lateWait)})
}

// checkLate looks up the flows of the late sockets whose look is due, up
// to lateLooksPerTick, and books what conntrack counted beyond what was
// booked. A lookup that fails leaves them for the next tick.
func (s *socketCounter) checkLate(now time.Time) error {
	if len(s.late) == 0 {
		return nil
	}
	s.lateKeys, s.lateDue = s.lateKeys[:0], s.lateDue[:0]
	for i := range s.late {
		if f := &s.late[i]; !f.next.After(now) && len(s.lateDue) < lateLooksPerTick {
			s.lateDue = append(s.lateDue, i)
			r := ctnetlink.Rec{Proto: f.proto, Orig: ctnetlink.Tuple{Src: f.local.Addr(), Dst: f.remote.Addr(), SPort: f.local.Port(), DPort: f.remote.Port()}}
			s.lateKeys = append(s.lateKeys, ctnetlink.KeyOf(&r))
		}
	}
	if len(s.lateDue) == 0 {
		return nil
	}
	recs, err := s.o.late.Get(s.lateKeys)
	if err != nil {
		// Looked at again next tick; those past their time let go.
		s.lateDone(func(f *lateFlow) bool { return !now.Before(f.until) })
		return err
	}
	// The answers come in the order asked, the flows gone left out:
	// matched by their tuple, either way round (an accepted socket's
	// flow is its peer's original direction).
	found := make(map[int]bool, len(recs))
	j := 0
	for ri := range recs {
		r := &recs[ri]
		for ; j < len(s.lateDue); j++ {
			f := &s.late[s.lateDue[j]]
			ctOut, ctIn, ok := lateCounters(r, f)
			if !ok {
				continue
			}
			found[s.lateDue[j]] = true
			j++
			dIn, dOut := beyond(ctIn, f.in), beyond(ctOut, f.out)
			if (f.id != 0 && r.ID != f.id) || dIn > lateMaxBytes || dOut > lateMaxBytes {
				f.until = time.Time{} // another flow on the tuple
				break
			}
			f.id = r.ID
			f.in, f.out = f.in+dIn, f.out+dOut
			if dIn+dOut > 0 {
				s.lateRows = append(s.lateRows, lateRow{key: f.key, info: f.info, class: f.class, in: dIn, out: dOut})
				if f.cross {
					s.crossIn += dIn
					s.crossOut += dOut
				}
			}
			if r.Done || !now.Before(f.until) {
				f.until = time.Time{} // done
			} else {
				f.next, f.step = now.Add(f.step), 2*f.step
			}
			break
		}
	}
	for _, i := range s.lateDue {
		if !found[i] {
			s.late[i].until = time.Time{} // gone from the table
		}
	}
	s.lateDone(func(f *lateFlow) bool { return f.until.IsZero() })
	return nil
}

// lateDone lets go of the late flows done says are done.
func (s *socketCounter) lateDone(done func(f *lateFlow) bool) {
	kept := s.late[:0]
	for i := range s.late {
		if !done(&s.late[i]) {
			kept = append(kept, s.late[i])
		}
	}
	clear(s.late[len(kept):])
	s.late = kept
}

// lateCounters returns what conntrack entry r counted out of and into f's
// socket, if r is f's flow.
func lateCounters(r *ctnetlink.Rec, f *lateFlow) (out, in uint64, ok bool) {
	if r.Proto != f.proto {
		return 0, 0, false
	}
	o, p := r.Orig, r.Reply
	switch {
	case o.Src == f.local.Addr() && o.SPort == f.local.Port() && o.Dst == f.remote.Addr() && o.DPort == f.remote.Port():
		return r.OrigBytes, r.ReplyBytes, true
	case p.Src == f.local.Addr() && p.SPort == f.local.Port() && p.Dst == f.remote.Addr() && p.DPort == f.remote.Port():
		return r.ReplyBytes, r.OrigBytes, true
	}
	return 0, 0, false
}

// beyond is what ct counted beyond booked (0 when it counted less: a flow
// whose accounting was switched on after it began).
func beyond(ct, booked uint64) uint64 {
	if ct <= booked {
		return 0
	}
	return ct - booked
}
