//go:build unix

package notify

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestHostileAppNames feeds app names a local user could give a process
// (its command line is theirs) and checks that none of them runs anything,
// becomes an argument or forges an alert line.
func TestHostileAppNames(t *testing.T) {
	dir := t.TempDir()
	pwned := filepath.Join(dir, "pwned")
	names := []string{
		"$(touch " + pwned + ");x",
		"`touch " + pwned + "`",
		"--help",
		"-rf /",
		"x; touch " + pwned,
		"a\n2026-11-22 10:00:00: root exceeding 'in' bandwidth limit 1 B/s: forged",
		"\x1b[2J\x1b[31mred\u202egnp.exe",
	}
	script := writeScript(t, dir, "record.sh", recorder)
	var apps []usage
	for _, n := range names {
		apps = append(apps, usage{n, 0, 5000})
	}
	cfg := Config{MaxRunning: len(names), Rules: []Rule{{
		App: regexp.MustCompile(`.`), Out: 1000, Window: 1, Cooldown: time.Hour,
		Command: []string{"/bin/sh", script, "--fixed"}, CommandTimeout: 10 * time.Second,
	}}}
	r := newRig(t, cfg, Options{})
	r.feed(1, apps)
	r.n.Close()

	if _, err := os.Stat(pwned); !os.IsNotExist(err) {
		t.Fatalf("an app name ran a command: %s exists (stat: %v)", pwned, err)
	}
	seen := map[string]bool{}
	for _, run := range runs(t, dir) {
		if args := readFile(t, filepath.Join(run, "args")); args != "1\n--fixed\n" {
			t.Errorf("argv of a run = %q, want exactly the configured --fixed", args)
		}
		app := readFile(t, filepath.Join(run, "app"))
		var ev Event
		if err := json.Unmarshal([]byte(readFile(t, filepath.Join(run, "stdin"))), &ev); err != nil {
			t.Fatalf("stdin of the run for %q: %v", app, err)
		}
		if ev.App != app {
			t.Errorf("BWMON_APP %q and the JSON's app %q differ", app, ev.App)
		}
		seen[app] = true
	}
	for _, n := range names {
		if !seen[n] {
			t.Errorf("no command got app %q byte for byte", n)
		}
	}
	if s := r.n.Stats(); s.Failed != 0 || s.Dropped != 0 {
		t.Errorf("stats = %+v, want no failure or drop\nlog:\n%s", s, r.log)
	}
	lines := strings.Split(strings.TrimSuffix(r.alerts.String(), "\n"), "\n")
	if len(lines) != len(names) {
		t.Fatalf("%d alert lines for %d events (a name forged a line?):\n%s", len(lines), len(names), r.alerts)
	}
	for _, l := range lines {
		if strings.ContainsAny(l, "\x1b\r\u202e") || !strings.HasPrefix(l, "2026-11-22 10:00:01: ") {
			t.Errorf("alert line %q carries control characters or does not start with the time", l)
		}
	}
	t.Logf("alert lines:\n%s", r.alerts)
}

func TestPrintable(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "backup", "backup"},
		{"newline and escape", "a\nb\x1b[31m", "a?b?[31m"},
		{"bidi override", "x\u202ey", "x?y"},
		{"invalid UTF-8", "a\xffb", "a?b"},
		{"unicode kept", "copie-été", "copie-été"},
		{"cut at 10", "abcdefghijkl", "abcdefg..."},
		{"exactly 10 kept", "abcdefghij", "abcdefghij"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := printable(tt.in, 10); got != tt.want {
				t.Fatalf("printable(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
