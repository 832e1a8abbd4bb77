package sockbpf

import (
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"
)

// Slot states and stats indexes, as in bpf/sockbpf.c.
const (
	stateFree   = 0
	stateLive   = 1
	stateClosed = 2

	statNext      = 0
	statMapFull   = 1
	statRingLost  = 2
	statAdopted   = 3
	statNoStorage = 4

	slotSize = int(unsafe.Sizeof(sockbpfSlot{}))

	afInet  = unix.AF_INET
	afInet6 = unix.AF_INET6
)

// tupleEvery is TUPLE_EVERY of the programs: they note a socket's tuple at
// each direction's first packet and every tupleEvery packets after.
const tupleEvery = 1024

// maxComms bounds Read's cache of comm strings.
const maxComms = 4096

// ringBytes is the size of the close records' ring buffer: 512 KiB, about
// 3,800 records of 136 bytes, 380 ms of 10,000 sockets closing a second
// (tests make it smaller). The reader maps its data pages twice, so it
// costs the agent twice that in resident memory once every page was read.
var ringBytes uint32 = 512 << 10

// drainEvery is how often the Counter's goroutine moves close records
// from the ring buffer to its own list, so that a tick's worth of closing
// sockets need not fit the ring.
var drainEvery = 100 * time.Millisecond

// maxPending bounds the close records the goroutine keeps between two
// Reads (128 bytes each): beyond it they wait in the ring buffer, and
// when that is full in their slots (Stats.RingLost), never lost.
const maxPending = 1 << 15

// Offsets of the fields Read loads (or stores) one at a time in the
// mapped slots.
var (
	offState     = unsafe.Offsetof(sockbpfSlot{}.State)
	offGen       = unsafe.Offsetof(sockbpfSlot{}.Gen)
	offCookieOut = unsafe.Offsetof(sockbpfSlot{}.CookieOut)
)

// Counter holds the loaded programs, their links to the cgroup and the
// user-space ends of their maps. One goroutine calls Read; Stats may be
// called from any.
type Counter struct {
	objs     sockbpfObjects
	links    []link.Link
	ring     *ringbuf.Reader
	win      []byte // the mapped window of the slots map (nil once closed)
	winStart int    // the first slot in win
	max      int
	home     int // the home slots: [0, home); the spill slots are [home, max)

	stop chan struct{} // closed by Close: the drain goroutine returns
	done chan struct{} // closed by the drain goroutine when it returns
	// ringFile is a second descriptor of the ring buffer in the runtime's
	// poller: the drain goroutine sleeps on it until records come, so an
	// idle agent is not woken ten times a second. Close closes it first.
	ringFile *os.File

	mu        sync.Mutex    // guards closedBuf and the reading of ring; held through Read
	closedBuf []sockbpfSlot // close records drained and not yet read (reused)

	sock  Socket              // Read's Socket handed to fn, reused
	comms map[[16]byte]string // Read's comm strings, so that a tick allocates none for names seen before

	live, closed atomic.Uint64

	// overIdle counts, for each overflow entry, the Reads since its
	// counters last moved; one idle for overflowIdle Reads is deleted.
	overIdle map[sockbpfOverflowKey]overflowSeen
	overKeys []sockbpfOverflowKey // Read's, reused

	closeOnce sync.Once
	closeErr  error

	// noExe is why the programs do not read the task (nil: they do):
	// they record no executable names (see ExeName), and a socket's comm
	// is the thread's that made it.
	noExe error
}

