package monitor

import (
	"net/netip"
	"sync"
	"time"

	"github.com/bwmon/bwmon/monitor/internal/ctnetlink"

	"github.com/bwmon/bwmon/model"
)

// sideResolver finds who owns one local end of a flow.
type sideResolver interface {
	// isLocal reports whether a is an address of the watched host.
	isLocal(a netip.Addr) bool
	// resolve returns the owner of the local end local (peer remote) of a
	// flow of protocol proto. Below levelFinal it may return ok false:
	// "not yet known, ask again later"; at levelFinal it always answers,
	// with an Unattributed reason when it must.
	resolve(proto uint8, local, remote netip.AddrPort, level resolveLevel) (info model.Info, ok bool)
	// resolveOuter is resolve for a flow with no local end: its socket
	// may be in another network namespace of the host (e.nat), else the
	// host forwarded it and the answer is the pair of hosts.
	resolveOuter(proto uint8, e *ends, level resolveLevel) (info model.Info, ok bool)
}

// resolveEnds asks r for the owner of the end e. It takes e by value, so
// that a local end's lookup allocates nothing (an outer end's copy does).
func resolveEnds(r sideResolver, proto uint8, e ends, level resolveLevel) (model.Info, bool) {
	if e.outer {
		ec := e
		return r.resolveOuter(proto, &ec, level)
	}
	return r.resolve(proto, e.local, e.remote, level)
}

// resolveLevel says how hard to look for an owner.
type resolveLevel int

const (
	// levelQuick is for the event path: known sockets and young processes.
	levelQuick resolveLevel = iota
	// levelTick also refreshes the process table (once per tick).
	levelTick
	// levelFinal must answer: an owner or a reason.
	levelFinal
)

// tickAttempts is how many ticks a side may stay unresolved (a server's
// socket is accepted a moment after the flow's NEW event) before it is
// settled with a reason.
const tickAttempts = 2

// side is one local end of a flow. The initiator's end (orig) sent the
// original-direction bytes; the responder's end (reply) sent the reply ones.
//
// A side is kept small (100,000 flows each hold one or two): its socket
// endpoints are dropped once it is resolved, and its owner is shared with
// every other side of the same process.
type side struct {
	ctr      model.FlowCounter // counters already accounted for this side
	owner    *owner
	ep       *ends // the local end and its peer, while unresolved
	isOrig   bool
	resolved bool
	skip     bool // filtered out by include/exclude or ignore_local
	attempts int8 // ticks spent unresolved
}

// ends is where a side's socket is looked for. An outer side's local end is
// not an address of the watched namespace: it is the inside host of a
// forwarded flow, or, when the flow was NATed, maybe a socket in another
// namespace of this host.
type ends struct {
	local, remote netip.AddrPort
	outer, nat    bool
}

// owner is whom a resolved side's bytes go to; one per process or reason.
type owner struct {
	info model.Info
	key  model.Key
}

// flow is the table's record of a conntrack entry, stored by value in the
// table's slab (about 100 bytes). A flow has two ends, so at most two
// sides, held inline: sides[:n].
type flow struct {
	orig, reply uint64 // latest counters seen
	sides       [2]side
	seenGen     uint32 // last dump that listed it
	proto       uint8
	n           uint8 // sides in use
	missing     uint8 // dumps in a row that did not list it
}

// list returns the sides in use, to read or update in place.
func (fl *flow) list() []side { return fl.sides[:fl.n] }

// add appends a side; a flow has at most two.
func (fl *flow) add(s side) {
	fl.sides[fl.n] = s
	fl.n++
}

// flowTable turns conntrack dumps and events into bytes per owner. It is
// not safe for concurrent use; the monitor guards it.
type flowTable struct {
	cfg *ConntrackConfig
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
	acc   map[*owner]*accum
	lost  uint64 // flows that vanished without a DESTROY event

	ownersMu sync.Mutex
	owners   map[model.Key]*owner

	// deferResolve, when set, makes applyDump leave unresolved sides to
	// the caller (listed in pending), who resolves them without holding
	// the table's lock: at start, with tens of thousands of flows, that is
	// seconds of socket lookups the ticks must not wait for. The slots of
	// pending flows are not reused until the caller calls donePending.
	deferResolve bool
	pending      []*flow
	firstDump    bool // the dump under way sets the baseline
	// leaveOldOuter, for a namespace read by a parent (children), skips
	// the flows of the first dump that leave the namespace: the parent
	// has been counting them.
	leaveOldOuter bool
}

