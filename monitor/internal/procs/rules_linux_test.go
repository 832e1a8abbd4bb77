package procs

import (
	"slices"
	"testing"
	"time"

	"github.com/bwmon/bwmon/model"
)

func pidOf(p *model.Process) int {
	if p == nil {
		return 0
	}
	return p.PID
}

func forkEv(pid int) event { return event{what: eventFork, pid: pid, tid: pid, ppid: 1} }
func execEv(pid int) event { return event{what: eventExec, pid: pid, tid: pid} }
func exitEv(pid int) event { return event{what: eventExit, pid: pid, tid: pid} }

// TestExitGrace: an exited process answers for its sockets for exitGrace,
// is no longer counted, and is told of once, by its exit event or, when
// that was lost, by its absence from /proc.
func TestExitGrace(t *testing.T) {
	tests := []struct {
		name      string
		exitEvent bool
	}{
		{"exit event", true},
		{"no exit event", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, clock := newFixture(t), newClock()
			f.proc(100, "/usr/bin/curl", 5, "curl", "x")
			f.fd(100, 3, socket(5000))
			var exits []int
			tb := f.table(clock, &exits)
			f.must(tb.FullScan())
			if got := pidOf(tb.Holder(5000)); got != 100 {
				t.Fatalf("holder of 5000: %d, want 100", got)
			}
			if tt.exitEvent {
				tb.handle(exitEv(100))
			}
			f.exit(100)
			f.must(tb.FullScan())
			if n := tb.Count(); n != 0 {
				t.Errorf("%d processes counted after the exit, want 0", n)
			}
			clock.Advance(exitGrace - time.Second)
			f.must(tb.FullScan())
			if p := tb.Holder(5000); pidOf(p) != 100 || p.Exe != "/usr/bin/curl" {
				t.Errorf("within the grace: holder %+v, want curl (100)", p)
			}
			clock.Advance(2 * time.Second)
			f.must(tb.FullScan())
			if p := tb.Holder(5000); p != nil {
				t.Errorf("after the grace: holder %d, want none", p.PID)
			}
			if !slices.Equal(exits, []int{100}) {
				t.Errorf("told of exits %v, want [100] once", exits)
			}
		})
	}
}

// TestPIDReuse: a process on the PID of one that exited is another: it
// does not inherit the old one's sockets, and is read afresh.
func TestPIDReuse(t *testing.T) {
	tests := []struct {
		name string
		gone func(f *fixture, tb *Table)
	}{
		{"exit event", func(f *fixture, tb *Table) { tb.handle(exitEv(100)) }},
		{"exit seen by a scan", func(f *fixture, tb *Table) {
			f.exit(100)
			f.must(tb.FullScan())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, clock := newFixture(t), newClock()
			f.proc(100, "/usr/bin/curl", 5, "curl")
			f.fd(100, 3, socket(5000))
			tb := f.table(clock, nil)
			f.must(tb.FullScan())
			if got := pidOf(tb.Holder(5000)); got != 100 {
				t.Fatalf("holder of 5000: %d, want 100", got)
			}
			tt.gone(f, tb)
			clock.Advance(time.Second)
			f.proc(100, "/usr/sbin/nginx", 900, "nginx")
			f.fd(100, 3, socket(6000))
			tb.handle(forkEv(100))
			tb.handle(execEv(100))
			if p := tb.Holder(5000); p != nil {
				t.Errorf("the new process on PID 100 inherited socket 5000 (%+v)", p)
			}
			if p := tb.OwnerQuick(6000); pidOf(p) != 100 || p.Exe != "/usr/sbin/nginx" || p.StartTime != 900 {
				t.Errorf("owner of 6000: %+v, want nginx started at 900", p)
			}
		})
	}
}

// TestInodeExpiry: a socket's owner is remembered for inodeKeep after it
// left its fd table, then forgotten.
func TestInodeExpiry(t *testing.T) {
	f, clock := newFixture(t), newClock()
	f.proc(100, "/usr/bin/curl", 5, "curl")
	f.fd(100, 3, socket(5000))
	f.fd(100, 4, socket(5001))
	tb := f.table(clock, nil)
	f.must(tb.FullScan())
	f.closeFD(100, 3)
	clock.Advance(time.Second)
	f.must(tb.sync(false)) // the count changed: read again
	clock.Advance(inodeKeep - 2*time.Second)
	f.must(tb.sync(false))
	if got := pidOf(tb.Holder(5000)); got != 100 {
		t.Errorf("closed a moment ago: holder of 5000 %d, want 100", got)
	}
	clock.Advance(2 * time.Second)
	f.must(tb.sync(false))
	if tb.Known(5000) {
		t.Errorf("closed over %s ago: 5000 still known", inodeKeep)
	}
	if got := pidOf(tb.Holder(5001)); got != 100 {
		t.Errorf("still open: holder of 5001 %d, want 100", got)
	}
}

