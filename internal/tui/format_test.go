package tui

import (
	"math"
	"strings"
	"testing"

	"github.com/bwmon/bwmon/model"
)

func TestFormat(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"zero", formatRate(0, false), "0 B/s"},
		{"bytes", formatRate(1023, false), "1023 B/s"},
		{"KiB", formatRate(1024, false), "1.00 KiB/s"},
		{"rounds up a digit", formatRate(9.996*1024, false), "10.0 KiB/s"},
		{"three digits", formatRate(123.4*1024*1024, false), "123 MiB/s"},
		{"widest bytes", formatRate(1023.9*1024, false), "1024 KiB/s"},
		{"bits", formatRate(12.5e6, true), "100 Mbit/s"},
		{"kbit", formatRate(1000, true), "8.00 kbit/s"},
		{"small bits", formatRate(10, true), "80 bit/s"},
		{"Gbit", formatRate(1.25e9, true), "10.0 Gbit/s"},
		{"NaN", formatRate(math.NaN(), false), "0 B/s"},
		{"negative", formatRate(-5, true), "0 bit/s"},
		{"total", formatBytes(40 << 20), "40.0 MiB"},
		{"huge", formatBytes(math.MaxUint64), "16.0 EiB"},
		{"other", model.OtherLabel(1412), "(other: 1412 apps)"},
		{"one other", model.OtherLabel(1), "(other: 1 app)"},
		{"restored other", model.OtherLabel(0), "(other)"},
		{"user", userLabel(model.UserRef{UID: 1000, Name: "alice"}), "alice"},
		{"uid", userLabel(model.UserRef{UID: 1000}), "1000"},
		{"no user", userLabel(model.UserRef{UID: -1}), "?"},
		{"container first", where(model.ProcessUsage{Container: "web", Unit: "docker-1.scope"}), "web"},
		{"unit", where(model.ProcessUsage{Unit: "ssh.service", NetNS: "blue"}), "ssh.service"},
		{"netns", where(model.ProcessUsage{NetNS: "blue"}), "blue"},
		{"nowhere", where(model.ProcessUsage{}), "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
	for _, v := range []float64{0, 999, 1023.99 * 1024, 999.9e12, 1 << 62} {
		for _, bits := range []bool{false, true} {
			if s := formatRate(v, bits); len(s) > rateW {
				t.Errorf("formatRate(%g, %v) = %q, wider than its column", v, bits, s)
			}
		}
	}
}

// TestClip: a name is cut to its columns by display width, cleaned even
// when it arrives raw.
func TestClip(t *testing.T) {
	tests := []struct {
		name string
		in   string
		w    int
		want string
	}{
		{"fits", "curl", 10, "curl"},
		{"cut", "python3-with-a-long-name", 10, "python3-w…"},
		{"wide runes by width", "日本語の名前", 7, "日本語…"},
		{"raw escape", "a\x1b[2Jb", 20, `a\x1b[2Jb`},
		{"bidi", "gpj.\u202eexe", 20, `gpj.\u202eexe`},
		{"invalid UTF-8", "x\xffy", 20, `x\xffy`},
		{"zero", "curl", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := clip(tt.in, tt.w)
			if got != tt.want {
				t.Errorf("clip(%q, %d) = %q, want %q", tt.in, tt.w, got, tt.want)
			}
			if width(got) > tt.w {
				t.Errorf("clip(%q, %d) is %d wide", tt.in, tt.w, width(got))
			}
			if l := left(tt.in, tt.w); width(l) != tt.w || !strings.HasPrefix(l, got) {
				t.Errorf("left(%q, %d) = %q", tt.in, tt.w, l)
			}
		})
	}
}
