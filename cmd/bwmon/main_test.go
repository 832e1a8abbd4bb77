package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bwmon/bwmon/internal/config"
)

// TestUsage: `bwmon -h` exits 0 and names the subcommands, how to get
// their help, and every flag.
func TestUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-h"}, &stdout, &stderr); code != 0 {
		t.Fatalf("bwmon -h: exit %d, want 0", code)
	}
	help := stderr.String()
	want := []string{"bwmon report [flags]", "bwmon report -h", "bwmon pipe [flags] LISTEN TARGET", "bwmon pipe -h",
		"A flag overrides the\n-config file, which overrides the built-in defaults"}
	fs, _ := newFlags(&bytes.Buffer{})
	fs.VisitAll(func(f *flag.Flag) { want = append(want, "\n  -"+f.Name) })
	for _, w := range want {
		if !strings.Contains(help, w) {
			t.Errorf("bwmon -h does not mention %q", w)
		}
	}
	if t.Failed() {
		t.Logf("bwmon -h:\n%s", help)
	}
}

// TestFlagPrecedence: a flag overrides the file, which overrides the
// built-in defaults; "" turns state or HTTP off. -check-config prints what
// the agent would run with.
func TestFlagPrecedence(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "c.toml")
	if err := os.WriteFile(conf, []byte("[state]\ndir = \"/file/state\"\n[http]\nlisten = \"127.0.0.1:9001\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	off := filepath.Join(dir, "off.toml")
	if err := os.WriteFile(off, []byte("[state]\ndir = \"\"\n[http]\nlisten = \"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	defaults := func() *config.Config {
		cfg := config.Defaults()
		cfg.State.Dir = "/default/state"
		cfg.HTTP.Listen = "127.0.0.1:9000"
		return cfg
	}
	t.Chdir(dir)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"built-in defaults", nil, 0, "built-in defaults: ok (state dir /default/state, listen 127.0.0.1:9000)"},
		{"file over defaults", []string{"-config", conf}, 0, conf + ": ok (state dir /file/state, listen 127.0.0.1:9001)"},
		{"flags over file", []string{"-config", conf, "-state-dir", "/flag/state", "-listen", "[::1]:9002"}, 0,
			conf + ": ok (state dir /flag/state, listen [::1]:9002)"},
		{"flags over defaults", []string{"-listen", ":9003"}, 0, "built-in defaults: ok (state dir /default/state, listen :9003)"},
		{"flags turn off", []string{"-config", conf, "-state-dir", "", "-listen", ""}, 0,
			conf + `: ok (state dir "" (no state), listen "" (no HTTP))`},
		{"flags turn on what the file turns off", []string{"-config", off, "-state-dir", "/flag/state", "-listen", "127.0.0.1:0"}, 0,
			off + ": ok (state dir /flag/state, listen 127.0.0.1:0)"},
		{"relative -state-dir", []string{"-state-dir", "state/../mine"}, 0, "ok (state dir " + filepath.Join(dir, "mine") + ","},
		{"bad -listen", []string{"-listen", "8000"}, 2, `bwmon: -listen: bad listen address "8000": write "HOST:PORT"`},
		{"-listen host name", []string{"-listen", "bwmon.lan:80"}, 2, "the host must be an IP address or localhost"},
		{"-listen with a sign", []string{"-listen", "127.0.0.1:+80"}, 2, "bad listen address"},
		{"bad -output", []string{"-output", "xml"}, 2, `bad -output "xml"`},
		{"stray argument", []string{"-listen", "", "x"}, 2, `unexpected argument "x" (subcommands: top, report, pipe; see bwmon -h)`},
		{"short -interval", []string{"-interval", "10ms"}, 2, "-interval must be at least 100ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			c := command{stdout: &stdout, stderr: &stderr, defaults: defaults}
			code := c.run(t.Context(), append([]string{"-check-config"}, tt.args...))
			out := stdout.String() + stderr.String()
			if code != tt.code || !strings.Contains(out, tt.want) {
				t.Fatalf("exit %d, output:\n%s\nwant exit %d and %q", code, out, tt.code, tt.want)
			}
		})
	}
}
