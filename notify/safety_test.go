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
	"unicode/utf8"

	"github.com/bwmon/bwmon/internal/safename"
)

// TestHostileAppNames feeds app names a local user could give a process
// (its command line is theirs) and checks that none of them runs anything,
// becomes an argument or forges an alert line, that the command gets each
// one safename.Clean'd, and that a 200 KB name (over the kernel's 128 KiB
// limit on one environment string: the command failed with "argument list
// too long", finding 3 of the security review) still reaches the command,
// cut, and never whole in the log.
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
		"bad\xffutf8\x00nul\u009bc1",
		strings.Repeat("long-", 40_000),
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
		if safename.Clean(app) != app {
			t.Errorf("BWMON_APP %q is not clean", app)
		}
		seen[app] = true
	}
	for _, n := range names {
		if !seen[safename.Clean(n)] {
			t.Errorf("no command got app %q as safename.Clean makes it", safename.Display(safename.Clean(n), 80))
		}
	}
	if strings.Contains(r.log.String(), "long-long-long-long-long-long-long-long-long-long-long-long-") {
		t.Errorf("the log prints a long name whole:\n%.2000s", r.log)
	}
	if s := r.n.Stats(); s.Failed != 0 || s.Dropped != 0 {
		t.Errorf("stats = %+v, want no failure or drop\nlog:\n%s", s, r.log)
	}
	lines := strings.Split(strings.TrimSuffix(r.alerts.String(), "\n"), "\n")
	if len(lines) != len(names) {
		t.Fatalf("%d alert lines for %d events (a name forged a line?):\n%s", len(lines), len(names), r.alerts)
	}
	for _, l := range lines {
		if strings.ContainsAny(l, "\x1b\r\x00\u202e\u009b") || !utf8.ValidString(l) || !strings.HasPrefix(l, "2026-11-22 10:00:01: ") {
			t.Errorf("alert line %q carries control characters or invalid UTF-8, or does not start with the time", l)
		}
		if len(l) > 200 {
			t.Errorf("alert line of %d bytes: the name is not cut", len(l))
		}
	}
	t.Logf("alert lines:\n%s", r.alerts)
}

func TestLineShowsCleanNames(t *testing.T) {
	tests := []struct {
		name, app, want string
	}{
		{"plain", "backup", "backup"},
		{"newline and escape", "a\nb\x1b[31m", `a\x0ab\x1b[31m`},
		{"bidi override", "x\u202ey", `x\u202ey`},
		{"C1 control", "x\u009b2Jy", `x\u009b2Jy`},
		{"invalid UTF-8", "a\xffb", `a\xffb`},
		{"unicode kept", "copie-été", "copie-été"},
		{"cut at 60", strings.Repeat("abcdefghij", 10), strings.Repeat("abcdefghij", 5) + "abcdefghi…"},
		{"exactly 60 kept", strings.Repeat("abcdefghij", 6), strings.Repeat("abcdefghij", 6)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := Event{Time: tickAt(1), App: tt.app, Direction: Out, State: Firing, Rate: 2000, Threshold: 1000, Window: 1}
			want := "2026-11-22 10:00:01: " + tt.want + " exceeding 'out' bandwidth limit 1.00 kB/s: 2.00 kB/s (200.0 %)\n"
			if got := ev.Line(); got != want {
				t.Fatalf("Line() = %q, want %q", got, want)
			}
		})
	}
}
