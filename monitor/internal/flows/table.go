package flows

import (
	"net/netip"
	"sync"
	"time"

	"github.com/bwmon/bwmon/model"
	"github.com/bwmon/bwmon/monitor/internal/ctnetlink"
)

// Options say which bytes a table counts.
type Options struct {
	// Keep reports whether the bytes of a process with this command line
	// are counted (the include and exclude rules); nil keeps all.
	Keep func(cmdline string) bool
	// IgnoreLocal drops flows whose both ends are local addresses.
	IgnoreLocal bool
	// IgnoreForwarded drops flows with no local socket at either end
	// instead of counting them for their pair of hosts.
	IgnoreForwarded bool
	// LeaveOldOuter, for a namespace whose flows another table has been
	// counting until now, skips the flows of the first dump that leave
	// the namespace (one side only): that table goes on counting them.
	LeaveOldOuter bool
	// Classes tells the class of each flow's remote end, once, when the
	// table first sees the flow; nil leaves every byte of ClassNone.
	Classes Classifier
	// BaselineDumps makes every dump, not only the first, count the flows
	// it is first to list from their counters then: where conntrack
	// announces no local flow (quiet conntrack events, counted at the
	// socket), a flow no event announced is one whose bytes the socket
	// counter has, not one whose NEW event was lost.
	BaselineDumps bool
}

// Classifier tells the destination class of a remote address
// (internal/classify's Table is one).
type Classifier interface {
	// Lookup returns the class of the remote address a.
	Lookup(a netip.Addr) model.Class
	// Local is the class of a remote end on the watched host itself.
	Local() model.Class
}

// Table turns conntrack dumps and events into bytes per owner. It is not
// safe for concurrent use (see the package's doc for its locks).
type Table struct {
	opts Options
	// flows maps each flow's key to its slot in slab.
	flows map[ctnetlink.Key]uint32
	slab  flowSlab
	// tomb holds flows destroyed recently (key -> dump generation), so a
	// dump fetched before the DESTROY event does not bring them back.
	tomb map[ctnetlink.Key]uint32
	gen  uint32
	// ready is set once the first dump is applied; before it, DESTROY
	// events are of flows older than bwmon and not counted.
	ready bool
	acc   map[*owner]*classAccum
	spare []*classAccum // drained accumulators, for reuse
	lost  uint64        // flows that vanished without a DESTROY event
	// compacted counts the times compact gave memory back.
	compacted int
	cross     accum // the booked bytes as they crossed the interfaces (crossing.go)

	ownersMu sync.Mutex // guards owners; taken inside the table's lock
	owners   map[model.Key]*owner

	// pending lists the flows a deferred EndDump left unresolved, for
	// ResolvePending; their slots are not reused until it is done.
	pending   []*flow
	firstDump bool // the dump under way is the first
	baseline  bool // the dump under way sets new flows' baseline
}

type accum struct {
	in, out uint64
}

// classAccum is an owner's booked bytes by the class of the remote end:
// a row per class it has bytes of, in the order they came (most owners
// have one or two), so that booking stays a short scan in a small record.
type classAccum struct {
	rows []model.ClassRow
}

// New makes an empty table.
func New(o Options) *Table {
	return &Table{opts: o, flows: map[ctnetlink.Key]uint32{}, tomb: map[ctnetlink.Key]uint32{}, acc: map[*owner]*classAccum{}, owners: map[model.Key]*owner{}}
}

// Len is the number of flows in the table.
func (t *Table) Len() int { return len(t.flows) }

// Compacted counts the times the table gave back the room of a burst of
// flows that ended (see compact).
func (t *Table) Compacted() int { return t.compacted }

// Lost counts the flows that vanished without a DESTROY event.
func (t *Table) Lost() uint64 { return t.lost }

