//go:build linux

package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// liveGen is `bwgen udp-live` running in as many processes (of one
// executable, so one app) as the open files limit needs: without
// CAP_SYS_RESOURCE (as here) a process cannot raise its hard limit, so
// each holds at most that many sockets.
type liveGen struct {
	size  int
	procs []*genProc
}

// genProc is one process of a liveGen, with what it reported it sent.
type genProc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex // guards sent
	sent []genSample
}

type genSample struct {
	at        time.Time
	datagrams int64
}

func startLiveGen(ns, gen, addr string, n int) *liveGen {
	var l unix.Rlimit
	must(unix.Getrlimit(unix.RLIMIT_NOFILE, &l))
	per := max(1000, int(l.Max)-100)
	k := (n + per - 1) / per
	g := &liveGen{size: liveSize}
	for i := range k {
		first, last := n*i/k, n*(i+1)/k
		g.procs = append(g.procs, startGenProc(ns, gen, addr, first, last-first))
	}
	return g
}

func startGenProc(ns, gen, addr string, first, n int) *genProc {
	g := &genProc{}
	g.cmd = exec.Command("ip", "netns", "exec", ns, gen, "-first", strconv.Itoa(first), "udp-live", addr, strconv.Itoa(n), strconv.Itoa(liveSize))
	g.cmd.Stderr = os.Stderr
	o, err := g.cmd.StdoutPipe()
	must(err)
	must(g.cmd.Start())
	track(g.cmd)
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(o)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 2 && f[0] == "ready":
				close(ready)
			case len(f) == 3 && f[0] == "sent":
				d, _ := strconv.ParseInt(f[1], 10, 64)
				g.mu.Lock()
				g.sent = append(g.sent, genSample{time.Now(), d})
				g.mu.Unlock()
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(60 * time.Second):
		must(fmt.Errorf("bwgen udp-live did not open its %d sockets in a minute", n))
	}
	return g
}

func (g *liveGen) stop() {
	for _, p := range g.procs {
		kill(p.cmd)
	}
}

// rate returns the datagrams a second the generator sent between from and
// to (each process's reports nearest inside them).
func (g *liveGen) rate(from, to time.Time) float64 {
	var r float64
	for _, p := range g.procs {
		r += p.rate(from, to)
	}
	return r
}

func (g *genProc) rate(from, to time.Time) float64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	var first, last *genSample
	for i := range g.sent {
		s := &g.sent[i]
		if s.at.Before(from) || s.at.After(to) {
			continue
		}
		if first == nil {
			first = s
		}
		last = s
	}
	if first == nil || last == first {
		return 0
	}
	return float64(last.datagrams-first.datagrams) / last.at.Sub(first.at).Seconds()
}
