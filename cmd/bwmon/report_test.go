package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/bwmon/bwmon/internal/safename"
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
			// Half of each app's bytes went to the internet; a
			// quarter of curl's to the lab.
			classes := map[string]model.AppClass{"internet": {BytesIn: b[0] / 2, BytesOut: b[1] / 2}}
			if name == "curl" {
				classes["lab"] = model.AppClass{BytesIn: b[0] / 4, BytesOut: b[1] / 4}
			}
			snap.Apps = append(snap.Apps, model.AppUsage{App: name, BytesIn: b[0], BytesOut: b[1], Classes: classes})
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
		{"by class", []string{"-since", "7d", "-by", "class"}, "report-classes.txt"},
		{"by class, a month, one app", []string{"-since", "2025-01-01", "-period", "month", "-by", "class", "-apps", "1"}, "report-classes-month.txt"},
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
		{"bad apps", []string{"-apps", "-1"}, 2, "bad -apps"},
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

// oldStore writes, with bbolt itself, a store as an older bwmon left it:
// app names saved as the kernel gave them.
func oldStore(t *testing.T, names map[string]uint64) string {
	t.Helper()
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, state.FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	counts := func(in uint64) []byte {
		b := make([]byte, 16)
		binary.BigEndian.PutUint64(b, in)
		return b
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, _ := tx.CreateBucket([]byte("meta"))
		meta.Put([]byte("version"), []byte("1"))
		meta.Put([]byte("created"), []byte("2025-06-01T00:00:00Z"))
		totals, _ := tx.CreateBucket([]byte("totals"))
		daily, _ := tx.CreateBucket([]byte("daily"))
		day, _ := daily.CreateBucket([]byte("2025-06-01"))
		for name, in := range names {
			if err := totals.Put([]byte("app/"+name), counts(in)); err != nil {
				return err
			}
			if err := day.Put([]byte("app/"+name), counts(in)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// rawControl finds what must never reach a terminal: a byte that is not
// UTF-8, a C0 control but the newline, DEL, a C1 control, or a bidi or
// other format character.
func rawControl(s string) (rune, bool) {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return rune(s[i]), true
			}
		}
		if (r < 0x20 && r != '\n') || (r >= 0x7f && r <= 0x9f) || unicode.Is(unicode.Cf, r) {
			return r, true
		}
	}
	return 0, false
}

func TestReportHostileNames(t *testing.T) {
	hostile := map[string]uint64{
		"x\xffy":                   9000,
		"csi\u009b31mred":          8000,
		"gpj.\u202eexe":            7000,
		"clear\x1b[2J\x1b]0;pwn\a": 6000,
		"iso\u2066late\u2069":      5000,
		"nl\nfake line":            4000,
		strings.Repeat("L", 4096):  3000,
		"curl":                     2000,
	}
	dir := oldStore(t, hostile)
	now := time.Date(2025, 6, 1, 18, 0, 0, 0, time.UTC)
	for _, args := range [][]string{{"-since", "1d"}, {"-since", "1d", "-period", "month"}, {"-since", "1d", "-json"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := reportCommand(append([]string{"-state-dir", dir}, args...), &out, &errOut, now, time.UTC); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			for what, s := range map[string]string{"stdout": out.String(), "stderr": errOut.String()} {
				if r, bad := rawControl(s); bad {
					t.Fatalf("%s carries raw %U:\n%q", what, r, s)
				}
			}
			if !strings.Contains(errOut.String(), "14 records whose names were not clean") {
				t.Fatalf("stderr does not warn of the names repaired: %q", errOut.String())
			}
			if args[len(args)-1] == "-json" {
				var u state.Usage
				if err := json.Unmarshal(out.Bytes(), &u); err != nil {
					t.Fatal(err)
				}
				for _, a := range u.Periods[0].Apps {
					if a.App != safename.Clean(a.App) {
						t.Fatalf("JSON name %q is not clean", a.App)
					}
				}
				return
			}
			for _, want := range []string{`x\xffy`, `csi\u009b31mred`, `gpj.\u202eexe`, `clear\x1b[2J\x1b]0;pwn\x07`, `nl\x0afake line`, "LLLL…"} {
				if !strings.Contains(out.String(), want) {
					t.Fatalf("output lacks %q:\n%s", want, out.String())
				}
			}
			for _, line := range strings.Split(out.String(), "\n")[1:] { // the header holds the directory
				if utf8.RuneCountInString(line) > 120 {
					t.Fatalf("a line of %d characters: a name is not cut:\n%s", utf8.RuneCountInString(line), line)
				}
			}
		})
	}
}