// TestYoung: a socket not known yet is looked for in the processes
// forked or exec'd less than youngFor ago whose open-file count changed,
// and in those under newborn even when it did not.
func TestYoung(t *testing.T) {
	tests := []struct {
		name string
		age  time.Duration // since the process's exec when the socket is looked for
		// sameCount replaces an fd with the socket instead of opening
		// one: the open-file count does not change.
		sameCount bool
		want      int
	}{
		{"young, count changed", time.Second, false, 200},
		{"newborn, count unchanged", newborn / 2, true, 200},
		{"young but not newborn, count unchanged", newborn + time.Millisecond, true, 0},
		{"no longer young", youngFor + time.Millisecond, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, clock := newFixture(t), newClock()
			f.proc(200, "/usr/bin/curl", 5, "curl")
			f.fd(200, 0, "/dev/null")
			tb := f.table(clock, nil)
			f.must(tb.FullScan())
			tb.handle(execEv(200))
			f.must(tb.sync(true)) // read at its exec
			clock.Advance(tt.age)
			if tt.sameCount {
				f.fd(200, 0, socket(7000))
			} else {
				f.fd(200, 5, socket(7000))
			}
			if got := pidOf(tb.OwnerQuick(7000)); got != tt.want {
				t.Errorf("owner of 7000: %d, want %d", got, tt.want)
			}
		})
	}
}

// TestNewPIDs: a process whose fork and exec events are still queued is
// found by a listing of /proc, made only when the kernel allocated a PID
// since the last one.
func TestNewPIDs(t *testing.T) {
	f, clock := newFixture(t), newClock()
	tb := f.table(clock, nil)
	f.must(tb.FullScan())
	tb.OwnerQuick(1) // a first listing, up to PID 1
	f.proc(300, "/usr/bin/wget", 5, "wget")
	f.fd(300, 3, socket(8000))
	if p := tb.OwnerQuick(8000); pidOf(p) != 0 {
		t.Errorf("found %d with the last PID unchanged, want a listing only once it moves", p.PID)
	}
	f.loadavg(300)
	if got := pidOf(tb.OwnerQuick(8000)); got != 300 {
		t.Errorf("owner of 8000: %d, want 300 (listed as new)", got)
	}
}

// TestRecentOwners: a process that owned a flow is read again on a miss,
// though neither young nor changed in count, and the fd of its last socket
// is probed; a process that is none of these waits for the tick's sync,
// at most every syncEvery.
func TestRecentOwners(t *testing.T) {
	f, clock := newFixture(t), newClock()
	f.proc(400, "/usr/sbin/daemon", 5, "daemon")
	f.fd(400, 7, socket(9000))
	f.proc(500, "/usr/bin/idle", 5, "idle")
	f.fd(500, 7, socket(9500))
	f.proc(501, "/usr/bin/idle", 5, "idle")
	tb := f.table(clock, nil)
	f.must(tb.FullScan())
	clock.Advance(youngFor + time.Second) // none is young
	if got := pidOf(tb.OwnerQuick(9000)); got != 400 {
		t.Fatalf("owner of 9000: %d, want 400", got)
	}
	f.must(tb.FullScan()) // read again by fd: fd 7 is its last socket's
	if !tb.scan(400, 9000) {
		t.Fatal("400 does not hold 9000")
	}

	// The daemon's next connection reuses fd 7: same count.
	f.fd(400, 7, socket(9001))
	if got := pidOf(tb.OwnerQuick(9001)); got != 400 {
		t.Errorf("owner of 9001: %d, want 400 (a recent owner)", got)
	}
	f.fd(400, 7, socket(9002))
	tb.ProbeRecent()
	if !tb.Known(9002) {
		t.Errorf("probing the recent owners' last fd did not find 9002")
	}

	// An idle process opens a socket: found only by a sync.
	f.fd(500, 8, socket(9501))
	if p := tb.OwnerQuick(9501); p != nil {
		t.Errorf("owner of 9501 found on the event path: %d, want none", p.PID)
	}
	if got := pidOf(tb.OwnerRefresh(9501)); got != 500 {
		t.Errorf("owner of 9501 at the tick: %d, want 500", got)
	}
	// Another one (500 is a recent owner now).
	f.fd(501, 9, socket(9511))
	if p := tb.OwnerRefresh(9511); p != nil {
		t.Errorf("synced again within %s: found %d", syncEvery, p.PID)
	}
	clock.Advance(syncEvery)
	if got := pidOf(tb.OwnerRefresh(9511)); got != 501 {
		t.Errorf("owner of 9511 %s later: %d, want 501", syncEvery, got)
	}
}

