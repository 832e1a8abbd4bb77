package sockbpf

import (
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/bwmon/bwmon/internal/nettest"
)

// BenchmarkKernelCost measures what the cgroup_skb programs cost the
// kernel per packet (run_time_ns / run_cnt, with BPF statistics on) under
// 4 iperf3 streams between two network namespaces, against an empty
// program on the same hooks and the same packets, and the throughput with
// the programs against none. Each round runs the empty programs with the
// counter, the counter alone and no program, in an order that turns from
// round to round; the figures are over all rounds (throughput: the
// median). It ignores b.N: run it with
// -benchtime 1x (`make bench` does, in bench/bwbench):
//
//	go test -run '^$' -bench KernelCost -benchtime 1x ./monitor/internal/sockbpf
//
// BWMON_COST_SECS and BWMON_COST_ROUNDS change the length of a round
// (default 5 s) and the number of rounds (default 3).
func BenchmarkKernelCost(b *testing.B) {
	nettest.RequireRoot(b)
	if _, err := exec.LookPath("iperf3"); err != nil {
		nettest.Missing(b, "iperf3 not found: apt-get install iperf3")
	}
	secs, rounds := envInt("BWMON_COST_SECS", 5), envInt("BWMON_COST_ROUNDS", 3)
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
	defer stats.Close()

	type tally struct {
		runtime time.Duration
		count   uint64
	}
	var empty, counter [2]tally // ingress, egress
	var gbpsNone, gbpsCounter []float64
	add := func(t *tally, before, after *ebpf.ProgramStats) {
		t.runtime += after.Runtime - before.Runtime
		t.count += after.RunCount - before.RunCount
	}
	// measure runs the streams and adds what progs cost over them.
	measure := func(progs [2]*ebpf.Program, into *[2]tally) float64 {
		var before [2]*ebpf.ProgramStats
		for i, pr := range progs {
			if before[i], err = pr.Stats(); err != nil {
				b.Fatal(err)
			}
		}
		gbps := iperf(b, p, secs)
		for i, pr := range progs {
			after, err := pr.Stats()
			if err != nil {
				b.Fatal(err)
			}
			add(&into[i], before[i], after)
		}
		return gbps
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
	// The per-packet figures come from rounds where the empty programs
	// and the counter's see the same packets (attached in turn first and
	// second); the throughput from rounds with the counter alone.
	both := 0
	runBoth := func() {
		var c *Counter
		if both%2 == 1 {
			c = open()
		}
		ep, detach := attachEmpty()
		if c == nil {
			c = open()
		}
		both++
		var before [4]*ebpf.ProgramStats
		progs := [4]*ebpf.Program{ep[0], c.objs.SkbIngress, ep[1], c.objs.SkbEgress}
		into := [4]*tally{&empty[0], &counter[0], &empty[1], &counter[1]}
		for i, pr := range progs {
			if before[i], err = pr.Stats(); err != nil {
				b.Fatal(err)
			}
		}
		iperf(b, p, secs)
		for i, pr := range progs {
			after, err := pr.Stats()
			if err != nil {
				b.Fatal(err)
			}
			add(into[i], before[i], after)
		}
		detach()
		if err := c.Read(func(*Socket) {}); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
	runCounter := func() {
		c := open()
		var scratch [2]tally
		gbpsCounter = append(gbpsCounter, measure([2]*ebpf.Program{c.objs.SkbIngress, c.objs.SkbEgress}, &scratch))
		if err := c.Read(func(*Socket) {}); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
	runNone := func() { gbpsNone = append(gbpsNone, iperf(b, p, secs)) }
	// The order turns each round: a veth pair's throughput drifts, and
	// whoever always ran first or last would carry the drift.
	order := []func(){runBoth, runCounter, runNone}
	for r := range rounds {
		for i := range order {
			order[(i+r)%len(order)]()
		}
	}
	ns := func(t tally) float64 { return float64(t.runtime.Nanoseconds()) / float64(max(t.count, 1)) }
	b.ReportMetric(ns(empty[0]), "ns/pkt-in-empty")
	b.ReportMetric(ns(counter[0]), "ns/pkt-in")
	b.ReportMetric(ns(empty[1]), "ns/pkt-out-empty")
	b.ReportMetric(ns(counter[1]), "ns/pkt-out")
	b.ReportMetric(ns(counter[0])-ns(empty[0]), "ns/pkt-in-above-empty")
	b.ReportMetric(ns(counter[1])-ns(empty[1]), "ns/pkt-out-above-empty")
	b.ReportMetric(float64(counter[0].count+counter[1].count)/float64(rounds*secs), "pkts/s")
	none, with := median(gbpsNone), median(gbpsCounter)
	b.ReportMetric(none, "Gbit/s-none")
	b.ReportMetric(with, "Gbit/s-counter")
	b.ReportMetric(100*(none-with)/none, "%-throughput-loss")
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
// seconds and returns the throughput in Gbit/s.
func iperf(tb testing.TB, p *nettest.Pair, secs int) float64 {
	tb.Helper()
	out, err := exec.Command("ip", "netns", "exec", p.Watched, "iperf3", "-J", "-P", "4", "-t", strconv.Itoa(secs),
		"-c", p.PeerIP4.String()).Output()
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

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(v))
	return s[len(s)/2]
}
