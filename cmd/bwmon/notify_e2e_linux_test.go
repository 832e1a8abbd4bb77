package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bwmon/bwmon/internal/nettest"
	"github.com/bwmon/bwmon/notify"
)

// recordScript appends one line per event to the file named by its
// argument: the BWMON_* environment, sorted, then the JSON from stdin.
const recordScript = `#!/bin/sh
{ env | grep '^BWMON_' | sort | tr '\n' ' '; cat; } >> "$1"
`

// recorded is one line of recordScript's file.
type recorded struct {
	env   map[string]string
	event notify.Event
	line  string
}

func readEvents(t *testing.T, path string) []recorded {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	// A line the script is still writing has no newline yet.
	b = b[:bytes.LastIndexByte(b, '\n')+1]
	if len(b) == 0 {
		return nil
	}
	var out []recorded
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		i := strings.IndexByte(l, '{')
		if i < 0 {
			t.Fatalf("recorded line without JSON: %q", l)
		}
		r := recorded{env: map[string]string{}, line: l}
		for _, kv := range strings.Fields(l[:i]) {
			k, v, _ := strings.Cut(kv, "=")
			r.env[k] = v
		}
		if err := json.Unmarshal([]byte(l[i:]), &r.event); err != nil {
			t.Fatalf("recorded JSON %q: %v", l[i:], err)
		}
		out = append(out, r)
	}
	return out
}

// TestNotifyEndToEnd runs the agent with a [[notify]] rule and a real
// command, while a generator in the watched namespace sends at four times
// the rule's out_threshold for several seconds, then stops.
func TestNotifyEndToEnd(t *testing.T) {
	nettest.RequireRoot(t)
	p := nettest.NewPair(t)
	srv, _ := nettest.Generator(t, "alertsink")
	addr := fmt.Sprintf("%s:5101", p.PeerIP4)
	nettest.StartServer(t, p.Peer, srv, "tcp-sink", addr)
	gen, app := nettest.Generator(t, "alert")

	dir := publicDir(t) // the command runs as command_user (nobody)
	script, events := filepath.Join(dir, "record.sh"), filepath.Join(dir, "events")
	if err := os.WriteFile(script, []byte(recordScript), 0o755); err != nil {
		t.Fatal(err)
	}
	const threshold, rate, window = 500_000, 2_000_000, 2
	a := startAgent(t, fmt.Sprintf(`interval = "500ms"
[[monitor]]
type = "conntrack"
netns = %q
[[notify]]
app = %q
out_threshold = "500kB/s"
window = %d
cooldown = "1h"
resolve = true
command = ["/bin/sh", %q, %q]
`, p.Watched, "^"+regexp.QuoteMeta(app)+"$", window, script, events))

	// 4 s at 2 MB/s: eight 500 ms ticks at four times the limit.
	began := time.Now()
	nettest.RunOK(t, 30*time.Second, p.Watched, gen, "-rate", strconv.Itoa(rate), "tcp-send", addr, strconv.Itoa(4*rate))
	sent := time.Since(began)

	nettest.Eventually(t, 10*time.Second, func() error {
		if got := readEvents(t, events); len(got) < 2 {
			return fmt.Errorf("%d events recorded, want firing then resolved", len(got))
		}
		return nil
	})
	// Three more ticks: nothing else may come.
	a.mu.Lock()
	n0 := a.n
	a.mu.Unlock()
	nettest.Eventually(t, 10*time.Second, func() error {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.n < n0+3 {
			return fmt.Errorf("%d ticks since the resolved event, want 3", a.n-n0)
		}
		return nil
	})

	got := readEvents(t, events)
	if len(got) != 2 || got[0].event.State != notify.Firing || got[1].event.State != notify.Resolved {
		var lines []string
		for _, r := range got {
			lines = append(lines, r.line)
		}
		t.Fatalf("recorded events:\n%s\nwant exactly one firing, then one resolved", strings.Join(lines, "\n"))
	}
	for _, r := range got {
		ev := r.event
		if ev.App != app || ev.Direction != notify.Out || ev.Threshold != threshold || ev.Window != window {
			t.Errorf("event %+v: want app %s, out, threshold %d, window %d", ev, app, threshold, window)
		}
		wantEnv := map[string]string{
			"BWMON_APP": app, "BWMON_DIRECTION": "out", "BWMON_STATE": string(ev.State),
			"BWMON_RATE": strconv.FormatFloat(ev.Rate, 'f', -1, 64), "BWMON_THRESHOLD": strconv.Itoa(threshold),
			"BWMON_WINDOW": strconv.Itoa(window), "BWMON_TIME": ev.Time.Format(time.RFC3339),
		}
		for k, v := range wantEnv {
			if r.env[k] != v {
				t.Errorf("%s event: %s=%q, want %q (the JSON on stdin says so)", ev.State, k, r.env[k], v)
			}
		}
	}
	fired, resolved := got[0].event, got[1].event
	// The first mean over the limit may still hold a tick from before the
	// transfer; it cannot exceed the sender's rate by much (IP headers).
	if fired.Rate <= threshold || fired.Rate > 1.1*rate {
		t.Errorf("firing rate %v, want over %d and at most about the sender's %d bytes/s", fired.Rate, threshold, rate)
	}
	// Event times are cut to the second: a resolve more than a second
	// before the sender finished came while it was still sending.
	if resolved.Rate >= notify.ResolveFraction*threshold || resolved.Time.Add(time.Second).Before(began.Add(sent)) {
		t.Errorf("resolved at %v with %v bytes/s, want after the sender stopped at %v and below 90%% of %d",
			resolved.Time, resolved.Rate, began.Add(sent), threshold)
	}

	stderr := a.logs.String()
	var lines []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, app+" exceeding 'out' bandwidth limit 500.00 kB/s: ") ||
			strings.Contains(l, app+" back under 'out' bandwidth limit 500.00 kB/s: ") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 2 || !strings.Contains(lines[0], "exceeding") {
		t.Fatalf("alert lines on stderr: %q, want one exceeding then one back under; stderr:\n%s", lines, stderr)
	}
	t.Logf("sent %d bytes in %s; stderr:\n%s\nevents (env, then stdin):\n%s\n%s",
		4*rate, sent.Round(time.Millisecond), strings.Join(lines, "\n"), got[0].line, got[1].line)
}