// Open loads the programs and attaches them to the cgroup (by default the
// cgroup v2 root) with bpf_links, which the kernel detaches when the last
// file descriptor closes: at Close, or when the process exits or is
// killed. Its error says why eBPF cannot be used and how to fix it;
// errors.Is(err, ErrUnsupported) holds when the cause is the host.
func Open(o Options) (*Counter, error) {
	if err := checkCaps(); err != nil {
		return nil, err
	}
	path := o.CgroupPath
	if path == "" {
		f, err := os.Open("/proc/self/mountinfo")
		if err != nil {
			return nil, fmt.Errorf("finding the cgroup v2 root: %w", err)
		}
		path, err = parseCgroup2Root(f)
		f.Close()
		if errors.Is(err, errNoCgroup2) {
			return nil, fmt.Errorf("%w: %v: mount it (mount -t cgroup2 none /sys/fs/cgroup) or boot with systemd.unified_cgroup_hierarchy=1", ErrUnsupported, err)
		}
		if err != nil {
			return nil, fmt.Errorf("finding the cgroup v2 root: %w", err)
		}
	}
	n := o.MaxSockets
	switch {
	case n == 0:
		n = DefaultMaxSockets
	case n < MinMaxSockets:
		n = MinMaxSockets
	case n > MaxMaxSockets:
		n = MaxMaxSockets
	}

	spec, err := loadSockbpf()
	if err != nil {
		return nil, fmt.Errorf("reading the embedded BPF object: %w", err)
	}
	if err := sizeSpec(spec, n); err != nil {
		return nil, err
	}
	return openSpec(spec, path, n)
}

// sizeSpec sizes spec's maps for n sockets.
func sizeSpec(spec *ebpf.CollectionSpec, n int) error {
	if err := spec.Variables[sockbpfVarHomeMask].Set(uint32(homeSlotsFor(n) - 1)); err != nil {
		return fmt.Errorf("setting home_mask: %w", err)
	}
	spec.Maps[sockbpfMapClosed].MaxEntries = ringBytes
	spec.Maps[sockbpfMapSlots].MaxEntries = uint32(n)
	spec.Maps[sockbpfMapFreeSlots].MaxEntries = uint32(n)
	if err := spec.Variables[sockbpfVarMaxSlots].Set(uint32(n)); err != nil {
		return fmt.Errorf("setting max_slots: %w", err)
	}
	idx := indexSize(n)
	spec.Maps[sockbpfMapSockIndex].MaxEntries = idx
	if err := spec.Variables[sockbpfVarIndexMask].Set(idx - 1); err != nil {
		return fmt.Errorf("setting index_mask: %w", err)
	}
	return nil
}

// homeSlots is the number of home slots of n (bpf/sockbpf.c, home_mask):
// the power of two at or below n/2, at most a window's worth, so that
// reading them all is mapping the first window, as it is below
// windowSlots sockets anyway. A socket whose cookie's home slot is free
// needs no index entry; the rest of the n are spill slots, so that there
// is room for n sockets when no two of them share a home.
func homeSlots(n int) int {
	return min(windowSlots, 1<<(bits.Len(uint(n/2))-1))
}

// homeSlotsFor is homeSlots; tests make it 1, to take the spill slots'
// way.
var homeSlotsFor = homeSlots

// indexSize is the number of sock_index entries for n sockets: the power
// of two at or above n.
func indexSize(n int) uint32 {
	return uint32(1) << bits.Len32(uint32(n-1))
}

