package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/bwmon/bwmon/model"
)

// goldenCtr is the container ID in the golden tick.
const goldenCtr = "d548c5b83fa61d8e3bd86ad42a7ffea9b7c86e3f9d8095c1577d3e1270bb9420"

func goldenSnapshot() *model.Snapshot {
	return &model.Snapshot{
		Time:      time.Date(2026, 11, 22, 10, 0, 1, 0, time.UTC),
		Since:     time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		IntervalS: 1,
		Apps: []model.AppUsage{
			{App: "curl", BytesIn: 48 << 20, BytesOut: 501 << 10, RateIn: 11.8 * (1 << 20), RateOut: 120.43 * 1024, PIDs: []int{4242}, Processes: 1,
				Users: []model.UserRef{{UID: 0, Name: "root"}}, Units: []string{"docker-" + goldenCtr + ".scope"},
				Containers: []model.Container{{Runtime: "docker", ID: goldenCtr, Name: "fetcher"}}, Cgroups: []string{"/system.slice/docker-" + goldenCtr + ".scope"}, NetNS: []string{"net:[4026532481]"}},
			{App: "sshd", BytesIn: 213 << 10, BytesOut: 6 << 20, RateIn: 3.25 * 1024, RateOut: 1 << 20, PIDs: []int{812, 9001}, Processes: 2,
				Users: []model.UserRef{{UID: 0, Name: "root"}, {UID: 1000, Name: "alice"}}, Units: []string{"session-3.scope", "ssh.service"},
				Containers: []model.Container{}, Cgroups: []string{"/system.slice/ssh.service", "/user.slice/user-1000.slice/session-3.scope"}, NetNS: []string{}},
			{App: "a-command-line-that-is-much-longer-than-sixty-characters-and-goes-on", BytesIn: 10, PIDs: []int{},
				Users: []model.UserRef{}, Units: []string{}, Containers: []model.Container{}, Cgroups: []string{}, NetNS: []string{}},
			// A name as the aggregator makes it clean: the escape is visible.
			{App: `evil\x1b[2Jname`, BytesOut: 5, PIDs: []int{},
				Users: []model.UserRef{}, Units: []string{}, Containers: []model.Container{}, Cgroups: []string{}, NetNS: []string{}},
			// The apps folded past the limits, last whatever its rate.
			{App: model.OtherApp, BytesIn: 37 << 20, BytesOut: 2 << 20, RateIn: 2048, PIDs: []int{}, Folded: 1412,
				Users: []model.UserRef{}, Units: []string{}, Containers: []model.Container{}, Cgroups: []string{}, NetNS: []string{}},
		},
		Unattributed: model.Unattributed{BytesIn: 4096 + 1000, BytesOut: 200, Reasons: map[model.Reason]model.UnattributedSum{
			model.ReasonNoSocket: {BytesIn: 4096}, model.ReasonKernel: {BytesOut: 200}, model.ReasonUnreadableNamespace: {BytesIn: 1000},
		}},
		Forwarded: model.Forwarded{BytesIn: 3<<30 + 7<<20 + 10, BytesOut: 90<<20 + 1<<20 + 20, RateIn: 5 << 20, RateOut: 64 << 10,
			Hosts: []model.ForwardedHosts{
				{Inside: "10.0.0.2", Remote: "192.0.2.7", BytesIn: 3 << 30, BytesOut: 90 << 20, RateIn: 5 << 20, RateOut: 64 << 10},
				{Inside: "fd00::2", Remote: "2001:db8::1", BytesIn: 7 << 20, BytesOut: 1 << 20},
				{Inside: "10.0.0.3", Remote: "*", BytesIn: 10, BytesOut: 20},
			}},
		Interfaces: []model.Interface{
			{Name: "eth0", Kind: "device", Role: model.RoleCounted, BytesIn: 3<<30 + 60<<20, BytesOut: 110 << 20, RateIn: 17 << 20, RateOut: 1300 << 10,
				LinkBytesIn: 3<<30 + 62<<20, LinkBytesOut: 111 << 20, LinkRateIn: 17.2 * (1 << 20), LinkRateOut: 1320 << 10,
				PacketsIn: 2_300_000, PacketsOut: 80_000, Since: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)},
			{Name: "lo", Kind: "loopback", Role: model.RoleLoopback, BytesIn: 9 << 20, BytesOut: 9 << 20, LinkBytesIn: 9 << 20, LinkBytesOut: 9 << 20,
				PacketsIn: 700, PacketsOut: 700, Since: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)},
		},
		Coverage: model.Coverage{
			CoverageSpan: model.CoverageSpan{In: goldenRatio(0.9975), Out: goldenRatio(0.9991), InterfaceBytesIn: 17 << 20, InterfaceBytesOut: 1300 << 10,
				AccountedBytesIn: 17780531, AccountedBytesOut: 1330002, SpanS: 1},
			Last15m: model.CoverageSpan{In: goldenRatio(0.9931), Out: goldenRatio(0.9987), InterfaceBytesIn: 3 << 30, InterfaceBytesOut: 100 << 20,
				AccountedBytesIn: 3199653396, AccountedBytesOut: 104721269, SpanS: 900},
			Last24h: model.CoverageSpan{In: goldenRatio(0.9931), Out: goldenRatio(0.9987), InterfaceBytesIn: 3<<30 + 60<<20, InterfaceBytesOut: 110 << 20,
				AccountedBytesIn: 3262137170, AccountedBytesOut: 115193396, SpanS: 3601},
			Total: model.CoverageSpan{In: goldenRatio(0.9931), Out: goldenRatio(0.9987), InterfaceBytesIn: 3<<30 + 60<<20, InterfaceBytesOut: 110 << 20,
				AccountedBytesIn: 3262137170, AccountedBytesOut: 115193396, SpanS: 3601},
		},
	}
}

