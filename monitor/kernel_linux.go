package monitor

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/bwmon/bwmon/internal/nftct"
	"github.com/bwmon/bwmon/monitor/internal/netns"
)

// kernelSetup is what bwmon changed in the kernel, to be undone on exit.
type kernelSetup struct {
	ns    *netns.NS
	log   *slog.Logger
	table string // the nftables table it added ("" : none)
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

// undo removes what setupKernel installed (the nftables table; accounting
// stays on). It is safe to call more than once.
func (k *kernelSetup) undo() {
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