// openSpec loads spec's programs and maps and attaches them to the cgroup
// at path.
func openSpec(spec *ebpf.CollectionSpec, path string, n int) (*Counter, error) {
	c := &Counter{max: n, home: homeSlotsFor(n), comms: map[[16]byte]string{}}
	rec := spec.Variables[sockbpfVarReadTask]
	if rec != nil {
		if err := rec.Set(uint8(1)); err != nil {
			return nil, fmt.Errorf("setting read_task: %w", err)
		}
	}
	err := spec.LoadAndAssign(&c.objs, nil)
	if err != nil && rec != nil {
		// Reading the task (the executable's name, the process's comm)
		// needs bpf_probe_read_kernel (CAP_PERFMON, a kernel not locked
		// down): the programs load without it, the names are comms, and
		// a socket's comm is its thread's.
		first := err
		if rec.Set(uint8(0)) == nil {
			if err = spec.LoadAndAssign(&c.objs, nil); err == nil {
				c.noExe = first
			}
		}
	}
	if err != nil {
		return nil, loadError(err)
	}
	for _, a := range []struct {
		prog *ebpf.Program
		typ  ebpf.AttachType
	}{
		// Creation first, so that no socket has packets before its owner.
		{c.objs.SockCreate, ebpf.AttachCGroupInetSockCreate},
		{c.objs.SockOps, ebpf.AttachCGroupSockOps},
		{c.objs.SkbEgress, ebpf.AttachCGroupInetEgress},
		{c.objs.SkbIngress, ebpf.AttachCGroupInetIngress},
		{c.objs.SockRelease, ebpf.AttachCgroupInetSockRelease},
	} {
		l, err := attach(path, a.prog, a.typ)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.links = append(c.links, l)
	}
	// The shared overflow entry, for sockets whose own found no room.
	if err := c.objs.Overflow.Update(sockbpfOverflowKey{}, sockbpfOverflowVal{}, ebpf.UpdateNoExist); err != nil {
		c.Close()
		return nil, fmt.Errorf("making the shared overflow entry: %w", err)
	}
	if err = c.mapWindow(0); err != nil {
		c.Close()
		return nil, err
	}
	if c.ring, err = ringbuf.NewReader(c.objs.Closed); err != nil {
		c.Close()
		return nil, fmt.Errorf("opening the close records' ring buffer: %w", err)
	}
	if c.ringFile, err = pollable(c.objs.Closed.FD()); err != nil {
		c.Close()
		return nil, fmt.Errorf("polling the close records' ring buffer: %w", err)
	}
	c.stop, c.done = make(chan struct{}), make(chan struct{})
	go c.drainLoop()
	return c, nil
}

// pollable returns a non-blocking duplicate of fd as a file of the
// runtime's poller.
func pollable(fd int) (*os.File, error) {
	d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.SetNonblock(d, true); err != nil {
		unix.Close(d)
		return nil, err
	}
	return os.NewFile(uintptr(d), "bwmon-close-records"), nil
}

// drainLoop moves close records from the ring buffer to closedBuf until
// Close: it sleeps until records come (the programs wake the ring's
// readers when it was empty), lets them gather for drainEvery, then takes
// them, skipping a round while Read runs (Read drains the ring itself).
func (c *Counter) drainLoop() {
	defer close(c.done)
	rc, err := c.ringFile.SyscallConn()
	if err != nil {
		return
	}
	t := time.NewTimer(drainEvery)
	defer t.Stop()
	for {
		// Returns when records wait in the ring (at once if some do),
		// or with an error once Close closed ringFile.
		if err := rc.Read(func(uintptr) bool { return c.ring.AvailableBytes() > 0 }); err != nil {
			return
		}
		t.Reset(drainEvery)
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		if !c.mu.TryLock() {
			continue
		}
		if len(c.closedBuf) < maxPending {
			// An error here (the reader closed) is Read's to report.
			_ = c.drainLocked(maxPending)
		}
		c.mu.Unlock()
	}
}

// drainLocked appends the close records waiting in the ring buffer to
// closedBuf, until it holds limit records, without blocking.
func (c *Counter) drainLocked(limit int) error {
	c.ring.SetDeadline(time.Now())
	var rec ringbuf.Record
	for len(c.closedBuf) < limit {
		err := c.ring.ReadInto(&rec)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading close records: %w", err)
		}
		if len(rec.RawSample) < slotSize {
			continue
		}
		c.closedBuf = append(c.closedBuf, *(*sockbpfSlot)(unsafe.Pointer(&rec.RawSample[0])))
	}
	return nil
}

// attach links prog to the cgroup at path with a bpf_link, never with the
// legacy BPF_PROG_ATTACH (link.AttachCgroup's fallback), whose programs
// stay attached after the agent dies.
func attach(path string, prog *ebpf.Program, typ ebpf.AttachType) (link.Link, error) {
	cg, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: opening the cgroup %s: %v", ErrUnsupported, path, err)
		}
		return nil, fmt.Errorf("opening the cgroup %s: %w", path, err)
	}
	defer cg.Close()
	l, err := link.AttachRawLink(link.RawLinkOptions{Target: int(cg.Fd()), Program: prog, Attach: typ})
	if err != nil {
		return nil, attachError(path, typ, err)
	}
	return l, nil
}

