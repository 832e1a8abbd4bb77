//go:build linux

// Command bwbench is bwmon's benchmark suite (`make bench`, as root): the
// cost of watching under iperf3 traffic beside nethogs, accuracy per
// scenario beside nethogs, cost at 10,000 and 100,000 idle conntrack flows,
// at 10,000 and 100,000 live flows all moving bytes (with how each tick's
// bytes match what was sent: stepping), at 1,000 and 5,000 processes and
// under a churn of short connections, the eBPF programs' kernel cost, and
// the Go micro-benchmarks of the hot paths; bwmon in both [socket] modes
// side by side. It prints a table and rewrites bench/README.md with it.
// Traffic runs only between network namespaces it creates, which it removes
// at the end. It raises the host's net.netfilter.nf_conntrack_max for the
// run where it is below what a scenario needs, and puts it back.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

var (
	root    = flag.String("root", ".", "the bwmon source tree")
	out     = flag.String("readme", "bench/README.md", "where to write the results")
	quick   = flag.Bool("quick", false, "smaller scales and shorter runs, to try the suite")
	only    = flag.String("only", "", "run one part only (overhead, accuracy, flows (idle and live), idle, live, procs, churn, kernel, micro), print it, write no README")
	liveSel = flag.String("live", "", "with -only live: run only these rows, comma-separated FLOWS:MODE[:older] (MODE conntrack or socket), e.g. 100000:socket")
	workDir string
)

func main() {
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("bwbench: ")
	if os.Geteuid() != 0 {
		log.Fatal("needs root: it creates network namespaces and runs bwmon")
	}
	for _, tool := range []string{"iperf3", "nethogs", "ip", "tc", "gcc"} {
		if _, err := exec.LookPath(tool); err != nil {
			log.Fatalf("%s not found: `make bench` installs iperf3 and nethogs (apt-get install -y iperf3 nethogs)", tool)
		}
	}
	var err error
	if workDir, err = os.MkdirTemp("", "bwbench-"); err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(workDir)
	defer cleanupAll()
	bins := build()

	r := &report{date: time.Now().UTC().Format("2006-01-02"), machine: machine()}
	part := func(names, what string, f func()) {
		if *only == "" || slices.Contains(strings.Split(names, ","), *only) {
			log.Print(what)
			f()
		}
	}
	part("overhead", "overhead under 4 iperf3 streams", func() { r.overhead, r.rounds = overhead(bins) })
	part("accuracy", "accuracy beside nethogs", func() { r.accuracy = accuracy(bins) })
	part("flows,idle", "scale: idle flows", func() { r.flows = scaleFlows(bins) })
	part("flows,live", "scale: live flows", func() { r.live = scaleLive(bins) })
	part("procs", "scale: processes", func() { r.procs = scaleProcs(bins) })
	part("churn", "scale: connection churn", func() { r.churn = scaleChurn(bins) })
	part("kernel", "eBPF programs' cost per packet", func() { r.kernel = kernelCost() })
	part("micro", "micro-benchmarks", func() { r.micro = micro() })
	if *only != "" {
		fmt.Print(r.markdown())
		return
	}

	text := r.markdown()
	fmt.Print(text)
	if err := os.WriteFile(filepath.Join(*root, *out), []byte(text), 0o644); err != nil {
		log.Fatal(err)
	}
	log.Printf("wrote %s", *out)
}

type binaries struct{ bwmon, gen, holder string }

func build() binaries {
	b := binaries{bwmon: filepath.Join(workDir, "bwmon"), gen: filepath.Join(workDir, "bwgen"), holder: filepath.Join(workDir, "holder")}
	for _, c := range [][]string{
		{"go", "build", "-o", b.bwmon, "./cmd/bwmon"},
		{"go", "build", "-o", b.gen, "./cmd/bwgen"},
		{"gcc", "-O2", "-o", b.holder, "bench/bwbench/testdata/holder.c"},
	} {
		cmd := exec.Command(c[0], c[1:]...)
		cmd.Dir = *root
		if o, err := cmd.CombinedOutput(); err != nil {
			log.Fatalf("%s: %v\n%s", strings.Join(c, " "), err, o)
		}
	}
	return b
}