func goldenRatio(v float64) *float64 { return &v }

func TestOutputGolden(t *testing.T) {
	tests := []struct {
		name, file string
		render     func(*bytes.Buffer, *model.Snapshot)
	}{
		{"table", "table.golden", func(b *bytes.Buffer, s *model.Snapshot) { (&tableOutput{w: b}).Consume(s) }},
		{"json", "tick.golden.json", func(b *bytes.Buffer, s *model.Snapshot) { newJSONOutput(b).Consume(s) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			tt.render(&b, goldenSnapshot())
			path := filepath.Join("testdata", tt.file)
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Fatalf("output differs from %s (go test -update rewrites it):\n%s\nwant:\n%s", path, b.Bytes(), want)
			}
		})
	}
}

func TestJSONTickIsOneObjectPerLine(t *testing.T) {
	var b bytes.Buffer
	o := newJSONOutput(&b)
	o.Consume(goldenSnapshot())
	o.Consume(goldenSnapshot())
	lines := bytes.Split(bytes.TrimSpace(b.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2", len(lines))
	}
	var m map[string]any
	if err := json.Unmarshal(lines[0], &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"time", "interval_s", "apps", "unattributed", "forwarded"} {
		if _, ok := m[k]; !ok {
			t.Errorf("tick lacks %q: %s", k, lines[0])
		}
	}
}

func TestTableForwarded(t *testing.T) {
	many := model.Forwarded{Hosts: []model.ForwardedHosts{}}
	for i := range 25 {
		h := model.ForwardedHosts{Inside: "10.0.0.2", Remote: fmt.Sprintf("192.0.2.%d", i+1), BytesIn: uint64(1000 - i), BytesOut: 1, RateIn: 1024}
		many.Hosts = append(many.Hosts, h)
		many.BytesIn += h.BytesIn
		many.BytesOut += h.BytesOut
		many.RateIn += h.RateIn
	}
	tests := []struct {
		name      string
		f         model.Forwarded
		lines     int    // lines that say forwarded
		wantLast  string // the last line of the table
		wantNever string
	}{
		{"nothing forwarded", model.Forwarded{Hosts: []model.ForwardedHosts{}}, 0, "curl", "forwarded"},
		{"busiest pairs, the rest summed", many, maxForwardedLines + 1,
			fmt.Sprintf("%12s %12s %12s %12s  (5 more pairs forwarded)", "5.00 KiB/s", "0 B/s", model.FormatBytes(980+979+978+977+976), "5 B"), "192.0.2.21 "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &model.Snapshot{Time: time.Unix(0, 0), IntervalS: 1, Apps: []model.AppUsage{{App: "curl"}}, Forwarded: tt.f}
			var b bytes.Buffer
			writeTable(&b, s)
			out := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
			if n := strings.Count(b.String(), "forwarded"); n != tt.lines {
				t.Errorf("%d lines about forwarded bytes, want %d:\n%s", n, tt.lines, b.String())
			}
			if last := out[len(out)-1]; !strings.HasSuffix(last, tt.wantLast) {
				t.Errorf("last line %q, want it to end in %q", last, tt.wantLast)
			}
			if tt.wantNever != "" && strings.Contains(b.String(), tt.wantNever) {
				t.Errorf("the table shows %q:\n%s", tt.wantNever, b.String())
			}
		})
	}
}