// Read calls fn for every live socket with its current counters, then for
// every socket closed since the last Read (Closed set, final counters,
// once). fn must not keep the pointer. One goroutine calls Read, never
// at the same time as Close.
func (c *Counter) Read(fn func(*Socket)) error {
	if c.win == nil {
		return errors.New("reading sockets: the counter is closed")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// The close records first (those the goroutine drained, then the rest
	// of the ring): a socket whose record is read here has left its slot,
	// so it is not also reported live below.
	// (A record left in the ring waits for the next Read; one kept in
	// closedBuf after an error too.)
	if err := c.drainLocked(2 * maxPending); err != nil {
		return err
	}

	next, err := c.stat(statNext)
	if err != nil {
		return err
	}
	end := c.home + int(min(next, uint64(c.max-c.home)))
	live := 0
	for start := 0; start < end; start += windowSlots {
		if err := c.mapWindow(start); err != nil {
			return err
		}
		for i := start; i < min(start+windowSlots, end); i++ {
			off := (i - start) * slotSize
			state := atomic.LoadUint32((*uint32)(unsafe.Pointer(&c.win[off+int(offState)&^3])))
			state = state >> (8 * (uint32(offState) & 3)) & 0xff
			switch state {
			case stateLive:
				gen := c.gen(off)
				s := c.slotAt(off)
				if c.gen(off) != gen || s.State != stateLive {
					continue // handed to another socket while read: next time
				}
				live++
				c.fill(&s, false)
				c.sock.Slot = i
				fn(&c.sock)
			case stateClosed:
				// Its close record found the ring buffer full: the slot
				// kept it, and is freed now that it is read.
				r := c.slotAt(off)
				r.Gen = uint32(i) // as in a record of the ring: the slot it left
				c.closedBuf = append(c.closedBuf, r)
				c.win[off+int(offState)] = stateFree
				if i < c.home {
					// Free to be claimed again (its cookie_out was held).
					atomic.StoreUint64((*uint64)(unsafe.Pointer(&c.win[off+int(offCookieOut)])), 0)
				} else if err := c.objs.FreeSlots.Update(nil, uint32(i), ebpf.UpdateAny); err != nil {
					return fmt.Errorf("freeing slot %d: %w", i, err)
				}
			}
		}
	}
	c.live.Store(uint64(live))
	for i := range c.closedBuf {
		c.fill(&c.closedBuf[i], true)
		c.sock.Slot = int(c.closedBuf[i].Gen)
		fn(&c.sock)
	}
	c.closed.Add(uint64(len(c.closedBuf)))
	if cap(c.closedBuf) > 8192 && len(c.closedBuf) < cap(c.closedBuf)/4 {
		c.closedBuf = nil // a burst of closing is over: give its memory back
	} else {
		c.closedBuf = c.closedBuf[:0]
	}
	return c.readOverflow(fn)
}

// comm returns the string of a comm as the kernel keeps it, from Read's
// cache.
func (c *Counter) comm(raw [16]byte) string {
	name, ok := c.comms[raw]
	if !ok {
		comm := raw[:]
		for i, b := range comm {
			if b == 0 {
				comm = comm[:i]
				break
			}
		}
		name = string(comm)
		if len(c.comms) >= maxComms {
			clear(c.comms)
		}
		c.comms[raw] = name
	}
	return name
}

// exeNameLen is the longest executable name the programs record, with
// its terminating NUL (bpf/sockbpf.c: EXE_NAME_LEN).
const exeNameLen = 64

// ExeName returns the file name of the executable process pid ran when it
// made its last socket, as the kernel recorded it then (the last part of
// the path it was exec'd by, at most 63 bytes), provided the process
// still had comm then: "" when none is recorded under that comm (another
// process on a reused PID, or one that exec'd since). It is the name of a
// process that exited before it could be read, whose comm is cut at 15
// bytes. One map lookup.
func (c *Counter) ExeName(pid int, comm string) string {
	if c.noExe != nil || pid <= 0 || comm == "" {
		return ""
	}
	var v sockbpfExeName
	if err := c.objs.ExeNames.Lookup(uint32(pid), &v); err != nil {
		return ""
	}
	var raw [16]byte
	for i, b := range v.Comm {
		raw[i] = byte(b)
	}
	if c.comm(raw) != comm {
		return ""
	}
	name := make([]byte, 0, exeNameLen)
	for _, b := range v.Name {
		if b == 0 {
			break
		}
		name = append(name, byte(b))
	}
	return string(name)
}

// ExeNamesErr says why the programs record no executable names (nil when
// they do): ExeName then always returns "".
func (c *Counter) ExeNamesErr() error { return c.noExe }

// overflowSeen is what Read last saw of an overflow entry.
type overflowSeen struct {
	in, out uint64
	idle    int
}

// overflowIdle is how many Reads an overflow entry's counters may stay
// still before it is deleted (its owner's sockets are likely gone; one
// still sending then counts under the shared entry).
const overflowIdle = 60

// readOverflow reports each overflow entry: the bytes of sockets that
// found the map full, by namespace and creator (Socket.Overflow).
func (c *Counter) readOverflow(fn func(*Socket)) error {
	var (
		k sockbpfOverflowKey
		v sockbpfOverflowVal
	)
	c.overKeys = c.overKeys[:0]
	it := c.objs.Overflow.Iterate()
	for it.Next(&k, &v) {
		raw := *(*[16]byte)(unsafe.Pointer(&v.Comm))
		c.sock = Socket{Cookie: 0, PID: int(k.Pid), NetNSCookie: k.Netns, BytesIn: v.BytesIn, BytesOut: v.BytesOut,
			Comm: c.comm(raw), Overflow: true, Slot: -1}
		fn(&c.sock)
		seen := c.overIdle[k]
		if seen.in == v.BytesIn && seen.out == v.BytesOut {
			seen.idle++
		} else {
			seen = overflowSeen{in: v.BytesIn, out: v.BytesOut}
		}
		if c.overIdle == nil {
			c.overIdle = map[sockbpfOverflowKey]overflowSeen{}
		}
		c.overIdle[k] = seen
		if seen.idle >= overflowIdle && (k.Netns != 0 || k.Pid != 0) {
			c.overKeys = append(c.overKeys, k)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("reading the overflow counters: %w", err)
	}
	for _, k := range c.overKeys {
		if err := c.objs.Overflow.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("deleting an idle overflow entry: %w", err)
		}
		delete(c.overIdle, k)
	}
	return nil
}

// windowSlots is the number of slots mapped at a time: 1 MiB of them.
const windowSlots = (1 << 20) / slotSize

// mapWindow maps the window of the slots map that starts at slot start (a
// multiple of windowSlots), unless it is mapped already. Read maps the
// slots handed out so far a window at a time rather than all at once: the
// kernel maps every page of a mapping at once, and the slots of 100,000
// sockets are 12.8 MB that the agent would hold in its resident memory
// (the map's memory is the kernel's, allocated in full at Open, whether
// or not it is mapped). On a host with fewer than windowSlots sockets the
// one window stays mapped from Read to Read; above, each Read maps and
// unmaps each window once (BenchmarkMapWindow: about 120 µs a window,
// 1.6 ms a Read at 100,000 sockets).
func (c *Counter) mapWindow(start int) error {
	if c.win != nil && c.winStart == start {
		return nil
	}
	size := min(windowSlots, c.max-start) * slotSize
	if c.win != nil {
		_ = unix.Munmap(c.win)
		c.win = nil
	}
	m, err := unix.Mmap(c.objs.Slots.FD(), int64(start*slotSize), size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mapping slots %d to %d of the slots map: %w", start, start+size/slotSize, err)
	}
	c.win, c.winStart = m, start
	return nil
}

func (c *Counter) gen(off int) uint32 {
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(&c.win[off+int(offGen)])))
}