// TestScanNewborns: the fds of a process exec'd less than newbornWatch ago
// are read when their count changes; after that it is no newborn.
func TestScanNewborns(t *testing.T) {
	f, clock := newFixture(t), newClock()
	f.proc(600, "/usr/bin/curl", 5, "curl")
	tb := f.table(clock, nil)
	f.must(tb.FullScan())
	tb.handle(execEv(600))
	f.fd(600, 3, socket(10000))
	if n := tb.ScanNewborns(); n != 1 || !tb.Known(10000) {
		t.Errorf("ScanNewborns = %d, 10000 known %v; want 1 newborn, its socket known", n, tb.Known(10000))
	}
	clock.Advance(newbornWatch + time.Millisecond)
	if n := tb.ScanNewborns(); n != 0 {
		t.Errorf("%d newborns %s after the exec, want 0", n, newbornWatch)
	}
}

// TestFindYoung: past the newborn watcher's window, the event reader's
// look reads the young processes' fds, finds the socket's holder and
// reads the process, which then still answers for its socket after it
// exits; it reads no more than the earlyScanMax newest.
func TestFindYoung(t *testing.T) {
	f, clock := newFixture(t), newClock()
	tb := f.table(clock, nil)
	f.must(tb.FullScan())
	f.proc(600, "/usr/bin/curl", 5, "curl")
	tb.handle(forkEv(600))
	tb.handle(execEv(600))
	clock.Advance(newbornWatch + time.Millisecond) // the watcher is done with it
	f.fd(600, 3, socket(10000))
	if n := tb.ScanNewborns(); n != 0 || tb.Known(10000) {
		t.Fatalf("ScanNewborns = %d, 10000 known %v: want no newborn, socket unknown", n, tb.Known(10000))
	}
	if tb.FindYoung(10001) {
		t.Errorf("FindYoung(10001), a socket no process holds: true")
	}
	if !tb.FindYoung(10000) {
		t.Fatalf("FindYoung(10000) = false, want its holder found")
	}
	f.exit(600)
	tb.handle(exitEv(600))
	if p := tb.Holder(10000); p == nil || p.PID != 600 || p.Exe != "/usr/bin/curl" {
		t.Errorf("holder of 10000 after its process exited: %+v, want 600 /usr/bin/curl", p)
	}

	// The oldest of earlyScanMax+8 young processes holds the socket: not
	// read here (the event workers' OwnerQuick reads them all).
	for i := range earlyScanMax + 8 {
		pid := 700 + i
		f.proc(pid, "/usr/bin/wget", 6, "wget")
		tb.handle(forkEv(pid))
		tb.handle(execEv(pid))
		clock.Advance(time.Millisecond)
	}
	f.fd(700, 3, socket(20000))
	if tb.FindYoung(20000) {
		t.Errorf("FindYoung found the holder of 20000 beyond the %d newest young processes", earlyScanMax)
	}
	if got := pidOf(tb.OwnerQuick(20000)); got != 700 {
		t.Errorf("OwnerQuick(20000) = %d, want 700", got)
	}
	if !tb.FindYoung(20000) {
		t.Errorf("FindYoung(20000), holder known: false")
	}
}

// TestProcessAfterExec: a process read before is read again once its
// executable changed (exec), else kept as read.
func TestProcessAfterExec(t *testing.T) {
	f, clock := newFixture(t), newClock()
	f.proc(700, "/bin/sh", 5, "sh", "-c", "curl x")
	tb := f.table(clock, nil)
	f.must(tb.FullScan())
	if p := tb.Process(700); p == nil || p.Exe != "/bin/sh" || p.Cmdline != "sh -c curl x" || p.Comm != "sh" || p.StartTime != 5 {
		t.Fatalf("process 700: %+v", p)
	}
	f.proc(700, "/usr/bin/curl", 5, "curl", "x")
	if p := tb.Process(700); p == nil || p.Exe != "/usr/bin/curl" || p.Arg0 != "curl" {
		t.Errorf("after exec: %+v, want curl", p)
	}
	if p := tb.Process(701); p != nil {
		t.Errorf("an unknown PID: %+v, want nil", p)
	}
}