// TestTableHostileNames: names a local user chose reach the terminal with
// no control (C0, DEL, C1), bidi or format character and no invalid UTF-8,
// each cut to the app column, even when a snapshot carries them raw.
func TestTableHostileNames(t *testing.T) {
	names := []string{
		"a\u009b31mb",                             // C1 CSI
		"gpj.\u202eexe",                           // bidi override
		"evil\x1b[2Jname\x1b]0;title\a",           // escape sequences
		"x\xffy\xe2\x82",                          // invalid UTF-8
		strings.Repeat("\u009b\u202e\x1bn", 1024), // 4 KB of all of them
		strings.Repeat("n", 4096),                 // 4 KB
		"日本語" + strings.Repeat("語", 100),          // wide, long, clean
	}
	s := &model.Snapshot{Time: time.Unix(0, 0).UTC(), IntervalS: 1, Forwarded: model.Forwarded{Hosts: []model.ForwardedHosts{}}}
	for _, n := range names {
		s.Apps = append(s.Apps, model.AppUsage{App: n, BytesIn: 1})
	}
	var b bytes.Buffer
	(&tableOutput{w: &b}).Consume(s)
	out := b.String()
	if !utf8.ValidString(out) {
		t.Fatalf("the table is not valid UTF-8:\n%q", out)
	}
	for i, r := range out {
		if r != '\n' && (unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Bidi_Control, r)) {
			t.Fatalf("byte %d: the table carries %U:\n%q", i, r, out)
		}
	}
	const widest = 4*12 + 3 + 2 + maxAppWidth // four columns, their spaces, the name
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2+len(names) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), 2+len(names), out)
	}
	for _, l := range lines {
		if n := utf8.RuneCountInString(l); n > widest {
			t.Errorf("a line of %d runes, want at most %d: %q", n, widest, l)
		}
	}
	for i, want := range []string{`a\u009b31mb`, `gpj.\u202eexe`, `evil\x1b[2Jname\x1b]0;title\x07`, `x\xffy\xe2\x82`} {
		if !strings.HasSuffix(lines[2+i], "  "+want) {
			t.Errorf("line %q, want the name shown as %s", lines[2+i], want)
		}
	}
	for _, l := range lines[2+4:] {
		if !strings.HasSuffix(l, "…") || utf8.RuneCountInString(l) != widest {
			t.Errorf("a long name is not cut to the column: %q", l)
		}
	}
}

func TestTableOtherLine(t *testing.T) {
	tests := []struct {
		name   string
		folded uint64
		want   string
	}{
		{"many", 1412, "(other: 1412 apps)"},
		{"one", 1, "(other: 1 app)"},
		{"none this run: restored bytes", 0, "(other)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &model.Snapshot{Time: time.Unix(0, 0), IntervalS: 1, Apps: []model.AppUsage{
				{App: "curl", BytesIn: 1}, {App: model.OtherApp, BytesIn: 5, Folded: tt.folded}}}
			var b bytes.Buffer
			writeTable(&b, s)
			lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
			if last := lines[len(lines)-1]; !strings.HasSuffix(last, "  "+tt.want) {
				t.Fatalf("last line %q, want it to end in %q", last, tt.want)
			}
		})
	}
}
