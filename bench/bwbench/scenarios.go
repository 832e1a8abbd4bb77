//go:build linux

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"github.com/vishvananda/netns"

	"github.com/bwmon/bwmon/internal/nftct"
)

var namespaces []string

// pair is two namespaces joined by a veth: A is watched, B answers.
type pair struct{ a, b, ipA, ipB, devA string }

func newPair(i int) pair {
	p := pair{a: fmt.Sprintf("bwbA%d", i), b: fmt.Sprintf("bwbB%d", i), ipA: fmt.Sprintf("10.81.%d.1", i), ipB: fmt.Sprintf("10.81.%d.2", i)}
	p.devA = p.a + "v"
	for _, ns := range []string{p.a, p.b} {
		_ = exec.Command("ip", "netns", "del", ns).Run()
		run("ip", "netns", "add", ns)
		namespaces = append(namespaces, ns)
		run("ip", "-n", ns, "link", "set", "lo", "up")
	}
	run("ip", "link", "add", p.devA, "netns", p.a, "type", "veth", "peer", "name", p.b+"v", "netns", p.b)
	run("ip", "-n", p.a, "addr", "add", p.ipA+"/24", "dev", p.devA)
	run("ip", "-n", p.b, "addr", "add", p.ipB+"/24", "dev", p.b+"v")
	run("ip", "-n", p.a, "-6", "addr", "add", fmt.Sprintf("fd81:%d::1/64", i), "dev", p.devA, "nodad")
	run("ip", "-n", p.b, "-6", "addr", "add", fmt.Sprintf("fd81:%d::2/64", i), "dev", p.b+"v", "nodad")
	run("ip", "-n", p.a, "link", "set", p.devA, "up")
	run("ip", "-n", p.b, "link", "set", p.b+"v", "up")
	return p
}

func sysctlIn(ns, key, value string) {
	run("ip", "netns", "exec", ns, "sh", "-c", fmt.Sprintf("echo %q > /proc/sys/%s", value, strings.ReplaceAll(key, ".", "/")))
}

// engage makes ns's conntrack count, for reference counters.
func engage(ns string) {
	sysctlIn(ns, "net.netfilter.nf_conntrack_acct", "1")
	h, err := netns.GetFromName(ns)
	must(err)
	defer h.Close()
	must(nftct.Engage(int(h), "bwbench"))
}

// ctConn opens a conntrack connection in namespace ns, for the caller to
// close.
func ctConn(ns string) *conntrack.Conn {
	h, err := netns.GetFromName(ns)
	must(err)
	defer h.Close()
	c, err := conntrack.Dial(&netlink.Config{NetNS: int(h)})
	must(err)
	return c
}

// refBytes sums ns's conntrack counters of flows to port of protocol proto.
func refBytes(ns string, proto uint8, port uint16) uint64 {
	c := ctConn(ns)
	defer c.Close()
	flows, err := c.Dump(nil)
	must(err)
	var n uint64
	for _, f := range flows {
		if f.TupleOrig.Proto.Protocol == proto && (port == 0 || f.TupleOrig.Proto.DestinationPort == port) {
			n += f.CountersOrig.Bytes + f.CountersReply.Bytes
		}
	}
	return n
}

// --- overhead -------------------------------------------------------------

type overheadRow struct {
	tool      string
	gbps      float64 // median of the rounds
	gbpsLo    float64 // lowest and highest round
	gbpsHi    float64
	cpuPct    float64 // % of one core while the streams ran
	cpuPerSec float64 // CPU seconds per second of traffic
	rssMB     float64
	tickP50   string
	tickP99   string
}

func iperf(p pair, secs int) float64 {
	o := run("ip", "netns", "exec", p.a, "iperf3", "-c", p.ipB, "-P", "4", "-t", strconv.Itoa(secs), "-J")
	var r struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	must(json.Unmarshal([]byte(o), &r))
	return r.End.SumReceived.BitsPerSecond / 1e9
}