func TestReportAppsBound(t *testing.T) {
	// 1,500 one-shot apps in a day, then folded by the aggregator to its
	// 100 largest and (other): the store keeps 200 of the day by name
	// (day_apps) and 100 in its totals.
	dir := t.TempDir()
	t0 := time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)
	s, err := state.Open(state.Options{Dir: dir, Flush: time.Hour, Location: time.UTC, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	flood := &model.Snapshot{Time: t0}
	folded := &model.Snapshot{Time: t0.Add(time.Second), Apps: []model.AppUsage{{App: model.OtherApp}}}
	for i := range 1500 {
		a := model.AppUsage{App: fmt.Sprintf("oneshot-%04d", i), BytesIn: uint64(1000 + i)}
		flood.Apps = append(flood.Apps, a)
		if i >= 1400 {
			folded.Apps = append(folded.Apps, a)
		} else {
			folded.Apps[0].BytesIn += a.BytesIn
		}
	}
	s.Consume(flood)
	s.Consume(folded)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Hour)
	tests := []struct {
		name       string
		args       []string
		day, total int    // app lines by name in the day and in the total
		dayOther   string // the (other) lines
		totalOther string
	}{
		{"default", nil, 20, 20, "(other: 180 more apps)", "(other: 80 more apps)"},
		{"five", []string{"-apps", "5"}, 5, 5, "(other: 195 more apps)", "(other: 95 more apps)"},
		{"all the store holds", []string{"-apps", "0"}, 200, 100, "(other)", "(other)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := reportCommand(append([]string{"-state-dir", dir, "-since", "1d"}, tt.args...), &out, &errOut, now, time.UTC); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			day, total, ok := strings.Cut(out.String(), "\ntotal since")
			if !ok {
				t.Fatalf("no total section:\n%s", out.String())
			}
			for _, sec := range []struct {
				name, text, other string
				apps              int
			}{{"day", day, tt.dayOther, tt.day}, {"total", total, tt.totalOther, tt.total}} {
				lines := strings.Split(strings.TrimSpace(sec.text), "\n")
				if n := strings.Count(sec.text, "oneshot-"); n != sec.apps {
					t.Fatalf("%s: %d apps listed, want %d:\n%s", sec.name, n, sec.apps, out.String())
				}
				if !strings.HasSuffix(lines[len(lines)-1], "  "+sec.other) {
					t.Fatalf("%s ends with %q, want the line %q", sec.name, lines[len(lines)-1], sec.other)
				}
			}
			if n, want := strings.Count(out.String(), "\n"), 2+1+tt.day+1+2+1+tt.total+1; n != want {
				t.Fatalf("%d lines, want %d:\n%s", n, want, out.String())
			}
		})
	}
}

func TestReportDamagedStore(t *testing.T) {
	dir := reportFixture(t)
	path := filepath.Join(dir, state.FileName)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The meta pages hold; every page after them has a type bbolt does
	// not know: it panics on the first read.
	for off := 3 * 4096; off+4096 <= len(b); off += 4096 {
		b[off+8], b[off+9] = 0x5a, 0x5a
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := reportCommand([]string{"-state-dir", dir, "-since", "2025-05-01"}, &out, &errOut, time.Date(2025, 6, 1, 18, 0, 0, 0, time.UTC), time.UTC)
	if code != 1 || !strings.Contains(errOut.String(), "damaged") || strings.Contains(errOut.String(), "goroutine") {
		t.Fatalf("exit %d, stderr %q; want 1 and a one-line error saying the store is damaged", code, errOut.String())
	}
}

func FuzzReportArgs(f *testing.F) {
	for _, s := range []string{"-since\x007d", "-period\x00month\x00-apps\x000", "-apps\x00-1", "-json", "-since\x002025-06-01", "extra", "-h"} {
		f.Add(s)
	}
	now := time.Date(2025, 6, 10, 15, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, joined string) {
		o, err := parseReportArgs(strings.Split(joined, "\x00"), io.Discard, now, time.UTC)
		if err != nil {
			return
		}
		if (o.period != "day" && o.period != "month") || o.apps < 0 {
			t.Fatalf("parseReportArgs(%q) = %+v", joined, o)
		}
	})
}
