package sockbpf

import (
	"os"
	"testing"

	"github.com/cilium/ebpf"
)

// BenchmarkKernelCostAB compares two builds of the programs on the same
// packets: both attached at once under 4 iperf3 streams between two
// namespaces, once in each order per round (the first attached runs first
// and pays about 10 ns a packet for it), and reports B's cost per packet
// minus A's, averaged over the rounds. The paired difference resolves a
// few nanoseconds where BenchmarkKernelCost's figures move by ±15 ns from
// run to run. Build a variant of bpf/sockbpf.c with the flags of gen.go
// and name the objects:
//
//	clang -O2 -g -mcpu=v3 -target bpfel -c bpf/sockbpf.c -o /tmp/b.o
//	BWMON_COST_A=sockbpf_bpfel.o BWMON_COST_B=/tmp/b.o go test -run '^$' -bench KernelCostAB -benchtime 1x .
//
// BWMON_COST_ROUNDS sets the number of rounds (default 4), BWMON_COST_SECS
// a run's length (default 4 s).
func BenchmarkKernelCostAB(b *testing.B) {
	files := [2]string{os.Getenv("BWMON_COST_A"), os.Getenv("BWMON_COST_B")}
	if files[0] == "" || files[1] == "" {
		b.Skip("BWMON_COST_A and BWMON_COST_B name the two BPF objects to compare")
	}
	p, path := costRig(b)
	var err error
	open := func(file string) *Counter {
		spec, err := ebpf.LoadCollectionSpec(file)
		if err != nil {
			b.Fatal(err)
		}
		if err := sizeSpec(spec, DefaultMaxSockets); err != nil {
			b.Fatal(err)
		}
		c, err := openSpec(spec, path, DefaultMaxSockets)
		if err != nil {
			b.Fatalf("%s: %v", file, err)
		}
		return c
	}
	secs, rounds := envInt("BWMON_COST_SECS", 4), envInt("BWMON_COST_ROUNDS", 4)
	// run attaches both, first one first, and returns B's ns a packet
	// minus A's, ingress and egress.
	run := func(first int) (in, out float64) {
		var cs [2]*Counter
		cs[first] = open(files[first])
		cs[1-first] = open(files[1-first])
		defer cs[0].Close()
		defer cs[1].Close()
		var before [2][2]*ebpf.ProgramStats
		for i, c := range cs {
			for d, pr := range []*ebpf.Program{c.objs.SkbIngress, c.objs.SkbEgress} {
				if before[i][d], err = pr.Stats(); err != nil {
					b.Fatal(err)
				}
			}
		}
		iperf(b, p, secs, 0)
		var ns [2][2]float64
		for i, c := range cs {
			for d, pr := range []*ebpf.Program{c.objs.SkbIngress, c.objs.SkbEgress} {
				after, err := pr.Stats()
				if err != nil {
					b.Fatal(err)
				}
				ns[i][d] = float64(after.Runtime-before[i][d].Runtime) / float64(max(after.RunCount-before[i][d].RunCount, 1))
			}
		}
		return ns[1][0] - ns[0][0], ns[1][1] - ns[0][1]
	}
	var sumIn, sumOut float64
	for r := range rounds {
		in1, out1 := run(0)
		in2, out2 := run(1)
		b.Logf("round %d, B - A (A first, B first): ingress %+.1f, %+.1f; egress %+.1f, %+.1f", r, in1, in2, out1, out2)
		sumIn += (in1 + in2) / 2
		sumOut += (out1 + out2) / 2
	}
	b.ReportMetric(sumIn/float64(rounds), "ns/pkt-in-B-minus-A")
	b.ReportMetric(sumOut/float64(rounds), "ns/pkt-out-B-minus-A")
}
