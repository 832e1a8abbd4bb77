package main

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bwmon/bwmon/internal/config"
	"github.com/bwmon/bwmon/internal/nettest"
	"github.com/bwmon/bwmon/pipe"
)

func pipeConfig(t *testing.T, pipes ...pipe.Config) *config.Config {
	t.Helper()
	cfg := config.Defaults()
	cfg.Conntrack = nil
	cfg.State.Dir = ""
	cfg.Pipes = pipes
	return cfg
}

func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// TestApplyMonitors reloads pipe monitors in process: unchanged ones keep
// running, changed ones are replaced on the same address, and a reload
// whose new monitor cannot start leaves the old set running.
func TestApplyMonitors(t *testing.T) {
	a1, a2, a3 := nettest.FreeAddr(t), nettest.FreeAddr(t), nettest.FreeAddr(t)
	target := nettest.FreeAddr(t)
	keep := pipe.Config{Name: "keep", Listen: a1, Target: target}
	change := pipe.Config{Name: "change", Listen: a2, Target: target}
	var logs bytes.Buffer
	d, err := startDaemon(pipeConfig(t, keep, change), false, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.shutdown()
	kept := d.monitors[0].m

	t.Run("change one, add one", func(t *testing.T) {
		changed := change
		changed.MaxConns = 5
		added := pipe.Config{Name: "added", Listen: a3, Target: target}
		if err := d.apply(pipeConfig(t, keep, changed, added)); err != nil {
			t.Fatalf("apply: %v\n%s", err, logs.String())
		}
		if len(d.monitors) != 3 || d.monitors[0].m != kept {
			t.Fatalf("monitors after reload: %d, first kept %v; want 3 with the unchanged one still running", len(d.monitors), d.monitors[0].m == kept)
		}
		if !strings.Contains(logs.String(), "monitors_kept=1 monitors_started=2 monitors_stopped=1") {
			t.Fatalf("log:\n%s", logs.String())
		}
		for _, addr := range []string{a1, a2, a3} {
			if !listening(addr) {
				t.Fatalf("nothing listens on %s after the reload", addr)
			}
		}
	})

	t.Run("a monitor that fails to start: old set restored", func(t *testing.T) {
		before := make([]string, len(d.monitors))
		for i, r := range d.monitors {
			before[i] = r.spec.id
		}
		busy, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer busy.Close()
		// Drop a3's pipe and add one on a port in use: the start fails.
		bad := pipe.Config{Name: "bad", Listen: busy.Addr().String(), Target: target}
		err = d.apply(pipeConfig(t, keep, pipe.Config{Name: "change", Listen: a2, Target: target, MaxConns: 5}, bad))
		if err == nil {
			t.Fatal("apply succeeded with a pipe on a busy port")
		}
		var after []string
		for _, r := range d.monitors {
			after = append(after, r.spec.id)
		}
		if strings.Join(after, "\n") != strings.Join(before, "\n") {
			t.Fatalf("monitors after a failed reload:\n%s\nwant the old ones:\n%s", strings.Join(after, "\n"), strings.Join(before, "\n"))
		}
		if !listening(a3) {
			t.Fatalf("the pipe on %s, stopped for the failed reload, was not started again", a3)
		}
	})

	t.Run("removed pipes free their ports", func(t *testing.T) {
		cfg := pipeConfig(t, keep)
		cfg.Aggregator.Interval = 250 * time.Millisecond
		if err := d.apply(cfg); err != nil {
			t.Fatal(err)
		}
		if d.cfg != cfg || len(d.monitors) != 1 || listening(a2) || listening(a3) {
			t.Fatalf("after the reload: config applied %v, %d monitors, a2 listening %v, a3 %v; want the new config, 1, false, false",
				d.cfg == cfg, len(d.monitors), listening(a2), listening(a3))
		}
	})
}
