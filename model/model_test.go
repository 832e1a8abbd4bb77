package model

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		name, in string
		want     Rate
		err      string
	}{
		{name: "bare integer is bytes", in: "1024", want: 1024},
		{name: "KiB", in: "500KiB/s", want: 500 * 1024},
		{name: "MB decimal", in: "10MB/s", want: 10e6},
		{name: "Mbit", in: "80Mbit/s", want: 10e6},
		{name: "space before unit", in: "1.5 GiB/s", want: 1.5 * (1 << 30)},
		{name: "bit", in: "8bit/s", want: 1},
		{name: "B/s", in: "3B/s", want: 3},
		{name: "unknown unit", in: "5 furlongs/s", err: "unknown unit"},
		{name: "KB is kB", in: "2KB/s", want: 2000},
		{name: "Mb is ambiguous", in: "80Mb/s", err: `"Mb/s" is ambiguous: write MB/s for bytes or Mbit/s for bits`},
		{name: "kb is ambiguous", in: "80kb/s", err: "write kB/s for bytes or kbit/s for bits"},
		{name: "case matters", in: "5mib/s", err: "unknown unit"},
		{name: "negative", in: "-5KiB/s", err: "must not be negative"},
		{name: "fraction without unit", in: "1.5", err: "must be an integer"},
		{name: "empty", in: "", err: "empty rate"},
		{name: "garbage", in: "fast", err: "bad rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRate(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseRate(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseRate(%q) = %v, %v; want %v", tt.in, float64(got), err, float64(tt.want))
			}
		})
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"bytes", FormatBytes(512), "512 B"},
		{"KiB", FormatBytes(1536), "1.50 KiB"},
		{"MiB", FormatBytes(12 << 20), "12.00 MiB"},
		{"rate MB", FormatRate(12.4e6), "12.40 MB/s"},
		{"rate B", FormatRate(3), "3.00 B/s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestFlowCounter(t *testing.T) {
	tests := []struct {
		name         string
		steps        [][2]uint64
		wantO, wantR uint64
	}{
		{name: "grows", steps: [][2]uint64{{100, 10}, {250, 30}}, wantO: 250, wantR: 30},
		{name: "same value adds nothing", steps: [][2]uint64{{100, 10}, {100, 10}, {100, 10}}, wantO: 100, wantR: 10},
		{name: "reset is new bytes, never negative", steps: [][2]uint64{{1000, 500}, {40, 20}, {90, 25}}, wantO: 1090, wantR: 525},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c FlowCounter
			var o, r uint64
			for _, s := range tt.steps {
				do, dr := c.Update(s[0], s[1])
				o += do
				r += dr
			}
			if o != tt.wantO || r != tt.wantR {
				t.Fatalf("sum of deltas = %d/%d, want %d/%d", o, r, tt.wantO, tt.wantR)
			}
		})
	}
}

func TestCollectionUsageAndExpiry(t *testing.T) {
	t0 := time.Unix(1000, 0)
	c := NewMonitorEntryCollection(10 * time.Second)
	p := &Process{PID: 42, StartTime: 7, Exe: "/usr/bin/curl"}
	k := KeyProcess(p)
	c.Add(k, Info{Process: p}, 100, 10, t0)
	c.Add(k, Info{Process: p}, 50, 5, t0.Add(500*time.Millisecond))
	u := c.Usage(t0.Add(time.Second))
	if len(u) != 1 || u[0].In != 150 || u[0].Out != 15 {
		t.Fatalf("first period usage = %+v, want one entry 150/15", u)
	}
	if u := c.Usage(t0.Add(2 * time.Second)); len(u) != 0 {
		t.Fatalf("idle period usage = %+v, want none", u)
	}
	if e := c.Get(k); e == nil || e.BytesIn != 150 || e.BytesOut != 15 {
		t.Fatalf("entry = %+v, want cumulative 150/15", e)
	}
	c.Usage(t0.Add(12 * time.Second))
	if c.Len() != 0 {
		t.Fatalf("entry idle past retention still there: %d entries", c.Len())
	}
}

func TestProcessName(t *testing.T) {
	tests := []struct {
		name string
		p    Process
		want string
	}{
		{"exe wins", Process{Exe: "/usr/bin/python3.11", Cmdline: "python3 x.py", Comm: "python3"}, "python3.11"},
		{"argv0 when exe unreadable", Process{Cmdline: "/opt/app/bin/worker --x", Comm: "worker"}, "worker"},
		{"comm last", Process{Comm: "kworker"}, "kworker"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Name(); got != tt.want {
				t.Fatalf("Name() = %q, want %q", got, tt.want)
			}
		})
	}
}

// Get returns the entry for key, or nil.
func (c *MonitorEntryCollection) Get(key Key) *MonitorEntry { return c.entries[key] }

func TestAddClass(t *testing.T) {
	c := NewMonitorEntryCollection(time.Minute)
	t0 := time.Unix(1000, 0)
	k := KeyApp("a")
	c.AddClass(k, Info{}, 2, 100, 10, t0)
	c.AddClass(k, Info{}, 3, 1, 2, t0)
	c.AddClass(k, Info{}, 2, 1, 1, t0)
	c.Add(k, Info{}, 5, 5, t0)
	u := c.Usage(t0.Add(time.Second))
	want := []ClassRow{{2, 101, 11}, {3, 1, 2}}
	if len(u) != 1 || u[0].In != 107 || u[0].Out != 18 || !slices.Equal(u[0].Classes, want) {
		t.Fatalf("usage %+v, want classes %v", u, want)
	}
	first := u[0].Classes
	c.AddClass(k, Info{}, 2, 7, 0, t0.Add(time.Second))
	if !slices.Equal(first, want) {
		t.Fatal("the rows handed out changed before the next Usage")
	}
	u = c.Usage(t0.Add(2 * time.Second))
	if !slices.Equal(u[0].Classes, []ClassRow{{2, 7, 0}}) {
		t.Fatalf("second period %v", u[0].Classes)
	}
	c.AddClass(k, Info{}, MaxClasses+3, 1, 1, t0.Add(2*time.Second))
	u = c.Usage(t0.Add(3 * time.Second))
	if u[0].In != 1 || len(u[0].Classes) != 0 {
		t.Fatalf("out of range class: %+v", u[0])
	}
	k2 := KeyApp("b")
	c.Add(k2, Info{}, 1, 1, t0.Add(3*time.Second))
	if u := c.Usage(t0.Add(4 * time.Second)); len(u[0].Classes) != 0 {
		t.Fatalf("no class: %+v", u)
	}
}
