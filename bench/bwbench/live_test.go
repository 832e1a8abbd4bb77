//go:build linux

package main

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestTickRatios(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	// ticks makes one tick a second from t0, the app's bytes so far given
	// by each tick's bytes.
	ticks := func(each ...uint64) []appTick {
		var out []appTick
		var sum uint64
		for i, b := range each {
			sum += b
			out = append(out, appTick{at: t0.Add(time.Duration(i) * time.Second), interval: 1, bytes: sum, unattributed: uint64(i) * 10})
		}
		return out
	}
	for _, tc := range []struct {
		name        string
		ticks       []appTick
		from, to    time.Duration
		ratios      []float64
		total       float64
		unattrib    float64
		lo, med, hi float64
		zero        int
	}{
		{"every tick", ticks(0, 1000, 1000, 1000, 1000), 0, 10 * time.Second, []float64{1, 1, 1, 1}, 1, 0.01, 1, 1, 1, 0},
		{"steps of 2", ticks(0, 0, 2000, 0, 2000), 0, 10 * time.Second, []float64{0, 2, 0, 2}, 1, 0.01, 0, 2, 2, 2},
		{"half lost", ticks(0, 500, 500), 0, 10 * time.Second, []float64{0.5, 0.5}, 0.5, 0.01, 0.5, 0.5, 0.5, 0},
		{"window", ticks(0, 9999, 1000, 1000, 9999), 1500 * time.Millisecond, 3500 * time.Millisecond, []float64{1, 1}, 1, 0.01, 1, 1, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ratios, total, un := tickRatios(tc.ticks, t0.Add(tc.from), t0.Add(tc.to), 1000)
			if !slices.Equal(ratios, tc.ratios) || total != tc.total || math.Abs(un-tc.unattrib) > 1e-9 {
				t.Fatalf("tickRatios = %v, %v, %v; want %v, %v, %v", ratios, total, un, tc.ratios, tc.total, tc.unattrib)
			}
			lo, med, hi, zero := liveRow{ratios: ratios}.stepping()
			if lo != tc.lo || med != tc.med || hi != tc.hi || zero != tc.zero {
				t.Errorf("stepping = %v / %v / %v, %d none; want %v / %v / %v, %d", lo, med, hi, zero, tc.lo, tc.med, tc.hi, tc.zero)
			}
		})
	}
}
