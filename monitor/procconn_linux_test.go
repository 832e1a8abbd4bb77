package monitor

import (
	"encoding/binary"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/bwmon/bwmon/internal/nettest"
)

func TestProcConnectorSeesForkExecExit(t *testing.T) {
	nettest.RequireRoot(t)
	var mu sync.Mutex
	seen := map[uint32]map[int]bool{}
	pc, err := dialProcConnector(func(ev procEvent) {
		mu.Lock()
		defer mu.Unlock()
		if seen[ev.what] == nil {
			seen[ev.what] = map[int]bool{}
		}
		seen[ev.what][ev.pid] = true
	}, func(err error) { t.Errorf("events lost: %v", err) }, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()

	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	nettest.Eventually(t, 5*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		for _, what := range []uint32{procEventFork, procEventExec, procEventExit} {
			if !seen[what][pid] {
				return &missingEvent{what: what, pid: pid}
			}
		}
		return nil
	})
	_ = os.Getpid()
}

type missingEvent struct {
	what uint32
	pid  int
}

func (e *missingEvent) Error() string {
	return "no proc event " + map[uint32]string{procEventFork: "fork", procEventExec: "exec", procEventExit: "exit"}[e.what] + " for the child"
}

// procEventMsg is a cn_msg carrying a proc_event of kind what with data
// words (pid/tgid pairs).
func procEventMsg(what uint32, words ...uint32) []byte {
	b := make([]byte, sizeofCnMsg+16+4*len(words))
	binary.NativeEndian.PutUint32(b[sizeofCnMsg:], what)
	for i, w := range words {
		binary.NativeEndian.PutUint32(b[sizeofCnMsg+16+4*i:], w)
	}
	return b
}

func TestParseProcEvent(t *testing.T) {
	tests := []struct {
		name   string
		msg    []byte
		want   procEvent
		wantOK bool
	}{
		{"fork", procEventMsg(procEventFork, 100, 100, 4243, 4242), procEvent{what: procEventFork, ppid: 100, tid: 4243, pid: 4242}, true},
		{"exec", procEventMsg(procEventExec, 4242, 4242), procEvent{what: procEventExec, tid: 4242, pid: 4242}, true},
		{"exit", procEventMsg(procEventExit, 4243, 4242, 0, 0), procEvent{what: procEventExit, tid: 4243, pid: 4242}, true},
		{"negative pid", procEventMsg(procEventExec, 0xffffffff, 0xffffffff), procEvent{what: procEventExec, tid: -1, pid: -1}, true},
		{"uid change: not used", procEventMsg(0x4, 4242, 4242, 1000, 1000), procEvent{}, false},
		{"fork cut short", procEventMsg(procEventFork, 100, 100, 4243), procEvent{}, false},
		{"exec cut short", procEventMsg(procEventExec, 4242), procEvent{}, false},
		{"no event", make([]byte, sizeofCnMsg+8), procEvent{}, false},
		{"empty", nil, procEvent{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseProcEvent(tt.msg)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("parseProcEvent = %+v, %v; want %+v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// FuzzParseProcEvent: no message makes the proc connector decoder panic.
func FuzzParseProcEvent(f *testing.F) {
	f.Add(procEventMsg(procEventFork, 100, 100, 4243, 4242))
	f.Add(procEventMsg(procEventExit, 4243, 4242, 0, 0))
	f.Add(procEventMsg(procEventExec, 4242))
	f.Fuzz(func(t *testing.T, b []byte) {
		if ev, ok := parseProcEvent(b); !ok && ev != (procEvent{}) {
			t.Fatalf("%+v returned with ok false", ev)
		}
	})
}
