//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"log"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netns"

	"github.com/bwmon/bwmon/internal/nftct"
)

// udpIPHeaders is what IPv4 and UDP add to a datagram's payload: the
// agent counts IP-layer bytes.
const udpIPHeaders = 28

// liveSize is the payload each live flow sends a second.
const liveSize = 100

// liveRow is the agent watching flows live UDP flows that each send
// liveSize bytes a second: its cost, and how the generator's bytes land in
// its ticks.
type liveRow struct {
	scaleRow
	flows    int
	sentPerS float64   // datagrams a second the generator sent over the window
	ratios   []float64 // per tick in the window: the app's bytes / what the generator sent in as long
	total    float64   // the same over the whole window
	// unattributed is the unattributed bytes over the window / what the
	// generator sent.
	unattributed float64
	// lateP50 and lateMax are the median and longest of the window's ticks,
	// seen at the output (appTick.late): -tick-stats covers the whole run,
	// the start of the flows included.
	lateP50, lateMax time.Duration
	// rssParts is the agent's resident memory at the end of the window,
	// by kind (rssParts), for the log.
	rssParts string
	// mapsMB is the kernel memory of the agent's BPF maps (bpfMapsMB).
	mapsMB float64
}

// stepping sums up the ratios: lowest, median, highest, and the ticks
// that got none of the bytes.
func (r liveRow) stepping() (lo, med, hi float64, zero int) {
	if len(r.ratios) == 0 {
		return 0, 0, 0, 0
	}
	s := slices.Sorted(slices.Values(r.ratios))
	for _, v := range s {
		if v < 0.01 {
			zero++
		}
	}
	return s[0], s[len(s)/2], s[len(s)-1], zero
}

// scaleLive measures the agent, in both modes, while a generator holds
// 10,000 and then 100,000 connected UDP sockets in the watched namespace,
// each sending liveSize bytes once a second, spread over the second (issue
// 14: "100,000 live flows all moving bytes"). The peer namespace drops the
// datagrams as they arrive (dropIncoming), so it costs little and sends no
// ICMP back; the watched namespace's conntrack tracks every flow
// (nftct.Engage), as it would on a host with firewall rules.
func scaleLive(b binaries) []liveRow {
	p := newPair(6)
	sysctlIn(p.a, "net.netfilter.nf_conntrack_acct", "1")
	h, err := netns.GetFromName(p.a)
	must(err)
	must(nftct.Engage(int(h), "bwbench"))
	h.Close()
	dropIncoming(p.b)

	levels := []int{10_000, 100_000}
	warm, secs := 5*time.Second, 15*time.Second
	if *quick {
		levels, warm, secs = []int{5_000, 30_000}, 4*time.Second, 8*time.Second
	}
	raiseConntrackMax(2 * levels[len(levels)-1])
	type liveRun struct {
		n       int
		mode    string
		predate bool
	}
	var runs []liveRun
	for _, n := range levels {
		for _, mode := range []string{modeConntrack, modeSocket} {
			runs = append(runs, liveRun{n, mode, false})
		}
	}
	// Sockets that predate the agent are attributed at its start
	// (sock_diag), not at their creation.
	runs = append(runs, liveRun{levels[len(levels)-1], modeSocket, true})
	if *liveSel != "" {
		runs = runs[:0]
		for _, sel := range strings.Split(*liveSel, ",") {
			f := strings.Split(sel, ":")
			n, err := strconv.Atoi(f[0])
			if err != nil || len(f) < 2 || (f[1] != "conntrack" && f[1] != "socket") {
				must(fmt.Errorf("-live %q: want FLOWS:MODE[:older], MODE conntrack or socket", sel))
			}
			mode := modeConntrack
			if f[1] == "socket" {
				mode = modeSocket
			}
			runs = append(runs, liveRun{n, mode, len(f) > 2 && f[2] == "older"})
		}
		raiseConntrackMax(2 * slices.MaxFunc(runs, func(a, b liveRun) int { return a.n - b.n }).n)
	}
	var rows []liveRow
	for _, r := range runs {
		rows = append(rows, runLive(b, p, r.n, r.mode, r.predate, warm, secs))
	}
	return rows
}

