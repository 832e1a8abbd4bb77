package monitor

import (
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