// Keys appends to dst the keys of the flows whose counters are wanted:
// all but those whose every end a socket counter counts (ReasonAtSocket)
// and, once resolved, TCP connections that carry no more data (TIME_WAIT,
// CLOSE), whose DESTROY event brings their last counters.
//
// With Options.BaselineDumps (quiet conntrack events) it also forgets
// those of them that no event announced: no DESTROY event may come for
// them.
func (t *Table) Keys(dst []ctnetlink.Key) []ctnetlink.Key {
	for k, i := range t.flows {
		fl := t.slab.at(i)
		switch {
		case t.opts.BaselineDumps && !fl.announced && (fl.done || atSocket(fl)):
			t.remove(k, i)
		case !atSocket(fl) && !(fl.done && !hasUnresolved(fl)):
			dst = append(dst, k)
		}
	}
	t.compact()
	return dst
}

// ForgetUnanswered takes, with Options.BaselineDumps, the flows among
// asked that no event announced and that the kernel no longer has (no
// answer among answered to three GETs in a row) as ended: no DESTROY
// event will come for them (quiet conntrack events). Announced flows wait
// for theirs, which carries their last bytes.
func (t *Table) ForgetUnanswered(asked []ctnetlink.Key, answered []ctnetlink.Rec) {
	if !t.opts.BaselineDumps {
		return
	}
	got := make(map[ctnetlink.Key]struct{}, len(answered))
	for i := range answered {
		got[ctnetlink.KeyOf(&answered[i])] = struct{}{}
	}
	for _, k := range asked {
		i, ok := t.flows[k]
		if !ok {
			continue
		}
		fl := t.slab.at(i)
		if _, ok := got[k]; ok || fl.announced {
			fl.missing = 0
			continue
		}
		if fl.missing++; fl.missing >= 3 {
			t.remove(k, i)
		}
	}
}

// atSocket reports whether a socket counter counts every side of fl, so
// that its counters are of no use: its bytes and their coverage are
// booked there.
func atSocket(fl *flow) bool {
	for i := range fl.list() {
		if s := &fl.sides[i]; !s.resolved || !s.atSocket || s.outer {
			return false
		}
	}
	return fl.n > 0
}

// endpoint returns the local end and the peer of one direction's tuple, in
// the form sockets are looked up: for ICMP the "port" is the echo ID.
func endpoint(t *ctnetlink.Tuple, icmp bool) (local, remote netip.AddrPort) {
	dp := t.DPort
	if icmp {
		dp = 0
	}
	return netip.AddrPortFrom(t.Src, t.SPort), netip.AddrPortFrom(t.Dst, dp)
}

// newFlow makes the table's record of f with counters at base: the
// initiator's end is the source of the original tuple, the responder's end
// the source of the reply tuple (after DNAT that is the real local
// address). Ends that are not local addresses get no side; a flow with no
// local end at all gets one outer side.
func (t *Table) newFlow(f *ctnetlink.Rec, r Resolver, baseOrig, baseReply uint64) flow {
	fl := flow{proto: f.Proto, orig: baseOrig, reply: baseReply}
	ol, or := endpoint(&f.Orig, f.ICMP)
	rl, rr := endpoint(&f.Reply, f.ICMP)
	oLocal, rLocal := r.IsLocal(ol.Addr()), r.IsLocal(rl.Addr())
	base := model.FlowCounter{Orig: baseOrig, Reply: baseReply}
	if oLocal {
		// The initiator's peer is the responder as it answers (after a
		// DNAT, the real one).
		fl.add(side{isOrig: true, ep: &Ends{Local: ol, Remote: or}, ctr: base, class: t.classOf(f.Reply.Src, rLocal)})
	}
	if rLocal {
		fl.add(side{isOrig: false, ep: &Ends{Local: rl, Remote: rr}, ctr: base, class: t.classOf(f.Orig.Src, oLocal)})
	}
	switch {
	case oLocal && rLocal && t.opts.IgnoreLocal:
		skipAll(&fl)
	case !oLocal && !rLocal:
		s := outerSide(f, base)
		s.class = t.classOf(s.ep.Remote.Addr(), false)
		fl.add(s)
	}
	return fl
}

// classOf is the class of a side's remote end a, which is on the watched
// host when onHost.
func (t *Table) classOf(a netip.Addr, onHost bool) model.Class {
	switch {
	case t.opts.Classes == nil:
		return model.ClassNone
	case onHost:
		return t.opts.Classes.Local()
	}
	return t.opts.Classes.Lookup(a)
}

