//go:build linux

package main

import (
	"strings"
	"testing"
)

func TestParseKernelCost(t *testing.T) {
	out := "goos: linux\nBenchmarkKernelCost-2   \t       1\t18468688444 ns/op\t       -37.25 %-throughput-loss\t        27.40 Gbit/s-counter\t 105.7 ns/pkt-in\t 71.23 ns/pkt-in-empty\nPASS\n"
	r := parseKernelCost(out)
	if r["ns/pkt-in"] != 105.7 || r["ns/pkt-in-empty"] != 71.23 || r["%-throughput-loss"] != -37.25 || r["ns/op"] != 18468688444 {
		t.Fatalf("parsed %v", r)
	}
	if parseKernelCost("FAIL\n") != nil {
		t.Fatal("a run without the line parsed")
	}
	if !strings.Contains(r.markdown(), "| cgroup_skb ingress | 71.2 ns | 105.7 ns |") {
		t.Fatalf("markdown:\n%s", r.markdown())
	}
}
