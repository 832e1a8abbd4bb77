package sockbpf

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/internal/nettest"
)

// BenchmarkKernelCost measures what the cgroup_skb programs cost the
// kernel per packet (run_time_ns / run_cnt, with BPF statistics on) under
// 4 iperf3 streams between two network namespaces, against an empty
// program on the same hooks and the same packets, and the throughput with
// the programs against none. Each round runs the empty programs with the
// counter, attached once in each order (the first attached runs first,
// which costs it about 10 ns here); the per-packet figures are over all
// rounds. The throughput comes from sets
// of three short runs, with no program, with empty programs and with the
// counter, back to back in an order that turns from set to set: a veth
// pair's throughput on a shared VM drifts over minutes, so the loss is
// the median of each set's (its quartiles show the spread, which on a
// 2-vCPU VM is tens of percent even so). It ignores b.N: run it with
// -benchtime 1x (`make bench` does, in bench/bwbench):
//
//	go test -run '^$' -bench KernelCost -benchtime 1x ./monitor/internal/sockbpf
//
// BWMON_COST_SECS and BWMON_COST_ROUNDS change the length of a run
// (default 5 s) and the number of rounds of two runs (default 4); BWMON_COST_PAIRS
// the number of throughput sets (default 15, 3 s each run, the first
// second left out).
func BenchmarkKernelCost(b *testing.B) {
	secs, rounds, pairs := envInt("BWMON_COST_SECS", 5), envInt("BWMON_COST_ROUNDS", 4), envInt("BWMON_COST_PAIRS", 15)
	p, path := costRig(b)
	var err error

	type tally struct {
		runtime time.Duration
		count   uint64
	}
	var empty, counter [2]tally // ingress, egress
	add := func(t *tally, before, after *ebpf.ProgramStats) {
		t.runtime += after.Runtime - before.Runtime
		t.count += after.RunCount - before.RunCount
	}
	// attachEmpty attaches empty programs to the same hooks; the returned
	// func detaches them.
	attachEmpty := func() ([2]*ebpf.Program, func()) {
		var progs [2]*ebpf.Program
		var links []link.Link
		for i, typ := range []ebpf.AttachType{ebpf.AttachCGroupInetIngress, ebpf.AttachCGroupInetEgress} {
			pr, err := ebpf.NewProgram(&ebpf.ProgramSpec{
				Type: ebpf.CGroupSKB, License: "GPL",
				Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 1), asm.Return()},
			})
			if err != nil {
				b.Fatal(err)
			}
			l, err := attach(path, pr, typ)
			if err != nil {
				b.Fatal(err)
			}
			progs[i] = pr
			links = append(links, l)
		}
		return progs, func() {
			for i, l := range links {
				l.Close()
				progs[i].Close()
			}
		}
	}
	open := func() *Counter {
		c, err := Open(Options{})
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	// The per-packet figures come from runs where the empty programs and
	// the counter's see the same packets. The program attached first runs
	// first and pays for it (about 10 ns a packet here, whichever it is),
	// so each round is two runs, one in each order, and the figures are
	// over whole rounds.
	var roundsIn, roundsOut []float64 // each round's figure above empty
	// The CPU time the runs took, all of it (user, system, interrupts),
	// against the programs' own run time: what a stream bound by the CPU
	// loses at least, measured to a fraction of a percent where its
	// throughput moves by tens.
	var busy, runCounter, runEmpty time.Duration
	runBoth := func(counterFirst bool) (in, out float64) {
		var c *Counter
		if counterFirst {
			c = open()
		}
		ep, detach := attachEmpty()
		if c == nil {
			c = open()
		}
		var before [4]*ebpf.ProgramStats
		progs := [4]*ebpf.Program{ep[0], c.objs.SkbIngress, ep[1], c.objs.SkbEgress}
		var run [4]tally
		into := [4]*tally{&empty[0], &counter[0], &empty[1], &counter[1]}
		for i, pr := range progs {
			if before[i], err = pr.Stats(); err != nil {
				b.Fatal(err)
			}
		}
		busy0 := cpuBusy(b)
		iperf(b, p, secs, 0)
		busy += cpuBusy(b) - busy0
		for i, pr := range progs {
			after, err := pr.Stats()
			if err != nil {
				b.Fatal(err)
			}
			add(into[i], before[i], after)
			add(&run[i], before[i], after)
		}
		runEmpty += run[0].runtime + run[2].runtime
		runCounter += run[1].runtime + run[3].runtime
		detach()
		if err := c.Read(func(*Socket) {}); err != nil {
			b.Fatal(err)
		}
		c.Close()
		ns := func(t tally) float64 { return float64(t.runtime.Nanoseconds()) / float64(max(t.count, 1)) }
		return ns(run[1]) - ns(run[0]), ns(run[3]) - ns(run[2])
	}
	for r := range rounds {
		in1, out1 := runBoth(r%2 == 1)
		in2, out2 := runBoth(r%2 == 0)
		roundsIn, roundsOut = append(roundsIn, (in1+in2)/2), append(roundsOut, (out1+out2)/2)
		b.Logf("round %d, above empty (one order, the other): ingress %.1f, %.1f; egress %.1f, %.1f", r, in1, in2, out1, out2)
	}
	// Throughput: runs with no program, with empty programs on the same
	// hooks and with the counter, back to back in an order that turns;
	// programs are attached before their run and removed after it,
	// outside the timed streams.
	var gbpsNone, gbpsEmpty, gbpsCounter, losses, lossesEmpty []float64
	for i := range pairs {
		var none, empty, with float64
		arms := []func(){
			func() { none = iperf(b, p, 3, 1) },
			func() {
				_, detach := attachEmpty()
				empty = iperf(b, p, 3, 1)
				detach()
			},
			func() {
				c := open()
				with = iperf(b, p, 3, 1)
				if err := c.Read(func(*Socket) {}); err != nil {
					b.Fatal(err)
				}
				c.Close()
			},
		}
		for j := range arms {
			arms[(i+j)%len(arms)]()
		}
		gbpsNone, gbpsEmpty, gbpsCounter = append(gbpsNone, none), append(gbpsEmpty, empty), append(gbpsCounter, with)
		losses = append(losses, 100*(none-with)/none)
		lossesEmpty = append(lossesEmpty, 100*(empty-with)/empty)
	}
	ns := func(t tally) float64 { return float64(t.runtime.Nanoseconds()) / float64(max(t.count, 1)) }
	b.ReportMetric(ns(empty[0]), "ns/pkt-in-empty")
	b.ReportMetric(ns(counter[0]), "ns/pkt-in")
	b.ReportMetric(ns(empty[1]), "ns/pkt-out-empty")
	b.ReportMetric(ns(counter[1]), "ns/pkt-out")
	b.ReportMetric(ns(counter[0])-ns(empty[0]), "ns/pkt-in-above-empty")
	b.ReportMetric(ns(counter[1])-ns(empty[1]), "ns/pkt-out-above-empty")
	b.ReportMetric(median(roundsIn), "ns/pkt-in-above-empty-median")
	b.ReportMetric(median(roundsOut), "ns/pkt-out-above-empty-median")
	b.ReportMetric(slices.Min(roundsIn), "ns/pkt-in-above-empty-min")
	b.ReportMetric(slices.Max(roundsIn), "ns/pkt-in-above-empty-max")
	b.ReportMetric(slices.Min(roundsOut), "ns/pkt-out-above-empty-min")
	b.ReportMetric(slices.Max(roundsOut), "ns/pkt-out-above-empty-max")
	b.ReportMetric(float64(rounds), "rounds")
	b.ReportMetric(100*float64(runCounter)/float64(busy), "%-cpu-programs")
	b.ReportMetric(100*float64(runCounter-runEmpty)/float64(busy), "%-cpu-above-empty")
	b.ReportMetric(float64(counter[0].count+counter[1].count)/float64(2*rounds*secs), "pkts/s")
	b.ReportMetric(median(gbpsNone), "Gbit/s-none")
	b.ReportMetric(median(gbpsEmpty), "Gbit/s-empty")
	b.ReportMetric(median(gbpsCounter), "Gbit/s-counter")
	b.ReportMetric(median(losses), "%-throughput-loss")
	b.ReportMetric(quantile(losses, 0.25), "%-loss-q1")
	b.ReportMetric(quantile(losses, 0.75), "%-loss-q3")
	b.ReportMetric(median(lossesEmpty), "%-loss-vs-empty")
	b.ReportMetric(quantile(lossesEmpty, 0.25), "%-loss-vs-empty-q1")
	b.ReportMetric(quantile(lossesEmpty, 0.75), "%-loss-vs-empty-q3")
	b.ReportMetric(float64(len(losses)), "pairs")
	b.Logf("throughput (Gbit/s none / empty / counter): %s", tripleList(gbpsNone, gbpsEmpty, gbpsCounter))
}

