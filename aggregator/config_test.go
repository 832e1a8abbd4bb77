package aggregator

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bwmon/bwmon/model"
)

func TestConfigValidate(t *testing.T) {
	good := func() Config {
		return Config{Interval: time.Second, Limits: model.Limits{}.WithDefaults(),
			Grouper: Grouper{By: GroupByApp, Rules: []AppRule{{Name: "web", Match: []*regexp.Regexp{regexp.MustCompile("nginx")}}}}}
	}
	tests := []struct {
		name      string
		change    func(c *Config)
		wantField string
		want      string // the start of the message; "" when valid
	}{
		{"valid", func(c *Config) {}, "", ""},
		{"every grouping", func(c *Config) { c.Grouper.By = GroupByUser }, "", ""},
		{"short interval", func(c *Config) { c.Interval = time.Millisecond }, "interval", "interval 1ms is too short: use at least 100ms"},
		{"no grouping", func(c *Config) { c.Grouper.By = "" }, "group_by", `group_by = "": want one of "app", "container", "unit", "user"`},
		{"unknown grouping", func(c *Config) { c.Grouper.By = "pod" }, "group_by", `group_by = "pod"`},
		{"rule without a name", func(c *Config) { c.Grouper.Rules[0].Name = " " }, "app.0", "[[app]] needs a name"},
		{"rule twice", func(c *Config) { c.Grouper.Rules = append(c.Grouper.Rules, c.Grouper.Rules[0]) }, "app.1.name", `app "web" is defined twice`},
		{"rule without a match", func(c *Config) { c.Grouper.Rules[0].Match = nil }, "app.0", `app "web" needs match = ["regex", ...]`},
		{"empty regex", func(c *Config) { c.Grouper.Rules[0].Match[0] = regexp.MustCompile("") }, "app.0.match", `app "web": empty regex matches everything`},
		{"limits", func(c *Config) { c.Limits.Apps = 0 }, "limits.apps", "apps = 0: use 1 to 100000"},
		{"negative retention", func(c *Config) { c.Retention = -time.Second }, "retention", "retention -1s must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good()
			tt.change(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var fe *model.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.wantField || !strings.HasPrefix(fe.Err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want field %q and a message starting %q", err, tt.wantField, tt.want)
			}
		})
	}
}
