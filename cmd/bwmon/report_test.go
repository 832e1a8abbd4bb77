package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bwmon/bwmon/internal/state"
	"github.com/bwmon/bwmon/model"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("output differs from %s (go test -update rewrites it):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// reportFixture writes a store in a new directory: three days in June
// 2025 (UTC), the last one not a full day.
func reportFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t0 := time.Date(2025, 5, 30, 9, 0, 0, 0, time.UTC)
	now := t0
	s, err := state.Open(state.Options{Dir: dir, Flush: time.Hour, Location: time.UTC, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	tick := func(day int, apps map[string][2]uint64, noSocket uint64, fwd ...model.ForwardedHosts) {
		now = t0.AddDate(0, 0, day)
		snap := &model.Snapshot{Time: now, Unattributed: model.Unattributed{Reasons: map[model.Reason]model.UnattributedSum{
			model.ReasonNoSocket: {BytesIn: noSocket},
		}}}
		for name, b := range apps {
			snap.Apps = append(snap.Apps, model.AppUsage{App: name, BytesIn: b[0], BytesOut: b[1]})
		}
		snap.Forwarded.Hosts = fwd
		for _, h := range fwd {
			snap.Forwarded.BytesIn += h.BytesIn
			snap.Forwarded.BytesOut += h.BytesOut
		}
		s.Consume(snap)
	}
	pair := func(inside, remote string, in, out uint64) model.ForwardedHosts {
		return model.ForwardedHosts{Inside: inside, Remote: remote, BytesIn: in, BytesOut: out}
	}
	tick(0, map[string][2]uint64{"curl": {3 << 30, 40 << 20}, "sshd": {2 << 20, 9 << 20}}, 1000)
	tick(1, map[string][2]uint64{"curl": {3<<30 + 500<<20, 41 << 20}, "sshd": {2 << 20, 9 << 20}, "nginx: worker\x1b[2J": {10 << 10, 5 << 20}}, 1500,
		pair("10.0.0.2", "192.0.2.7", 100<<20, 2<<20))
	tick(2, map[string][2]uint64{"curl": {3<<30 + 500<<20, 41 << 20}, "sshd": {3 << 20, 12 << 20}, "nginx: worker\x1b[2J": {20 << 10, 9 << 20}}, 1500,
		pair("10.0.0.2", "192.0.2.7", 150<<20, 3<<20), pair("fd00::2", "2001:db8::1", 1<<20, 4<<20), pair("10.0.0.3", "*", 0, 512))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestReport(t *testing.T) {
	dir := reportFixture(t)
	now := time.Date(2025, 6, 1, 18, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		args   []string
		golden string
	}{
		{"days", []string{"-since", "7d"}, "report-days.txt"},
		{"months", []string{"-since", "2025-01-01", "-period", "month"}, "report-months.txt"},
		{"one day", []string{"-since", "1d"}, "report-today.txt"},
		{"json", []string{"-json", "-since", "2d"}, "report-days.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := reportCommand(append([]string{"-state-dir", dir}, tt.args...), &out, &errOut, now, time.UTC)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			golden(t, tt.golden, []byte(strings.ReplaceAll(out.String(), dir, "DIR")))
		})
	}
}

func TestReportJSONSums(t *testing.T) {
	dir := reportFixture(t)
	var out, errOut bytes.Buffer
	if code := reportCommand([]string{"-state-dir", dir, "-json", "-since", "2025-05-01"}, &out, &errOut, time.Date(2025, 6, 1, 18, 0, 0, 0, time.UTC), time.UTC); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var u state.Usage
	if err := json.Unmarshal(out.Bytes(), &u); err != nil {
		t.Fatal(err)
	}
	// The days add up to the cumulative totals: nothing lost between
	// them.
	var in, out2 uint64
	for _, p := range u.Periods {
		in += p.BytesIn
		out2 += p.BytesOut
	}
	if len(u.Periods) != 3 || in != u.Total.BytesIn || out2 != u.Total.BytesOut {
		t.Fatalf("%d days summing to %d/%d, want 3 summing to the total %d/%d", len(u.Periods), in, out2, u.Total.BytesIn, u.Total.BytesOut)
	}
}

func TestReportErrors(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(cfg, []byte("[state]\ndir = \"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no store", []string{"-state-dir", t.TempDir()}, 1, "no state store"},
		{"bad since", []string{"-since", "yesterday"}, 2, "bad since"},
		{"bad period", []string{"-period", "year"}, 2, "bad -period"},
		{"state disabled", []string{"-config", cfg}, 2, "keeps no state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := reportCommand(tt.args, &out, &errOut, time.Now(), time.UTC)
			if code != tt.code || !strings.Contains(errOut.String(), tt.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, errOut.String(), tt.code, tt.want)
			}
		})
	}
}

func TestReportForwardedRest(t *testing.T) {
	f := state.ForwardedBytes{BytesIn: 1000, BytesOut: 100, Hosts: []state.ForwardedHostBytes{
		{Inside: "10.0.0.2", Remote: "192.0.2.1", BytesIn: 600, BytesOut: 10},
		{Inside: "10.0.0.2", Remote: "192.0.2.2", BytesIn: 300, BytesOut: 20},
		{Inside: "10.0.0.3", Remote: "*", BytesIn: 70, BytesOut: 30},
		{Inside: "10.0.0.4", Remote: "192.0.2.3", BytesIn: 30, BytesOut: 40},
	}}
	var got []string
	row := func(start string, in, out uint64, app string) {
		got = append(got, fmt.Sprintf("%d %d %s", in, out, app))
	}
	reportForwarded(row, f, 2)
	want := []string{"1000 100 (forwarded)", "600 10   10.0.0.2 ⇄ 192.0.2.1", "300 20   10.0.0.2 ⇄ 192.0.2.2", "100 70   (2 more pairs)"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("rows\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	got = nil
	reportForwarded(row, state.ForwardedBytes{Hosts: []state.ForwardedHostBytes{}}, 2)
	if len(got) != 0 {
		t.Fatalf("nothing forwarded gave rows %q", got)
	}
}