// gen copies bwgen under a unique name, so its bytes form an app of their own.
func (b binaries) named(name string) string {
	p := filepath.Join(workDir, fmt.Sprintf("%s-%d", name, time.Now().UnixNano()%1_000_000))
	data, err := os.ReadFile(b.gen)
	must(err)
	must(os.WriteFile(p, data, 0o755))
	return p
}

func machine() string {
	cpu := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if m := regexp.MustCompile(`model name\s*:\s*(.*)`).FindSubmatch(b); m != nil {
			cpu = string(m[1])
		}
	}
	var uts bytes.Buffer
	c := exec.Command("uname", "-r")
	c.Stdout = &uts
	_ = c.Run()
	mem := "?"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if m := regexp.MustCompile(`MemTotal:\s*(\d+)`).FindSubmatch(b); m != nil {
			kb, _ := strconv.Atoi(string(m[1]))
			mem = fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
		}
	}
	return fmt.Sprintf("%d cores (%s), %s, Linux %s, %s", runtime.NumCPU(), cpu, mem, strings.TrimSpace(uts.String()), runtime.Version())
}

// proc samples a running process's CPU time and peak RSS.
type proc struct {
	cmd *exec.Cmd
	pid int
}

func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ = 100
}

func peakRSS(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	m := regexp.MustCompile(`VmHWM:\s*(\d+) kB`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	kb, _ := strconv.ParseFloat(string(m[1]), 64)
	return kb / 1024
}

// rssParts splits the resident memory of process pid by what it is (from
// /proc/PID/smaps): the program's text and data, the BPF maps it maps
// (the slots and the ring buffer), anonymous memory (Go's heap and
// stacks) and the rest, in MB.
func rssParts(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return "?"
	}
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	parts := map[string]float64{}
	what := "other"
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if !strings.HasSuffix(f[0], ":") || strings.Contains(f[0], "-") {
			// A mapping's header: address range, perms, offset, dev, inode, path.
			path := ""
			if len(f) >= 6 {
				path = strings.Join(f[5:], " ")
			}
			switch {
			case path == exe:
				what = "program"
			case strings.Contains(path, "bpf"):
				what = "bpf maps"
			case path == "" || path == "[heap]" || path == "[stack]":
				what = "anonymous"
			default:
				what = "other"
			}
			continue
		}
		if f[0] == "Rss:" && len(f) >= 2 {
			kb, _ := strconv.ParseFloat(f[1], 64)
			parts[what] += kb / 1024
		}
	}
	return fmt.Sprintf("program %.1f MB, bpf maps %.1f MB, anonymous %.1f MB, other %.1f MB", parts["program"], parts["bpf maps"], parts["anonymous"], parts["other"])
}

// bpfMapsMB is the kernel memory of the BPF maps process pid holds, in MB:
// the sum of their memlock in /proc/PID/fdinfo. It is not part of the
// process's RSS unless the process maps a map (the agent maps parts of
// its slots map and its ring buffer; rssParts shows what is mapped).
func bpfMapsMB(pid int) float64 {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var total float64
	for _, e := range ents {
		if t, err := os.Readlink(filepath.Join(dir, e.Name())); err != nil || t != "anon_inode:bpf-map" {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, e.Name()))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) == 2 && f[0] == "memlock:" {
				v, _ := strconv.ParseFloat(f[1], 64)
				total += v
			}
		}
	}
	return total / (1 << 20)
}

// agent is a running bwmon.
type agent struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	last   []byte // latest JSON tick
	ticks  chan struct{}
}

// The [socket] modes bwmon is measured in, side by side: counting with
// conntrack alone, and at the socket (eBPF; "on" fails where it cannot).
const (
	modeConntrack = "off"
	modeSocket    = "on"
)

func startAgent(b binaries, netns string, output string, mode string) *agent {
	return startAgentWith(b, netns, output, mode, nil)
}

