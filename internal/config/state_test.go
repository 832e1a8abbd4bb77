package config

import (
	"strings"
	"testing"
	"time"

	"github.com/bwmon/bwmon/internal/state"
)

func TestParseStateConfig(t *testing.T) {
	tests := []struct {
		name, text string
		want       state.Config
		wantErr    string
	}{
		{"defaults", "", state.Config{Dir: "/var/lib/bwmon", Flush: 30 * time.Second}, ""},
		{"set", "[state]\ndir = \"/srv/bwmon/\"\nflush = \"1m\"\n", state.Config{Dir: "/srv/bwmon", Flush: time.Minute}, ""},
		{"disabled", "[state]\ndir = \"\"\n", state.Config{Flush: 30 * time.Second}, ""},
		{"relative dir", "[state]\ndir = \"state\"\n", state.Config{}, "c.toml:2: dir \"state\" is relative"},
		{"flush too short", "[state]\n\nflush = \"10ms\"\n", state.Config{}, "c.toml:3: flush 10ms is too short"},
		{"unknown key", "[state]\npath = \"/x\"\n", state.Config{}, "c.toml:2: unknown key \"state.path\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("c.toml", tt.text)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.State != tt.want {
				t.Fatalf("State = %+v, want %+v", cfg.State, tt.want)
			}
		})
	}
}