// slotAt copies the slot at off in the window, its counters with atomic loads.
func (c *Counter) slotAt(off int) sockbpfSlot {
	p := (*sockbpfSlot)(unsafe.Pointer(&c.win[off]))
	s := *p
	s.BytesIn = atomic.LoadUint64(&p.BytesIn)
	s.BytesOut = atomic.LoadUint64(&p.BytesOut)
	s.PacketsIn = atomic.LoadUint64(&p.PacketsIn)
	s.PacketsOut = atomic.LoadUint64(&p.PacketsOut)
	return s
}

// fill sets c.sock from a slot.
func (c *Counter) fill(s *sockbpfSlot, closed bool) {
	k := &c.sock
	*k = Socket{
		Cookie: s.Cookie, PID: int(s.Pid), NetNSCookie: s.Netns,
		Family: s.Family, Type: s.Type, Proto: s.Proto,
		BytesIn: s.BytesIn, BytesOut: s.BytesOut, PacketsIn: s.PacketsIn, PacketsOut: s.PacketsOut,
		// The programs note the tuple at a direction's first packet and
		// every tupleEvery after (note_tuple).
		TupleSeq: uint32((s.PacketsIn+tupleEvery-1)/tupleEvery + (s.PacketsOut+tupleEvery-1)/tupleEvery),
		Adopted:  s.Pid == 0 && s.Comm[0] == 0,
		Listener: s.Listener != 0,
		Closed:   closed,
		Late:     closed && s.Late != 0,
		Slot:     -1,
	}
	k.Comm = c.comm(*(*[16]byte)(unsafe.Pointer(&s.Comm)))
	switch s.TupleFamily {
	case afInet:
		k.Family = afInet
		l := (*[16]byte)(unsafe.Pointer(&s.Laddr))
		r := (*[16]byte)(unsafe.Pointer(&s.Raddr))
		k.Local = netip.AddrPortFrom(netip.AddrFrom4([4]byte(l[:4])), s.Lport)
		k.Remote = netip.AddrPortFrom(netip.AddrFrom4([4]byte(r[:4])), s.Rport)
	case afInet6:
		k.Family = afInet6
		k.Local = netip.AddrPortFrom(netip.AddrFrom16(*(*[16]byte)(unsafe.Pointer(&s.Laddr))), s.Lport)
		k.Remote = netip.AddrPortFrom(netip.AddrFrom16(*(*[16]byte)(unsafe.Pointer(&s.Raddr))), s.Rport)
	}
	if k.Listener {
		k.Remote = netip.AddrPort{}
	}
}