// startAgentWith is startAgent that also hands each line the agent prints
// (each JSON tick) to onLine, on the reading goroutine, when not nil.
func startAgentWith(b binaries, netns string, output string, mode string, onLine func([]byte)) *agent {
	cfg := filepath.Join(workDir, "bwmon-"+netns+"-"+mode+".toml")
	// A state directory of its own: two agents run side by side, and the
	// host's /var/lib/bwmon is not the benchmark's.
	state := filepath.Join(workDir, "state-"+netns+"-"+mode)
	must(os.WriteFile(cfg, []byte(fmt.Sprintf("[[monitor]]\ntype = \"conntrack\"\nnetns = %q\n[http]\nlisten = \"\"\n[socket]\nmode = %q\n[state]\ndir = %q\n", netns, mode, state)), 0o644))
	a := &agent{ticks: make(chan struct{}, 1000)}
	a.cmd = exec.Command(b.bwmon, "-config", cfg, "-output", output, "-tick-stats", "-log-level", "warn")
	a.cmd.Stderr = &a.stderr
	stdout, err := a.cmd.StdoutPipe()
	must(err)
	must(a.cmd.Start())
	track(a.cmd)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			a.last = append(a.last[:0], sc.Bytes()...)
			if onLine != nil {
				onLine(sc.Bytes())
			}
			select {
			case a.ticks <- struct{}{}:
			default:
			}
		}
	}()
	return a
}

// stop ends the agent and returns its tick percentiles (from -tick-stats).
func (a *agent) stop() (p50, p99 string) {
	_ = a.cmd.Process.Signal(os.Interrupt)
	_ = a.cmd.Wait()
	m := regexp.MustCompile(`p50=(\S+) p99=(\S+)`).FindStringSubmatch(a.stderr.String())
	if m == nil {
		return "?", "?"
	}
	return m[1], m[2]
}

// tick returns the app totals of the latest JSON tick.
func (a *agent) apps() map[string][2]uint64 {
	var s struct {
		Apps []struct {
			App               string
			BytesIn, BytesOut uint64 `json:"-"`
			In                uint64 `json:"bytes_in"`
			Out               uint64 `json:"bytes_out"`
		} `json:"apps"`
	}
	_ = json.Unmarshal(a.last, &s)
	out := map[string][2]uint64{}
	for _, x := range s.Apps {
		out[x.App] = [2]uint64{x.In, x.Out}
	}
	return out
}

// unattributed returns the latest JSON tick's unattributed section, as
// printed.
func (a *agent) unattributed() string {
	var s struct {
		U json.RawMessage `json:"unattributed"`
	}
	_ = json.Unmarshal(a.last, &s)
	return string(s.U)
}

var started []*exec.Cmd

func track(c *exec.Cmd) { started = append(started, c) }

// undo holds what puts back the host settings a scenario changed, run in
// reverse order by cleanupAll.
var undo []func()

func cleanupAll() {
	for i := len(undo) - 1; i >= 0; i-- {
		undo[i]()
	}
	undo = nil
	for _, c := range started {
		if c.Process != nil && c.ProcessState == nil {
			_ = c.Process.Kill()
			_, _ = c.Process.Wait()
		}
	}
	for _, ns := range namespaces {
		_ = exec.Command("ip", "netns", "del", ns).Run()
	}
	if workDir != "" {
		_ = os.RemoveAll(workDir) // also when must exits, past main's defers
	}
}

func must(err error) {
	if err != nil {
		cleanupAll()
		log.Fatal(err)
	}
}

func run(name string, args ...string) string {
	var o bytes.Buffer
	c := exec.Command(name, args...)
	c.Stdout, c.Stderr = &o, &o
	if err := c.Run(); err != nil {
		must(fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, o.String()))
	}
	return o.String()
}

func startIn(ns string, args ...string) *exec.Cmd {
	c := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	c.Stdout, c.Stderr = io.Discard, io.Discard
	must(c.Start())
	track(c)
	return c
}

func kill(c *exec.Cmd) {
	_ = c.Process.Kill()
	_, _ = c.Process.Wait()
}