func overhead(b binaries) ([]overheadRow, int) {
	p := newPair(1)
	// Rounds of none, bwmon, nethogs in turn: a veth pair's throughput
	// drifts by a third from one run to the next on a small VM, so one run
	// of each would compare the drift, not the watchers.
	secs, rounds := 5, 3
	if *quick {
		secs, rounds = 4, 1
	}
	srv := startIn(p.b, "iperf3", "-s")
	defer kill(srv)
	time.Sleep(500 * time.Millisecond)

	rows := []overheadRow{{tool: "none"}, {tool: "bwmon (conntrack)"}, {tool: "bwmon (socket)"}, {tool: "nethogs"}}
	gbps := make([][]float64, len(rows))
	cpu := make([]time.Duration, len(rows))
	elapsed := make([]time.Duration, len(rows))
	// watched runs the streams while pid watches, adding up its CPU time.
	watched := func(i, pid int) {
		time.Sleep(2 * time.Second)
		c0, t0 := cpuTime(pid), time.Now()
		gbps[i] = append(gbps[i], iperf(p, secs))
		cpu[i] += cpuTime(pid) - c0
		elapsed[i] += time.Since(t0)
		rows[i].rssMB = max(rows[i].rssMB, peakRSS(pid))
	}
	for range rounds {
		gbps[0] = append(gbps[0], iperf(p, secs))

		for i, mode := range []string{modeConntrack, modeSocket} {
			a := startAgent(b, p.a, "none", mode)
			watched(1+i, a.cmd.Process.Pid)
			rows[1+i].tickP50, rows[1+i].tickP99 = a.stop()
		}

		nh := startIn(p.a, "nethogs", "-t", "-a", "-d", "1", p.devA)
		watched(3, nh.Process.Pid)
		kill(nh)
	}
	for i := range rows {
		g := slices.Sorted(slices.Values(gbps[i]))
		rows[i].gbps, rows[i].gbpsLo, rows[i].gbpsHi = g[len(g)/2], g[0], g[len(g)-1]
		if elapsed[i] > 0 {
			rows[i].cpuPct = 100 * cpu[i].Seconds() / elapsed[i].Seconds()
			rows[i].cpuPerSec = cpu[i].Seconds() / float64(rounds*secs)
		}
	}
	return rows, rounds
}

// --- accuracy -------------------------------------------------------------

type accuracyRow struct {
	scenario               string
	ref                    uint64
	bwmon, socket, nethogs float64 // ratio to the reference (bwmon: conntrack alone; socket: at the socket)
}

// nethogsTotals follows nethogs -t -v 2 (total bytes) and keeps the last
// figures per program line.
type nethogsTotals struct {
	cmd  *exec.Cmd
	last map[string][2]float64
	done chan struct{}
}

func startNethogs(ns, dev string) *nethogsTotals {
	n := &nethogsTotals{last: map[string][2]float64{}, done: make(chan struct{})}
	// stdbuf: nethogs writes through C stdio, block-buffered into a pipe.
	n.cmd = exec.Command("ip", "netns", "exec", ns, "stdbuf", "-oL", "nethogs", "-t", "-v", "2", "-a", "-d", "1", dev)
	o, err := n.cmd.StdoutPipe()
	must(err)
	must(n.cmd.Start())
	track(n.cmd)
	go func() {
		defer close(n.done)
		sc := bufio.NewScanner(o)
		for sc.Scan() {
			f := strings.Split(sc.Text(), "\t")
			if len(f) != 3 {
				continue
			}
			s, e1 := strconv.ParseFloat(f[1], 64)
			r, e2 := strconv.ParseFloat(f[2], 64)
			if e1 == nil && e2 == nil {
				n.last[f[0]] = [2]float64{s, r}
			}
		}
	}()
	return n
}

// total sums nethogs's lines whose program contains name.
func (n *nethogsTotals) total(name string) float64 {
	var t float64
	for prog, v := range n.last {
		if strings.Contains(prog, name) {
			t += v[0] + v[1]
		}
	}
	return t
}

