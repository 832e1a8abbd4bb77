package state

import (
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/bwmon/bwmon/model"
)

// classSnap is a Snapshot at time at of apps with their bytes of one
// class each: name, class, in, out, ... (an app's totals are its class's).
func classSnap(at time.Time, apps ...any) *model.Snapshot {
	s := &model.Snapshot{Time: at}
	for i := 0; i < len(apps); i += 4 {
		in, out := uint64(apps[i+2].(int)), uint64(apps[i+3].(int))
		s.Apps = append(s.Apps, model.AppUsage{App: apps[i].(string), BytesIn: in, BytesOut: out,
			Classes: map[string]model.AppClass{apps[i+1].(string): {BytesIn: in, BytesOut: out}}})
	}
	return s
}

// TestClasses checks that the store keeps each app's bytes by class per
// day, that an app the aggregator folds books its classes once (OtherApp's
// class rows get only what they grew beyond), and that a day's class rows
// follow its apps when the day folds them past DayApps.
func TestClasses(t *testing.T) {
	dir := t.TempDir()
	day := time.Date(2025, 6, 1, 10, 0, 0, 0, utc)
	clk := &clock{t: day}
	s, err := Open(Options{Dir: dir, Flush: time.Hour, Logger: slog.New(slog.DiscardHandler), Now: clk.now, Location: utc, DayApps: 1})
	if err != nil {
		t.Fatal(err)
	}
	other := model.OtherApp
	s.Consume(classSnap(day, "a", "internet", 100, 1000, "b", "lab", 50, 5))
	s.Consume(classSnap(day.Add(time.Second), "a", "internet", 150, 2000, "b", "lab", 50, 5))
	// b is folded by the aggregator: its bytes join OtherApp's, which
	// then grows by 7.
	s.Consume(classSnap(day.Add(2*time.Second), "a", "internet", 150, 2000, other, "lab", 50, 12))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	h, err := ReadHistory(dir, day, utc, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	u, err := h.Usage("day", 0)
	if err != nil {
		t.Fatal(err)
	}
	// The day keeps one app by name (a, the largest): b's rows, app and
	// class, are folded into OtherApp's.
	want := []ClassBytes{
		{Class: "internet", App: "a", BytesIn: 150, BytesOut: 2000},
		{Class: "lab", App: other, BytesIn: 50, BytesOut: 12},
	}
	if len(u.Periods) != 1 || !reflect.DeepEqual(u.Periods[0].Classes, want) {
		t.Fatalf("day classes %+v, want %+v", u.Periods, want)
	}
	if !reflect.DeepEqual(u.Total.Classes, want) {
		t.Fatalf("total classes %+v, want %+v", u.Total.Classes, want)
	}
	for k := range dayCounts(h)["2025-06-01"] {
		if k == "class/lab/b" {
			t.Errorf("the day still holds %s", k)
		}
	}
}

func TestClassKeys(t *testing.T) {
	for in, want := range map[string]string{
		"class/internet/curl":      "class/internet/curl",
		"class/internet/a/b":       "class/internet/a/b",
		"class/lab/x\x1b[2J":       `class/lab/x\x1b[2J`,
		"class/internet/" + "\xff": `class/internet/\xff`,
		"class//curl":              "",
		"class/internet/":          "",
		"class/internet":           "",
	} {
		got, ok := cleanKey(in)
		if got != want || ok != (want != "") {
			t.Errorf("cleanKey(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
