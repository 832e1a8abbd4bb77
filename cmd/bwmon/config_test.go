package main

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestExampleConfigIsTheDefaults(t *testing.T) {
	cfg, err := LoadConfig("../../config.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	want := Defaults()
	want.Path = "../../config.example.toml"
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("config.example.toml decodes to\n%+v\nwant the built-in defaults\n%+v", cfg, want)
	}
}

func TestParseConfig(t *testing.T) {
	cfg, err := ParseConfig("c.toml", `
interval = "2s"
auto_group = false
[conntrack]
manage = false
[[app]]
name = "web"
match = ["nginx", "^/usr/bin/python3 .*gunicorn"]
[[app]]
name = "db"
match = [
  "postgres",
]
[[monitor]]
type = "conntrack"
exclude = ["sshd"]
ignore_local = true
`)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Aggregator.Interval != 2*time.Second || cfg.Aggregator.Grouper.AutoGroup || cfg.Manage {
		t.Fatalf("top-level keys not applied: %+v", cfg)
	}
	if r := cfg.Aggregator.Grouper.Rules; len(r) != 2 || r[0].Name != "web" || len(r[0].Match) != 2 || r[1].Name != "db" {
		t.Fatalf("rules = %+v", r)
	}
	if m := cfg.Conntrack; len(m) != 1 || !m[0].IgnoreLocal || len(m[0].Exclude) != 1 {
		t.Fatalf("monitors = %+v", m)
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"unknown key", "interval = \"1s\"\n[conntrack]\nmange = true\n", "c.toml:3: unknown key \"conntrack.mange\""},
		{"unknown key in array table", "[[app]]\nname = \"a\"\nmatch = [\"x\"]\n\n[[app]]\nname = \"b\"\nmatc = [\"y\"]\n", "c.toml:7: unknown key \"app.matc\""},
		{"bad regex", "[[app]]\nname = \"web\"\nmatch = [\n  \"ok\",\n]\n[[app]]\nname = \"x\"\nmatch = [\"(unclosed\"]\n", "c.toml:8: app \"x\": bad regex \"(unclosed\""},
		{"empty regex", "[[monitor]]\ntype = \"conntrack\"\nexclude = [\"\"]\n", "c.toml:3: exclude: empty regex matches everything"},
		{"bad duration", "# comment\ninterval = \"fast\"\n", "c.toml:2:"},
		{"duration too short", "interval = \"1ms\"\n", "c.toml:1: interval 1ms is too short"},
		{"syntax", "interval = \"1s\"\nauto_group = \n", "c.toml:2:"},
		{"type mismatch", "auto_group = \"yes\"\n", "c.toml:1:"},
		{"unknown monitor type", "[[monitor]]\ntype = \"ebpf\"\n", "c.toml:2: unknown monitor type \"ebpf\""},
		{"app without name", "[[app]]\nmatch = [\"x\"]\n", "c.toml:1: [[app]] needs a name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig("c.toml", tt.text)
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *ConfigError", err)
			}
			if !strings.HasPrefix(err.Error(), tt.want) && !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %q, want it to start with %q", err, tt.want)
			}
		})
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	_, err := LoadConfig(t.TempDir() + "/nope.toml")
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want it to wrap os.ErrNotExist", err)
	}
}