func accuracy(b binaries) []accuracyRow {
	p := newPair(2)
	engage(p.b)
	// Two agents side by side, one in each mode, on the same traffic.
	a := startAgent(b, p.a, "json", modeConntrack)
	as := startAgent(b, p.a, "json", modeSocket)
	nh := startNethogs(p.a, p.devA)
	time.Sleep(3 * time.Second)
	v6 := strings.Replace(p.ipB, "10.81.2.2", "[fd81:2::2]", 1)
	type sc struct {
		name   string
		proto  uint8
		port   int
		server []string
		client []string
		procs  int
	}
	mb8 := strconv.Itoa(8 << 20)
	scs := []sc{
		// -hold keeps a generator alive after its transfer, so that
		// nethogs, which drops a row when its process exits, can show it
		// at its next refresh; the short-lived scenario is about exiting.
		{"bulk TCP upload (8 MiB)", 6, 7001, []string{"tcp-sink"}, []string{"-hold", "2s", "tcp-send", "", mb8}, 1},
		{"bulk TCP download (8 MiB)", 6, 7002, []string{"tcp-serve", mb8}, []string{"-hold", "2s", "tcp-recv", "", mb8}, 1},
		{"UDP upload (2 MiB)", 17, 7003, []string{"udp-sink"}, []string{"-hold", "2s", "udp-send", "", strconv.Itoa(2 << 20), "1200"}, 1},
		{"TCP over IPv6 (8 MiB)", 6, 7004, []string{"tcp-sink"}, []string{"-hold", "2s", "tcp-send", "v6", mb8}, 1},
		{"20 short-lived processes (512 KiB each)", 6, 7005, []string{"tcp-sink"}, []string{"tcp-send", "", strconv.Itoa(512 << 10)}, 20},
		{"200 small connections (10 KB each)", 6, 7006, []string{"tcp-sink"}, []string{"-hold", "2s", "-conns", "200", "tcp-send", "", "10000"}, 1},
		{"3000 back-to-back connections (2 KiB each)", 6, 7007, []string{"tcp-sink"}, []string{"-hold", "2s", "-conns", "3000", "tcp-send", "", "2048"}, 1},
	}
	var rows []accuracyRow
	for _, s := range scs {
		addr := fmt.Sprintf("%s:%d", p.ipB, s.port)
		listen := fmt.Sprintf("[::]:%d", s.port)
		if s.proto == 17 {
			listen = fmt.Sprintf("0.0.0.0:%d", s.port)
		}
		srv := startIn(p.b, append([]string{b.gen, s.server[0], listen}, s.server[1:]...)...)
		time.Sleep(300 * time.Millisecond)
		gen := b.named("acc")
		name := gen[strings.LastIndexByte(gen, '/')+1:]
		args := make([]string, len(s.client))
		copy(args, s.client)
		for i, x := range args {
			switch x {
			case "":
				args[i] = addr
			case "v6":
				args[i] = fmt.Sprintf("%s:%d", v6, s.port)
			}
		}
		done := make(chan error, s.procs)
		for range s.procs {
			go func() {
				c := exec.Command("ip", append([]string{"netns", "exec", p.a, gen}, args...)...)
				done <- c.Run()
			}()
		}
		for range s.procs {
			if err := <-done; err != nil {
				log.Printf("%s: generator: %v", s.name, err)
			}
		}
		time.Sleep(3 * time.Second) // two ticks of bwmon, two refreshes of nethogs
		ref := refBytes(p.b, s.proto, uint16(s.port))
		app, sapp := a.apps()[name], as.apps()[name]
		rows = append(rows, accuracyRow{scenario: s.name, ref: ref,
			bwmon: float64(app[0]+app[1]) / float64(ref), socket: float64(sapp[0]+sapp[1]) / float64(ref), nethogs: nh.total(name) / float64(ref)})
		kill(srv)
	}
	a.stop()
	as.stop()
	kill(nh.cmd)
	return rows
}