func TestParseSocketLink(t *testing.T) {
	tests := []struct {
		name, link string
		want       uint64
		ok         bool
	}{
		{"socket", "socket:[12345]", 12345, true},
		{"file", "/dev/null", 0, false},
		{"pipe", "pipe:[77]", 0, false},
		{"no bracket", "socket:[12", 0, false},
		{"not a number", "socket:[x]", 0, false},
		{"empty", "socket:[]", 0, false},
		{"overflow", "socket:[18446744073709551616]", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, ok := parseSocketLink(tt.link); got != tt.want || ok != tt.ok {
				t.Errorf("parseSocketLink(%q) = %d, %v; want %d, %v", tt.link, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func FuzzParseSocketLink(f *testing.F) {
	f.Add("socket:[12345]")
	f.Add("socket:[")
	f.Add("anon_inode:[eventfd]")
	f.Fuzz(func(t *testing.T, s string) {
		if ino, ok := parseSocketLink(s); !ok && ino != 0 {
			t.Fatalf("inode %d with ok false", ino)
		}
	})
}

func TestParseLastPID(t *testing.T) {
	tests := []struct {
		name, loadavg string
		want          int
	}{
		{"loadavg", "0.12 0.34 0.56 2/345 67890\n", 67890},
		{"short", "0.12 0.34\n", 0},
		{"garbage", "a b c d e\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseLastPID(tt.loadavg); got != tt.want {
				t.Errorf("parseLastPID = %d, want %d", got, tt.want)
			}
		})
	}
}

func FuzzParseLastPID(f *testing.F) {
	f.Add("0.12 0.34 0.56 2/345 67890\n")
	f.Fuzz(func(t *testing.T, s string) { _ = parseLastPID(s) })
}

// TestOwnerByListener: the listener a server's socket came from names the
// server that holds it, when no other rule would find it (a long-running
// server, neither young nor a recent owner).
func TestOwnerByListener(t *testing.T) {
	f, clock := newFixture(t), newClock()
	f.proc(800, "/usr/sbin/nginx", 5, "nginx")
	f.fd(800, 3, socket(11000)) // the listener
	tb := f.table(clock, nil)
	f.must(tb.FullScan())
	clock.Advance(youngFor + time.Second)
	f.fd(800, 4, socket(11001)) // accepted since
	if p := tb.OwnerByListener(11001, 11000); pidOf(p) != 800 || p.Exe != "/usr/sbin/nginx" {
		t.Errorf("OwnerByListener = %+v, want nginx (800)", p)
	}
	if p := tb.OwnerByListener(11002, 11000); p != nil {
		t.Errorf("OwnerByListener of a socket nobody holds = %d, want none", p.PID)
	}
	if p := tb.OwnerByListener(11001, 99); p != nil {
		t.Errorf("OwnerByListener of an unknown listener = %d, want none", p.PID)
	}
	// accept(2) installs the fd a moment after the socket has its inode:
	// the fd table read before that is read again.
	tb.acceptWait = func() { f.fd(800, 5, socket(11003)) }
	if p := tb.OwnerByListener(11003, 11000); pidOf(p) != 800 {
		t.Errorf("OwnerByListener of a socket whose fd came a moment later = %+v, want nginx (800)", p)
	}
}

// TestExecDuringRead: a read of a process begun before it called exec
// (`ip netns exec` becoming the program it runs, read by the newborn
// watcher a moment too early) is not kept once the table has learnt of the
// exec: the program is read again, and named for what it is.
func TestExecDuringRead(t *testing.T) {
	f, clock := newFixture(t), newClock()
	f.proc(100, "/usr/sbin/ip", 5, "ip", "netns", "exec", "ns", "/usr/bin/latecli")
	f.fd(100, 3, socket(5000))
	tb := f.table(clock, nil)
	f.must(tb.FullScan())
	if p := tb.Holder(5000); p == nil || p.Exe != "/usr/sbin/ip" {
		t.Fatalf("before the exec: %+v, want ip", p)
	}
	at := tb.readAt(100)
	early := tb.readProcess(100) // begun before the exec
	f.proc(100, "/usr/bin/latecli", 5, "latecli")
	tb.handle(execEv(100)) // learnt of before the read is kept
	tb.mu.Lock()
	kept := tb.keep(tb.procs[100], at, early)
	tb.mu.Unlock()
	if kept {
		t.Error("a read begun before the exec was kept")
	}
	if p := tb.Process(100); p == nil || p.Exe != "/usr/bin/latecli" || p.Name() != "latecli" {
		t.Errorf("after the exec: %+v, want latecli", p)
	}
	// A read with no exec since is kept.
	at = tb.readAt(100)
	p := tb.readProcess(100)
	tb.mu.Lock()
	kept = tb.keep(tb.procs[100], at, p)
	tb.mu.Unlock()
	if !kept {
		t.Error("a read with no exec since was not kept")
	}
}

// TestInherited: a socket held by a process and by the child it forked
// since is the parent's while the parent keeps it, whichever was read
// last (a shell's command substitution, a helper run without
// close-on-exec); once the parent closed its copy (a socket handed over)
// it is the child's. Only children forked less than inheritFor ago are
// asked about.
func TestInherited(t *testing.T) {
	f, clock := newFixture(t), newClock()
	f.proc(100, "/usr/bin/bash", 5, "bash")
	f.fd(100, 3, socket(5000))
	tb := f.table(clock, nil)
	f.must(tb.FullScan())
	clock.Advance(time.Second)
	// 100 forks 200, which forks 300 (a command substitution running
	// seq); each holds the socket.
	f.proc(200, "/usr/bin/worker", 6, "worker")
	f.fd(200, 3, socket(5000))
	tb.handle(event{what: eventFork, pid: 200, tid: 200, ppid: 100})
	tb.handle(execEv(200))
	f.proc(300, "/usr/bin/seq", 7, "seq")
	f.fd(300, 3, socket(5000))
	tb.handle(event{what: eventFork, pid: 300, tid: 300, ppid: 200})
	tb.handle(execEv(300))
	tb.scan(300, 5000) // 300, read last, is the table's holder
	if got := pidOf(tb.Holder(5000)); got != 300 {
		t.Fatalf("holder of 5000 as read: %d, want 300", got)
	}
	if got := pidOf(tb.OwnerRefresh(5000)); got != 100 {
		t.Errorf("all three hold it: owner %d, want the eldest, 100", got)
	}
	f.closeFD(100, 3) // handed over
	if got := pidOf(tb.OwnerRefresh(5000)); got != 200 {
		t.Errorf("100 closed its copy: owner %d, want 200", got)
	}
	tb.handle(exitEv(300))
	f.exit(300)
	if got := pidOf(tb.OwnerRefresh(5000)); got != 200 {
		t.Errorf("300 exited: owner %d, want 200", got)
	}
	// A child forked long ago is not asked about.
	f.fd(100, 3, socket(5001))
	f.fd(200, 4, socket(5001))
	tb.scan(100, 0)
	tb.scan(200, 0)
	clock.Advance(inheritFor)
	if got := pidOf(tb.OwnerRefresh(5001)); got != 200 {
		t.Errorf("forked %s ago: owner of 5001 %d, want 200 as read", inheritFor, got)
	}
}

// TestForkDuringListing: a process forked while /proc was being listed is
// missing from that listing and is not taken for gone: it still answers
// for its sockets, and is asked about as a child of its parent. One that
// exited without an exit event still is.
func TestForkDuringListing(t *testing.T) {
	f, clock := newFixture(t), newClock()
	f.proc(100, "/usr/bin/bash", 5, "bash")
	f.fd(100, 3, socket(5000))
	f.proc(150, "/usr/bin/gone", 5, "gone")
	var exits []int
	tb := f.table(clock, &exits)
	f.must(tb.FullScan())
	tb.mu.Lock()
	gen := tb.gen
	tb.mu.Unlock()
	f.exit(150) // no exit event
	pids, err := tb.listPIDs()
	f.must(err)
	// 200 is forked after the listing, before it is applied.
	f.proc(200, "/usr/bin/worker", 6, "worker")
	f.fd(200, 3, socket(5000))
	tb.handle(event{what: eventFork, pid: 200, tid: 200, ppid: 100})
	tb.applyList(pids, gen, false)
	if !slices.Equal(exits, []int{150}) {
		t.Errorf("taken for gone: %v, want [150] (200 was forked during the listing)", exits)
	}
	if n := tb.Count(); n != 2 {
		t.Errorf("%d processes counted, want 2 (100 and 200)", n)
	}
	f.closeFD(100, 3)
	tb.scan(200, 5000)
	if got := pidOf(tb.OwnerRefresh(5000)); got != 200 {
		t.Errorf("owner of 5000: %d, want 200", got)
	}
}