func hasUnresolved(fl *flow) bool {
	for i := range fl.list() {
		if !fl.sides[i].resolved {
			return true
		}
	}
	return false
}

// beginResolve prepares side i of fl for a lookup outside the lock: it
// counts the attempt and returns where to look and how hard; ok is false
// when there is nothing to do. Called with the table's lock held.
func (t *flowTable) beginResolve(fl *flow, i int) (e ends, level resolveLevel, ok bool) {
	if i >= int(fl.n) {
		return ends{}, 0, false // ended meanwhile
	}
	s := &fl.sides[i]
	if s.resolved || s.ep == nil {
		return ends{}, 0, false
	}
	s.attempts++
	level = levelTick
	if s.attempts >= tickAttempts {
		level = levelFinal
	}
	return *s.ep, level, true
}

// endResolve records the answer of a lookup begun by beginResolve and
// books the bytes it lets through. Called with the table's lock held.
func (t *flowTable) endResolve(fl *flow, i int, info model.Info, ok bool) {
	if i >= int(fl.n) {
		return
	}
	s := &fl.sides[i]
	if s.resolved || !ok {
		return
	}
	t.settle(s, info)
	t.account(fl)
}

// settle records info as the owner of side s.
func (t *flowTable) settle(s *side, info model.Info) {
	s.resolved, s.ep = true, nil
	s.owner = t.ownerOf(info)
	switch {
	case info.Process != nil && !t.cfg.wants(info.Process.Cmdline),
		info.Forwarded != nil && t.cfg.IgnoreForwarded,
		info.Unattributed == reasonElsewhere:
		s.skip = true
	}
}

// reasonElsewhere marks a side whose bytes another namespace's table
// counts ([conntrack] namespaces = "all"): it is skipped here.
const reasonElsewhere model.Reason = "counted_elsewhere"

type accum struct {
	in, out uint64
}