// --- scale ----------------------------------------------------------------

type scaleRow struct {
	what             string
	cpuPct, rssMB    float64
	tickP50, tickP99 string
	note             string
}

// measure runs bwmon on ns for warm, then while during runs, and reports
// its CPU over that window, its peak RSS, its tick percentiles and the
// window's length.
func measure(b binaries, ns, what string, warm time.Duration, during func()) (scaleRow, time.Duration) {
	return measureIn(b, ns, what, modeConntrack, warm, during)
}

// measureIn is measure with bwmon counting in [socket] mode mode.
func measureIn(b binaries, ns, what, mode string, warm time.Duration, during func()) (scaleRow, time.Duration) {
	a := startAgent(b, ns, "none", mode)
	time.Sleep(warm)
	c0, t0 := cpuTime(a.cmd.Process.Pid), time.Now()
	during()
	c1, el := cpuTime(a.cmd.Process.Pid), time.Since(t0)
	rss := peakRSS(a.cmd.Process.Pid)
	p50, p99 := a.stop()
	return scaleRow{what: what, cpuPct: 100 * (c1 - c0).Seconds() / el.Seconds(), rssMB: rss, tickP50: p50, tickP99: p99}, el
}

// sleep returns a window of d for measure.
func sleep(d time.Duration) func() { return func() { time.Sleep(d) } }

