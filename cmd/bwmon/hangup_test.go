package main

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bwmon/bwmon/internal/nettest"
)

// TestHangupReloadsWithoutTerminal: with its table to a pipe (no
// terminal), the agent keeps SIGHUP for reloading, and prints the plain
// table without an escape code. (On a terminal a hangup ends the run:
// TestTerminalUIHangup.)
func TestHangupReloadsWithoutTerminal(t *testing.T) {
	reload := make(chan os.Signal, 1)
	var stdout, stderr nettest.SyncBuffer
	c := command{stdout: &stdout, stderr: &stderr, defaults: testDefaults(t, "", ""), reload: reload}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exit := make(chan int, 1)
	go func() { exit <- c.run(ctx, []string{"-output", "table"}) }()
	waitFor(t, 10*time.Second, "a table on stdout", func() bool { return strings.Contains(stdout.String(), "RATE IN") })
	reload <- syscall.SIGHUP
	waitFor(t, 10*time.Second, "the reload", func() bool {
		return strings.Contains(stderr.String(), "reload requested, but bwmon started without -config")
	})
	select {
	case code := <-exit:
		t.Fatalf("the agent exited (%d) on SIGHUP without a terminal; log:\n%s", code, stderr.String())
	default:
	}
	cancel()
	if code := <-exit; code != 0 {
		t.Fatalf("exit %d; log:\n%s", code, stderr.String())
	}
	if strings.ContainsRune(stdout.String(), '\x1b') {
		t.Fatalf("the table to a pipe carries an escape code:\n%q", stdout.String())
	}
}

// TestCancelOn: the context ends at the first signal, or with its parent;
// stop waits for the goroutine that watches.
func TestCancelOn(t *testing.T) {
	sig := make(chan os.Signal, 1)
	ctx, stop := cancelOn(context.Background(), sig)
	sig <- syscall.SIGHUP
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a signal does not end the context")
	}
	stop()
	stop() // twice is harmless

	parent, cancel := context.WithCancel(context.Background())
	ctx, stop = cancelOn(parent, sig)
	cancel()
	<-ctx.Done()
	stop()
	sig <- syscall.SIGHUP
	time.Sleep(10 * time.Millisecond)
	if len(sig) != 1 {
		t.Fatal("a signal was taken after the watcher stopped")
	}
}