func newFlowTable(cfg *ConntrackConfig) *flowTable {
	return &flowTable{cfg: cfg, flows: map[ctnetlink.Key]uint32{}, tomb: map[ctnetlink.Key]uint32{}, acc: map[*owner]*accum{}, owners: map[model.Key]*owner{}}
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
// local end at all is counted as not local.
func (t *flowTable) newFlow(f *ctnetlink.Rec, r sideResolver, baseOrig, baseReply uint64) flow {
	fl := flow{proto: f.Proto, orig: baseOrig, reply: baseReply}
	ol, or := endpoint(&f.Orig, f.ICMP)
	rl, rr := endpoint(&f.Reply, f.ICMP)
	oLocal, rLocal := r.isLocal(ol.Addr()), r.isLocal(rl.Addr())
	base := model.FlowCounter{Orig: baseOrig, Reply: baseReply}
	if oLocal {
		fl.add(side{isOrig: true, ep: &ends{local: ol, remote: or}, ctr: base})
	}
	if rLocal {
		fl.add(side{isOrig: false, ep: &ends{local: rl, remote: rr}, ctr: base})
	}
	switch {
	case oLocal && rLocal && t.cfg.IgnoreLocal:
		for i := range fl.list() {
			fl.sides[i].resolved, fl.sides[i].skip, fl.sides[i].ep = true, true, nil
		}
	case !oLocal && !rLocal:
		fl.add(outerSide(f, base))
	}
	return fl
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
	return side{isOrig: !dnat, ctr: base, ep: &ends{local: local, remote: remote, outer: true, nat: dnat || snat}}
}

// ownerOf returns the shared owner for info. Event workers call it
// without the table's lock; ownersMu guards the map.
func (t *flowTable) ownerOf(info model.Info) *owner {
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

// resolveSides tries to resolve the sides still unknown.
func (t *flowTable) resolveSides(fl *flow, r sideResolver, level resolveLevel) {
	for i := range fl.list() {
		s := &fl.sides[i]
		if s.resolved {
			continue
		}
		lv := level
		if lv == levelTick {
			s.attempts++
			if s.attempts >= tickAttempts {
				lv = levelFinal
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
func (t *flowTable) account(fl *flow) {
	for i := range fl.list() {
		s := &fl.sides[i]
		if !s.resolved {
			continue
		}
		dO, dR := s.ctr.Update(fl.orig, fl.reply)
		if s.skip || dO == 0 && dR == 0 {
			continue
		}
		in, out := dR, dO // the initiator sent the original direction
		if !s.isOrig {
			in, out = dO, dR
		}
		a := t.acc[s.owner]
		if a == nil {
			a = &accum{}
			t.acc[s.owner] = a
		}
		a.in += in
		a.out += out
	}
}

// prepareNew builds the record of a flow announced by a NEW event and
// resolves its owners while their sockets are still open. It reads only the
// table's configuration, so event workers call it without the table's lock;
// insertNew then adds the result.
func (t *flowTable) prepareNew(f *ctnetlink.Rec, r sideResolver) (ctnetlink.Key, flow) {
	fl := t.newFlow(f, r, 0, 0)
	t.resolveSides(&fl, r, levelQuick)
	return ctnetlink.KeyOf(f), fl
}

// insertNew adds a flow made by prepareNew. When a dump listed the flow
// first, the owners found on the event path are kept on that record.
func (t *flowTable) insertNew(k ctnetlink.Key, fl flow) {
	delete(t.tomb, k)
	oi, ok := t.flows[k]
	if !ok {
		fl.seenGen = t.gen
		t.insert(k, fl)
		return
	}
	old := t.slab.at(oi)
	if old.n != fl.n {
		return
	}
	for i := range old.list() {
		s, n := &old.sides[i], &fl.sides[i]
		if !s.resolved && n.resolved {
			s.resolved, s.skip, s.owner, s.ep = true, n.skip, n.owner, nil
		}
	}
}

// onNew records a flow announced by a NEW event (prepareNew and insertNew
// in one, for callers that hold the lock anyway).
func (t *flowTable) onNew(f *ctnetlink.Rec, r sideResolver) {
	t.insertNew(t.prepareNew(f, r))
}

// insert stores fl under k in a free slot of the slab.
func (t *flowTable) insert(k ctnetlink.Key, fl flow) *flow {
	i, p := t.slab.alloc()
	*p = fl
	t.flows[k] = i
	return p
}

// remove forgets the flow k in slot i and leaves a tombstone.
func (t *flowTable) remove(k ctnetlink.Key, i uint32) {
	delete(t.flows, k)
	t.slab.release(i)
	t.tomb[k] = t.gen
}

// onDestroy books a flow's final counters, carried by its DESTROY event.
func (t *flowTable) onDestroy(f *ctnetlink.Rec, r sideResolver) {
	if !t.ready {
		return
	}
	k := ctnetlink.KeyOf(f)
	i, ok := t.flows[k]
	if !ok {
		if _, dead := t.tomb[k]; dead {
			return
		}
		// Born and gone between two dumps, with its NEW event lost.
		fl := t.newFlow(f, r, 0, 0)
		fl.orig, fl.reply = f.OrigBytes, f.ReplyBytes
		t.resolveSides(&fl, r, levelFinal)
		t.account(&fl)
		t.tomb[k] = t.gen
		return
	}
	fl := t.slab.at(i)
	fl.orig, fl.reply = f.OrigBytes, f.ReplyBytes
	t.resolveSides(fl, r, levelFinal)
	t.account(fl)
	t.remove(k, i)
}

// applyDump books the counters of a full dump. The first dump only sets the
// baseline: bytes moved before bwmon started are not counted. It is
// beginDump, dumpBatch and endDump in one.
func (t *flowTable) applyDump(flows []ctnetlink.Rec, r sideResolver) {
	t.beginDump()
	t.dumpBatch(flows, r)
	t.endDump(r)
}

// beginDump starts a full dump that dumpBatch then receives in batches.
func (t *flowTable) beginDump() {
	t.gen++
	t.firstDump = !t.ready
}

// dumpBatch records the counters of part of a dump; the flows of the
// table may change between batches (events), as between a dump and its
// application.
func (t *flowTable) dumpBatch(flows []ctnetlink.Rec, r sideResolver) {
	for i := range flows {
		f := &flows[i]
		k := ctnetlink.KeyOf(f)
		if _, dead := t.tomb[k]; dead {
			continue
		}
		o, rp := f.OrigBytes, f.ReplyBytes
		var fl *flow
		if i, ok := t.flows[k]; ok {
			fl = t.slab.at(i)
		} else {
			var bo, br uint64
			if t.firstDump {
				bo, br = o, rp
			}
			nf := t.newFlow(f, r, bo, br)
			if t.firstDump && t.leaveOldOuter && nf.n < 2 {
				for i := range nf.list() {
					nf.sides[i].resolved, nf.sides[i].skip, nf.sides[i].ep = true, true, nil
				}
			}
			fl = t.insert(k, nf)
		}
		fl.seenGen = t.gen
		fl.missing = 0
		fl.orig, fl.reply = o, rp
	}
}

// endDump closes a full dump: flows it did not list count towards being
// gone, the others are resolved and their bytes booked.
func (t *flowTable) endDump(r sideResolver) {
	for k, i := range t.flows {
		fl := t.slab.at(i)
		if fl.seenGen != t.gen {
			// Not in this dump: its DESTROY event may still be queued.
			// After three dumps without it the event was lost.
			fl.missing++
			if fl.missing >= 3 {
				t.remove(k, i)
				t.lost++
			}
			continue
		}
		if t.deferResolve && hasUnresolved(fl) {
			t.pending = append(t.pending, fl)
		} else {
			t.resolveSides(fl, r, levelTick)
		}
		t.account(fl)
	}
	for k, g := range t.tomb {
		if t.gen-g > 3 {
			delete(t.tomb, k)
		}
	}
	if len(t.pending) > 0 {
		t.slab.setHold(true)
	}
	if t.gen%64 == 0 {
		t.pruneOwners()
	}
	t.ready = true
}

// donePending ends the resolution of the flows endDump listed in pending,
// which the caller hands back: their slots may be reused again, and the
// list's room serves the next dump (at start, two dumps in a row list
// every flow).
func (t *flowTable) donePending(pending []*flow) {
	t.slab.setHold(false)
	clear(pending)
	if t.pending == nil {
		t.pending = pending[:0]
	}
}

// drain moves the booked bytes into c.
func (t *flowTable) drain(c *model.MonitorEntryCollection, now time.Time) {
	for o, a := range t.acc {
		c.Add(o.key, o.info, a.in, a.out, now)
		delete(t.acc, o)
	}
}

// pruneOwners forgets the owners no flow refers to any more (processes
// long gone), so the map follows the live flows.
func (t *flowTable) pruneOwners() {
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

// applyCounters books counters read for known flows (ctDumper.get). Unlike
// applyDump it takes no flow as gone for being absent: an entry missing
// from the answers has ended, and its DESTROY event brings its last bytes.
func (t *flowTable) applyCounters(recs []ctnetlink.Rec, r sideResolver) {
	for i := range recs {
		f := &recs[i]
		j, ok := t.flows[ctnetlink.KeyOf(f)]
		if !ok {
			continue
		}
		fl := t.slab.at(j)
		fl.orig, fl.reply = f.OrigBytes, f.ReplyBytes
		t.resolveSides(fl, r, levelTick)
		t.account(fl)
	}
}

// keys appends the keys of every flow in the table to dst.
func (t *flowTable) keys(dst []ctnetlink.Key) []ctnetlink.Key {
	for k := range t.flows {
		dst = append(dst, k)
	}
	return dst
}