func ctCount(ns string) int {
	b, err := exec.Command("ip", "netns", "exec", ns, "cat", "/proc/sys/net/netfilter/nf_conntrack_count").Output()
	must(err)
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// scaleFlows measures bwmon while the watched namespace's conntrack table
// holds idle UDP flows whose sockets are gone (one datagram each): the cost
// of the table itself.
func scaleFlows(b binaries) []scaleRow {
	p := newPair(3)
	sysctlIn(p.a, "net.netfilter.nf_conntrack_acct", "1")
	sysctlIn(p.a, "net.netfilter.nf_conntrack_udp_timeout", "900")
	sysctlIn(p.a, "net.ipv4.ip_local_port_range", "1024 65535")
	h, err := netns.GetFromName(p.a)
	must(err)
	must(nftct.Engage(int(h), "bwbench"))
	h.Close()
	// 10,000 and 100,000 (issue 6's target); the live flows (scaleLive)
	// are the ones that move bytes.
	levels := []int{10_000, 100_000}
	warm, secs := 8*time.Second, 15*time.Second
	if *quick {
		levels, warm, secs = []int{10_000, 30_000}, 5*time.Second, 6*time.Second
	}
	var rows []scaleRow
	port := 9000
	for _, want := range levels {
		for have := ctCount(p.a); have < want; {
			n := min(want-have, 50_000)
			run("ip", "netns", "exec", p.a, b.gen, "udp-flows", fmt.Sprintf("%s:%d", p.ipB, port), strconv.Itoa(n))
			port++
			now := ctCount(p.a)
			if now <= have {
				must(fmt.Errorf("conntrack count stays at %d: flows are not tracked in %s", now, p.a))
			}
			have = now
		}
		for _, mode := range []string{modeConntrack, modeSocket} {
			if mode == modeSocket && want < levels[len(levels)-1] {
				continue // the largest only
			}
			r, _ := measureIn(b, p.a, fmt.Sprintf("%d idle flows (%s)", ctCount(p.a), modeName(mode)), mode, warm, sleep(secs))
			rows = append(rows, r)
			log.Printf("  %s: %.1f%% of a core, %.0f MB, tick p50 %s p99 %s", r.what, r.cpuPct, r.rssMB, r.tickP50, r.tickP99)
		}
	}
	os.Setenv("BWMON_BENCH_NETNS", p.a)
	return rows
}

func scaleProcs(b binaries) []scaleRow {
	p := newPair(4)
	sysctlIn(p.a, "net.ipv4.ip_local_port_range", "1024 65535")
	sink := startIn(p.b, b.gen, "tcp-sink", "0.0.0.0:7100")
	defer kill(sink)
	time.Sleep(300 * time.Millisecond)
	levels := []int{1000, 5000}
	warm, secs := 8*time.Second, 15*time.Second
	if *quick {
		levels, warm, secs = []int{200, 1000}, 5*time.Second, 6*time.Second
	}
	var rows []scaleRow
	for _, n := range levels {
		h := exec.Command("ip", "netns", "exec", p.a, b.holder, p.ipB, "7100", strconv.Itoa(n), "8")
		o, err := h.StdoutPipe()
		must(err)
		must(h.Start())
		track(h)
		line, _ := bufio.NewReader(o).ReadString('\n')
		if !strings.HasPrefix(line, "ready") {
			must(fmt.Errorf("holder did not start %d processes", n))
		}
		time.Sleep(time.Second) // let the children connect
		r, _ := measure(b, p.a, fmt.Sprintf("%d processes × 8 sockets", n), warm, sleep(secs))
		rows = append(rows, r)
		log.Printf("  %s: %.1f%% of a core, %.0f MB, tick p50 %s p99 %s", r.what, r.cpuPct, r.rssMB, r.tickP50, r.tickP99)
		kill(h)
		_ = exec.Command("pkill", "-KILL", "-P", strconv.Itoa(h.Process.Pid)).Run()
	}
	return rows
}

// scaleChurn measures bwmon while one process opens, uses and closes
// short TCP connections (1 kB each), churnParallel at a time, at
// churnRate new connections a second for churnSeconds (issue 14: 10,000
// new connections/s for 10 s): the cost that grows with new flows. The
// generator and the sink are bwgen's tcp-churn modes (blocking system
// calls on threads, no Go poller): the machine's cores go to the
// connections, not to the generator's runtime. It reports the rate
// reached, the agent's CPU, and its CPU per 1,000 connections/s; and, once,
// what the machine reaches unpaced with no watcher.
func scaleChurn(b binaries) []scaleRow {
	p := newPair(5)
	// Every connection a flow of its own, so that the peer's conntrack
	// counters are the reference: no time-wait tuple is reused (a reused
	// tuple's new flow replaces the old one's counters in conntrack), and
	// churnPorts destination ports give 64,000 source ports as many times
	// the distinct tuples; each run has churnPorts of its own, so that the
	// time-wait sockets of the run before leave its tuples free.
	sysctlIn(p.a, "net.ipv4.ip_local_port_range", "1024 65535")
	sysctlIn(p.a, "net.ipv4.tcp_tw_reuse", "0")
	rate, secs := churnRate, churnSeconds
	if *quick {
		secs = 2
	}
	n := rate * secs
	// Past tcp_max_tw_buckets a closing socket skips time-wait and its
	// tuple is free at once; the three runs' sockets all fit.
	sysctlIn(p.a, "net.ipv4.tcp_max_tw_buckets", strconv.Itoa(4*n))
	// Each connection leaves a time-wait flow in conntrack for 2 minutes
	// (a reused port's new connection replaces its flow).
	raiseConntrackMax(2 * n)
	ports := strconv.Itoa(churnPorts)
	// churnParallel threads for each run's ports: a sink as quick as the
	// clients, so that it closes as soon as they do.
	sink := startIn(p.b, b.gen, "-parallel", strconv.Itoa(3*churnParallel), "-ports", strconv.Itoa(3*churnPorts), "tcp-churn-sink", p.ipB+":7200")
	defer kill(sink)
	engage(p.b) // the reference: the peer's conntrack counters
	time.Sleep(300 * time.Millisecond)
	gen := b.named("churn")
	name := gen[strings.LastIndexByte(gen, '/')+1:]
	churn := func(cps, round int) {
		run("ip", "netns", "exec", p.a, gen, "-cps", strconv.Itoa(cps), "-conns", strconv.Itoa(n), "-parallel", strconv.Itoa(churnParallel),
			"-ports", ports, "tcp-churn", fmt.Sprintf("%s:%d", p.ipB, 7200+round*churnPorts), "1000")
	}

	// What the machine reaches unpaced with nobody watching, conntrack
	// tracking the namespace as with an agent: generator, sink and agent
	// share its cores.
	h, err := netns.GetFromName(p.a)
	must(err)
	defer h.Close()
	must(nftct.Engage(int(h), "bwbench"))
	flushConntrack(p.a)
	t0 := time.Now()
	churn(0, 0)
	churnBase = float64(n) / time.Since(t0).Seconds()
	must(nftct.Remove(int(h), "bwbench"))
	log.Printf("  churn with no watcher, unpaced: %.0f new connections/s", churnBase)

	var rows []scaleRow
	for i, mode := range []string{modeConntrack, modeSocket} {
		// Each run starts from empty tables: the time-wait flows of the
		// run before would be tens of thousands of idle flows more to read,
		// and the peer's are the reference.
		flushConntrack(p.a)
		flushConntrack(p.b)
		a := startAgent(b, p.a, "json", mode)
		time.Sleep(3 * time.Second)
		c0, t0 := cpuTime(a.cmd.Process.Pid), time.Now()
		churn(rate, i+1)
		c1, el := cpuTime(a.cmd.Process.Pid), time.Since(t0)
		rss := peakRSS(a.cmd.Process.Pid)
		time.Sleep(3 * time.Second) // the last connections' close records and events, two ticks
		var ref uint64
		for port := range churnPorts {
			ref += refBytes(p.b, 6 /* TCP */, uint16(7200+(i+1)*churnPorts+port))
		}
		got, un := a.apps()[name], a.unattributed()
		p50, p99 := a.stop()
		r := scaleRow{cpuPct: 100 * (c1 - c0).Seconds() / el.Seconds(), rssMB: rss, tickP50: p50, tickP99: p99}
		cps := float64(n) / el.Seconds()
		r.what = fmt.Sprintf("churn: %.0f new connections/s (%d of 1 kB at %d/s asked, %d at a time, %.1f s; %s): %.2f%% of a core per 1,000/s; bytes attributed %.3f",
			cps, n, rate, churnParallel, el.Seconds(), modeName(mode), r.cpuPct/(cps/1000), float64(got[0]+got[1])/float64(ref))
		log.Printf("  %s: %.1f%% of a core, %.0f MB, tick p50 %s p99 %s; app %d bytes, the peer's conntrack %d (%d flows); unattributed %s", r.what, r.cpuPct, r.rssMB, r.tickP50, r.tickP99, got[0]+got[1], ref, ctCount(p.b), un)
		rows = append(rows, r)
	}
	return rows
}

// churnParallel is how many connections the churn generator keeps going
// at once (threads of tcp-churn and of tcp-churn-sink).
const churnParallel = 16

// churnPorts is how many of the sink's ports the connections spread over.
const churnPorts = 4

// churnRate and churnSeconds are the churn asked for (issue 14).
const churnRate, churnSeconds = 10_000, 10

// churnBase is the rate of new connections scaleChurn's generator reached
// unpaced with no watcher (0: not measured).
var churnBase float64

// modeName names a [socket] mode in the tables.
func modeName(mode string) string {
	if mode == modeSocket {
		return "at the socket"
	}
	return "conntrack"
}

// --- micro-benchmarks -----------------------------------------------------

func micro() []string {
	c := exec.Command("go", "test", "-run", "x", "-bench", "ApplyDump|TableMemory|InodeMap|Tick|Dump|^BenchmarkGet$", "-benchtime", "20x", "./monitor/...", "./aggregator")
	c.Dir = *root
	c.Env = os.Environ()
	o, err := c.CombinedOutput()
	if err != nil {
		log.Printf("micro-benchmarks: %v\n%s", err, o)
	}
	var lines []string
	for _, l := range strings.Split(string(o), "\n") {
		if strings.HasPrefix(l, "Benchmark") {
			lines = append(lines, strings.Join(strings.Fields(l), " "))
		}
	}
	return lines
}
