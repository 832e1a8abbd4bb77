package monitor

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/bwmon/bwmon/internal/nftct"
	"github.com/bwmon/bwmon/monitor/internal/netns"
)

// kernelSetup is what bwmon changed in the kernel, to be undone on exit.
type kernelSetup struct {
	ns    *netns.NS
	log   *slog.Logger
	table string // the nftables table it added ("" : none)
	// quiet is the table holding the chains that silence conntrack's
	// events of the flows counted at the socket ("": none; quietOn):
	// table, or one of its own when conntrack needed no table.
	quiet string
}

// ErrNoConntrack means the kernel has no connection tracking.
var ErrNoConntrack = errors.New("the kernel has no netfilter conntrack: load it with `modprobe nf_conntrack` (kernel option CONFIG_NF_CONNTRACK, with CONFIG_NF_CONNTRACK_EVENTS and CONFIG_NF_CT_NETLINK)")

// checkKernel reports, in one sentence a user can act on, what keeps bwmon
// from reading conntrack here.
func checkKernel(ns *netns.NS) error {
	if err := checkCaps(); err != nil {
		return err
	}
	if _, err := ns.ReadSysctl("net.netfilter.nf_conntrack_acct"); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return ErrNoConntrack
		}
		return fmt.Errorf("reading net.netfilter.nf_conntrack_acct: %w", err)
	}
	return nil
}

// setupKernel makes the kernel count bytes per flow: accounting on, and
// conntrack engaged by a table of bwmon's own where no rule engages it.
func setupKernel(ns *netns.NS, log *slog.Logger) (*kernelSetup, error) {
	k := &kernelSetup{ns: ns, log: log}
	v, err := ns.ReadSysctl("net.netfilter.nf_conntrack_acct")
	if err != nil {
		return nil, fmt.Errorf("reading net.netfilter.nf_conntrack_acct: %w", err)
	}
	if v != "1" {
		if err := ns.WriteSysctl("net.netfilter.nf_conntrack_acct", "1"); err != nil {
			return nil, fmt.Errorf("enabling conntrack accounting (sysctl -w net.netfilter.nf_conntrack_acct=1): %w", err)
		}
		// Left on at exit: other readers of conntrack may rely on it by
		// then, and it only costs a few bytes per flow.
		log.Info("enabled conntrack accounting", "sysctl", "net.netfilter.nf_conntrack_acct=1", "netns", ns.Name())
	}
	if gone, err := nftct.RemoveStale(ns.FD(), processAlive); err != nil {
		log.Warn("could not remove the nftables tables of bwmon agents that are gone", "netns", ns.Name(), "err", err)
	} else if len(gone) > 0 {
		log.Info("removed nftables tables of bwmon agents that are gone", "tables", gone, "netns", ns.Name())
	}
	engaged, err := conntrackEngaged(ns)
	if err != nil {
		log.Warn("could not tell whether conntrack is engaged; adding bwmon's table", "err", err)
	}
	if !engaged {
		name := nftct.NewName()
		if err := nftct.Engage(ns.FD(), name); err != nil {
			k.undo()
			return nil, fmt.Errorf("adding nftables table %q to engage conntrack (or engage it yourself and set [conntrack] manage = false): %w", name, err)
		}
		k.table = name
		log.Info("added nftables table to engage conntrack", "table", "inet "+name, "netns", ns.Name())
	}
	return k, nil
}

// processAlive reports whether process pid exists (bwmon runs in the
// host's PID namespace).
func processAlive(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}

// undo removes what setupKernel and quietOn installed (the nftables
// tables; accounting stays on). It is safe to call more than once.
func (k *kernelSetup) undo() {
	k.quietOff()
	if k.table != "" {
		if err := nftct.Remove(k.ns.FD(), k.table); err != nil {
			k.log.Warn("removing nftables table", "table", k.table, "err", err)
		}
		k.table = ""
	}
}

// conntrackEngaged reports whether a rule in the namespace already makes
// the kernel track connections (see nftct.Engaged).
func conntrackEngaged(ns *netns.NS) (bool, error) {
	var legacy string
	_ = ns.Do(func() error { legacy = nftct.ReadLegacyNames(); return nil })
	return nftct.Engaged(ns.FD(), legacy)
}

