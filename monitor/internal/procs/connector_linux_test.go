package procs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/netlink"

	"github.com/bwmon/bwmon/internal/nettest"
	"github.com/bwmon/bwmon/monitor/internal/subscription"
	"github.com/bwmon/bwmon/monitor/internal/subscription/subtest"
)

func TestConnectorSeesForkExecExit(t *testing.T) {
	nettest.RequireRoot(t)
	var mu sync.Mutex
	seen := map[uint32]map[int]bool{}
	pc, err := dialConnector(func(ev event) {
		mu.Lock()
		defer mu.Unlock()
		if seen[ev.what] == nil {
			seen[ev.what] = map[int]bool{}
		}
		seen[ev.what][ev.pid] = true
	}, func(err error) { t.Errorf("events lost: %v", err) }, nil, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()

	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	names := map[uint32]string{eventFork: "fork", eventExec: "exec", eventExit: "exit"}
	nettest.Eventually(t, 5*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		for _, what := range []uint32{eventFork, eventExec, eventExit} {
			if !seen[what][pid] {
				return fmt.Errorf("no proc event %s for the child %d", names[what], pid)
			}
		}
		return nil
	})
}

// eventMsg is a cn_msg carrying a proc_event of kind what with data
// words (pid/tgid pairs).
func eventMsg(what uint32, words ...uint32) []byte {
	b := make([]byte, sizeofCnMsg+16+4*len(words))
	binary.NativeEndian.PutUint32(b[sizeofCnMsg:], what)
	for i, w := range words {
		binary.NativeEndian.PutUint32(b[sizeofCnMsg+16+4*i:], w)
	}
	return b
}

