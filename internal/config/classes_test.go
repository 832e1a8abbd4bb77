package config

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestParseClasses(t *testing.T) {
	cfg, err := Parse("c.toml", `
[[class]]
name = "lab"
cidr = ["10.20.0.0/16", "fd00:20::/32"]

[[class]]
name = "vpc"
cidr = ["10.0.0.0/8"]

[[notify]]
app = ".*"
class = "internet"
out_threshold = "1MB/s"
`)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"", "lab", "vpc", "local", "private", "internet"}
	if !slices.Equal(cfg.Aggregator.ClassNames, want) || !slices.Equal(cfg.ClassTable.Names(), want) {
		t.Fatalf("class names %q, table %q; want %q", cfg.Aggregator.ClassNames, cfg.ClassTable.Names(), want)
	}
	for addr, class := range map[string]string{"10.20.1.1": "lab", "10.1.1.1": "vpc", "192.168.1.1": "private", "198.18.0.1": "internet", "fd00:20::5": "lab"} {
		if got := want[cfg.ClassTable.Lookup(netip.MustParseAddr(addr))]; got != class {
			t.Errorf("%s: %q, want %q", addr, got, class)
		}
	}
	if cfg.Notify.Rules[0].Class != "internet" {
		t.Errorf("notify class %q", cfg.Notify.Rules[0].Class)
	}
}

func TestParseClassErrors(t *testing.T) {
	for _, tt := range []struct{ name, text, want string }{
		{"bad cidr", "[[class]]\nname = \"lab\"\ncidr = [\n  \"10.0.0.0/8\",\n  \"10.0.0.0/40\",\n]\n", `c.toml:3: class "lab": bad cidr "10.0.0.0/40"`},
		{"host bits", "[[class]]\nname = \"lab\"\n\ncidr = [\"10.1.0.0/8\"]\n", `c.toml:4: class "lab": cidr "10.1.0.0/8" has bits set past /8: write 10.0.0.0/8`},
		{"second section", "[[class]]\nname = \"a\"\ncidr = [\"10.0.0.0/8\"]\n[[class]]\nname = \"b\"\ncidr = [\"nope\"]\n", `c.toml:6: class "b": bad cidr "nope"`},
		{"bad name", "[[class]]\nname = \"a b\"\ncidr = [\"10.0.0.0/8\"]\n", `c.toml:2: bad class name "a b"`},
		{"no cidr", "[[class]]\nname = \"a\"\n", `c.toml:1: class "a" has no cidr`},
		{"twice", "[[class]]\nname = \"a\"\ncidr = [\"10.0.0.0/8\"]\n[[class]]\nname = \"a\"\ncidr = [\"11.0.0.0/8\"]\n", `c.toml:5: class "a" is defined twice`},
		{"unknown key", "[[class]]\nname = \"a\"\ncidrs = [\"10.0.0.0/8\"]\n", `c.toml:3: unknown key "class.cidrs"`},
		{"notify unknown class", "[[notify]]\napp = \".*\"\nout_threshold = \"1MB/s\"\nclass = \"lab\"\n", `c.toml:4: class "lab" is not a destination class: use one of local, private, internet`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("c.toml", tt.text)
			var ce *Error
			if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to start with %q", err, tt.want)
			}
		})
	}
}