// tripleList formats the throughput runs for the log.
func tripleList(none, empty, with []float64) string {
	var b strings.Builder
	for i := range none {
		fmt.Fprintf(&b, " %.2f/%.2f/%.2f", none[i], empty[i], with[i])
	}
	return b.String()
}

// costRig makes what the kernel-cost benchmarks measure on: two
// namespaces with an iperf3 server in the peer, and BPF statistics on
// until the benchmark ends. It returns the pair and the cgroup v2 root.
func costRig(b *testing.B) (*nettest.Pair, string) {
	b.Helper()
	nettest.RequireRoot(b)
	if _, err := exec.LookPath("iperf3"); err != nil {
		nettest.Missing(b, "iperf3 not found: apt-get install iperf3")
	}
	p := nettest.NewPair(b)
	nettest.Start(b, p.Peer, "iperf3", "-s", "-B", p.PeerIP4.String())
	time.Sleep(300 * time.Millisecond)
	path, err := cgroupRoot()
	if err != nil {
		b.Fatal(err)
	}
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Fatalf("enabling BPF statistics (kernel.bpf_stats_enabled): %v", err)
	}
	b.Cleanup(func() { stats.Close() })
	return p, path
}

// cpuBusy is the CPU time the host has spent on anything but idling (and
// the hypervisor's steal) since boot, all CPUs together.
func cpuBusy(tb testing.TB) time.Duration {
	tb.Helper()
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		tb.Fatal(err)
	}
	st, err := fs.Stat()
	if err != nil {
		tb.Fatalf("reading /proc/stat: %v", err)
	}
	c := st.CPUTotal
	return time.Duration((c.User + c.Nice + c.System + c.IRQ + c.SoftIRQ) * float64(time.Second))
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func cgroupRoot() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	return parseCgroup2Root(f)
}

// iperf runs 4 streams from the watched namespace to the peer for secs
// seconds and returns the throughput in Gbit/s, over all but the first
// omit seconds (TCP's slow start).
func iperf(tb testing.TB, p *nettest.Pair, secs, omit int) float64 {
	tb.Helper()
	out, err := exec.Command("ip", "netns", "exec", p.Watched, "iperf3", "-J", "-P", "4", "-t", strconv.Itoa(secs),
		"-O", strconv.Itoa(omit), "-c", p.PeerIP4.String()).Output()
	if err != nil {
		tb.Fatalf("iperf3: %v\n%s", err, out)
	}
	var r struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		tb.Fatalf("iperf3's JSON: %v", err)
	}
	return r.End.SumReceived.BitsPerSecond / 1e9
}

func median(v []float64) float64 { return quantile(v, 0.5) }

// quantile returns the q-quantile of v (the nearest rank; 0 if empty).
func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(v))
	return s[min(len(s)-1, int(q*float64(len(s))))]
}
