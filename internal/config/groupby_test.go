package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/bwmon/bwmon/aggregator"
)

func TestParseConfigGroupBy(t *testing.T) {
	tests := []struct {
		name, text string
		want       aggregator.GroupBy
		wantErr    string
	}{
		{"default", "interval = \"1s\"\n", aggregator.GroupByApp, ""},
		{"app", "group_by = \"app\"\n", aggregator.GroupByApp, ""},
		{"container", "group_by = \"container\"\n", aggregator.GroupByContainer, ""},
		{"unit", "group_by = \"unit\"\n", aggregator.GroupByUnit, ""},
		{"user", "group_by = \"user\"\n", aggregator.GroupByUser, ""},
		{"unknown", "# c\ninterval = \"1s\"\ngroup_by = \"pod\"\n", "", `c.toml:3: group_by = "pod": want one of "app", "container", "unit", "user"`},
		{"case matters", "group_by = \"User\"\n", "", `c.toml:1: group_by = "User"`},
		{"empty", "group_by = \"\"\n", "", `c.toml:1: group_by = ""`},
		{"not a string", "group_by = 1\n", "", "c.toml:1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("c.toml", tt.text)
			if tt.wantErr != "" {
				var ce *Error
				if err == nil || !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want an *Error starting %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Aggregator.Grouper.By; got != tt.want {
				t.Fatalf("By = %q, want %q", got, tt.want)
			}
		})
	}
}