// quietOn adds the chains that silence conntrack's events of the flows
// the socket monitor counts (nftct.Quiet) to the agent's table (one of
// its own when conntrack needed none), unless another listener of
// conntrack's events runs in the namespace: they are everybody's events.
// It reports whether it did.
func (k *kernelSetup) quietOn() bool {
	others, err := conntrackListeners(k.ns, ownSocketInodes())
	switch {
	case err != nil:
		k.log.Warn("leaving conntrack's events on: could not tell whether another program listens to them", "netns", k.ns.Name(), "err", err)
		return false
	case others > 0:
		k.log.Info("leaving conntrack's events on: another program listens to them (conntrackd, ulogd, conntrack -E)", "netns", k.ns.Name(), "listeners", others)
		return false
	}
	name := k.table // one table an agent
	if name == "" {
		name = nftct.NewName()
	}
	if err := nftct.Quiet(k.ns.FD(), name); err != nil {
		k.log.Warn("leaving conntrack's events on: could not add the chains that silence them (kernel options CONFIG_NFT_SOCKET, CONFIG_NFT_CT)", "netns", k.ns.Name(), "err", err)
		k.quiet = name
		k.quietOff()
		return false
	}
	k.quiet = name
	k.log.Info("silenced conntrack's events of the flows counted at the socket ([socket] quiet_conntrack)", "table", "inet "+name, "netns", k.ns.Name())
	return true
}

// quietOff removes what quietOn added, if anything (its chains, or its
// table when it was its own): conntrack announces every new flow again.
// It is safe to call more than once.
func (k *kernelSetup) quietOff() {
	if k.quiet == "" {
		return
	}
	var err error
	if k.quiet == k.table {
		err = nftct.Unquiet(k.ns.FD(), k.quiet)
	} else {
		err = nftct.Remove(k.ns.FD(), k.quiet)
	}
	if err != nil {
		k.log.Warn("removing the chains that silence conntrack's events", "table", k.quiet, "err", err)
	}
	k.quiet = ""
}

// conntrackListeners counts the sockets of the namespace, other than this
// process's (own: ownSocketInodes), that listen to conntrack's NEW, UPDATE
// or DESTROY events.
func conntrackListeners(ns *netns.NS, own map[uint64]bool) (int, error) {
	var b []byte
	err := ns.Do(func() (err error) {
		b, err = os.ReadFile("/proc/thread-self/net/netlink")
		return err
	})
	if err != nil {
		return 0, err
	}
	return countListeners(b, own), nil
}

// ownSocketInodes returns the inodes of this process's sockets.
func ownSocketInodes() map[uint64]bool {
	own := map[uint64]bool{}
	ents, _ := os.ReadDir("/proc/self/fd")
	for _, e := range ents {
		l, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			continue
		}
		if v, ok := strings.CutPrefix(l, "socket:["); ok {
			if ino, err := strconv.ParseUint(strings.TrimSuffix(v, "]"), 10, 64); err == nil {
				own[ino] = true
			}
		}
	}
	return own
}

// countListeners counts the lines of /proc/net/netlink (b) that are
// NETLINK_NETFILTER sockets in conntrack's event groups (1 NEW, 2 UPDATE,
// 3 DESTROY: bits 0-2 of Groups), leaving out the inodes in own.
func countListeners(b []byte, own map[uint64]bool) int {
	n := 0
	for i, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) < 10 || f[1] != "12" {
			continue
		}
		groups, err := strconv.ParseUint(f[3], 16, 32)
		if err != nil || groups&0x7 == 0 {
			continue
		}
		if ino, err := strconv.ParseUint(f[9], 10, 64); err == nil && own[ino] {
			continue
		}
		n++
	}
	return n
}

// warnQuietAgents warns, in conntrack-only mode, of another agent's table
// that silences conntrack's events of local flows: this monitor then
// misses the owners of short local connections.
func warnQuietAgents(ns *netns.NS, log *slog.Logger) {
	pids, err := nftct.QuietAgents(ns.FD(), os.Getpid(), processAlive)
	if err != nil || len(pids) == 0 {
		return
	}
	log.Warn("another bwmon agent silences conntrack's events of the flows it counts at the socket: counting with conntrack alone, this one misses the owners of short local connections; count at the socket here too ([socket] mode = \"auto\"), or set quiet_conntrack = false there", "netns", ns.Name(), "agents", pids)
}