// skipAll settles every side of fl as not counted.
func skipAll(fl *flow) {
	for i := range fl.list() {
		fl.sides[i].resolved, fl.sides[i].skip, fl.sides[i].ep = true, true, nil
	}
}

// outerSide is the one side of a flow with no local end. NAT tells which
// end is inside: after a DNAT (a port forwarded to a container or a LAN
// host) the responder, the source of the reply tuple; otherwise the
// initiator (a container or a LAN host behind masquerade, or a host whose
// connection is routed). Its ends are seen as the inside socket sees them.
func outerSide(f *ctnetlink.Rec, base model.FlowCounter) side {
	dnat := f.Orig.Dst != f.Reply.Src
	snat := f.Orig.Src != f.Reply.Dst
	if f.ICMP { // the "ports" are the echo ID and the type and code
		snat = snat || f.Orig.SPort != f.Reply.SPort
	} else {
		dnat = dnat || f.Orig.DPort != f.Reply.SPort
		snat = snat || f.Orig.SPort != f.Reply.DPort
	}
	t := &f.Orig
	if dnat {
		t = &f.Reply
	}
	local, remote := endpoint(t, f.ICMP)
	return side{isOrig: !dnat, outer: true, ctr: base, ep: &Ends{Local: local, Remote: remote, Outer: true, NAT: dnat || snat}}
}

// ownerOf returns the shared owner for info. Event workers call it
// without the table's lock; ownersMu guards the map.
func (t *Table) ownerOf(info model.Info) *owner {
	t.ownersMu.Lock()
	defer t.ownersMu.Unlock()
	key := model.KeyUnattributed(info.Unattributed)
	switch {
	case info.Process != nil:
		key = model.KeyProcess(info.Process)
	case info.Forwarded != nil:
		key = model.KeyForwarded(*info.Forwarded)
	}
	if o := t.owners[key]; o != nil && (info.Process == nil || o.info.Process == info.Process) {
		return o
	}
	o := &owner{info: info, key: key}
	t.owners[key] = o
	return o
}

// settle records info as the owner of side s.
func (t *Table) settle(s *side, info model.Info) {
	s.resolved, s.ep = true, nil
	s.owner = t.ownerOf(info)
	switch {
	case info.Process != nil && t.opts.Keep != nil && !t.opts.Keep(info.Process.Cmdline),
		info.Forwarded != nil && t.opts.IgnoreForwarded:
		s.skip, s.filtered = true, true
	case info.Unattributed == ReasonElsewhere:
		s.skip = true
	case info.Unattributed == ReasonAtSocket:
		s.skip, s.atSocket = true, true
	}
}

// resolveSides tries to resolve the sides still unknown.
func (t *Table) resolveSides(fl *flow, r Resolver, level Level) {
	for i := range fl.list() {
		s := &fl.sides[i]
		if s.resolved {
			continue
		}
		lv := level
		if lv == Tick {
			s.attempts++
			if s.attempts >= tickAttempts {
				lv = Final
			}
		}
		info, ok := resolveEnds(r, fl.proto, *s.ep, lv)
		if !ok {
			continue
		}
		t.settle(s, info)
	}
}

// account books the bytes between each resolved side's counters and the
// flow's latest ones.
func (t *Table) account(fl *flow) {
	for i := range fl.list() {
		s := &fl.sides[i]
		if !s.resolved {
			continue
		}
		dO, dR := s.ctr.Update(fl.orig, fl.reply)
		if dO == 0 && dR == 0 {
			continue
		}
		if !s.filtered {
			t.crossed(fl, s, dO, dR)
		}
		if s.skip {
			continue
		}
		in, out := dR, dO // the initiator sent the original direction
		if !s.isOrig {
			in, out = dO, dR
		}
		a := t.acc[s.owner]
		if a == nil {
			if n := len(t.spare); n > 0 {
				a, t.spare = t.spare[n-1], t.spare[:n-1]
			} else {
				a = &classAccum{}
			}
			t.acc[s.owner] = a
		}
		a.rows = model.AddRow(a.rows, s.class, in, out)
	}
}

