//go:build linux

package main

import (
	"fmt"
	"log"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// kernelRow is what BenchmarkKernelCost (monitor/internal/sockbpf)
// reported: its metrics by unit.
type kernelRow map[string]float64

// kernelCost runs BenchmarkKernelCost: the eBPF socket counter's
// per-packet cost in the kernel against an empty program on the same
// hooks, under 4 iperf3 streams between two namespaces it creates.
func kernelCost() kernelRow {
	c := exec.Command("go", "test", "-run", "^$", "-bench", "^BenchmarkKernelCost$", "-benchtime", "1x", "./monitor/internal/sockbpf")
	c.Dir = *root
	c.Env = os.Environ()
	if *quick {
		c.Env = append(c.Env, "BWMON_COST_SECS=3", "BWMON_COST_ROUNDS=1", "BWMON_COST_PAIRS=5")
	}
	o, err := c.CombinedOutput()
	if err != nil {
		log.Printf("kernel cost: %v\n%s", err, o)
		return nil
	}
	return parseKernelCost(string(o))
}

// parseKernelCost reads the metrics of a BenchmarkKernelCost line:
// "BenchmarkKernelCost-2 1 123 ns/op 65.1 ns/pkt-in-empty ...".
func parseKernelCost(out string) kernelRow {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || !strings.HasPrefix(f[0], "BenchmarkKernelCost") {
			continue
		}
		r := kernelRow{}
		for i := 2; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				r[f[i+1]] = v
			}
		}
		return r
	}
	return nil
}

func (r kernelRow) markdown() string {
	if r == nil {
		return "not measured (see the log)\n"
	}
	var b strings.Builder
	w := func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }
	w("| hook | empty program | bwmon's program | above empty | rounds: median | rounds, lowest to highest |\n|---|---|---|---|---|---|\n")
	w("| cgroup_skb ingress | %.1f ns | %.1f ns | %.1f ns | %.1f ns | %.1f to %.1f ns |\n", r["ns/pkt-in-empty"], r["ns/pkt-in"], r["ns/pkt-in-above-empty"], r["ns/pkt-in-above-empty-median"], r["ns/pkt-in-above-empty-min"], r["ns/pkt-in-above-empty-max"])
	w("| cgroup_skb egress | %.1f ns | %.1f ns | %.1f ns | %.1f ns | %.1f to %.1f ns |\n", r["ns/pkt-out-empty"], r["ns/pkt-out"], r["ns/pkt-out-above-empty"], r["ns/pkt-out-above-empty-median"], r["ns/pkt-out-above-empty-min"], r["ns/pkt-out-above-empty-max"])
	w("\nPer packet: run_time_ns / run_cnt with BPF statistics on (which cost part of the empty program's figure), the empty programs and bwmon's attached together so that they see the same packets, %.0f packets/s, in %.0f rounds of two runs: the program attached first runs first and pays about 10 ns a packet for it, whichever it is, so each round attaches them once in each order; ", r["pkts/s"], r["rounds"])
	w("the programs' own run time was **%.2f%%** of all the CPU time the streams took (%.2f%% above the empty programs'): a stream bound by the CPU, as these are, loses about that share of its throughput to them (the figure counts BPF statistics' own clock reads and leaves out the hook's call into the programs), and whatever more they cost the rest of the stack in cache misses. ", r["%-cpu-programs"], r["%-cpu-above-empty"])
	w("Throughput loss with the programs, measured directly: **%.1f%%** against no program, %.1f%% against empty programs on the same hooks (medians over %.0f sets of three runs of 2 s, with none, empty programs and bwmon's, back to back in an order that turns; quartiles %.1f%% to %.1f%% and %.1f%% to %.1f%%), %.2f Gbit/s with bwmon's programs, %.2f with empty ones, %.2f with none (medians). On this small shared VM a veth pair's throughput moves by tens of percent even between runs seconds apart, so these figures cannot resolve a loss of a few percent either way. ",
		r["%-throughput-loss"], r["%-loss-vs-empty"], r["pairs"], r["%-loss-q1"], r["%-loss-q3"], r["%-loss-vs-empty-q1"], r["%-loss-vs-empty-q3"], r["Gbit/s-counter"], r["Gbit/s-empty"], r["Gbit/s-none"])
	w("Targets (issue 14): ≤ 40 ns above an empty program, ≤ 2%% throughput loss (median of rounds). A packet's way to its counters is two dependent loads (its socket's cookie, read from the kernel's socket; its home slot's cache line, at an address that follows from the cookie, the line its direction alone writes; a socket whose home slot another holds reads an index entry too) and one locked add; on egress the slot's line is mostly a cache miss here (about 20 ns: stripped copies of the programs side by side, docs/design.md), and the locked add about 10 ns. Figures move by ±15 ns from run to run here, and more on egress when the VM is slow: a run with fewer packets a second leaves the slot's line colder between two packets (egress 30–45 ns above empty in runs of 500,000 packets or more, 50–70 ns in runs of 300,000, on one day). The figure above empty is over all the packets of all rounds; the median is of the rounds' figures. `go test -run '^$' -bench KernelCost -benchtime 1x ./monitor/internal/sockbpf` (root, iperf3) measures it alone.\n")
	return b.String()
}