func TestParseEvent(t *testing.T) {
	tests := []struct {
		name   string
		msg    []byte
		want   event
		wantOK bool
	}{
		{"fork", eventMsg(eventFork, 100, 100, 4243, 4242), event{what: eventFork, ppid: 100, tid: 4243, pid: 4242}, true},
		{"exec", eventMsg(eventExec, 4242, 4242), event{what: eventExec, tid: 4242, pid: 4242}, true},
		{"exit", eventMsg(eventExit, 4243, 4242, 0, 0), event{what: eventExit, tid: 4243, pid: 4242}, true},
		{"negative pid", eventMsg(eventExec, 0xffffffff, 0xffffffff), event{what: eventExec, tid: -1, pid: -1}, true},
		{"uid change: not used", eventMsg(0x4, 4242, 4242, 1000, 1000), event{}, false},
		{"fork cut short", eventMsg(eventFork, 100, 100, 4243), event{}, false},
		{"exec cut short", eventMsg(eventExec, 4242), event{}, false},
		{"no event", make([]byte, sizeofCnMsg+8), event{}, false},
		{"empty", nil, event{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseEvent(tt.msg)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("parseEvent = %+v, %v; want %+v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// FuzzParseEvent: no message makes the proc connector decoder panic.
func FuzzParseEvent(f *testing.F) {
	f.Add(eventMsg(eventFork, 100, 100, 4243, 4242))
	f.Add(eventMsg(eventExit, 4243, 4242, 0, 0))
	f.Add(eventMsg(eventExec, 4242))
	f.Fuzz(func(t *testing.T, b []byte) {
		if ev, ok := parseEvent(b); !ok && ev != (event{}) {
			t.Fatalf("%+v returned with ok false", ev)
		}
	})
}

// TestConnectorRestart reproduces finding 7 for the proc connector: a
// receive error other than ENOBUFS stopped it for good. Now it is opened
// again, events flow again, the failure is counted and told to lost (the
// table rescans every process).
func TestConnectorRestart(t *testing.T) {
	clock := nettest.NewClock(time.Unix(1000, 0))
	r := subscription.New(subscription.Options{What: "proc connector", Now: clock.Now,
		Wait: func(time.Duration, <-chan struct{}) bool { return false }})
	open := func() (subscription.Source, error) {
		return &subtest.Source{Advance: clock.Advance, Reads: []subtest.Read{{Msgs: []netlink.Message{{Data: eventMsg(eventFork, 100, 100, 4242, 4242)}}}}}, nil
	}
	errEIO := fmt.Errorf("recvmsg: %w", syscall.EIO)
	var mu sync.Mutex
	var events []event
	var lost []error
	p := runConnector(&subtest.Source{Advance: clock.Advance, Reads: []subtest.Read{{Err: errEIO}}}, open,
		func(ev event) { mu.Lock(); events = append(events, ev); mu.Unlock() },
		func(err error) { mu.Lock(); lost = append(lost, err); mu.Unlock() }, r)
	p.wg.Wait()
	p.Close()
	want := event{what: eventFork, pid: 4242, tid: 4242, ppid: 100}
	if len(events) != 1 || events[0] != want {
		t.Errorf("events %+v after the restart, want [%+v]", events, want)
	}
	if len(lost) != 1 || !errors.Is(lost[0], syscall.EIO) {
		t.Errorf("lost %v, want the failure once (processes rescanned)", lost)
	}
	if p.failures() != 1 {
		t.Errorf("failures %d, want 1", p.failures())
	}
}

// TestOpen: on the host's /proc, as root, the table knows this process and
// the socket it holds, and Close stops everything it started.
func TestOpen(t *testing.T) {
	nettest.RequireRoot(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	rc, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := rc.Control(func(fd uintptr) { err = syscall.Fstat(int(fd), &st) }); err != nil || st.Ino == 0 {
		t.Fatalf("reading the listener's inode: %v", err)
	}
	tb, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := tb.Count(); n < 2 {
		t.Errorf("%d processes, want this one and more", n)
	}
	if p := tb.Holder(st.Ino); p == nil || p.PID != os.Getpid() {
		t.Errorf("holder of the listener: %+v, want this process (%d)", p, os.Getpid())
	}
	if n := tb.Failures(); n != 0 {
		t.Errorf("%d failures of the process events", n)
	}
	if err := tb.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := tb.Close(); err != nil {
		t.Errorf("Close again: %v", err)
	}
}

// BenchmarkInodeMap measures recording the sockets of a process that
// holds 8 (the scale test's processes) and 10,000 (a busy server).
func BenchmarkInodeMap(b *testing.B) {
	for _, n := range []int{8, 10_000} {
		b.Run(map[int]string{8: "8-sockets", 10_000: "10000-sockets"}[n], func(b *testing.B) {
			t, err := newTable(Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer t.Close()
			inodes := make([]uint64, n)
			for i := range inodes {
				inodes[i] = uint64(1_000_000 + i)
			}
			t.mu.Lock()
			e := t.add(4242, nil, false)
			t.mu.Unlock()
			b.ReportAllocs()
			for b.Loop() {
				t.mu.Lock()
				t.setSockets(4242, e, inodes, int64(n))
				t.mu.Unlock()
			}
		})
	}
}

// TestForkedSince: by the proc connector's fork events, a shell that has
// not forked since a moment has not; once it starts a child it has; with
// events lost since, it may have.
func TestForkedSince(t *testing.T) {
	nettest.RequireRoot(t)
	tb, err := Open(Options{Root: "/proc"})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	if tb.pc == nil {
		nettest.Missing(t, "no proc connector events here")
	}
	sh := exec.Command("sh", "-c", "read x; sleep 0.1 & wait")
	in, err := sh.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sh.Process.Kill(); _ = sh.Wait() }()
	time.Sleep(100 * time.Millisecond)
	since := time.Now()
	time.Sleep(100 * time.Millisecond)
	if tb.ForkedSince(sh.Process.Pid, since) {
		t.Errorf("a shell waiting on its input has forked since %v, says the table", since)
	}
	fmt.Fprintln(in, "go")
	nettest.Eventually(t, 5*time.Second, func() error {
		if !tb.ForkedSince(sh.Process.Pid, since) {
			return errors.New("the shell started a child, the table does not say it forked")
		}
		return nil
	})
	tb.lostEvents()
	if !tb.ForkedSince(os.Getpid()+1_000_000, since) {
		t.Errorf("with events lost since, any process may have forked")
	}
}