// Prepared is a flow announced by a NEW event, its owners looked for
// (PrepareNew), to be added to the table (InsertNew).
type Prepared struct {
	key ctnetlink.Key
	fl  flow
}

// PrepareNew builds the record of a flow announced by a NEW event and
// resolves its owners while their sockets are still open. It reads only
// what New set, so event workers call it without the table's lock.
func (t *Table) PrepareNew(f *ctnetlink.Rec, r Resolver) Prepared {
	fl := t.newFlow(f, r, 0, 0)
	t.resolveSides(&fl, r, Quick)
	return Prepared{key: ctnetlink.KeyOf(f), fl: fl}
}

// InsertNew adds a flow made by PrepareNew. When a dump listed the flow
// first, the owners found on the event path are kept on that record.
func (t *Table) InsertNew(p *Prepared) {
	k, fl := p.key, p.fl
	delete(t.tomb, k)
	oi, ok := t.flows[k]
	if !ok {
		fl.seenGen = t.gen
		fl.announced = true
		t.insert(k, fl)
		return
	}
	old := t.slab.at(oi)
	old.announced = true
	if old.n != fl.n {
		return
	}
	for i := range old.list() {
		s, n := &old.sides[i], &fl.sides[i]
		if !s.resolved && n.resolved {
			s.resolved, s.skip, s.filtered, s.owner, s.ep = true, n.skip, n.filtered, n.owner, nil
		}
	}
}

// insert stores fl under k in a free slot of the slab.
func (t *Table) insert(k ctnetlink.Key, fl flow) *flow {
	i, p := t.slab.alloc()
	*p = fl
	t.flows[k] = i
	return p
}

// remove forgets the flow k in slot i and leaves a tombstone
// (none with Options.BaselineDumps, where dumps are rare and a flow a
// dump brings back counts from its counters then).
func (t *Table) remove(k ctnetlink.Key, i uint32) {
	delete(t.flows, k)
	t.slab.release(i)
	if !t.opts.BaselineDumps {
		t.tomb[k] = t.gen
	}
}

// OnDestroy books a flow's final counters, carried by its DESTROY event.
func (t *Table) OnDestroy(f *ctnetlink.Rec, r Resolver) {
	if !t.ready {
		return
	}
	k := ctnetlink.KeyOf(f)
	i, ok := t.flows[k]
	if !ok {
		if _, dead := t.tomb[k]; dead || t.opts.BaselineDumps {
			// With quiet events (BaselineDumps), a flow the table
			// does not know was counted at the socket and forgotten
			// (Keys), or announced by an event lost with others (the
			// dump after the loss counts from there).
			return
		}
		// Born and gone between two dumps, with its NEW event lost.
		fl := t.newFlow(f, r, 0, 0)
		fl.orig, fl.reply = f.OrigBytes, f.ReplyBytes
		t.resolveSides(&fl, r, Final)
		t.account(&fl)
		t.tomb[k] = t.gen
		return
	}
	fl := t.slab.at(i)
	fl.orig, fl.reply = f.OrigBytes, f.ReplyBytes
	t.resolveSides(fl, r, Final)
	t.account(fl)
	t.remove(k, i)
}

// Drain moves the booked bytes into c, with the class of their remote
// end.
func (t *Table) Drain(c *model.MonitorEntryCollection, now time.Time) {
	for o, a := range t.acc {
		for _, r := range a.rows {
			c.AddClass(o.key, o.info, r.Class, r.In, r.Out, now)
		}
		delete(t.acc, o)
		a.rows = a.rows[:0]
		t.spare = append(t.spare, a)
	}
}

// pruneOwners forgets the owners no flow refers to any more (processes
// long gone), so the map follows the live flows.
func (t *Table) pruneOwners() {
	live := make(map[*owner]bool)
	for _, i := range t.flows {
		fl := t.slab.at(i)
		for i := range fl.list() {
			if o := fl.sides[i].owner; o != nil {
				live[o] = true
			}
		}
	}
	t.ownersMu.Lock()
	defer t.ownersMu.Unlock()
	for k, o := range t.owners {
		if !live[o] {
			delete(t.owners, k)
		}
	}
}