// runLive measures the agent in mode while n live flows move bytes: the
// generator starts once the agent runs (its sockets are created under
// it), or before it when predate.
func runLive(b binaries, p pair, n int, mode string, predate bool, warm, secs time.Duration) liveRow {
	gen := b.named("live")
	app := gen[strings.LastIndexByte(gen, '/')+1:]
	var g *liveGen
	var a *agent
	var ticks *appTicks
	startGen := func() {
		g = startLiveGen(p.a, gen, fmt.Sprintf("%s:9100", p.ipB), n)
		deadline := time.Now().Add(30 * time.Second)
		for ctCount(p.a) < n {
			if time.Now().After(deadline) {
				must(fmt.Errorf("conntrack in %s holds %d flows, not the %d live ones", p.a, ctCount(p.a), n))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	if predate {
		startGen()
		a, ticks = startAgentTicks(b, p.a, mode, app)
	} else {
		a, ticks = startAgentTicks(b, p.a, mode, app)
		time.Sleep(2 * time.Second) // its start-up
		startGen()
	}
	r := measureLive(a, ticks, g, warm, secs)
	g.stop()
	if *liveSel != "" {
		// Each tick of the run, as seen at the output (ms), to find the
		// slow ones.
		var b strings.Builder
		ticks.mu.Lock()
		for _, t := range ticks.ticks {
			fmt.Fprintf(&b, " %.0f", t.late.Seconds()*1000)
		}
		ticks.mu.Unlock()
		log.Printf("  ticks (ms):%s", b.String())
		b.Reset()
		for _, x := range r.ratios {
			fmt.Fprintf(&b, " %.2f", x)
		}
		log.Printf("  window ticks' bytes / sent:%s", b.String())
	}
	flushConntrack(p.a) // the next run's flows are new ones
	r.flows = n
	r.what = fmt.Sprintf("%d live flows (%s)", n, modeName(mode))
	if predate {
		r.what = fmt.Sprintf("%d live flows (%s; sockets older than the agent)", n, modeName(mode))
	}
	lo, med, hi, zero := r.stepping()
	log.Printf("  %s: resident at the end: %s; BPF maps' kernel memory %.1f MB", r.what, r.rssParts, r.mapsMB)
	log.Printf("  %s: %.1f%% of a core, %.0f MB, tick p50 %s p99 %s (window: %s / max %s); %.0f datagrams/s; bytes a tick / sent %.2f / %.2f / %.2f, %d of %d ticks none; window: app %.3f, unattributed %.3f",
		r.what, r.cpuPct, r.rssMB, r.tickP50, r.tickP99, r.lateP50.Round(time.Microsecond), r.lateMax.Round(time.Microsecond), r.sentPerS, lo, med, hi, zero, len(r.ratios), r.total, r.unattributed)
	return r
}

// flushConntrack empties ns's conntrack table.
func flushConntrack(ns string) {
	c := ctConn(ns)
	defer c.Close()
	must(c.Flush())
}

// dropIncoming makes ns drop every IP packet that arrives, in an nftables
// chain at prerouting's raw priority whose policy is drop: before routing,
// sockets and ICMP errors, and with no conntrack (no rule there asks for
// it). This kernel has no tc matchall classifier nor gact action.
func dropIncoming(ns string) {
	h, err := netns.GetFromName(ns)
	must(err)
	defer h.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(h)))
	must(err)
	t := c.AddTable(&nftables.Table{Name: "bwbench_drop", Family: nftables.TableFamilyINet})
	drop := nftables.ChainPolicyDrop
	c.AddChain(&nftables.Chain{Name: "prerouting", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityRaw, Policy: &drop})
	must(c.Flush())
}

// raiseConntrackMax raises the host's net.netfilter.nf_conntrack_max (one
// limit for every namespace, writable only from the initial one) to at
// least n until the end of the run (cleanupAll puts it back, also after a
// failure).
func raiseConntrackMax(n int) {
	const path = "/proc/sys/net/netfilter/nf_conntrack_max"
	old, err := os.ReadFile(path)
	must(err)
	cur, _ := strconv.Atoi(strings.TrimSpace(string(old)))
	if cur >= n {
		return
	}
	undo = append(undo, func() { _ = os.WriteFile(path, old, 0o644) })
	must(os.WriteFile(path, []byte(strconv.Itoa(n)), 0o644))
	log.Printf("  nf_conntrack_max raised from %d to %d for the run", cur, n)
}

// appTick is one JSON tick of the agent: when it arrived, how long it was,
// the app's bytes so far and the unattributed bytes so far.
type appTick struct {
	at           time.Time
	interval     float64
	bytes        uint64
	unattributed uint64
	// late is from the tick's time (when it began) to the line's
	// arrival: the tick's duration, its consumers and the pipe.
	late time.Duration
}

// appTicks gathers an agent's ticks.
type appTicks struct {
	mu    sync.Mutex // guards ticks
	ticks []appTick
}

// startAgentTicks starts the agent with JSON output and keeps, of each
// tick, app's bytes.
func startAgentTicks(b binaries, ns, mode, app string) (*agent, *appTicks) {
	at := &appTicks{}
	a := startAgentWith(b, ns, "json", mode, func(line []byte) {
		var s struct {
			Time      time.Time `json:"time"`
			IntervalS float64   `json:"interval_s"`
			Apps      []struct {
				App string `json:"app"`
				In  uint64 `json:"bytes_in"`
				Out uint64 `json:"bytes_out"`
			} `json:"apps"`
			Unattributed struct {
				In  uint64 `json:"bytes_in"`
				Out uint64 `json:"bytes_out"`
			} `json:"unattributed"`
		}
		if json.Unmarshal(line, &s) != nil {
			return
		}
		now := time.Now()
		t := appTick{at: now, interval: s.IntervalS, unattributed: s.Unattributed.In + s.Unattributed.Out, late: now.Sub(s.Time)}
		for _, x := range s.Apps {
			if x.App == app {
				t.bytes = x.In + x.Out
			}
		}
		at.mu.Lock()
		at.ticks = append(at.ticks, t)
		at.mu.Unlock()
	})
	return a, at
}

// measureLive lets the agent run for warm, then measures it for secs: its
// cost, and each tick's bytes of the app against what the generator sent
// in as long. It stops the agent.
func measureLive(a *agent, at *appTicks, g *liveGen, warm, secs time.Duration) liveRow {
	pid := a.cmd.Process.Pid
	time.Sleep(warm)
	c0, t0 := cpuTime(pid), time.Now()
	time.Sleep(secs)
	c1, t1 := cpuTime(pid), time.Now()
	rss := peakRSS(pid)
	parts, maps := rssParts(pid), bpfMapsMB(pid)
	p50, p99 := a.stop()

	r := liveRow{scaleRow: scaleRow{cpuPct: 100 * (c1 - c0).Seconds() / t1.Sub(t0).Seconds(), rssMB: rss, tickP50: p50, tickP99: p99}, rssParts: parts, mapsMB: maps}
	r.sentPerS = g.rate(t0.Add(-time.Second), t1.Add(time.Second))
	at.mu.Lock()
	defer at.mu.Unlock()
	r.ratios, r.total, r.unattributed = tickRatios(at.ticks, t0, t1, r.sentPerS*float64(g.size+udpIPHeaders))
	var late []time.Duration
	for _, t := range at.ticks {
		if !t.at.Before(t0) && !t.at.After(t1) {
			late = append(late, t.late)
		}
	}
	if len(late) > 0 {
		slices.Sort(late)
		r.lateP50, r.lateMax = late[len(late)/2], late[len(late)-1]
	}
	return r
}

// tickRatios compares the app's bytes in each tick that ended between from
// and to with what the generator sent in as long (perSec bytes a second):
// the ratio of each tick, of the whole window, and the unattributed bytes
// of the window against what was sent.
func tickRatios(ticks []appTick, from, to time.Time, perSec float64) (ratios []float64, total, unattributed float64) {
	var got, un, want float64
	for i := 1; i < len(ticks); i++ {
		if ticks[i].at.Before(from) || ticks[i].at.After(to) {
			continue
		}
		d := float64(int64(ticks[i].bytes - ticks[i-1].bytes))
		e := perSec * ticks[i].interval
		if e > 0 {
			ratios = append(ratios, d/e)
		}
		got, want = got+d, want+e
		un += float64(int64(ticks[i].unattributed - ticks[i-1].unattributed))
	}
	if want > 0 {
		total, unattributed = got/want, un/want
	}
	return ratios, total, unattributed
}
