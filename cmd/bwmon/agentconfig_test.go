package main

import (
	"os"
	"testing"

	"github.com/bwmon/bwmon/internal/config"
)

// TestSetLauncher: a configuration with an alert command runs it through
// this executable's __alert-exec, one without gets no launcher.
func TestSetLauncher(t *testing.T) {
	const rule = "[[notify]]\napp = \"x\"\nout_threshold = \"1kB/s\"\n"
	tests := []struct {
		name, text   string
		wantLauncher bool
	}{
		{"a command runs through __alert-exec", rule + "command = [\"/bin/page\"]\n", true},
		{"no command, no launcher", rule, false},
		{"no rule", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Parse("c.toml", tt.text)
			if err != nil {
				t.Fatal(err)
			}
			if err := setLauncher(cfg); err != nil {
				t.Fatal(err)
			}
			l := cfg.Notify.Launcher
			if !tt.wantLauncher {
				if l != nil {
					t.Fatalf("launcher %q without a command", l)
				}
				return
			}
			exe, _ := os.Executable()
			if len(l) < 3 || l[0] != exe || l[1] != alertExecCommand || l[len(l)-1] != "--" {
				t.Fatalf("launcher %q, want %s %s ... --", l, exe, alertExecCommand)
			}
		})
	}
}