func (c *Counter) stat(k uint32) (uint64, error) {
	var v uint64
	if err := c.objs.Stats.Lookup(k, &v); err != nil {
		return 0, fmt.Errorf("reading the stats map: %w", err)
	}
	return v, nil
}

// Stats reports the counters of loss and the sockets seen. Safe from any
// goroutine, also after Close (the kernel's counters then read as zero).
func (c *Counter) Stats() Stats {
	st := Stats{Live: int(c.live.Load()), Closed: c.closed.Load()}
	st.MapFull, _ = c.stat(statMapFull)
	st.RingLost, _ = c.stat(statRingLost)
	st.Adopted, _ = c.stat(statAdopted)
	st.NoStorage, _ = c.stat(statNoStorage)
	return st
}

// Close stops the drain goroutine, detaches the programs and frees the
// maps. It blocks until the goroutine returns (at most one drain of the
// ring) and for the system calls; safe twice.
func (c *Counter) Close() error {
	c.closeOnce.Do(func() {
		if c.stop != nil {
			close(c.stop)
			c.ringFile.Close() // wakes the drain goroutine
			<-c.done
		} else if c.ringFile != nil {
			c.ringFile.Close()
		}
		var errs []error
		for _, l := range c.links {
			errs = append(errs, l.Close())
		}
		if c.ring != nil {
			errs = append(errs, c.ring.Close())
		}
		if c.win != nil {
			errs = append(errs, unix.Munmap(c.win))
			c.win = nil
		}
		errs = append(errs, c.objs.Close())
		if err := errors.Join(errs...); err != nil {
			c.closeErr = fmt.Errorf("closing the socket counter: %w", err)
		}
	})
	return c.closeErr
}

// programs lists the loaded programs.
func (c *Counter) programs() []*ebpf.Program {
	return []*ebpf.Program{c.objs.SockCreate, c.objs.SockOps, c.objs.SkbEgress, c.objs.SkbIngress, c.objs.SockRelease}
}
